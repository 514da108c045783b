package remote

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseReply checks that the reply parsers never panic, accept only
// what the protocols allow, and agree with encoding/json on what a json
// reply says. Seeds in testdata/fuzz/FuzzParseReply.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		`{"label":"benign","score":0}`,
		`{"label":"injection","score":0.93}`,
		`{"score":1e-3,"label":"JailBreak"}`,
		`{"label":"benign","score":0,"x":1}`,
		`{"label":{"a":1},"score":0}`,
		"safe", "unsafe\nS14", "unsafe\nS1, S2,S13", "unsafe\nS0", " safe \n",
	} {
		f.Add(false, s)
		f.Add(true, s)
	}
	f.Fuzz(func(t *testing.T, llama bool, s string) {
		p := ProtocolJSON
		if llama {
			p = ProtocolLlamaGuard
		}
		r, err := parseReply(p, s)
		if err != nil {
			if r != (result{}) {
				t.Fatalf("parseReply(%q) = %+v with error %v", s, r, err)
			}
			return
		}
		if len(s) > maxReplyBytes || !(r.score >= 0 && r.score <= 1) {
			t.Fatalf("parseReply(%q) = %+v: accepted past the limits", s, r)
		}
		if llama {
			if r.label != benign && r.label != unsafe || (r.label == unsafe) != (r.score == 1) {
				t.Fatalf("parseReply(llama, %q) = %+v", s, r)
			}
			if strings.Count(r.codes, "S") > maxCodes {
				t.Fatalf("parseReply(llama, %q) kept %q", s, r.codes)
			}
			return
		}
		// encoding/json must read the same label and score.
		var v struct {
			Label string  `json:"label"`
			Score float64 `json:"score"`
		}
		dec := json.NewDecoder(strings.NewReader(s))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("parseReply(%q) accepted what encoding/json rejects: %v", s, err)
		}
		want := map[string]label{"benign": benign, "injection": injection, "jailbreak": jailbreak}[strings.ToLower(v.Label)]
		if r.label != want || (r.label != benign && r.score != v.Score) || (r.label == benign && r.score != 0) {
			t.Fatalf("parseReply(%q) = %+v, encoding/json reads %+v", s, r, v)
		}
	})
}

// FuzzClip checks that clip keeps a prefix and a suffix of at most limit
// characters in all and counts what it leaves out.
func FuzzClip(f *testing.F) {
	f.Add("0123456789abc", 9)
	f.Add("αβγδεζη", 4)
	f.Add("ab\xff\xfe\xfdcd", 4)
	f.Add("\xf0\x9f\x98\x80\x80\xe2\x82", 2)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit < 2 || limit > 1000 {
			return
		}
		head, tail, omitted := clip(s, limit)
		n := utf8.RuneCountInString(s)
		if !strings.HasPrefix(s, head) || !strings.HasSuffix(s, tail) || len(head)+len(tail) > len(s) {
			t.Fatalf("clip(%q, %d) = %q, %q: not a prefix and a suffix", s, limit, head, tail)
		}
		if n <= limit {
			if head != s || tail != "" || omitted != 0 {
				t.Fatalf("clip(%q, %d) = %q, %q, %d: want s whole", s, limit, head, tail, omitted)
			}
			return
		}
		kept := utf8.RuneCountInString(head) + utf8.RuneCountInString(tail)
		if kept > limit || omitted <= 0 {
			t.Fatalf("clip(%q, %d) = %q, %q, %d", s, limit, head, tail, omitted)
		}
	})
}

// FuzzWithZeroTemperature checks that the rewrite keeps a JSON object
// valid and leaves its members alone.
func FuzzWithZeroTemperature(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"\"temperature\": 2"}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"temperature":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var before map[string]json.RawMessage
		if json.Unmarshal(body, &before) != nil || bytes.TrimSpace(body)[0] != '{' || body[0] != '{' {
			return
		}
		out := withZeroTemperature(body)
		var after map[string]json.RawMessage
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("withZeroTemperature(%s) = %s: %v", body, out, err)
		}
		if _, had := before["temperature"]; !had && string(after["temperature"]) != "0" {
			t.Fatalf("withZeroTemperature(%s) = %s: no zero temperature", body, out)
		}
		for k, v := range before {
			if k != "temperature" && !bytes.Equal(after[k], v) {
				t.Fatalf("withZeroTemperature(%s) changed %q", body, k)
			}
		}
	})
}
