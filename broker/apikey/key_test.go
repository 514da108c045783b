package apikey

import (
	"path"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	id, _ := randomBase62(idLen)
	secret, _ := randomBase62(secretLen)
	s := format(id, secret)
	if len(s) != 69 || !strings.HasPrefix(s, "szk_") || !Looks(s) {
		t.Fatalf("format = %q", s)
	}
	gotID, gotSecret, err := parse(s)
	if err != nil || gotID != id || gotSecret != secret {
		t.Fatalf("parse(%q) = %q, %q, %v", s, gotID, gotSecret, err)
	}
	// Every one-character change is caught by the checksum or the form.
	for i := len(Prefix); i < len(s); i++ {
		for _, c := range []byte("0aZ_-") {
			if c == s[i] {
				continue
			}
			typo := s[:i] + string(c) + s[i+1:]
			if _, _, err := parse(typo); err == nil {
				t.Errorf("parse accepted a typo at %d", i)
			}
		}
	}
	for _, bad := range []string{"", "szk_", s[:68], s + "0", "szK_" + s[4:], "Bearer " + s, strings.ToUpper(s)} {
		if _, _, err := parse(bad); err == nil {
			t.Errorf("parse(%q) accepted", bad)
		}
	}
}

func TestRandomBase62(t *testing.T) {
	seen := map[byte]int{}
	for range 200 {
		s, err := randomBase62(secretLen)
		if err != nil || len(s) != secretLen {
			t.Fatalf("randomBase62 = %q, %v", s, err)
		}
		for i := range len(s) {
			seen[s[i]]++
		}
	}
	if len(seen) != 62 {
		t.Errorf("%d distinct characters in 8600, want all 62", len(seen))
	}
}

// FuzzParse checks that parse never panics, accepts only what Looks
// accepts, and that what it accepts formats back to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"szk_0000000000000000000000000000000000000000000000000000000000000000000",
		"szk_AbCdEfGhIjKlMnOp0123456789abcdefghijklmnopqrstuvwxyzABCDEFG1a2B3c",
		format("AbCdEfGhIjKlMnOp", "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"),
		"", "szk_", "eyJhbGciOiJFUzI1NiJ9.e30.sig", "szk_\x00\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, err := parse(s)
		if err != nil {
			return
		}
		if !Looks(s) || format(id, secret) != s || !validID(id) {
			t.Fatalf("parse(%q) = %q, %q", s, id, secret)
		}
	})
}

// FuzzDecodeRecord checks that a stored record never panics the decoder
// and that what decodes encodes back to a record that decodes the same.
func FuzzDecodeRecord(f *testing.F) {
	f.Add("AbCdEfGhIjKlMnOp", []byte(`{"v":1,"id":"AbCdEfGhIjKlMnOp","name":"ci","models":["a","b"],"created":"2026-01-02T03:04:05Z","hash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`))
	f.Add("AbCdEfGhIjKlMnOp", []byte(`{"v":1,"id":"AbCdEfGhIjKlMnOp","name":"x","models":null,"created":"2026-01-02T03:04:05Z","revoked":true,"revoked_at":"2026-01-03T00:00:00Z","hash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`))
	f.Add("x", []byte(`{"v":2}`))
	f.Add("x", []byte(`{} {}`))
	f.Fuzz(func(t *testing.T, id string, rec []byte) {
		k, h, err := decodeRecord(id, rec)
		if err != nil {
			return
		}
		again, err := encodeRecord(k, h)
		if err != nil {
			t.Fatalf("encode of a decoded record: %v", err)
		}
		k2, h2, err := decodeRecord(id, again)
		if err != nil || string(h2) != string(h) || k2.Name != k.Name || k2.Revoked != k.Revoked || !k2.Created.Equal(k.Created) {
			t.Fatalf("round trip: %+v, %v", k2, err)
		}
	})
}

func TestAllows(t *testing.T) {
	for _, tc := range []struct {
		models []string
		model  string
		want   bool
	}{
		{nil, "anything", true},
		{[]string{"gpt-4o"}, "gpt-4o", true},
		{[]string{"gpt-4o"}, "gpt-4o-mini", false},
		{[]string{"gpt-4o*"}, "gpt-4o-mini", true},
		{[]string{"gpt-4o*"}, "gpt-4", false},
		{[]string{"*-mini"}, "gpt-4o-mini", true},
		{[]string{"*-mini"}, "gpt-4o-mini-2", false},
		{[]string{"a*b*c"}, "axxbyyc", true},
		{[]string{"a*b*c"}, "axxbyy", false},
		{[]string{"*"}, "", true},
		{[]string{"a**"}, "abc", true},
		{[]string{"x", "llama*"}, "llama3:8b", true},
		{[]string{"gpt-4o"}, "GPT-4O", false},
	} {
		if got := (Key{Models: tc.models}).Allows(tc.model); got != tc.want {
			t.Errorf("Allows(%q) with %q = %v, want %v", tc.model, tc.models, got, tc.want)
		}
	}
}

// FuzzMatchModel checks the matcher against path.Match on patterns whose
// only special character is '*' and strings without '/'.
func FuzzMatchModel(f *testing.F) {
	f.Add("gpt-4o*", "gpt-4o-mini")
	f.Add("a*b*c", "axxbyyc")
	f.Add("**", "")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if strings.ContainsAny(pattern, `?[\/`) || strings.Contains(s, "/") || len(pattern) > 64 || len(s) > 64 {
			return
		}
		want, err := path.Match(pattern, s)
		if err != nil {
			return
		}
		if got := matchModel(pattern, s); got != want {
			t.Fatalf("matchModel(%q, %q) = %v, path.Match says %v", pattern, s, got, want)
		}
	})
}
