package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Version is the version of the canonical event encoding this package writes.
const Version = 1

// ZeroHash is the prev_hash of the first event of every chain.
const ZeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Decision is the outcome an event records.
type Decision string

// The decisions an event may carry; informational events leave it empty.
const (
	Allow Decision = "allow"
	Deny  Decision = "deny"
	Error Decision = "error"
)

// Actor is who acted: the subject (user or service), the OAuth client and,
// outermost first, the delegation chain of actors that acted for the subject.
type Actor struct {
	Subject  string   `json:"subject"`
	ClientID string   `json:"client_id"`
	Chain    []string `json:"chain"`
}

// Finding is one detector result attached to an event.
type Finding struct {
	Rule     string `json:"rule"`
	Category string `json:"category"`
	Severity string `json:"severity"`
}

// Event is one entry of a node's hash chain. Seq, Time, Node, PrevHash,
// Hash and V are set by [Log.Append]; callers fill the rest.
//
// The canonical encoding (version 1) is the RFC 8785 (JCS) serialization of
// the event as a JSON object with every field present: keys sorted, no
// whitespace, strings as UTF-8 with only '"', '\\' and control characters
// escaped, integers in decimal, time as RFC 3339 UTC with nanoseconds and no
// trailing zeros. Hash is the lower-case hex SHA-256 of the canonical
// encoding of the event without its "hash" member; the stored form is the
// canonical encoding with "hash". See docs/AUDIT.md.
type Event struct {
	V         int       `json:"v"`
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Node      string    `json:"node"`
	Type      string    `json:"type"`
	Actor     Actor     `json:"actor"`
	Action    string    `json:"action"`
	Target    string    `json:"target"`
	Decision  Decision  `json:"decision"`
	Reason    string    `json:"reason"`
	Findings  []Finding `json:"findings"`
	RequestID string    `json:"request_id"`
	PrevHash  string    `json:"prev_hash"`
	Hash      string    `json:"hash"`
}

// MaxEventBytes bounds the size of one stored event.
const MaxEventBytes = 64 << 10

var (
	errNotCanonical = errors.New("not in canonical form")
	errHashMismatch = errors.New("hash does not match content")
)

// The canonical encoding, in key order, falls into the parts a caller
// fills (encoded before the writer sees the event, in the caller's
// goroutine) and the fields the log sets: hash, node, prev_hash, seq, time.

// appendPart1 encodes action, actor, decision and findings, opening the
// object.
func appendPart1(b []byte, e *Event) []byte {
	b = append(b, `{"action":`...)
	b = appendString(b, e.Action)
	b = append(b, `,"actor":{"chain":[`...)
	for i, c := range e.Actor.Chain {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, c)
	}
	b = append(b, `],"client_id":`...)
	b = appendString(b, e.Actor.ClientID)
	b = append(b, `,"subject":`...)
	b = appendString(b, e.Actor.Subject)
	b = append(b, `},"decision":`...)
	b = appendString(b, string(e.Decision))
	b = append(b, `,"findings":[`...)
	for i, f := range e.Findings {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"category":`...)
		b = appendString(b, f.Category)
		b = append(b, `,"rule":`...)
		b = appendString(b, f.Rule)
		b = append(b, `,"severity":`...)
		b = appendString(b, f.Severity)
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendPart2 encodes reason and request_id.
func appendPart2(b []byte, e *Event) []byte {
	b = append(b, `,"reason":`...)
	b = appendString(b, e.Reason)
	b = append(b, `,"request_id":`...)
	return appendString(b, e.RequestID)
}

// appendPart3 encodes target.
func appendPart3(b []byte, e *Event) []byte {
	b = append(b, `,"target":`...)
	return appendString(b, e.Target)
}

// appendPart4 encodes type and v, closing the object.
func appendPart4(b []byte, e *Event) []byte {
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"v":`...)
	b = strconv.AppendInt(b, int64(e.V), 10)
	return append(b, '}')
}

func appendHash(b []byte, hash string) []byte {
	b = append(b, `,"hash":`...)
	return appendString(b, hash)
}

func appendNodePrev(b []byte, node, prev string) []byte {
	b = append(b, `,"node":`...)
	b = appendString(b, node)
	b = append(b, `,"prev_hash":`...)
	return appendString(b, prev)
}

func appendSeq(b []byte, seq uint64) []byte {
	b = append(b, `,"seq":`...)
	return strconv.AppendUint(b, seq, 10)
}

func appendTime(b []byte, t string) []byte {
	b = append(b, `,"time":`...)
	return appendString(b, t)
}

// appendCanonical appends the canonical encoding of e to b, with the hash
// member when withHash is set.
func appendCanonical(b []byte, e *Event, withHash bool) []byte {
	b = appendPart1(b, e)
	if withHash {
		b = appendHash(b, e.Hash)
	}
	b = appendNodePrev(b, e.Node, e.PrevHash)
	b = appendPart2(b, e)
	b = appendSeq(b, e.Seq)
	b = appendPart3(b, e)
	b = appendTime(b, formatTime(e.Time))
	return appendPart4(b, e)
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// appendString appends s as a JCS string. Invalid UTF-8 must have been
// replaced before (see scrub); here it is copied as is, which can only make
// verification fail, never pass.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// seal sets e.Hash and returns the stored form of e, appended to buf.
func seal(buf []byte, e *Event) []byte {
	buf = appendCanonical(buf[:0], e, false)
	sum := sha256.Sum256(buf)
	e.Hash = hex.EncodeToString(sum[:])
	return appendCanonical(buf[:0], e, true)
}

func decodeStrict(data []byte, v any) error {
	if len(data) > MaxEventBytes {
		return fmt.Errorf("audit: record of %d bytes exceeds %d", len(data), MaxEventBytes)
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("audit: decode: %w", err)
	}
	if d.More() {
		return errors.New("audit: decode: trailing data")
	}
	return nil
}

// Seal sets e.Hash from e's content and returns its stored form. [Log]
// seals the events it appends; Seal is for tools and tests that build
// chains by hand.
func (e *Event) Seal() []byte { return seal(make([]byte, 0, 512), e) }

// Encode returns the stored (canonical, hashed) form of e as it is; it does
// not recompute the hash. It is what `audit query --format json` prints.
func (e *Event) Encode() []byte { return appendCanonical(nil, e, true) }
