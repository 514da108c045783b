package rebac

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
)

var strSeed = maphash.MakeSeed()

// strtab interns object strings ("type:id", "type:*") to IDs from 1. The
// strings live in one arena as records: ID (4 bytes), length (2 bytes),
// bytes. The base is an immutable open-addressing table, at most half
// full, of tag<<32|offset, where tag is 32 bits of the string's hash and
// offset its record's: a lookup reads one slot and one record, two cache
// lines, where a Go map reads three (control word, key, bytes). Strings
// interned since the base was built are in a small delta map. The arena
// and offs only grow, and versions share them: a version reads no further
// than its own lengths.
type strtab struct {
	base  []uint64
	delta map[string]uint32
	offs  []uint32 // ID -> record offset; offs[0] unused
	arena []byte   // arena[0] unused, so that no slot is 0
}

const (
	strHeader = 6
	maxString = 1<<16 - 1
)

func newStrtab() strtab { return strtab{offs: []uint32{0}, arena: []byte{0}} }

// next returns the ID the next string will get.
func (t *strtab) next() uint32 { return uint32(len(t.offs)) }

// id returns the ID of s, 0 when it is not interned.
func (t *strtab) id(s string) uint32 {
	if t.delta != nil {
		if id, ok := t.delta[s]; ok {
			return id
		}
	}
	n := uint64(len(t.base))
	if n == 0 {
		return 0
	}
	h := maphash.String(strSeed, s)
	tag := h & 0xFFFFFFFF
	i, _ := bits.Mul64(h, n)
	for {
		v := t.base[i]
		if v == 0 {
			return 0
		}
		if v>>32 == tag {
			rec := t.arena[uint32(v):]
			if int(binary.LittleEndian.Uint16(rec[4:])) == len(s) && string(rec[strHeader:strHeader+len(s)]) == s {
				return binary.LittleEndian.Uint32(rec)
			}
		}
		if i++; i == n {
			i = 0
		}
	}
}

// bytes returns the string of ID id, nil when there is none.
func (t *strtab) bytes(id uint32) []byte {
	if id == 0 || int(id) >= len(t.offs) {
		return nil
	}
	rec := t.arena[t.offs[id]:]
	n := int(binary.LittleEndian.Uint16(rec[4:]))
	return rec[strHeader : strHeader+n : strHeader+n]
}

func (t *strtab) str(id uint32) string { return string(t.bytes(id)) }

// add appends s, which is not interned, and records it in the delta map,
// which the caller owns.
func (t *strtab) add(s string) uint32 {
	id := uint32(len(t.offs))
	t.offs = append(t.offs, uint32(len(t.arena)))
	t.arena = binary.LittleEndian.AppendUint32(t.arena, id)
	t.arena = binary.LittleEndian.AppendUint16(t.arena, uint16(len(s)))
	t.arena = append(t.arena, s...)
	t.delta[s] = id
	return id
}

func (t *strtab) needsMerge() bool {
	return len(t.delta) > mergeLimit(len(t.offs))
}

// merged returns t with every string in a new base.
func (t *strtab) merged() strtab {
	n := uint64(2*(len(t.offs)-1) + 1)
	base := make([]uint64, n)
	for id := 1; id < len(t.offs); id++ {
		off := t.offs[id]
		b := t.bytes(uint32(id))
		h := maphash.Bytes(strSeed, b)
		i, _ := bits.Mul64(h, n)
		for base[i] != 0 {
			if i++; i == n {
				i = 0
			}
		}
		base[i] = (h&0xFFFFFFFF)<<32 | uint64(off)
	}
	return strtab{base: base, offs: t.offs, arena: t.arena}
}
