package rebac

// The in-process index the checks read. One *index is an immutable
// version: readers load it from an atomic pointer and never lock; the
// single writer (Sync, under Engine.mu) derives the next version from the
// current one with an editor, copying only what it changes, and publishes
// it.
//
// Layout. Object strings ("type:id", also "type:*") are interned to
// uint32 IDs, and type, relation and condition names to uint16 name IDs.
// A tuple (object, relation, user) is then two integers:
//
//	objrel  = object<<16 | relation                         (48 bits)
//	subject = userRelation<<48 | userObject<<16 | flags     (flags bit 0: conditioned)
//
// where userRelation is 0 for a plain user or a wildcard. Sorting subjects
// as integers therefore puts the plain users first and the usersets last.
//
// The forward map sends an objrel to its sorted subjects; the reverse map
// sends a subject (flags cleared) to the sorted objrels it appears in. Each
// is a compressed sparse row array (one []uint64 of entries plus an
// open-addressing hash table key -> offset,length, a list of one entry
// kept in its slot instead) holding the bulk, and a small delta map of
// replacement lists for the keys written since; past mergeLimit keys the
// two are merged into a new base. Keys hash by object only, so the
// relations of one object that a check visits share cache lines. Long
// forward lists are also in a member set keyed by (objrel, subject), so
// that "is this user directly here" is one probe whatever the length. The
// condition of a conditioned tuple lives in a side table keyed by
// (objrel, subject), so the common unconditioned tuple costs 16 bytes of
// entries plus its share of the hash tables and strings: about 60 bytes
// a tuple in all (BenchmarkIndexMemory).

import (
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strings"

	"github.com/subzero-gateway/subzero/delegation/rebac/tuplestore"
)

const (
	flagCond    = 1 << 0
	flagMask    = 0xFFFF
	objrelMask  = 1<<48 - 1
	maxNameID   = 1<<16 - 1
	maxObjectID = 1<<32 - 1
)

func objrel(obj uint32, rel uint16) uint64 { return uint64(obj)<<16 | uint64(rel) }

func objrelObj(k uint64) uint32 { return uint32(k >> 16) }

func objrelRel(k uint64) uint16 { return uint16(k) }

func subject(obj uint32, rel uint16) uint64 { return uint64(rel)<<48 | uint64(obj)<<16 }

func subjObj(s uint64) uint32 { return uint32(s >> 16) }

func subjRel(s uint64) uint16 { return uint16(s >> 48) }

// findSubject returns the entry of subs equal to key once flags are
// cleared.
func findSubject(subs []uint64, key uint64) (uint64, bool) {
	i, j := 0, len(subs)
	for i < j {
		h := int(uint(i+j) >> 1)
		if subs[h] < key {
			i = h + 1
		} else {
			j = h
		}
	}
	if i < len(subs) && subs[i]&^flagMask == key {
		return subs[i], true
	}
	return 0, false
}

// insertSorted adds v to the sorted list, replacing an entry with the
// same key under mask; it reports whether the list grew.
func insertSorted(l []uint64, v, mask uint64) ([]uint64, bool) {
	key := v &^ mask
	i, _ := slices.BinarySearch(l, key)
	if i < len(l) && l[i]&^mask == key {
		l[i] = v
		return l, false
	}
	return slices.Insert(l, i, v), true
}

// removeSorted drops the entry with key under mask; it reports whether
// one was there.
func removeSorted(l []uint64, key, mask uint64) ([]uint64, bool) {
	i, _ := slices.BinarySearch(l, key)
	if i < len(l) && l[i]&^mask == key {
		return slices.Delete(l, i, i+1), true
	}
	return l, false
}

// slot is a hash table slot: key and value.
type slot [2]uint64

const (
	// inlineKey marks a key whose list has one entry, kept in the slot's
	// value rather than in the entries array: a lookup then touches one
	// cache line instead of two. Keys never use bit 63 (objrels have 48
	// bits, subjects' relation name IDs stay under 1<<15).
	inlineKey = 1 << 63
	// spanUsersets marks a span whose list ends with usersets.
	spanUsersets = 1 << 63
)

// table is an immutable open-addressing hash table from non-zero keys to
// values, at most half full, with linear probing: a lookup of an absent
// key, common in checks that deny, scans 2.5 slots on average.
type table struct {
	slots []slot
}

// mix is MurmurHash3's 64-bit finalizer.
func mix(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

func newTable(n int) table { return table{slots: make([]slot, 2*n+1)} }

func (t *table) home(h uint64) uint64 {
	hi, _ := bits.Mul64(h, uint64(len(t.slots)))
	return hi
}

// objectHash hashes the object of an objrel or a subject only, so that
// all of an object's relations probe from the same slot: a check that
// visits several relations of one object reads one or two cache lines.
func objectHash(k uint64) uint64 { return mix(k >> 16 & 0xFFFFFFFF) }

// put adds k, which is not in t yet.
func (t *table) put(k, v uint64) {
	n := uint64(len(t.slots))
	for i := t.home(objectHash(k)); ; {
		s := &t.slots[i]
		if s[0] == 0 {
			s[0], s[1] = k, v
			return
		}
		if i++; i == n {
			i = 0
		}
	}
}

func (t *table) find(k uint64) *slot {
	n := uint64(len(t.slots))
	if n == 0 {
		return nil
	}
	for i := t.home(objectHash(k)); ; {
		s := &t.slots[i]
		if s[0]&^inlineKey == k {
			return s
		}
		if s[0] == 0 {
			return nil
		}
		if i++; i == n {
			i = 0
		}
	}
}

// csr is an immutable multimap: every key's sorted list is a window of
// one entries array, or inline in its slot when it has one entry.
type csr struct {
	tab     table
	entries []uint64
	keys    int
	n       int // entries in all lists, inline ones included
}

func spanList(entries []uint64, s *slot) []uint64 {
	if s[0]&inlineKey != 0 {
		return s[1:2:2]
	}
	off, n := (s[1]>>32)&0x7FFFFFFF, s[1]&0xFFFFFFFF
	return entries[off : off+n : off+n]
}

func (c *csr) get(k uint64) []uint64 {
	if c == nil {
		return nil
	}
	s := c.tab.find(k)
	if s == nil {
		return nil
	}
	return spanList(c.entries, s)
}

// each calls fn for every key and list.
func (c *csr) each(fn func(k uint64, l []uint64)) {
	if c == nil {
		return
	}
	for i := range c.tab.slots {
		if s := &c.tab.slots[i]; s[0] != 0 {
			fn(s[0]&^inlineKey, spanList(c.entries, s))
		}
	}
}

// size returns the number of entries in all lists.
func (c *csr) size() int {
	if c == nil {
		return 0
	}
	return c.n
}

// csrBuilder collects keys and their lists, each key once.
type csrBuilder struct {
	keys    []uint64
	spans   []uint64
	entries []uint64
}

func (b *csrBuilder) add(k uint64, l []uint64) {
	switch len(l) {
	case 0:
		return
	case 1:
		b.keys = append(b.keys, k|inlineKey)
		b.spans = append(b.spans, l[0])
		return
	}
	span := uint64(len(b.entries))<<32 | uint64(len(l))
	if l[len(l)-1] >= 1<<48 {
		span |= spanUsersets
	}
	b.keys = append(b.keys, k)
	b.spans = append(b.spans, span)
	b.entries = append(b.entries, l...)
}

func (b *csrBuilder) build() *csr {
	c := &csr{tab: newTable(len(b.keys)), entries: slices.Clip(b.entries), keys: len(b.keys), n: len(b.entries)}
	for i, k := range b.keys {
		c.tab.put(k, b.spans[i])
		if k&inlineKey != 0 {
			c.n++
		}
	}
	return c
}

// memberSet is an immutable hash set of (objrel, subject) pairs: the
// tuples of the forward base's long lists (bigList entries or more), so
// that "is this user directly in this relation" takes one probe whatever
// the list's length. A slot holds the objrel and the subject with its
// flags.
type memberSet struct {
	tab table
}

func memberHash(or, subj uint64) uint64 { return mix(or*0x9E3779B97F4A7C15 ^ subj) }

func newMemberSet(n int) *memberSet { return &memberSet{tab: newTable(n)} }

func (m *memberSet) put(or, s uint64) {
	t := &m.tab
	n := uint64(len(t.slots))
	for i := t.home(memberHash(or, s&^flagMask)); ; {
		sl := &t.slots[i]
		if sl[0] == 0 {
			sl[0], sl[1] = or, s
			return
		}
		if i++; i == n {
			i = 0
		}
	}
}

// get returns the entry of subject key subj in or's list.
func (m *memberSet) get(or, subj uint64) (uint64, bool) {
	if m == nil {
		return 0, false
	}
	t := &m.tab
	n := uint64(len(t.slots))
	if n == 0 {
		return 0, false
	}
	for i := t.home(memberHash(or, subj)); ; {
		sl := &t.slots[i]
		if sl[0] == or && sl[1]&^flagMask == subj {
			return sl[1], true
		}
		if sl[0] == 0 {
			return 0, false
		}
		if i++; i == n {
			i = 0
		}
	}
}

// mmap is a multimap version: a base and the replacement lists written
// since. A key in delta with an empty list has none.
type mmap struct {
	base    *csr
	members *memberSet // the forward map's base as a set; nil for the reverse map
	delta   map[uint64][]uint64
	entries int // entries in delta's lists, for the merge heuristic
}

func (m *mmap) get(k uint64) []uint64 {
	if m.delta != nil {
		if l, ok := m.delta[k]; ok {
			return l
		}
	}
	return m.base.get(k)
}

// bigList is the length from which a base list's membership is looked up
// in the member set rather than by binary search.
const bigList = 16

// lookup returns k's list, whether it ends with usersets, and whether
// membership in it is to be looked up in the member set (a long list of
// the base), all from one probe of the table.
func (m *mmap) lookup(k uint64) (l []uint64, usersets, big bool) {
	if m.delta != nil {
		if l, ok := m.delta[k]; ok {
			return l, len(l) > 0 && l[len(l)-1] >= 1<<48, false
		}
	}
	if m.base == nil {
		return nil, false, false
	}
	sl := m.base.tab.find(k)
	if sl == nil {
		return nil, false, false
	}
	if sl[0]&inlineKey != 0 {
		return sl[1:2:2], sl[1] >= 1<<48, false
	}
	l = spanList(m.base.entries, sl)
	return l, sl[1]&spanUsersets != 0, len(l) >= bigList
}

func (m *mmap) each(fn func(k uint64, l []uint64)) {
	m.base.each(func(k uint64, l []uint64) {
		if _, ok := m.delta[k]; !ok {
			fn(k, l)
		}
	})
	for k, l := range m.delta {
		if len(l) > 0 {
			fn(k, l)
		}
	}
}

func (m *mmap) merged(members bool) mmap {
	var b csrBuilder
	n := m.base.size()
	b.entries = make([]uint64, 0, n+m.entries)
	var ms *memberSet
	if members {
		big := 0
		m.each(func(k uint64, l []uint64) {
			if len(l) >= bigList {
				big += len(l)
			}
		})
		ms = newMemberSet(big)
	}
	m.each(func(k uint64, l []uint64) {
		b.add(k, l)
		if ms != nil && len(l) >= bigList {
			for _, s := range l {
				ms.put(k, s)
			}
		}
	})
	return mmap{base: b.build(), members: ms}
}

// needsMerge reports whether the delta has outgrown the base.
func (m *mmap) needsMerge() bool {
	limit := mergeLimit(m.base.size())
	return len(m.delta) > limit || m.entries > 8*limit
}

// mergeLimit bounds the keys of a delta over a base of n entries before
// the two are merged. Every edit copies the delta and every merge
// rebuilds the base, so the cost of a write is about d·copy + n·rebuild/d
// for a delta of d keys, least around d = sqrt(n·rebuild/copy): 16·sqrt(n),
// 16k keys over a million tuples, at least 4096.
func mergeLimit(n int) int {
	return max(4096, 16*int(math.Sqrt(float64(n))))
}

// layered is an immutable map version: a base and the entries written
// since.
type layered[K comparable, V any] struct {
	base, delta map[K]V
}

func (l *layered[K, V]) get(k K) (V, bool) {
	if l.delta != nil {
		if v, ok := l.delta[k]; ok {
			return v, true
		}
	}
	v, ok := l.base[k]
	return v, ok
}

func (l *layered[K, V]) needsMerge() bool { return len(l.delta) > mergeLimit(len(l.base)) }

// merged folds delta into a new base, dropping entries dead reports.
func (l *layered[K, V]) merged(dead func(V) bool) layered[K, V] {
	b := make(map[K]V, len(l.base)+len(l.delta))
	for k, v := range l.base {
		if _, ok := l.delta[k]; !ok {
			b[k] = v
		}
	}
	for k, v := range l.delta {
		if dead == nil || !dead(v) {
			b[k] = v
		}
	}
	return layered[K, V]{base: b}
}

// names interns type, relation and condition names; ID 0 is "". It only
// grows, and a version is never modified once published.
type names struct {
	ids  map[string]uint16
	strs []string
}

func newNames() *names { return &names{ids: map[string]uint16{"": 0}, strs: []string{""}} }

func (n *names) id(s string) uint16 { return n.ids[s] }

func (n *names) str(id uint16) string {
	if int(id) < len(n.strs) {
		return n.strs[id]
	}
	return ""
}

// condEntry is an interned tuple condition.
type condEntry struct {
	name    uint16 // names ID of the condition name
	nameStr string
	ctx     map[string]any // bound parameters
	tc      *TupleCondition
}

type condKey struct{ objrel, subject uint64 }

// index is one version of the in-process tuple index.
type index struct {
	names *names
	strs  strtab
	otype []uint16 // object ID -> type name ID; append-only, shared between versions
	wild  []uint32 // type name ID -> object ID of "type:*"; copied on change

	fwd, rev mmap

	condIDs layered[string, uint32] // condition JSON -> ID
	condTab []condEntry             // ID -> condition, ID 0 unused; append-only
	conds   layered[condKey, uint32]

	tuples int
}

func newIndex(nm *names) *index {
	if nm == nil {
		nm = newNames()
	}
	return &index{names: nm, strs: newStrtab(), otype: []uint16{0}}
}

// objID returns the ID of an object string, 0 when it holds no tuple.
func (x *index) objID(s string) uint32 { return x.strs.id(s) }

func (x *index) typeOf(obj uint32) uint16 {
	if int(obj) < len(x.otype) {
		return x.otype[obj]
	}
	return 0
}

func (x *index) wildcard(typ uint16) uint32 {
	if int(typ) < len(x.wild) {
		return x.wild[typ]
	}
	return 0
}

// cond returns the condition of a conditioned tuple.
func (x *index) cond(or, subj uint64) *condEntry {
	id, _ := x.conds.get(condKey{or, subj &^ flagMask})
	if id == 0 || int(id) >= len(x.condTab) {
		return nil
	}
	return &x.condTab[id]
}

// objString renders an object ID.
func (x *index) objString(obj uint32) string { return x.strs.str(obj) }

// editor derives the next index version from a published one. Nothing it
// changes is visible to readers of the old version.
type editor struct {
	x *index // the version being built

	namesOwned bool
	wildOwned  bool
	strsOwned  bool
	condsOwned bool
	cidsOwned  bool
	fwdOwned   map[uint64]bool
	revOwned   map[uint64]bool
}

func newEditor(old *index) *editor {
	nx := *old
	return &editor{x: &nx, fwdOwned: map[uint64]bool{}, revOwned: map[uint64]bool{}}
}

func (e *editor) name(s string) (uint16, error) {
	if id, ok := e.x.names.ids[s]; ok {
		return id, nil
	}
	if len(e.x.names.strs) >= maxNameID>>1 {
		return 0, fmt.Errorf("rebac: index: more than %d names", maxNameID>>1)
	}
	if !e.namesOwned {
		e.x.names = &names{ids: maps.Clone(e.x.names.ids), strs: slices.Clone(e.x.names.strs)}
		e.namesOwned = true
	}
	id := uint16(len(e.x.names.strs))
	e.x.names.ids[s] = id
	e.x.names.strs = append(e.x.names.strs, s)
	return id, nil
}

// object interns an object string "type:id".
func (e *editor) object(s string) (uint32, error) {
	if id := e.x.strs.id(s); id != 0 {
		return id, nil
	}
	typ, id, ok := strings.Cut(s, ":")
	if !ok || typ == "" || id == "" {
		return 0, fmt.Errorf("rebac: index: bad object %q", s)
	}
	t, err := e.name(typ)
	if err != nil {
		return 0, err
	}
	if e.x.strs.next() >= maxObjectID {
		return 0, fmt.Errorf("rebac: index: more than %d objects", maxObjectID)
	}
	if len(s) > maxString {
		return 0, fmt.Errorf("rebac: index: object of %d bytes", len(s))
	}
	if !e.strsOwned {
		e.x.strs.delta = maps.Clone(e.x.strs.delta)
		if e.x.strs.delta == nil {
			e.x.strs.delta = map[string]uint32{}
		}
		e.strsOwned = true
	}
	oid := e.x.strs.add(s)
	e.x.otype = append(e.x.otype, t)
	if id == "*" {
		if !e.wildOwned {
			e.x.wild = slices.Clone(e.x.wild)
			e.wildOwned = true
		}
		if int(t) >= len(e.x.wild) {
			e.x.wild = append(e.x.wild, make([]uint32, int(t)+1-len(e.x.wild))...)
		}
		e.x.wild[t] = oid
	}
	return oid, nil
}

// user interns a user string "type:id", "type:*" or "type:id#relation".
func (e *editor) user(s string) (uint64, error) {
	o, rel, _ := strings.Cut(s, "#")
	oid, err := e.object(o)
	if err != nil {
		return 0, err
	}
	var r uint16
	if rel != "" {
		if r, err = e.name(rel); err != nil {
			return 0, err
		}
	}
	return subject(oid, r), nil
}

func (e *editor) condID(raw []byte) (uint32, error) {
	if id, ok := e.x.condIDs.get(string(raw)); ok {
		return id, nil
	}
	tc, err := DecodeCondition(raw)
	if err != nil {
		return 0, err
	}
	if tc == nil {
		return 0, nil
	}
	n, err := e.name(tc.Name)
	if err != nil {
		return 0, err
	}
	if !e.cidsOwned {
		e.x.condIDs.delta = maps.Clone(e.x.condIDs.delta)
		if e.x.condIDs.delta == nil {
			e.x.condIDs.delta = map[string]uint32{}
		}
		e.cidsOwned = true
	}
	if len(e.x.condTab) == 0 {
		e.x.condTab = append(e.x.condTab, condEntry{})
	}
	id := uint32(len(e.x.condTab))
	e.x.condTab = append(e.x.condTab, condEntry{name: n, nameStr: tc.Name, ctx: tc.Context, tc: tc})
	e.x.condIDs.delta[string(raw)] = id
	return id, nil
}

func (e *editor) setCond(k condKey, id uint32) {
	if cur, _ := e.x.conds.get(k); cur == id {
		return
	}
	if !e.condsOwned {
		e.x.conds.delta = maps.Clone(e.x.conds.delta)
		if e.x.conds.delta == nil {
			e.x.conds.delta = map[condKey]uint32{}
		}
		e.condsOwned = true
	}
	if id == 0 {
		if _, ok := e.x.conds.base[k]; !ok {
			delete(e.x.conds.delta, k)
			return
		}
	}
	e.x.conds.delta[k] = id
}

// list returns k's list in m, copied into m's delta on first use in this
// edit so that it can be changed in place.
func (e *editor) list(m *mmap, owned map[uint64]bool, k uint64) []uint64 {
	if owned[k] {
		return m.delta[k]
	}
	if len(owned) == 0 {
		m.delta = maps.Clone(m.delta)
		if m.delta == nil {
			m.delta = map[uint64][]uint64{}
		}
	}
	owned[k] = true
	old := m.get(k)
	if d, ok := m.delta[k]; ok {
		m.entries -= len(d)
	}
	l := make([]uint64, len(old), len(old)+1)
	copy(l, old)
	m.delta[k] = l
	m.entries += len(l)
	return l
}

func (e *editor) setList(m *mmap, k uint64, l []uint64, grew int) {
	m.delta[k] = l
	m.entries += grew
}

// write upserts a stored tuple.
func (e *editor) write(t tuplestore.Tuple) error {
	oid, err := e.object(t.Object)
	if err != nil {
		return err
	}
	r, err := e.name(t.Relation)
	if err != nil {
		return err
	}
	s, err := e.user(t.User)
	if err != nil {
		return err
	}
	var cid uint32
	if len(t.Condition) > 0 {
		if cid, err = e.condID(t.Condition); err != nil {
			return fmt.Errorf("rebac: index: condition of %s#%s@%s: %w", t.Object, t.Relation, t.User, err)
		}
	}
	or := objrel(oid, r)
	v := s
	if cid != 0 {
		v |= flagCond
	}
	l := e.list(&e.x.fwd, e.fwdOwned, or)
	l, grew := insertSorted(l, v, flagMask)
	if grew {
		e.setList(&e.x.fwd, or, l, 1)
		e.x.tuples++
		rl := e.list(&e.x.rev, e.revOwned, s)
		rl, _ = insertSorted(rl, or, 0)
		e.setList(&e.x.rev, s, rl, 1)
	} else {
		e.setList(&e.x.fwd, or, l, 0)
	}
	e.setCond(condKey{or, s}, cid)
	return nil
}

// remove deletes a stored tuple if it is indexed.
func (e *editor) remove(t tuplestore.Tuple) {
	oid := e.x.objID(t.Object)
	r := e.x.names.id(t.Relation)
	o, rel, _ := strings.Cut(t.User, "#")
	uid := e.x.objID(o)
	ur := e.x.names.id(rel)
	if oid == 0 || r == 0 || uid == 0 || (rel != "" && ur == 0) {
		return
	}
	or, s := objrel(oid, r), subject(uid, ur)
	if _, ok := findSubject(e.x.fwd.get(or), s); !ok {
		return
	}
	l := e.list(&e.x.fwd, e.fwdOwned, or)
	l, _ = removeSorted(l, s, flagMask)
	e.setList(&e.x.fwd, or, l, -1)
	rl := e.list(&e.x.rev, e.revOwned, s)
	rl, _ = removeSorted(rl, or, 0)
	e.setList(&e.x.rev, s, rl, -1)
	e.setCond(condKey{or, s}, 0)
	e.x.tuples--
}

// apply applies one change of the log.
func (e *editor) apply(c tuplestore.Change) error {
	switch c.Op {
	case tuplestore.OpWrite:
		return e.write(c.Tuple)
	case tuplestore.OpDelete:
		e.remove(c.Tuple)
	}
	return nil
}

// done returns the new version, merging deltas that outgrew their base.
func (e *editor) done() *index {
	x := e.x
	if x.fwd.needsMerge() {
		x.fwd = x.fwd.merged(true)
	}
	if x.rev.needsMerge() {
		x.rev = x.rev.merged(false)
	}
	if x.strs.needsMerge() {
		x.strs = x.strs.merged()
	}
	if x.condIDs.needsMerge() {
		x.condIDs = x.condIDs.merged(nil)
	}
	if x.conds.needsMerge() {
		x.conds = x.conds.merged(func(id uint32) bool { return id == 0 })
	}
	e.x = nil
	return x
}

// bulk builds an index from scratch out of a stream of tuples (a
// Snapshot): it interns as it goes and sorts once, which is much faster
// than editing. A tuple seen twice keeps its last condition.
type bulk struct {
	e     *editor
	pairs []condKey // (objrel, subject|flags)
	conds map[condKey]uint32
}

func newBulk(nm *names, sizeHint int) *bulk {
	e := newEditor(newIndex(nm))
	e.x.strs.delta = make(map[string]uint32, sizeHint/2)
	e.strsOwned = true
	return &bulk{e: e, pairs: make([]condKey, 0, sizeHint), conds: map[condKey]uint32{}}
}

func (b *bulk) add(t tuplestore.Tuple) error {
	e := b.e
	oid, err := e.object(t.Object)
	if err != nil {
		return err
	}
	r, err := e.name(t.Relation)
	if err != nil {
		return err
	}
	s, err := e.user(t.User)
	if err != nil {
		return err
	}
	or := objrel(oid, r)
	if len(t.Condition) > 0 {
		cid, err := e.condID(t.Condition)
		if err != nil {
			return fmt.Errorf("rebac: index: condition of %s#%s@%s: %w", t.Object, t.Relation, t.User, err)
		}
		if cid != 0 {
			b.conds[condKey{or, s}] = cid
			s |= flagCond
		}
	}
	if s&flagCond == 0 && len(b.conds) > 0 {
		delete(b.conds, condKey{or, s})
	}
	b.pairs = append(b.pairs, condKey{or, s})
	return nil
}

func (b *bulk) build() *index {
	x := b.e.x
	p := b.pairs
	slices.SortFunc(p, func(a, b condKey) int {
		if a.objrel != b.objrel {
			if a.objrel < b.objrel {
				return -1
			}
			return 1
		}
		a.subject &^= flagMask
		b.subject &^= flagMask
		switch {
		case a.subject < b.subject:
			return -1
		case a.subject > b.subject:
			return 1
		}
		return 0
	})
	// Deduplicate, a condition flag reflecting the conditions map.
	w := 0
	for i := range p {
		k := condKey{p[i].objrel, p[i].subject &^ flagMask}
		v := k.subject
		if _, ok := b.conds[k]; ok {
			v |= flagCond
		}
		if w > 0 && p[w-1].objrel == k.objrel && p[w-1].subject&^flagMask == k.subject {
			p[w-1].subject = v
			continue
		}
		p[w] = condKey{k.objrel, v}
		w++
	}
	p = p[:w]
	x.tuples = len(p)

	var fb csrBuilder
	fb.entries = make([]uint64, 0, len(p))
	big := 0
	for i := 0; i < len(p); {
		j := i
		for ; j < len(p) && p[j].objrel == p[i].objrel; j++ {
		}
		if j-i >= bigList {
			big += j - i
		}
		i = j
	}
	members := newMemberSet(big)
	list := make([]uint64, 0, 64)
	for i := 0; i < len(p); {
		j := i
		list = list[:0]
		for ; j < len(p) && p[j].objrel == p[i].objrel; j++ {
			list = append(list, p[j].subject)
		}
		if len(list) >= bigList {
			for _, s := range list {
				members.put(p[i].objrel, s)
			}
		}
		fb.add(p[i].objrel, list)
		i = j
	}
	x.fwd = mmap{base: fb.build(), members: members}

	for i := range p {
		p[i].objrel, p[i].subject = p[i].subject&^flagMask, p[i].objrel
	}
	slices.SortFunc(p, func(a, b condKey) int {
		switch {
		case a.objrel < b.objrel:
			return -1
		case a.objrel > b.objrel:
			return 1
		case a.subject < b.subject:
			return -1
		case a.subject > b.subject:
			return 1
		}
		return 0
	})
	var rb csrBuilder
	rb.entries = make([]uint64, 0, len(p))
	for i := 0; i < len(p); {
		j := i
		list = list[:0]
		for ; j < len(p) && p[j].objrel == p[i].objrel; j++ {
			list = append(list, p[j].subject)
		}
		rb.add(p[i].objrel, list)
		i = j
	}
	x.rev = mmap{base: rb.build()}
	b.pairs = nil

	x.strs = x.strs.merged()
	x.otype = slices.Clip(x.otype)
	x.condIDs = layered[string, uint32]{base: x.condIDs.delta}
	x.conds = layered[condKey, uint32]{base: b.conds}
	return x
}
