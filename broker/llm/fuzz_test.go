package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/subzero-gateway/subzero/guard"
	"github.com/subzero-gateway/subzero/guard/output"
	"github.com/subzero-gateway/subzero/guard/standard"
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
		c := &call{p: &Proxy{}}
		c.startHash(nil)
		g := newStreamGuard(t.Context(), c, nil, 32, false, "m")
		out, aerr := g.chunk(data)
		if aerr == nil && out != nil && !json.Valid(out) {
			t.Fatalf("sent %s, not JSON", out)
		}
	})
}

// FuzzStreamHoldBack streams an answer holding an e-mail address and a
// multi-byte text in chunks of fuzzed sizes through the output guard and
// checks that the client receives exactly the redacted answer, whatever
// the chunking, and never a part of the address.
func FuzzStreamHoldBack(f *testing.F) {
	g, err := standard.New(guard.Default())
	if err != nil {
		f.Fatal(err)
	}
	const answer = "Grüße — the contact is jane.doe@example.org, ask her about the invoice. Ça va? 東京 again and again until the end."
	want := strings.Replace(answer, "jane.doe@example.org", "[EMAIL_1]", 1)
	f.Add([]byte{1}, 16)
	f.Add([]byte{3, 7, 2, 9}, 24)
	f.Add([]byte{50, 1, 1, 1}, 64)
	f.Fuzz(func(t *testing.T, sizes []byte, holdBack int) {
		if len(sizes) == 0 {
			return
		}
		holdBack = 24 + abs(holdBack)%200 // at least the address's length
		c := &call{p: &Proxy{}}
		c.startHash(nil)
		sg := newStreamGuard(t.Context(), c, g, holdBack, false, "m")
		var got strings.Builder
		for i, k := 0, 0; i < len(answer); k++ {
			n := int(sizes[k%len(sizes)])%40 + 1
			j := min(i+n, len(answer))
			for j < len(answer) && !utf8.RuneStart(answer[j]) {
				j++ // a JSON string holds whole characters
			}
			chunk := `{"id":"x","choices":[{"index":0,"delta":{"content":` + string(jsonString(answer[i:j])) + `},"finish_reason":null}]}`
			i = j
			out, aerr := sg.chunk([]byte(chunk))
			if aerr != nil {
				t.Fatalf("chunk: %v", aerr)
			}
			got.WriteString(contentOf(t, out))
			if strings.Contains(got.String(), "jane") {
				t.Fatalf("part of the address was sent: %q", got.String())
			}
		}
		out, aerr := sg.chunk([]byte(`{"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`))
		if aerr != nil {
			t.Fatal(aerr)
		}
		got.WriteString(contentOf(t, out))
		if got.String() != want {
			t.Fatalf("sent %q, want %q", got.String(), want)
		}

		// A canary: the stream ends in a block before any of it is sent.
		canary := output.NewCanary()
		leaky := "Here you go: the internal reference is " + canary + " as asked, and more text follows it."
		sg = newStreamGuard(t.Context(), c, g, holdBack, false, "m")
		got.Reset()
		blocked := false
		for i, k := 0, 0; i < len(leaky) && !blocked; k++ {
			j := min(i+int(sizes[k%len(sizes)])%40+1, len(leaky))
			out, aerr := sg.chunk([]byte(`{"id":"x","choices":[{"index":0,"delta":{"content":` + string(jsonString(leaky[i:j])) + `},"finish_reason":null}]}`))
			i = j
			if aerr != nil {
				blocked = aerr.Code == "content_policy_violation"
				break
			}
			got.WriteString(contentOf(t, out))
		}
		if !blocked {
			_, aerr := sg.chunk([]byte(`{"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`))
			blocked = aerr != nil && aerr.Code == "content_policy_violation"
		}
		if !blocked || strings.Contains(got.String(), canary[:3]) {
			t.Fatalf("blocked %v, sent %q (canary %s)", blocked, got.String(), canary)
		}
	})
}

func contentOf(t *testing.T, chunk []byte) string {
	if chunk == nil {
		return ""
	}
	var c struct {
		Choices []struct {
			Delta struct {
				Content string `json:"content"`
			} `json:"delta"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(chunk, &c); err != nil {
		t.Fatalf("chunk %s: %v", chunk, err)
	}
	var b strings.Builder
	for _, ch := range c.Choices {
		b.WriteString(ch.Delta.Content)
	}
	return b.String()
}

// FuzzDecodeObject checks decodeObject against encoding/json's tokenizer:
// the same members in the same order, the same acceptance, and an
// encoding that decodes to the same values.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{
		`{}`, ` { "a" : 1 , "b":[1,{"c":"}"}], "d\"e":"x\\"y", "f":null,"g":true,"h":-1.5e3} `,
		`{"a":1,"a":2}`, `{"\u0061":1,"a":2}`, `[1]`, `"s"`, `{"a":}`, `{"a":1}{}`, `{"k":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeObject(data)
		want, werr := referenceObject(data)
		if (err == nil) != (werr == nil) {
			t.Fatalf("decodeObject error %v, reference %v", err, werr)
		}
		if err != nil {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("%d members, want %d", len(got), len(want))
		}
		for i := range got {
			if got[i].key != want[i].key || !bytes.Equal(got[i].val, want[i].val) {
				t.Fatalf("member %d = %q:%s, want %q:%s", i, got[i].key, got[i].val, want[i].key, want[i].val)
			}
		}
		var a, b any
		if json.Unmarshal(data, &a) != nil || json.Unmarshal(got.bytes(), &b) != nil {
			t.Fatal("re-encoding does not decode")
		}
	})
}

// referenceObject is decodeObject written on json.Decoder's tokens.
func referenceObject(data []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errNotObject
	}
	var o object
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		key := tok.(string)
		if o.index(key) >= 0 {
			return nil, errDuplicateKey
		}
		o = append(o, member{key: key, val: raw})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the object")
	}
	return o, nil
}

// FuzzInline checks that stripping inline data from messages and putting
// it back gives the messages again (as JSON values), and never panics.
func FuzzInline(f *testing.F) {
	for _, s := range []string{
		`[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"low"}}]}]`,
		`[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"UklGR","format":"wav"}},{"type":"file","file":{"file_data":"JVBER","filename":"a.pdf"}}]}]`,
		`[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]`,
		`[{"role":"user","content":[{"type":"image_url","image_url":{"url":"[inline data]"}},{"type":"image_url","image_url":{"url":"data:x"}}]}]`,
		`[{"role":"user","content":"data:"}]`, `[]`, `[1,"data:",{"content":[{"type":"image_url","image_url":{"url":"data:","url":"x"}}]}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		stripped, stash := stripInline(data)
		if !json.Valid(stripped) {
			t.Fatalf("stripped %s is not JSON", stripped)
		}
		back, err := restoreInline(stripped, stash)
		if err != nil {
			return // a client's own "[inline data]" value: the call fails
		}
		var a, b any
		if json.Unmarshal(data, &a) != nil || json.Unmarshal(back, &b) != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("restored %s, want %s", back, data)
		}
	})
}
