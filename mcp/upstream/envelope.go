package upstream

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/mark3labs/mcp-go/mcp"
)

// Decoding a response's envelope without encoding/json's decoder.
//
// A tools/call answer is a small envelope around the result: the gateway
// needs the ID, the method (to tell the server's requests apart), the error
// and the result as it was written. json.Decoder reads it through a buffer
// that it grows as it goes, scans it twice and copies the result out: about
// a twentieth of the gateway's CPU per call, and four times the answer's
// size in garbage. decodeEnvelope reads the answer into one buffer, checks
// the first value with json.Valid, and takes the envelope's members from
// it, the result in place (no copy). It takes only what encoding/json
// would decode the same way: anything else (a key with an escape or a
// non-ASCII byte, a key that matches a member only without regard to
// case, a repeated member, a first value that is not an object, a value
// that is not valid or not complete) goes to encoding/json, which then
// decodes it, errors included, as it did before.

// decodeEnvelope decodes the first JSON value r holds as json.Decoder's
// Decode does (what follows the value is not read, or not looked at).
// sizeHint is the answer's length when known (Content-Length), or -1.
func decodeEnvelope(r io.Reader, sizeHint int64) (*envelope, error) {
	size := 1024
	if sizeHint > 0 {
		// A first read of the announced length; the body's limit bounds
		// what is read, so only the allocation is bounded here.
		size = int(min(sizeHint, 64<<10))
	}
	buf := make([]byte, 0, size)
	var sc valueScanner
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if end, state := sc.scan(buf); state == scanDone {
			v := buf[sc.start:end]
			if v[0] == '{' && json.Valid(v) {
				if env, ok := parseEnvelope(v); ok {
					return env, nil
				}
			}
			return decodeSlow(buf, nil)
		} else if state == scanOther {
			return decodeSlow(buf, r)
		}
		if err != nil {
			return decodeSlow(buf, errReader{err})
		}
	}
}

// decodeSlow decodes with json.Decoder what was read, followed by rest
// (nil for nothing more).
func decodeSlow(read []byte, rest io.Reader) (*envelope, error) {
	var src io.Reader = bytes.NewReader(read)
	if rest != nil {
		src = io.MultiReader(src, rest)
	}
	var env envelope
	if err := json.NewDecoder(src).Decode(&env); err != nil {
		return nil, err
	}
	return &env, nil
}

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// unmarshalEnvelope decodes data as json.Unmarshal does into an envelope;
// the result may point into data.
func unmarshalEnvelope(data []byte, env *envelope) error {
	if v := bytes.TrimLeft(data, " \t\r\n"); len(v) > 0 && v[0] == '{' && json.Valid(data) {
		if e, ok := parseEnvelope(bytes.TrimRight(v, " \t\r\n")); ok {
			*env = *e
			return nil
		}
	}
	return json.Unmarshal(data, env)
}

// The states of a valueScanner.
const (
	scanMore  = iota // the value goes on past what was read
	scanDone         // the value ends
	scanOther        // the first value is not an object
)

// valueScanner finds where the first JSON value of a growing buffer ends,
// if it is an object. It does not check the value is valid JSON: the value
// it delimits is checked as a whole.
type valueScanner struct {
	start   int // the object's first byte; -1 before it is found
	at      int // the next byte to look at
	depth   int
	inStr   bool
	escaped bool
	started bool
}

// scan looks at what buf holds past what it has seen and returns the end
// of the object (one past its last byte) when it has found it.
func (s *valueScanner) scan(buf []byte) (int, int) {
	for ; s.at < len(buf); s.at++ {
		c := buf[s.at]
		if !s.started {
			switch c {
			case ' ', '\t', '\r', '\n':
				continue
			case '{':
				s.started, s.start, s.depth = true, s.at, 1
				continue
			default:
				return 0, scanOther
			}
		}
		switch {
		case s.inStr:
			switch {
			case s.escaped:
				s.escaped = false
			case c == '\\':
				s.escaped = true
			case c == '"':
				s.inStr = false
			}
		case c == '"':
			s.inStr = true
		case c == '{' || c == '[':
			s.depth++
		case c == '}' || c == ']':
			s.depth--
			if s.depth == 0 {
				s.at++
				return s.at, scanDone
			}
		}
	}
	return 0, scanMore
}

// The envelope's members, as encoding/json matches them.
var envelopeKeys = [...]string{"id", "method", "result", "error"}

// parseEnvelope takes the members of obj, a valid JSON object, as
// encoding/json would decode them into an envelope; ok is false when it
// cannot be sure of that, and encoding/json must decode obj. The result
// points into obj.
func parseEnvelope(obj []byte) (env *envelope, ok bool) {
	var spans [len(envelopeKeys)][]byte
	i := skipSpace(obj, 1)
	if obj[i] == '}' {
		return &envelope{}, true
	}
	for {
		// A key: valid JSON, so a string.
		k0 := i + 1
		k1 := k0
		for obj[k1] != '"' {
			if c := obj[k1]; c == '\\' || c >= 0x80 {
				return nil, false
			}
			k1++
		}
		key := obj[k0:k1]
		i = skipSpace(obj, k1+1) // the colon
		v0 := skipSpace(obj, i+1)
		v1 := skipValue(obj, v0)
		matched := false
		for m, name := range envelopeKeys {
			if string(key) == name {
				if spans[m] != nil {
					return nil, false // repeated: encoding/json may merge
				}
				spans[m], matched = obj[v0:v1:v1], true
				break
			}
		}
		if !matched {
			for _, name := range envelopeKeys {
				if bytes.EqualFold(key, []byte(name)) {
					return nil, false
				}
			}
		}
		i = skipSpace(obj, v1)
		if obj[i] == '}' {
			break
		}
		i = skipSpace(obj, i+1) // past the comma
	}
	env = &envelope{}
	if s := spans[0]; plainString(s) {
		// As RequestId decodes a string that needs no unescaping.
		env.ID = mcp.NewRequestId(string(s[1 : len(s)-1]))
	} else if s != nil {
		if err := json.Unmarshal(s, &env.ID); err != nil {
			return nil, false
		}
	}
	if s := spans[1]; s != nil {
		env.Method = bytes.Clone(s)
	}
	// RawMessage takes the value as it is, null included.
	env.Result = spans[2]
	if s := spans[3]; s != nil {
		if err := json.Unmarshal(s, &env.Error); err != nil {
			return nil, false
		}
	}
	return env, true
}

// plainString reports whether v is a JSON string of printable ASCII
// without escapes, which decodes to what it holds between its quotes.
func plainString(v []byte) bool {
	if len(v) < 2 || v[0] != '"' {
		return false
	}
	for _, c := range v[1 : len(v)-1] {
		if c == '\\' || c < 0x20 || c >= 0x80 {
			return false
		}
	}
	return true
}

// skipSpace returns the index of the first byte of b from i that is not
// JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// skipValue returns the index just past the valid JSON value that starts
// at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default:
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return i
			}
			i++
		}
		return i
	}
}

// skipString returns the index just past the JSON string that starts at
// b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}
