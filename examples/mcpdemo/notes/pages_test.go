package notes

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestNormalizeURL(t *testing.T) {
	tests := []struct {
		in, want string // want "" means an error
	}{
		{URLClean, URLClean},
		{"HTTPS://DOCS.Example.COM/notes/getting-started", URLClean},
		{"https://docs.example.com:443/notes/getting-started/", URLClean},
		{"https://docs.example.com/notes/getting-started#top", URLClean},
		{"https://docs.example.com/notes/getting-started?", URLClean},
		{"http://example.com", "http://example.com/"},
		{"http://example.com:80/a//", "http://example.com/a"},
		{"http://example.com:8080/a?b=c", "http://example.com:8080/a?b=c"},
		{"https://example.com:80/", "https://example.com:80/"},
		{"http://[::1]/x", "http://[::1]/x"},
		{"http://[::1]:80/x", "http://[::1]/x"},
		{"http://[::1]:81/x", "http://[::1]:81/x"},
		{"https://example.com/caf%C3%A9", "https://example.com/caf%C3%A9"},
		{"https://example.com/café", "https://example.com/caf%C3%A9"},
		{"https://example.com/a%2Fb", "https://example.com/a%2Fb"},
		{"", ""},
		{"example.com/page", ""},
		{"/relative", ""},
		{"ftp://example.com/", ""},
		{"javascript:alert(1)", ""},
		{"mailto:a@example.com", ""},
		{"https:opaque", ""},
		{"https://user:secret@example.com/", ""},
		{"https://user@example.com/", ""},
		{"https:///path", ""},
		{"https://exa mple.com/", ""},
		{"https://example.com/a b", ""},
		{"https://example.com/\x00", ""},
		{"https://example.com/\x7f", ""},
		{"https://exa_mple.com/", ""},
		{"https://bücher.example/", ""},
		{"https://[fe80::1%25eth0]/", ""},
		{"https://example.com:port/", ""},
		{"https://example.com/%zz", ""},
		{"https://example.com/" + strings.Repeat("a", MaxURLBytes), ""},
		{"https://example.com/" + strings.Repeat("é", MaxURLBytes/2-20), ""}, // fits raw, not escaped
	}
	for _, tt := range tests {
		got, err := NormalizeURL(tt.in)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("NormalizeURL(%.60q) = %q, want an error", tt.in, got)
		case tt.want == "" && !errors.Is(err, ErrBadURL):
			t.Errorf("NormalizeURL(%.60q): error %v does not wrap ErrBadURL", tt.in, err)
		case tt.want != "" && (err != nil || got != tt.want):
			t.Errorf("NormalizeURL(%.60q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("NormalizeURL(%.60q): the error quotes the URL: %v", tt.in, err)
		}
	}
}

func TestPages(t *testing.T) {
	urls := PageURLs()
	if diff := cmp.Diff([]string{URLInjection, URLPersonalData, URLClean, URLSecret}, urls); diff != "" {
		t.Errorf("PageURLs (-want +got):\n%s", diff)
	}
	for _, u := range urls {
		if n, err := NormalizeURL(u); err != nil || n != u {
			t.Errorf("demo URL %s is not normalized: %q, %v", u, n, err)
		}
		page, ok := Page(u)
		if !ok || len(page) < 100 || !utf8.ValidString(page) {
			t.Errorf("Page(%s) = %d bytes, %v", u, len(page), ok)
		}
	}
	if _, ok := Page("https://example.com/"); ok {
		t.Error("Page of an unknown URL succeeds")
	}
}

// FuzzNormalizeURL checks that NormalizeURL never panics, bounds its
// output, is idempotent and keeps the demo URLs it accepts.
func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{
		URLClean, URLInjection + "/#x", "HTTP://[::1]:80", "https://a:0443/b//?", "https://a/%2F%zz",
		"https://u:p@h/", "javascript:x", "https://h/é?é#é", "http://1.2.3.4:65536/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizeURL(in)
		if err != nil {
			if !errors.Is(err, ErrBadURL) {
				t.Fatalf("error %v does not wrap ErrBadURL", err)
			}
			if len(in) > 16 && strings.Contains(err.Error(), in) { // short inputs occur in any message
				t.Fatalf("the error quotes the input: %v", err)
			}
			return
		}
		if len(out) > MaxURLBytes {
			t.Fatalf("output is %d bytes", len(out))
		}
		again, err := NormalizeURL(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: %q → %q → %q, %v", in, out, again, err)
		}
		if !strings.HasPrefix(out, "http://") && !strings.HasPrefix(out, "https://") {
			t.Fatalf("output %q is not http(s)", out)
		}
	})
}

func TestLineLimiter(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
		tooLong  bool
	}{
		{"short lines", "ab\ncd\n", 2, "ab\ncd\n", false},
		{"last line without newline", "ab\ncd", 2, "ab\ncd", false},
		{"empty", "", 1, "", false},
		{"too long", "ab\ncde\nf\n", 2, "ab\ncd", true},
		{"first line too long", "abc", 2, "ab", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One byte at a time and in one read: the limit holds across reads.
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				l := &lineLimiter{r: r, max: tt.max}
				got, err := io.ReadAll(l)
				if string(got) != tt.want {
					t.Errorf("read %q, want %q", got, tt.want)
				}
				if errors.Is(err, ErrLineTooLong) != tt.tooLong || (!tt.tooLong && err != nil) {
					t.Errorf("err = %v, want too long: %v", err, tt.tooLong)
				}
				if tt.tooLong {
					if _, again := l.Read(make([]byte, 8)); !errors.Is(again, ErrLineTooLong) {
						t.Errorf("the error is not sticky: %v", again)
					}
				}
			}
		})
	}
}

// FuzzLineLimiter checks that lineLimiter passes a prefix of its input
// through and fails exactly when a line is longer than the limit.
func FuzzLineLimiter(f *testing.F) {
	f.Add([]byte("ab\ncd\n"), uint8(2))
	f.Add([]byte("abc\n"), uint8(2))
	f.Add([]byte("\n\n\n"), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, max uint8) {
		m := int(max%16) + 1
		got, err := io.ReadAll(&lineLimiter{r: iotest.HalfReader(bytes.NewReader(in)), max: m})
		if !bytes.HasPrefix(in, got) {
			t.Fatalf("output %q is not a prefix of %q", got, in)
		}
		tooLong := false
		for line := range bytes.SplitSeq(in, []byte("\n")) {
			if len(line) > m {
				tooLong = true
				break
			}
		}
		if errors.Is(err, ErrLineTooLong) != tooLong {
			t.Fatalf("max %d, input %q: err %v, want too long: %v", m, in, err, tooLong)
		}
		if !tooLong && !bytes.Equal(got, in) {
			t.Fatalf("output %q, want all of %q", got, in)
		}
	})
}

func TestSearchAndSnippet(t *testing.T) {
	cfg := Default()
	b := newBook(cfg)
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"n1", "n2", "n3", "n4", "n5"}},
		{"ONBOARDING", []string{"n3"}},
		{"on-call", []string{"n1", "n3"}},
		{"on-call hiring", []string{"n1"}},
		{"  rfc   9449 ", []string{"n4"}},
		{"nothing-matches-this", []string{}},
	}
	for _, tt := range tests {
		var got []string
		for _, s := range b.search(tt.query, 20) {
			got = append(got, s.ID)
		}
		if got == nil {
			got = []string{}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("search(%q) (-want +got):\n%s", tt.query, diff)
		}
	}

	snippets := []struct{ body, want string }{
		{"one line", "one line"},
		{"  first\nsecond", "first …"},
		{strings.Repeat("a", 130), strings.Repeat("a", 120) + "…"},
		{strings.Repeat("a", 119) + "éé", strings.Repeat("a", 119) + "…"},
		{"", ""},
	}
	for _, s := range snippets {
		if got := snippet(s.body); got != s.want {
			t.Errorf("snippet(%.30q) = %q, want %q", s.body, got, s.want)
		}
	}
}

func TestSeedBoundedByMaxNotes(t *testing.T) {
	cfg := Default()
	cfg.MaxNotes = 2
	b := newBook(cfg)
	if got := len(b.all()); got != 2 {
		t.Errorf("a notebook of at most 2 notes is seeded with %d", got)
	}
	if _, err := b.write("t", "b"); !errors.Is(err, errFull) {
		t.Errorf("write to a full notebook: %v", err)
	}
}
