package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzDecodeChat checks that the request decoder never panics, answers
// every rejection with a 4xx OpenAI error, and that an accepted request
// re-encodes to JSON that decodes to the same members.
func FuzzDecodeChat(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:x"}}]}]}`,
		`{"model":"m","max_tokens":5,"max_completion_tokens":7,"messages":[{"role":"assistant","content":null,"tool_calls":[]}]}`,
		`{"model":"m","model":"n"}`,
		`{"model":1}`, `[]`, `{`, `{"messages":"x"}`, `{"model":"m","messages":[{"role":"user","content":"\ud800"}]}`,
		`{"model":"m","messages":[{"role":"user","content":"a"}]} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, aerr := decodeChat(data, 64)
		if aerr != nil {
			if aerr.Status < 400 || aerr.Status >= 500 || aerr.Type == "" || aerr.Message == "" {
				t.Fatalf("error %+v", aerr)
			}
			if !json.Valid(aerr.body()) {
				t.Fatalf("error body %s is not JSON", aerr.body())
			}
			return
		}
		if r.model == "" || len(r.messages) == 0 {
			t.Fatalf("accepted without model or messages: %s", data)
		}
		out := r.obj.bytes()
		if !json.Valid(out) {
			t.Fatalf("re-encoded %s is not JSON", out)
		}
		back, err := decodeObject(out)
		if err != nil || len(back) != len(r.obj) {
			t.Fatalf("re-decoded %d members (%v), want %d", len(back), err, len(r.obj))
		}
	})
}

// FuzzSSEScanner checks that the event-stream scanner never panics,
// respects its line bound, and reads what a writer of data lines wrote.
func FuzzSSEScanner(f *testing.F) {
	for _, s := range []string{
		"data: {\"a\":1}\n\ndata: [DONE]\n\n",
		": comment\r\nevent: x\r\ndata: a\r\ndata: b\r\n\r\n",
		"data:no space\n\ndata: last without blank",
		"data: " + strings.Repeat("x", 300) + "\n\n",
		"\n\n\nid: 3\nretry: 10\n\n",
	} {
		f.Add([]byte(s), 256)
	}
	f.Fuzz(func(t *testing.T, data []byte, maxLine int) {
		maxLine = 16 + abs(maxLine)%4096
		sc := newSSEScanner(bytes.NewReader(data), maxLine)
		for range len(data) + 2 {
			ev, err := sc.next()
			if err != nil {
				if err != io.EOF && !errors.Is(err, errLineTooLong) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if len(ev) > maxLine {
				t.Fatalf("event of %d bytes past the bound %d", len(ev), maxLine)
			}
		}
		// Round trip: data lines written as a server would.
		lines := strings.Split(strings.ReplaceAll(strings.ReplaceAll(string(data), "\r", ""), "\n", ""), "\x00")
		var b strings.Builder
		for _, l := range lines {
			b.WriteString("data: " + l + "\n\n")
		}
		sc = newSSEScanner(strings.NewReader(b.String()), 1<<20)
		for _, l := range lines {
			ev, err := sc.next()
			if err != nil || string(ev) != l {
				t.Fatalf("read %q, %v; want %q", ev, err, l)
			}
		}
		if _, err := sc.next(); err != io.EOF {
			t.Fatalf("after the events: %v, want EOF", err)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// FuzzStreamGuardChunk checks that chunk processing never panics on
// arbitrary upstream chunks.
func FuzzStreamGuardChunk(f *testing.F) {
	for _, s := range []string{
		`{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"content":"hello"},"finish_reason":"stop"}],"usage":null}`,
		`{"id":"c","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`,
		`{"error":{"message":"x","type":"server_error"}}`, `[]`, `{"choices":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := &Proxy{}
		c := &call{p: p}
		c.startHash(nil)
		g := &streamGuard{p: p, c: c, held: map[int64]*held{}, seen: map[findingKey]bool{}}
		out, aerr := g.chunk(data)
		if aerr == nil && out != nil && !json.Valid(out) {
			t.Fatalf("sent %s, not JSON", out)
		}
	})
}
