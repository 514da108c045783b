package delegation

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
)

// cacheKey is the SHA-256 digest of a request's canonical encoding (see
// [Point.key]). A collision would hand one request another's decision, so
// the digest is a cryptographic one: finding two requests with the same key
// is as hard as finding a SHA-256 collision, even for a caller who chooses
// the attributes.
type cacheKey [sha256.Size]byte

// keyFormat starts every encoding; change it when the encoding changes.
const keyFormat = 1

// maxKeyDepth bounds the nesting of attribute values in a key; a deeper
// value makes the request uncacheable (it is still decided).
const maxKeyDepth = 16

// entryBytes approximates the memory of a cache entry besides its strings:
// otter's node, the key and the Decision.
const entryBytes = 160

func newCache(c CacheConfig) *otter.Cache[cacheKey, Decision] {
	return otter.Must(&otter.Options[cacheKey, Decision]{
		MaximumWeight:    uint64(c.Bytes),
		Weigher:          weigh,
		ExpiryCalculator: otter.ExpiryWriting[cacheKey, Decision](c.TTL),
	})
}

func weigh(_ cacheKey, d Decision) uint32 {
	n := entryBytes + len(d.Reason) + len(d.Rule) + len(d.Engine)
	for _, s := range d.Path {
		n += 16 + len(s)
	}
	return uint32(min(n, math.MaxUint32))
}

// key returns the cache key of req, whose time [Point.setTime] has set,
// and reports whether req can be cached: it
// cannot when an attribute or context value has a type the encoding does
// not know, or nests deeper than maxKeyDepth.
//
// The key covers every input of the decision: the generations of the
// engines that have one, read now, before the engines run, and every
// field of req, each self-delimiting (length-prefixed strings, tagged
// values of their exact Go type, map entries sorted by key), so that two
// requests share an encoding only when the engines cannot tell them
// apart. The ABAC rules never change during a Point's life.
func (p *Point) key(req *Request) (cacheKey, bool) {
	bp := keyBufs.Get().(*[]byte)
	b, ok := p.appendKey((*bp)[:0], req)
	var k cacheKey
	if ok {
		k = sha256.Sum256(b)
	}
	if cap(b) <= maxPooledKey {
		*bp = b
		keyBufs.Put(bp)
	}
	return k, ok
}

// keyBufs holds encoding buffers; a buffer grown past maxPooledKey is
// dropped rather than kept.
var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

const maxPooledKey = 16 << 10

// appendKey appends the encoding of req to b.
func (p *Point) appendKey(b []byte, req *Request) (_ []byte, ok bool) {
	b = append(b, keyFormat)
	if p.rel != nil {
		b = binary.LittleEndian.AppendUint64(b, p.rel.Generation())
	}
	if p.pol != nil {
		b = binary.LittleEndian.AppendUint64(b, p.pol.Generation())
	}
	b = appendString(b, req.Subject.ID)
	if b, ok = appendAnyMap(b, req.Subject.Attrs, 0); !ok {
		return b, false
	}
	b = appendString(b, req.Agent.ID)
	b = appendString(b, req.Agent.ClientID)
	if b, ok = appendAnyMap(b, req.Agent.Attrs, 0); !ok {
		return b, false
	}
	b = appendString(b, req.Action)
	b = appendString(b, req.Resource)
	b = appendString(b, req.Tool)
	b = appendStrings(b, req.Scopes)
	b = appendString(b, req.Risk.Level)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(req.Risk.Score))
	b = appendAddr(b, req)
	b = binary.LittleEndian.AppendUint64(b, uint64(req.Time.Unix()))
	b = binary.LittleEndian.AppendUint32(b, uint32(req.Time.Nanosecond()))
	if b, ok = appendAnyMap(b, req.Context, 0); !ok {
		return b, false
	}
	return appendString(b, req.AtLeast), true
}

// Value tags of the key encoding, one per Go type.
const (
	tagNil byte = iota
	tagFalse
	tagTrue
	tagString
	tagInt
	tagInt8
	tagInt16
	tagInt32
	tagInt64
	tagUint
	tagUint8
	tagUint16
	tagUint32
	tagUint64
	tagFloat32
	tagFloat64
	tagDuration
	tagTime
	tagNumber
	tagAnyList
	tagStringList
	tagAnyMap
	tagStringMap
)

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, tagNil)
	}
	b = append(b, tagStringList)
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func appendAddr(b []byte, req *Request) []byte {
	a := req.SourceIP
	switch {
	case !a.IsValid():
		return append(b, 0)
	case a.Is4():
		v := a.As4()
		return append(append(b, 4), v[:]...)
	default:
		v := a.As16()
		b = append(append(b, 16), v[:]...)
		return appendString(b, a.Zone())
	}
}

func appendUint(b []byte, tag byte, v uint64) []byte {
	return binary.LittleEndian.AppendUint64(append(b, tag), v)
}

// appendValue encodes an attribute value, reporting false for a type it
// does not know.
func appendValue(b []byte, v any, depth int) ([]byte, bool) {
	if depth > maxKeyDepth {
		return b, false
	}
	switch v := v.(type) {
	case nil:
		return append(b, tagNil), true
	case bool:
		if v {
			return append(b, tagTrue), true
		}
		return append(b, tagFalse), true
	case string:
		return appendString(append(b, tagString), v), true
	case int:
		return appendUint(b, tagInt, uint64(v)), true
	case int8:
		return appendUint(b, tagInt8, uint64(v)), true
	case int16:
		return appendUint(b, tagInt16, uint64(v)), true
	case int32:
		return appendUint(b, tagInt32, uint64(v)), true
	case int64:
		return appendUint(b, tagInt64, uint64(v)), true
	case uint:
		return appendUint(b, tagUint, uint64(v)), true
	case uint8:
		return appendUint(b, tagUint8, uint64(v)), true
	case uint16:
		return appendUint(b, tagUint16, uint64(v)), true
	case uint32:
		return appendUint(b, tagUint32, uint64(v)), true
	case uint64:
		return appendUint(b, tagUint64, v), true
	case float32:
		return appendUint(b, tagFloat32, uint64(math.Float32bits(v))), true
	case float64:
		return appendUint(b, tagFloat64, math.Float64bits(v)), true
	case time.Duration:
		return appendUint(b, tagDuration, uint64(v)), true
	case time.Time:
		// The instant and the zone offset determine both the RFC 3339
		// text Rego sees and the wall clock CEL sees.
		_, off := v.Zone()
		b = appendUint(b, tagTime, uint64(v.Unix()))
		b = binary.LittleEndian.AppendUint32(b, uint32(v.Nanosecond()))
		return binary.LittleEndian.AppendUint32(b, uint32(int32(off))), true
	case json.Number:
		return appendString(append(b, tagNumber), string(v)), true
	case []string:
		if v == nil {
			return append(b, tagNil), true
		}
		return appendStrings(b, v), true
	case []any:
		if v == nil {
			return append(b, tagNil), true
		}
		b = append(b, tagAnyList)
		b = binary.AppendUvarint(b, uint64(len(v)))
		for _, e := range v {
			var ok bool
			if b, ok = appendValue(b, e, depth+1); !ok {
				return b, false
			}
		}
		return b, true
	case map[string]any:
		return appendAnyMap(b, v, depth)
	case map[string]string:
		if v == nil {
			return append(b, tagNil), true
		}
		b = append(b, tagStringMap)
		b = binary.AppendUvarint(b, uint64(len(v)))
		var arr [16]entry[string]
		for _, e := range sorted(arr[:0], v) {
			b = appendString(appendString(b, e.k), e.v)
		}
		return b, true
	}
	return b, false
}

func appendAnyMap(b []byte, m map[string]any, depth int) ([]byte, bool) {
	if m == nil {
		return append(b, tagNil), true
	}
	b = append(b, tagAnyMap)
	b = binary.AppendUvarint(b, uint64(len(m)))
	var arr [16]entry[any]
	for _, e := range sorted(arr[:0], m) {
		var ok bool
		if b, ok = appendValue(appendString(b, e.k), e.v, depth+1); !ok {
			return b, false
		}
	}
	return b, true
}

// entry is one map entry.
type entry[V any] struct {
	k string
	v V
}

// sorted appends the entries of m to dst, sorted by key.
func sorted[V any](dst []entry[V], m map[string]V) []entry[V] {
	for k, v := range m {
		dst = append(dst, entry[V]{k, v})
	}
	slices.SortFunc(dst, func(a, b entry[V]) int { return strings.Compare(a.k, b.k) })
	return dst
}
