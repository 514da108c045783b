package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// envelopeSeeds are answers of each kind decodeEnvelope takes itself and of
// each kind it leaves to encoding/json.
var envelopeSeeds = []string{
	okResult,
	`{"jsonrpc":"2.0","id":"subzero-1","result":{"content":[{"type":"text","text":"a \"quoted\" \\ {text}]"}]}}` + "\n",
	` {"id":7,"result":null} trailing, not looked at`,
	`{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad","data":{"x":[1,2]}}}`,
	`{"jsonrpc":"2.0","id":2,"method":"ping"}`,
	`{"jsonrpc":"2.0","method":"notifications/progress","params":{}}`,
	`{}`,
	`{"id":null,"result":{}}`,
	`{"ID":"x","Result":{}}`,
	`{"id":"x","id":"y","result":{}}`,
	`{"id":"x","result":{},"result":[]}`,
	`{"id":"x","error":{"code":1},"error":{"message":"m"}}`,
	`{"\u0069d":"x","result":{}}`,
	`{"ıd":"x","result":{}}`,
	`{"id":"x","result":{"a":1]}`,
	`{"id":"x","result":`,
	`{"id":"x","error":5}`,
	`{"id":true,"result":{}}`,
	`{"id":1.5e3,"result":{}, "other" : [ {"}":"]"} ] }`,
	`[1,2]`,
	`"x"`,
	``,
	"\ufeff{}",
	`{"id":"x","result":{}}}`,
	`{"id":"x","result":"\ud800"}`,
}

// FuzzDecodeEnvelope checks decodeEnvelope against json.Decoder, and
// unmarshalEnvelope against json.Unmarshal: the same envelope, or an error
// for both.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range envelopeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want envelope
		wantErr := json.NewDecoder(bytes.NewReader(b)).Decode(&want)
		for _, r := range []io.Reader{bytes.NewReader(b), iotest.OneByteReader(bytes.NewReader(b)), iotest.DataErrReader(bytes.NewReader(b))} {
			got, err := decodeEnvelope(r, int64(len(b)))
			compareEnvelopes(t, "decodeEnvelope", b, got, err, &want, wantErr)
		}
		got, err := decodeEnvelope(bytes.NewReader(b), -1)
		compareEnvelopes(t, "decodeEnvelope without a size", b, got, err, &want, wantErr)

		want = envelope{}
		wantErr = json.Unmarshal(b, &want)
		var env envelope
		err = unmarshalEnvelope(b, &env)
		compareEnvelopes(t, "unmarshalEnvelope", b, &env, err, &want, wantErr)
	})
}

func compareEnvelopes(t *testing.T, what string, in []byte, got *envelope, err error, want *envelope, wantErr error) {
	t.Helper()
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%s(%q): error %v, want %v", what, in, err, wantErr)
	}
	if err != nil {
		if err.Error() != wantErr.Error() {
			t.Fatalf("%s(%q): error %q, want %q", what, in, err, wantErr)
		}
		return
	}
	if diff := cmp.Diff(envelopeView(want), envelopeView(got)); diff != "" {
		t.Fatalf("%s(%q): (-want +got)\n%s", what, in, diff)
	}
}

// envelopeView shows what an envelope holds, nil and empty apart.
func envelopeView(e *envelope) map[string]any {
	id, _ := json.Marshal(e.ID)
	v := map[string]any{"id": string(id), "idNil": e.ID.IsNil(), "method": e.Method == nil, "result": e.Result == nil, "error": e.Error}
	if e.Method != nil {
		v["method"] = string(e.Method)
	}
	if e.Result != nil {
		v["result"] = string(e.Result)
	}
	return v
}

// TestDecodeEnvelopeInPlace checks that an answer decodeEnvelope takes
// itself gives the result as written, read in one buffer, and that a read
// error after the value is not looked at.
func TestDecodeEnvelopeInPlace(t *testing.T) {
	result := `{"content":[{"type":"text","text":"` + strings.Repeat("x", 3000) + `"}]}`
	answer := `{"jsonrpc":"2.0","id":"subzero-9","result":` + result + "}\n"
	r := io.MultiReader(iotest.HalfReader(strings.NewReader(answer)), iotest.ErrReader(errors.New("broken")))
	env, err := decodeEnvelope(r, -1)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(env.Result); got != result {
		t.Errorf("result %.80q…, want %.80q…", got, result)
	}
	if id, _ := json.Marshal(env.ID); string(id) != `"subzero-9"` {
		t.Errorf("id %s, want \"subzero-9\"", id)
	}
	if _, err := decodeEnvelope(iotest.ErrReader(errors.New("broken")), 10); err == nil || err.Error() != "broken" {
		t.Errorf("a failing read: %v, want broken", err)
	}
}

func BenchmarkDecodeEnvelope(b *testing.B) {
	answer := []byte(`{"jsonrpc":"2.0","id":"subzero-9","result":{"content":[{"type":"text","text":"` + strings.Repeat("some text ", 100) + `"}]}}` + "\n")
	b.Run("decodeEnvelope", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeEnvelope(bytes.NewReader(answer), int64(len(answer))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Decoder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var env envelope
			if err := json.NewDecoder(bytes.NewReader(answer)).Decode(&env); err != nil {
				b.Fatal(err)
			}
		}
	})
}
