package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// parser reads the stored form of an event. It accepts exactly the bytes
// appendCanonical writes and nothing else: any other spelling of the same
// JSON (whitespace, key order, other escapes, extra keys) is an error. So a
// record that parses is canonical, and its hash can be checked over its own
// bytes without encoding it again.
type parser struct {
	data []byte
	p    int
	err  error
}

func (ps *parser) fail(what string) {
	if ps.err == nil {
		ps.err = fmt.Errorf("%w: %s at byte %d", errNotCanonical, what, ps.p)
	}
}

func (ps *parser) lit(s string) {
	if ps.err != nil {
		return
	}
	if len(ps.data)-ps.p < len(s) || string(ps.data[ps.p:ps.p+len(s)]) != s {
		ps.fail("expected " + strconv.Quote(s))
		return
	}
	ps.p += len(s)
}

// peek reports whether the next byte is c.
func (ps *parser) peek(c byte) bool {
	return ps.err == nil && ps.p < len(ps.data) && ps.data[ps.p] == c
}

func (ps *parser) str() string {
	ps.lit(`"`)
	if ps.err != nil {
		return ""
	}
	start, escaped := ps.p, false
	for ps.p < len(ps.data) {
		c := ps.data[ps.p]
		switch {
		case c == '"':
			raw := ps.data[start:ps.p]
			ps.p++
			if !utf8.Valid(raw) {
				ps.fail("invalid UTF-8")
				return ""
			}
			if !escaped {
				return string(raw)
			}
			return unescape(raw)
		case c < 0x20:
			ps.fail("unescaped control character")
			return ""
		case c == '\\':
			if !ps.escape() {
				return ""
			}
			escaped = true
		default:
			ps.p++
		}
	}
	ps.fail("unterminated string")
	return ""
}

// escape checks the escape at ps.p: only the forms JCS writes.
func (ps *parser) escape() bool {
	d := ps.data[ps.p:]
	if len(d) >= 2 {
		switch d[1] {
		case '"', '\\', 'b', 'f', 'n', 'r', 't':
			ps.p += 2
			return true
		case 'u':
			if len(d) >= 6 && d[2] == '0' && d[3] == '0' && (d[4] == '0' || d[4] == '1') && isLowerHex(d[5]) {
				switch v := unhex(d[4])<<4 | unhex(d[5]); v {
				case '\b', '\f', '\n', '\r', '\t':
				default:
					ps.p += 6
					return true
				}
			}
		}
	}
	ps.fail("non-canonical escape")
	return false
}

func isLowerHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

// unescape decodes a string body that escape has checked.
func unescape(raw []byte) string {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			out = append(out, unhex(raw[i+3])<<4|unhex(raw[i+4]))
			i += 4
		default: // '"' or '\\'
			out = append(out, raw[i])
		}
	}
	return string(out)
}

// uint reads a canonical non-negative integer.
func (ps *parser) uint() uint64 {
	if ps.err != nil {
		return 0
	}
	start := ps.p
	for ps.p < len(ps.data) && '0' <= ps.data[ps.p] && ps.data[ps.p] <= '9' {
		ps.p++
	}
	digits := ps.data[start:ps.p]
	if len(digits) == 0 || len(digits) > 1 && digits[0] == '0' {
		ps.fail("expected a canonical integer")
		return 0
	}
	n, err := strconv.ParseUint(string(digits), 10, 64)
	if err != nil {
		ps.fail("integer out of range")
	}
	return n
}

// strs reads a list of strings.
func (ps *parser) strs() []string {
	ps.lit("[")
	var out []string
	for !ps.peek(']') && ps.err == nil {
		if len(out) > 0 {
			ps.lit(",")
		}
		out = append(out, ps.str())
	}
	ps.lit("]")
	return out
}

// parsed is a stored event with the location of its hash member.
type parsed struct {
	Event
	hashFrom, hashTo int
}

// parseStored parses the stored form of an event.
func parseStored(data []byte, e *parsed) error {
	if len(data) > MaxEventBytes {
		return fmt.Errorf("%w: record of %d bytes exceeds %d", errNotCanonical, len(data), MaxEventBytes)
	}
	ps := parser{data: data}
	ps.lit(`{"action":`)
	e.Action = ps.str()
	ps.lit(`,"actor":{"chain":`)
	e.Actor.Chain = ps.strs()
	ps.lit(`,"client_id":`)
	e.Actor.ClientID = ps.str()
	ps.lit(`,"subject":`)
	e.Actor.Subject = ps.str()
	ps.lit(`},"decision":`)
	e.Decision = Decision(ps.str())
	ps.lit(`,"findings":[`)
	e.Findings = nil
	for !ps.peek(']') && ps.err == nil {
		if len(e.Findings) > 0 {
			ps.lit(",")
		}
		var f Finding
		ps.lit(`{"category":`)
		f.Category = ps.str()
		ps.lit(`,"rule":`)
		f.Rule = ps.str()
		ps.lit(`,"severity":`)
		f.Severity = ps.str()
		ps.lit("}")
		e.Findings = append(e.Findings, f)
	}
	ps.lit("]")
	e.hashFrom = ps.p
	ps.lit(`,"hash":`)
	e.Hash = ps.str()
	e.hashTo = ps.p
	ps.lit(`,"node":`)
	e.Node = ps.str()
	ps.lit(`,"prev_hash":`)
	e.PrevHash = ps.str()
	ps.lit(`,"reason":`)
	e.Reason = ps.str()
	ps.lit(`,"request_id":`)
	e.RequestID = ps.str()
	ps.lit(`,"seq":`)
	e.Seq = ps.uint()
	ps.lit(`,"target":`)
	e.Target = ps.str()
	ps.lit(`,"time":`)
	ts := ps.str()
	ps.lit(`,"type":`)
	e.Type = ps.str()
	ps.lit(`,"v":`)
	v := ps.uint()
	ps.lit("}")
	if ps.err == nil && ps.p != len(data) {
		ps.fail("trailing data")
	}
	if ps.err != nil {
		return ps.err
	}
	if v != Version {
		return fmt.Errorf("%w: unknown encoding version %d", errNotCanonical, v)
	}
	e.V = Version
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || formatTime(t) != ts {
		return fmt.Errorf("%w: time %q is not RFC 3339 UTC", errNotCanonical, ts)
	}
	e.Time = t
	return nil
}

// checkHash checks that e's hash is the SHA-256 of data without the hash
// member.
func checkHash(data []byte, e *parsed) error {
	h := sha256.New()
	h.Write(data[:e.hashFrom])
	h.Write(data[e.hashTo:])
	var sum [sha256.Size]byte
	var got [2 * sha256.Size]byte
	hex.Encode(got[:], h.Sum(sum[:0]))
	if string(got[:]) != e.Hash {
		return errHashMismatch
	}
	return nil
}

// DecodeEvent parses the stored form of an event, requiring it to be
// canonical, and checks that its hash matches its content. It does not
// check the chain; see [Verify].
func DecodeEvent(data []byte) (*Event, error) {
	var e parsed
	if err := parseStored(data, &e); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if err := checkHash(data, &e); err != nil {
		return &e.Event, fmt.Errorf("audit: %w", err)
	}
	return &e.Event, nil
}
