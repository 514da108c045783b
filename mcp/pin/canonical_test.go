package pin

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCanonical(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"key order", `{"b":1,"a":{"d":[1,2],"c":null}}`, `{"a":{"c":null,"d":[1,2]},"b":1}`},
		{"white space", " {\n\t\"a\" : [ 1 , true , false ] ,\r\n \"b\":\"x y\" }\n", `{"a":[1,true,false],"b":"x y"}`},
		{"unicode escapes", `{"\u0061":"\u00e9\u2603\ud83d\ude00\/"}`, `{"a":"é☃😀/"}`},
		{"raw unicode", `{"a":"é☃😀"}`, `{"a":"é☃😀"}`},
		{"control escapes", `{"a":"\u000a\n\t\u0001\u001f\"\\\b\f\r"}`, `{"a":"\n\n\t\u0001\u001f\"\\\b\f\r"}`},
		{"html not escaped", `{"a":"\u003c/script\u003e&"}`, `{"a":"</script>&"}`},
		{"invisible kept", "{\"a\":\"x\\u200by\u200b\"}", "{\"a\":\"x\u200by\u200b\"}"},
		{"numbers as given", `[1.0,1,1e2,-0,0.10]`, `[1.0,1,1e2,-0,0.10]`},
		{"keys by bytes", `{"é":1,"z":2,"Z":3,"aa":4,"a":5}`, `{"Z":3,"a":5,"aa":4,"z":2,"é":1}`},
		{"scalar", ` "s" `, `"s"`},
		{"empty", `{"a":{},"b":[]}`, `{"a":{},"b":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonical([]byte(tc.in))
			if err != nil {
				t.Fatalf("Canonical(%q): %v", tc.in, err)
			}
			if string(got) != tc.want {
				t.Errorf("Canonical(%q) = %s, want %s", tc.in, got, tc.want)
			}
			if !json.Valid(got) {
				t.Errorf("Canonical(%q) = %s, not valid JSON", tc.in, got)
			}
		})
	}
}

func TestCanonicalRefuses(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"duplicate key", `{"a":1,"a":2}`, ErrInvalidJSON},
		{"duplicate key by escape", `{"a":1,"\u0061":2}`, ErrInvalidJSON},
		{"trailing data", `{} {}`, ErrInvalidJSON},
		{"trailing garbage", `{}x`, ErrInvalidJSON},
		{"truncated", `{"a":`, ErrInvalidJSON},
		{"bad literal", `[tru]`, ErrInvalidJSON},
		{"invalid UTF-8", "\"\xff\"", ErrInvalidJSON},
		{"empty", ``, ErrInvalidJSON},
		{"too deep", deep, ErrInvalidJSON},
		{"too large", `"` + strings.Repeat("x", MaxJSON) + `"`, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonical([]byte(tc.in))
			if !errors.Is(err, tc.want) {
				t.Errorf("Canonical = %q, %v; want %v", got, err, tc.want)
			}
		})
	}
	// MaxDepth itself is fine.
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if _, err := Canonical([]byte(ok)); err != nil {
		t.Errorf("Canonical(depth %d): %v", MaxDepth, err)
	}
}

// FuzzCanonical checks that Canonical never panics, that what it returns
// is valid JSON, canonical (a fixed point), and no longer than its input.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{
		`{"b":1,"a":[1,2,{"d":null,"c":"x"}]}`,
		`{"type":"object","properties":{"q":{"type":"string","description":"the query"}},"required":["q"]}`,
		`"\u00e9\ud83d\ude00\u0000\/"`, `[1.0e-5,-0,1E+2]`, `{"a":1,"a":2}`, `{"\ud800":"\udc00x"}`,
		" [ true , false , null ] ", "\"\xff\"", `{"a":{"b":{"c":{"d":[[[[]]]]}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Canonical(data)
		if err != nil {
			if json.Valid(data) && !errors.Is(err, ErrInvalidJSON) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Canonical(%q) = %v, not one of the package's errors", data, err)
			}
			return
		}
		if !json.Valid(c) {
			t.Fatalf("Canonical(%q) = %q, not valid JSON", data, c)
		}
		if len(c) > len(data) {
			t.Fatalf("Canonical(%q) = %q, longer than its input", data, c)
		}
		again, err := Canonical(c)
		if err != nil {
			t.Fatalf("Canonical(Canonical(%q) = %q): %v", data, c, err)
		}
		if !bytes.Equal(again, c) {
			t.Fatalf("not idempotent: %q -> %q -> %q", data, c, again)
		}
	})
}
