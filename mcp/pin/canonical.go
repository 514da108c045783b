package pin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits of the canonical encoder.
const (
	// MaxJSON bounds the JSON that Canonical reads, in bytes.
	MaxJSON = 256 << 10
	// MaxDepth bounds the nesting of objects and arrays.
	MaxDepth = 64
)

// Canonical errors.
var (
	ErrInvalidJSON = errors.New("pin: invalid JSON")
	ErrTooLarge    = errors.New("pin: JSON too large")
)

// node is a parsed JSON value: exactly one of the fields describes it.
type node struct {
	kind    byte   // 'o' object, 'a' array, 's' string, 'n' number, 'l' literal
	text    string // string value, number literal as given, or true/false/null
	members []member
	items   []*node
}

type member struct {
	key   string
	value *node
}

// Canonical returns the canonical encoding of the JSON value in data:
// object members sorted by key (byte order of their UTF-8), no white
// space outside strings, strings re-escaped minimally (only '"', '\\'
// and control characters, as \n, \r, \t, \b, \f or \u00XX), numbers as
// given. Two encodings of one value that differ only in key order, white
// space or string escapes give the same bytes. It refuses duplicate keys
// (readers disagree on which one counts), invalid UTF-8, trailing data,
// more than MaxJSON bytes and nesting past MaxDepth. Escapes decode as
// encoding/json decodes them, so an unpaired surrogate escape becomes
// U+FFFD, as it does for every Go MCP client.
func Canonical(data []byte) ([]byte, error) {
	if len(data) > MaxJSON {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, len(data), MaxJSON)
	}
	n, err := parse(data)
	if err != nil {
		return nil, err
	}
	return appendNode(make([]byte, 0, len(data)), n), nil
}

func parse(data []byte) (*node, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrInvalidJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := parseValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the value", ErrInvalidJSON)
	}
	return n, nil
}

func parseValue(dec *json.Decoder, depth int) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	switch v := tok.(type) {
	case json.Delim:
		if depth >= MaxDepth {
			return nil, fmt.Errorf("%w: nested deeper than %d", ErrInvalidJSON, MaxDepth)
		}
		switch v {
		case '{':
			n := &node{kind: 'o'}
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
				}
				k, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("%w: object key is not a string", ErrInvalidJSON)
				}
				if seen[k] {
					return nil, fmt.Errorf("%w: duplicate key %q", ErrInvalidJSON, truncate(k, 64))
				}
				seen[k] = true
				val, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.members = append(n.members, member{k, val})
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
			}
			slices.SortFunc(n.members, func(a, b member) int { return strings.Compare(a.key, b.key) })
			return n, nil
		case '[':
			n := &node{kind: 'a'}
			for dec.More() {
				val, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.items = append(n.items, val)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
			}
			return n, nil
		}
		return nil, fmt.Errorf("%w: unexpected %v", ErrInvalidJSON, v)
	case string:
		return &node{kind: 's', text: v}, nil
	case json.Number:
		return &node{kind: 'n', text: string(v)}, nil
	case bool:
		if v {
			return &node{kind: 'l', text: "true"}, nil
		}
		return &node{kind: 'l', text: "false"}, nil
	case nil:
		return &node{kind: 'l', text: "null"}, nil
	}
	return nil, fmt.Errorf("%w: unexpected token %T", ErrInvalidJSON, tok)
}

func appendNode(b []byte, n *node) []byte {
	switch n.kind {
	case 'o':
		b = append(b, '{')
		for i, m := range n.members {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, m.key)
			b = append(b, ':')
			b = appendNode(b, m.value)
		}
		return append(b, '}')
	case 'a':
		b = append(b, '[')
		for i, it := range n.items {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendNode(b, it)
		}
		return append(b, ']')
	case 's':
		return appendString(b, n.text)
	}
	return append(b, n.text...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string with minimal escapes.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
