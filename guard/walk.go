package guard

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// Errors of JSON inputs.
var (
	ErrInvalidJSON = errors.New("guard: invalid JSON")
	ErrTooDeep     = errors.New("guard: JSON nested too deeply")
)

// visitor receives every string of a JSON document, keys included: its
// path, its decoded value and the byte span of its token (quotes
// included) in the document. s is valid only during the call.
type visitor interface {
	visitString(path []byte, s string, start, end int) error
}

// jsonWalker walks a JSON document without building it: a recursive
// descent parser bounded by maxDepth, linear in the input.
type jsonWalker struct {
	data     []byte
	pos      int
	maxDepth int
	path     []byte
	buf      []byte // unescaped strings
	v        visitor
}

// walk validates data as one JSON value and calls w.v for each string.
func (w *jsonWalker) walk(data []byte, maxDepth int, v visitor) error {
	w.data, w.pos, w.maxDepth, w.v = data, 0, maxDepth, v
	w.path = append(w.path[:0], '$')
	if err := w.value(0); err != nil {
		return err
	}
	w.ws()
	if w.pos != len(w.data) {
		return w.fail("data after the top-level value")
	}
	return nil
}

func (w *jsonWalker) fail(msg string) error {
	return fmt.Errorf("%w at byte %d: %s", ErrInvalidJSON, w.pos, msg)
}

func (w *jsonWalker) ws() {
	for w.pos < len(w.data) {
		switch w.data[w.pos] {
		case ' ', '\t', '\n', '\r':
			w.pos++
		default:
			return
		}
	}
}

func (w *jsonWalker) value(depth int) error {
	w.ws()
	if w.pos >= len(w.data) {
		return w.fail("unexpected end of input")
	}
	switch c := w.data[w.pos]; {
	case c == '{':
		if depth >= w.maxDepth {
			return fmt.Errorf("%w: deeper than %d at byte %d (guard.max_depth)", ErrTooDeep, w.maxDepth, w.pos)
		}
		w.pos++
		w.ws()
		if w.pos < len(w.data) && w.data[w.pos] == '}' {
			w.pos++
			return nil
		}
		for {
			w.ws()
			if w.pos >= len(w.data) || w.data[w.pos] != '"' {
				return w.fail("expected a string key")
			}
			start := w.pos
			key, err := w.str()
			if err != nil {
				return err
			}
			mark := len(w.path)
			w.path = appendKey(w.path, key)
			if err := w.v.visitString(w.path, key, start, w.pos); err != nil {
				return err
			}
			w.ws()
			if w.pos >= len(w.data) || w.data[w.pos] != ':' {
				return w.fail("expected ':'")
			}
			w.pos++
			if err := w.value(depth + 1); err != nil {
				return err
			}
			w.path = w.path[:mark]
			if done, err := w.after('}', "object"); done || err != nil {
				return err
			}
		}
	case c == '[':
		if depth >= w.maxDepth {
			return fmt.Errorf("%w: deeper than %d at byte %d (guard.max_depth)", ErrTooDeep, w.maxDepth, w.pos)
		}
		w.pos++
		w.ws()
		if w.pos < len(w.data) && w.data[w.pos] == ']' {
			w.pos++
			return nil
		}
		for i := 0; ; i++ {
			mark := len(w.path)
			w.path = append(w.path, '[')
			w.path = strconv.AppendInt(w.path, int64(i), 10)
			w.path = append(w.path, ']')
			if err := w.value(depth + 1); err != nil {
				return err
			}
			w.path = w.path[:mark]
			if done, err := w.after(']', "array"); done || err != nil {
				return err
			}
		}
	case c == '"':
		start := w.pos
		s, err := w.str()
		if err != nil {
			return err
		}
		return w.v.visitString(w.path, s, start, w.pos)
	case c == 't':
		return w.lit("true")
	case c == 'f':
		return w.lit("false")
	case c == 'n':
		return w.lit("null")
	case c == '-' || '0' <= c && c <= '9':
		return w.number()
	}
	return w.fail("unexpected character")
}

func (w *jsonWalker) lit(s string) error {
	if len(w.data)-w.pos < len(s) || string(w.data[w.pos:w.pos+len(s)]) != s {
		return w.fail("invalid literal")
	}
	w.pos += len(s)
	return nil
}

func (w *jsonWalker) number() error {
	d := w.data
	p := w.pos
	if p < len(d) && d[p] == '-' {
		p++
	}
	switch {
	case p < len(d) && d[p] == '0':
		p++
	case p < len(d) && '1' <= d[p] && d[p] <= '9':
		for p < len(d) && '0' <= d[p] && d[p] <= '9' {
			p++
		}
	default:
		w.pos = p
		return w.fail("invalid number")
	}
	if p < len(d) && d[p] == '.' {
		p++
		q := p
		for p < len(d) && '0' <= d[p] && d[p] <= '9' {
			p++
		}
		if p == q {
			w.pos = p
			return w.fail("invalid number")
		}
	}
	if p < len(d) && (d[p] == 'e' || d[p] == 'E') {
		p++
		if p < len(d) && (d[p] == '+' || d[p] == '-') {
			p++
		}
		q := p
		for p < len(d) && '0' <= d[p] && d[p] <= '9' {
			p++
		}
		if p == q {
			w.pos = p
			return w.fail("invalid number")
		}
	}
	w.pos = p
	return nil
}

// str reads the string at w.pos (at its opening quote) and returns its
// value, which aliases w.data when it has no escapes and w.buf when it
// has. Invalid UTF-8 becomes U+FFFD, as in encoding/json.
func (w *jsonWalker) str() (string, error) {
	d := w.data
	p := w.pos + 1
	start := p
	for p < len(d) {
		c := d[p]
		if c == '"' {
			w.pos = p + 1
			b := d[start:p]
			return unsafe.String(unsafe.SliceData(b), len(b)), nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		p++
	}
	// Slow path: escapes or non-ASCII.
	buf := append(w.buf[:0], d[start:p]...)
	for {
		if p >= len(d) {
			w.pos = p
			return "", w.fail("unterminated string")
		}
		c := d[p]
		switch {
		case c == '"':
			w.pos = p + 1
			w.buf = buf
			return unsafe.String(unsafe.SliceData(buf), len(buf)), nil
		case c < 0x20:
			w.pos = p
			return "", w.fail("control character in string")
		case c == '\\':
			if p+1 >= len(d) {
				w.pos = p
				return "", w.fail("unterminated escape")
			}
			switch e := d[p+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
				p += 2
			case 'b':
				buf = append(buf, '\b')
				p += 2
			case 'f':
				buf = append(buf, '\f')
				p += 2
			case 'n':
				buf = append(buf, '\n')
				p += 2
			case 'r':
				buf = append(buf, '\r')
				p += 2
			case 't':
				buf = append(buf, '\t')
				p += 2
			case 'u':
				r, ok := hex4(d, p+2)
				if !ok {
					w.pos = p
					return "", w.fail("invalid \\u escape")
				}
				p += 6
				if utf16.IsSurrogate(r) {
					r2, ok2 := rune(-1), false
					if p+1 < len(d) && d[p] == '\\' && d[p+1] == 'u' {
						r2, ok2 = hex4(d, p+2)
					}
					if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
						r = dec
						p += 6
					} else {
						r = utf8.RuneError
					}
				}
				buf = utf8.AppendRune(buf, r)
			default:
				w.pos = p
				return "", w.fail("invalid escape")
			}
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			p++
		default:
			r, size := utf8.DecodeRune(d[p:])
			if r == utf8.RuneError && size == 1 {
				buf = append(buf, "\uFFFD"...)
			} else {
				buf = append(buf, d[p:p+size]...)
			}
			p += size
		}
	}
}

func hex4(d []byte, p int) (rune, bool) {
	if len(d)-p < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d[p : p+4] {
		v, ok := hexVal(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// appendKey appends a member to a JSON path: ".name" for identifiers,
// `["any key"]` for the rest.
func appendKey(path []byte, key string) []byte {
	ident := key != ""
	for i := 0; i < len(key) && ident; i++ {
		c := key[i]
		ident = c == '_' || c == '$' || isLetterByte(c) || i > 0 && '0' <= c && c <= '9'
	}
	if ident {
		return append(append(path, '.'), key...)
	}
	path = append(path, '[')
	path = appendJSONString(path, key)
	return append(path, ']')
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == 0x2028 || r == 0x2029:
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// after reads what follows a member of an object or array: the closing
// byte (done) or a comma.
func (w *jsonWalker) after(closing byte, what string) (done bool, err error) {
	w.ws()
	switch {
	case w.pos >= len(w.data):
		return false, w.fail("unexpected end of " + what)
	case w.data[w.pos] == closing:
		w.pos++
		return true, nil
	case w.data[w.pos] != ',':
		return false, w.fail("expected ',' or '" + string(closing) + "'")
	}
	w.pos++
	return false, nil
}
