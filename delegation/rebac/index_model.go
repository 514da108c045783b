package rebac

// The model compiled against the index's name IDs: what the checker, the
// list walks and the restriction filter read on every step.

import (
	"sync"
)

// A kind is the shape of a user as a type restriction sees it: plain
// type<<16, userset type<<16|relation, or wildcard type<<16|kindWild.
const kindWild = 0xFFFF

func kindOf(typ, rel uint16) uint32 { return uint32(typ)<<16 | uint32(rel) }

// bitset is a fixed-size set of small integers.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) has(i int) bool { return i >= 0 && i/64 < len(b) && b[i/64]&(1<<(i%64)) != 0 }

func (b bitset) set(i int) { b[i/64] |= 1 << (i % 64) }

// or adds o to b and reports whether b grew.
func (b bitset) or(o bitset) bool {
	grew := false
	for i, w := range o {
		if b[i]|w != b[i] {
			b[i] |= w
			grew = true
		}
	}
	return grew
}

// cmodel is a compiled model.
type cmodel struct {
	m     *Model
	types map[string]*ctype
	byID  []*ctype // by type name ID
	rels  []*crel  // by crel.idx
	conds []bool   // by name ID: a condition (or $expression) of the model
	kinds map[uint32]int

	leadsMu sync.Mutex
	leads   map[int]bitset // by target crel.idx: the relations that can flow into it
}

// relation returns typ#rel for ListObjects, ListUsers and Expand, with the
// codes OpenFGA gives those calls: type_not_found on typeField,
// relation_not_found on "relation". (Check answers both with a
// validation error.)
func (m *cmodel) relation(typ, rel, typeField string) (*crel, error) {
	ct := m.types[typ]
	if ct == nil {
		return nil, &Error{Code: CodeTypeNotFound, Field: typeField, Msg: "type " + quoteName(typ) + " is not defined"}
	}
	r := ct.rels[rel]
	if r == nil {
		return nil, &Error{Code: CodeRelationNotFound, Field: "relation", Msg: "relation " + quoteName(rel) + " is not defined on type " + typ}
	}
	return r, nil
}

type ctype struct {
	name  string
	id    uint16
	rels  map[string]*crel
	byRel []*crel // by relation name ID
	kidx  int     // kind index of the plain type
}

// cdirect is one type restriction: a kind and a condition name ID (0:
// none).
type cdirect struct {
	kind uint32
	cond uint16
}

type crel struct {
	t     *ctype
	name  string
	id    uint16
	idx   int
	kidx  int // kind index of the userset type#relation
	rw    *cnode
	def   *Relation
	label string // "type#relation"

	direct      []cdirect
	reach       bitset // kinds of users this relation can hold
	viaUsersets bitset // those it can hold through its userset restrictions

	// For ListObjects' reverse walk: the relations a user of this one
	// flows into.
	computedBy []*crel
	ttuBy      []ttuEdge
}

type ttuEdge struct {
	x  *crel  // the relation that grows
	ts uint16 // its tupleset relation's name ID
}

type cnode struct {
	op       RewriteOp
	target   *crel    // computed
	ts       *crel    // TTU: the tupleset relation
	ttuName  string   // TTU: the relation on the tupleset's objects
	byType   []*crel  // TTU: by type name ID, that relation on that type
	children []*cnode // union, intersection, exclusion
}

// allows reports whether a tuple of kind k with condition c (0: none)
// passes the restrictions.
func (r *crel) allows(k uint32, c uint16) bool {
	for _, d := range r.direct {
		if d.kind == k && d.cond == c {
			return true
		}
	}
	return false
}

// allowsKind reports whether some restriction admits kind k.
func (r *crel) allowsKind(k uint32) bool {
	for _, d := range r.direct {
		if d.kind == k {
			return true
		}
	}
	return false
}

func (m *cmodel) typ(id uint16) *ctype {
	if int(id) < len(m.byID) {
		return m.byID[id]
	}
	return nil
}

func (m *cmodel) rel(typ, rel uint16) *crel {
	t := m.typ(typ)
	if t == nil || int(rel) >= len(t.byRel) {
		return nil
	}
	return t.byRel[rel]
}

func (n *cnode) ttuTarget(typ uint16) *crel {
	if int(typ) < len(n.byType) {
		return n.byType[typ]
	}
	return nil
}

// compileModel compiles m, interning its names with ed.
func compileModel(m *Model, ed *editor) (*cmodel, error) {
	cm := &cmodel{m: m, types: make(map[string]*ctype, len(m.Types)), kinds: map[uint32]int{}, leads: map[int]bitset{}}
	for _, tn := range m.TypeNames {
		id, err := ed.name(tn)
		if err != nil {
			return nil, err
		}
		ct := &ctype{name: tn, id: id, rels: map[string]*crel{}, kidx: len(cm.kinds)}
		cm.kinds[kindOf(id, 0)] = ct.kidx
		cm.types[tn] = ct
		t := m.Types[tn]
		for _, rn := range t.RelationNames {
			rid, err := ed.name(rn)
			if err != nil {
				return nil, err
			}
			cr := &crel{t: ct, name: rn, id: rid, idx: len(cm.rels), def: t.Relations[rn], label: tn + "#" + rn}
			cm.rels = append(cm.rels, cr)
			ct.rels[rn] = cr
		}
	}
	for _, cr := range cm.rels {
		cr.kidx = len(cm.kinds)
		cm.kinds[kindOf(cr.t.id, cr.id)] = cr.kidx
	}
	condIDs := map[string]uint16{}
	for cn := range m.Conditions {
		id, err := ed.name(cn)
		if err != nil {
			return nil, err
		}
		condIDs[cn] = id
	}
	inl, err := ed.name(InlineCondition)
	if err != nil {
		return nil, err
	}
	condIDs[InlineCondition] = inl

	nn := len(ed.x.names.strs)
	cm.byID = make([]*ctype, nn)
	cm.conds = make([]bool, nn)
	for _, id := range condIDs {
		cm.conds[id] = true
	}
	for _, ct := range cm.types {
		cm.byID[ct.id] = ct
		ct.byRel = make([]*crel, nn)
		for _, cr := range ct.rels {
			ct.byRel[cr.id] = cr
		}
	}
	for _, cr := range cm.rels {
		for _, d := range cr.def.Direct {
			dt := cm.types[d.Type]
			if dt == nil {
				continue // typeCheck forbids it
			}
			k := kindOf(dt.id, 0)
			switch {
			case d.Wildcard:
				k = kindOf(dt.id, kindWild)
			case d.Relation != "":
				dr := dt.rels[d.Relation]
				if dr == nil {
					continue
				}
				k = kindOf(dt.id, dr.id)
			}
			cr.direct = append(cr.direct, cdirect{kind: k, cond: condIDs[d.Condition]})
		}
		cr.rw = cm.compileRewrite(cr, cr.def.Rewrite, nn)
	}
	cm.computeReach()
	cm.computeFlows()
	return cm, nil
}

func (cm *cmodel) compileRewrite(cr *crel, w *Rewrite, nn int) *cnode {
	n := &cnode{op: w.Op}
	switch w.Op {
	case OpComputed:
		n.target = cr.t.rels[w.Relation]
	case OpTTU:
		n.ts = cr.t.rels[w.Tupleset]
		n.ttuName = w.Relation
		n.byType = make([]*crel, nn)
		for _, ct := range cm.types {
			n.byType[ct.id] = ct.rels[w.Relation]
		}
	}
	for _, c := range w.Children {
		n.children = append(n.children, cm.compileRewrite(cr, c, nn))
	}
	return n
}

// computeReach computes, as a least fixed point, the kinds of users each
// relation can hold: the checker prunes branches that cannot hold the
// user's kind. A userset relation holds itself (self-defining usersets).
func (cm *cmodel) computeReach() {
	nk := len(cm.kinds)
	for _, cr := range cm.rels {
		cr.reach = newBitset(nk)
		cr.reach.set(cr.kidx)
	}
	for changed := true; changed; {
		changed = false
		for _, cr := range cm.rels {
			if cm.reachOf(cr, cr.rw, cr.reach) {
				changed = true
			}
		}
	}
	for _, cr := range cm.rels {
		cr.viaUsersets = newBitset(nk)
		for _, d := range cr.direct {
			if r := uint16(d.kind); r != 0 && r != kindWild {
				if dr := cm.rel(uint16(d.kind>>16), r); dr != nil {
					cr.viaUsersets.or(dr.reach)
				}
			}
		}
	}
}

func (cm *cmodel) reachOf(cr *crel, n *cnode, into bitset) bool {
	grew := false
	switch n.op {
	case OpThis:
		for _, d := range cr.direct {
			t, r := uint16(d.kind>>16), uint16(d.kind)
			ct := cm.typ(t)
			if r == 0 || r == kindWild {
				if !into.has(ct.kidx) {
					into.set(ct.kidx)
					grew = true
				}
				continue
			}
			if dr := cm.rel(t, r); dr != nil {
				if into.or(dr.reach) {
					grew = true
				}
			}
		}
	case OpComputed:
		if n.target != nil && into.or(n.target.reach) {
			grew = true
		}
	case OpTTU:
		if n.ts != nil {
			for _, d := range n.ts.direct {
				if x := n.ttuTarget(uint16(d.kind >> 16)); x != nil && into.or(x.reach) {
					grew = true
				}
			}
		}
	default:
		for _, c := range n.children {
			if cm.reachOf(cr, c, into) {
				grew = true
			}
		}
	}
	return grew
}

// computeFlows records, for the reverse walk, which relations a relation
// flows into through computed relations and tuple to userset (usersets
// are followed through the reverse index). Subtracted operands grant
// nothing and are left out.
func (cm *cmodel) computeFlows() {
	for _, x := range cm.rels {
		granting(x.rw, func(n *cnode) {
			switch n.op {
			case OpComputed:
				if n.target != nil {
					n.target.computedBy = appendOnce(n.target.computedBy, x)
				}
			case OpTTU:
				if n.ts == nil {
					return
				}
				for _, d := range n.ts.direct {
					if y := n.ttuTarget(uint16(d.kind >> 16)); y != nil {
						e := ttuEdge{x: x, ts: n.ts.id}
						found := false
						for _, o := range y.ttuBy {
							if o == e {
								found = true
							}
						}
						if !found {
							y.ttuBy = append(y.ttuBy, e)
						}
					}
				}
			}
		})
	}
}

func appendOnce(s []*crel, r *crel) []*crel {
	for _, o := range s {
		if o == r {
			return s
		}
	}
	return append(s, r)
}

// granting calls fn for every node of n that can grant: all but the
// subtracted operands of exclusions.
func granting(n *cnode, fn func(*cnode)) {
	fn(n)
	if n.op == OpExclusion {
		granting(n.children[0], fn)
		return
	}
	for _, c := range n.children {
		granting(c, fn)
	}
}

// leadsTo returns the relations whose users can flow into target,
// target included, computed once per target.
func (cm *cmodel) leadsTo(target *crel) bitset {
	cm.leadsMu.Lock()
	defer cm.leadsMu.Unlock()
	if b, ok := cm.leads[target.idx]; ok {
		return b
	}
	b := newBitset(len(cm.rels))
	b.set(target.idx)
	queue := []*crel{target}
	for len(queue) > 0 {
		x := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		granting(x.rw, func(n *cnode) {
			var from []*crel
			switch n.op {
			case OpThis:
				for _, d := range x.direct {
					if r := uint16(d.kind); r != 0 && r != kindWild {
						if y := cm.rel(uint16(d.kind>>16), r); y != nil {
							from = append(from, y)
						}
					}
				}
			case OpComputed:
				if n.target != nil {
					from = append(from, n.target)
				}
			case OpTTU:
				if n.ts != nil {
					for _, d := range n.ts.direct {
						if y := n.ttuTarget(uint16(d.kind >> 16)); y != nil {
							from = append(from, y)
						}
					}
				}
			}
			for _, y := range from {
				if !b.has(y.idx) {
					b.set(y.idx)
					queue = append(queue, y)
				}
			}
		})
	}
	cm.leads[target.idx] = b
	return b
}
