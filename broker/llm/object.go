package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// object is a JSON object that keeps its members' order and raw values,
// so that the proxy forwards what it does not understand untouched and
// re-encodes only the members it replaces.
type object []member

type member struct {
	key    string
	rawKey []byte // the key as received, quoted; nil for a member set here
	val    json.RawMessage
}

// errDuplicateKey is returned for an object that names a member twice:
// the guard and the upstream could read different ones.
var errDuplicateKey = errors.New("duplicate key")

// decodeObject decodes data, which must be one JSON object. The members'
// values are slices of a copy of data.
func decodeObject(data []byte) (object, error) {
	if !json.Valid(data) {
		return nil, errInvalidJSON
	}
	data = bytes.Clone(data)
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return nil, errNotObject
	}
	o := make(object, 0, 8)
	var seen map[string]bool // past 16 members, against quadratic look-ups
	for i++; ; {
		i = skipSpace(data, i)
		switch data[i] {
		case '}':
			return o, nil
		case ',':
			i = skipSpace(data, i+1)
		}
		ks, ke := i, endOfString(data, i)
		key, err := unquote(data[ks:ke])
		if err != nil {
			return nil, err
		}
		i = skipSpace(data, ke) + 1 // ':'
		i = skipSpace(data, i)
		ve := endOfValue(data, i)
		dup := false
		switch {
		case seen != nil:
			dup = seen[key]
		case len(o) >= 16:
			seen = make(map[string]bool, 2*len(o))
			for _, m := range o {
				seen[m.key] = true
			}
			dup = seen[key]
		default:
			dup = o.index(key) >= 0
		}
		if dup {
			return nil, fmt.Errorf("%w %q", errDuplicateKey, clip(key, 64))
		}
		if seen != nil {
			seen[key] = true
		}
		o = append(o, member{key, data[ks:ke], data[i:ve]})
		i = ve
	}
}

var errInvalidJSON = errors.New("invalid JSON")

// The scanners below run on valid JSON only.

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// endOfString returns the index after the string starting at data[i].
func endOfString(data []byte, i int) int {
	for i++; ; i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// endOfValue returns the index after the value starting at data[i].
func endOfValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return endOfString(data, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch data[i] {
			case '"':
				i = endOfString(data, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(data) && !strings.ContainsRune(",}] \t\r\n", rune(data[i])) {
		i++
	}
	return i
}

// unquote decodes a JSON string token.
func unquote(tok []byte) (string, error) {
	if bytes.IndexByte(tok, '\\') < 0 && utf8.Valid(tok) {
		return string(tok[1 : len(tok)-1]), nil
	}
	var s string
	err := json.Unmarshal(tok, &s)
	return s, err
}

var errNotObject = errors.New("not a JSON object")

func (o object) index(key string) int {
	for i := range o {
		if o[i].key == key {
			return i
		}
	}
	return -1
}

// get returns the raw value of key, nil when absent.
func (o object) get(key string) json.RawMessage {
	if i := o.index(key); i >= 0 {
		return o[i].val
	}
	return nil
}

// set replaces key's value or appends the member.
func (o *object) set(key string, val json.RawMessage) {
	if i := o.index(key); i >= 0 {
		(*o)[i].val = val
		return
	}
	*o = append(*o, member{key: key, val: val})
}

// del removes key.
func (o *object) del(key string) {
	if i := o.index(key); i >= 0 {
		*o = append((*o)[:i], (*o)[i+1:]...)
	}
}

// appendJSON appends the object's encoding to dst.
func (o object) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	for i, m := range o {
		if i > 0 {
			dst = append(dst, ',')
		}
		if m.rawKey != nil {
			dst = append(dst, m.rawKey...)
		} else {
			k, _ := json.Marshal(m.key) // a string always encodes
			dst = append(dst, k...)
		}
		dst = append(dst, ':')
		dst = append(dst, m.val...)
	}
	return append(dst, '}')
}

func (o object) bytes() []byte { return o.appendJSON(nil) }

// isNull reports whether raw is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// jsonString encodes s as a JSON string.
func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}

// kind names a JSON value's type as OpenAI's errors do.
func kind(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}
