package rebac

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// listDeadline bounds one ListObjects or ListUsers walk, as OpenFGA's
// listObjectsDeadline does: past it the results found so far are
// returned.
const listDeadline = 3 * time.Second

// listUser validates a list request's user against the model.
func listUser(m *cmodel, user string) (checkTarget, error) {
	var t checkTarget
	err := parseUser(m, user, &t)
	return t, err
}

// ListObjects returns the objects of req.Type on which req.User has
// req.Relation, at most Options.MaxListResult of them, sorted.
//
// It walks the reverse index from the user up through usersets,
// computed relations and tuple to userset, guided by the model to the
// relations that can lead to the one asked for, which gives a superset
// (it ignores intersections, exclusions and conditions); then it checks
// each candidate, so the answer is exactly what Check would say.
func (e *Engine) ListObjects(ctx context.Context, req ListObjectsRequest) ([]string, error) {
	v, err := e.viewAt(ctx, req.AtLeast)
	if err != nil {
		return nil, err
	}
	m := v.model
	if m == nil {
		return nil, errNoModel()
	}
	target, err := m.relation(req.Type, req.Relation, "type")
	if err != nil {
		return nil, err
	}
	t, err := listUser(m, req.User)
	if err != nil {
		return nil, err
	}
	t.rel = target
	ov, err := newOverlay(v.x, m, req.ContextualTuples, ctxForList)
	if err != nil {
		return nil, err
	}
	c := e.getChecker()
	defer e.putChecker(c)
	// Options.MaxFanOut does not bound lists; the step budget and the
	// list deadline do.
	c.start(ctx, v, ov, &t, req.Context, math.MaxInt)

	w := &reverseWalk{c: c, leads: m.leadsTo(target), seen: map[uint64]struct{}{}}
	w.seed(&t)
	deadline := time.Now().Add(listDeadline)
	var out []string
	for steps := 0; len(w.queue) > 0; steps++ {
		if steps&255 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if time.Now().After(deadline) {
				break
			}
		}
		or := w.queue[0]
		w.queue = w.queue[1:]
		obj, cr := w.node(or)
		if cr == target {
			c.depth, c.steps = 0, 0
			res, err := c.dispatch(obj, target, viaTop, "")
			if err != nil {
				return nil, err
			}
			if res == resTrue {
				if out = append(out, c.objString(obj)); len(out) >= e.opts.MaxListResult {
					break
				}
			}
		}
		w.follow(obj, cr)
	}
	slices.Sort(out)
	return out, nil
}

// reverseWalk is a breadth-first walk over objrels from the user up.
type reverseWalk struct {
	c     *checker
	leads bitset
	seen  map[uint64]struct{}
	queue []uint64
}

func (w *reverseWalk) node(or uint64) (uint32, *crel) {
	obj := objrelObj(or)
	return obj, w.c.m.rel(w.c.typeOf(obj), objrelRel(or))
}

// visit queues or when its relation can lead to the target and it is
// new; k is the kind of the subject it was reached from (0: through a
// rewrite, no restriction to check).
func (w *reverseWalk) visit(or uint64, k uint32) {
	if _, ok := w.seen[or]; ok {
		return
	}
	_, cr := w.node(or)
	if cr == nil || !w.leads.has(cr.idx) || (k != 0 && !cr.allowsKind(k)) {
		return
	}
	w.seen[or] = struct{}{}
	w.queue = append(w.queue, or)
}

func (w *reverseWalk) rev(s uint64, fn func(or uint64)) {
	for _, or := range w.c.x.rev.get(s) {
		fn(or)
	}
	if w.c.ov != nil {
		for _, or := range w.c.ov.rev[s] {
			fn(or)
		}
	}
}

func (w *reverseWalk) seed(t *checkTarget) {
	c := w.c
	if t.urel != nil {
		obj := c.userObj
		if obj == 0 {
			return // no tuple names the user's object
		}
		w.visit(objrel(obj, t.urel.id), 0)
		w.rev(c.userSubj, func(or uint64) { w.visit(or, c.userKind) })
		return
	}
	if c.userSubj != 0 {
		w.rev(c.userSubj, func(or uint64) { w.visit(or, c.userKind) })
	}
	if c.userWild != 0 && c.userWild != c.userSubj {
		w.rev(c.userWild, func(or uint64) { w.visit(or, c.wildKind) })
	}
}

// follow queues what obj#cr flows into.
func (w *reverseWalk) follow(obj uint32, cr *crel) {
	c := w.c
	// obj#rel as a userset in other relations.
	w.rev(subject(obj, cr.id), func(or uint64) { w.visit(or, kindOf(cr.t.id, cr.id)) })
	// Relations of obj computed from this one.
	for _, x := range cr.computedBy {
		w.visit(objrel(obj, x.id), 0)
	}
	// Relations of the objects whose tupleset points at obj.
	if len(cr.ttuBy) > 0 {
		w.rev(subject(obj, 0), func(or uint64) {
			for _, e := range cr.ttuBy {
				if objrelRel(or) == e.ts && c.typeOf(objrelObj(or)) == e.x.t.id {
					w.visit(objrel(objrelObj(or), e.x.id), 0)
				}
			}
		})
	}
}

// ListUsers returns the users of the filter types ("user", or usersets
// "group#member") that have req.Relation on req.Object, at most
// Options.MaxListResult of them, sorted; a wildcard is returned as
// "type:*". It expands the relation forward from the object, as OpenFGA
// does: an error anywhere (a condition missing a parameter, the depth
// bound) fails the whole request.
func (e *Engine) ListUsers(ctx context.Context, req ListUsersRequest) ([]string, error) {
	v, err := e.viewAt(ctx, req.AtLeast)
	if err != nil {
		return nil, err
	}
	m := v.model
	if m == nil {
		return nil, errNoModel()
	}
	otyp, _, err := ParseObject(req.Object)
	if err != nil {
		return nil, validationError("object", err)
	}
	r, err := m.relation(otyp, req.Relation, "object")
	if err != nil {
		return nil, err
	}
	if len(req.Filters) == 0 {
		return nil, &Error{Code: CodeValidation, Field: "filters", Msg: "at least one user filter is required"}
	}
	w := &forwardWalk{maxDepth: e.opts.MaxDepth, deadline: time.Now().Add(listDeadline)}
	for i, f := range req.Filters {
		ft, fr, hasRel := cutHash(f)
		ftyp := m.types[ft]
		if ftyp == nil {
			return nil, &Error{Code: CodeTypeNotFound, Field: fmt.Sprintf("filters[%d]", i), Msg: "type " + quoteName(ft) + " is not defined"}
		}
		lf := listFilter{typ: ftyp}
		if hasRel {
			if lf.rel = ftyp.rels[fr]; lf.rel == nil {
				return nil, &Error{Code: CodeRelationNotFound, Field: fmt.Sprintf("filters[%d]", i), Msg: "relation " + quoteName(fr) + " is not defined on type " + ft}
			}
			lf.kidx = lf.rel.kidx
		} else {
			lf.kidx = ftyp.kidx
		}
		w.filters = append(w.filters, lf)
	}
	ov, err := newOverlay(v.x, m, req.ContextualTuples, ctxForList)
	if err != nil {
		return nil, err
	}
	c := e.getChecker()
	defer e.putChecker(c)
	// The checker serves the walk its lookups; its user is irrelevant.
	c.x, c.m, c.ov, c.ctx, c.reqCtx = v.x, m, ov, ctx, req.Context
	c.userObj, c.userRel, c.userSubj, c.userWild = 0, 0, 0, 0
	w.c = c
	obj := c.objID(req.Object)
	if obj == 0 {
		obj = c.unknown(req.Object)
	}
	found := userSet{}
	if _, err := w.expand(obj, r, found); err != nil {
		if errors.Is(err, errListDeadline) {
			err = nil
		} else {
			return nil, err
		}
	}
	out := make([]string, 0, len(found))
	for s := range found {
		out = append(out, c.subjString(s))
	}
	slices.Sort(out)
	if len(out) > e.opts.MaxListResult {
		out = out[:e.opts.MaxListResult]
	}
	return out, nil
}

func cutHash(s string) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '#' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

type listFilter struct {
	typ  *ctype
	rel  *crel // nil: plain users and wildcards of typ
	kidx int
}

// userSet holds subjects (flags cleared). A wildcard may carry the plain
// users it excludes ("user:* but not user:bob"), as OpenFGA's ListUsers
// tracks them through exclusions and intersections; every other value is
// nil.
type userSet map[uint64]exclSet

type exclSet map[uint64]struct{}

// addWild adds the wildcard subject wc excluding ex to s: a union, so a
// user stays excluded only if both sides exclude it.
func (s userSet) addWild(wc uint64, ex exclSet) {
	cur, ok := s[wc]
	switch {
	case !ok:
		s[wc] = ex
	case cur == nil || len(ex) == 0:
		s[wc] = nil
	default:
		both := exclSet{}
		for u := range cur {
			if _, ok := ex[u]; ok {
				both[u] = struct{}{}
			}
		}
		if len(both) == 0 {
			both = nil
		}
		s[wc] = both
	}
}

var errListDeadline = errors.New("rebac: list deadline")

// forwardWalk expands a relation into its users, as OpenFGA's ListUsers.
type forwardWalk struct {
	c        *checker
	filters  []listFilter
	maxDepth int
	path     []uint64
	steps    int
	deadline time.Time
}

// reaches reports whether relation r can hold a user some filter asks for.
func (w *forwardWalk) reaches(r *crel) bool {
	for _, f := range w.filters {
		if r.reach.has(f.kidx) {
			return true
		}
	}
	return false
}

func (w *forwardWalk) expand(obj uint32, r *crel, out userSet) (cycle bool, err error) {
	if len(w.path) >= w.maxDepth {
		return false, errDepth()
	}
	key := objrel(obj, r.id)
	if slices.Contains(w.path, key) {
		return true, nil
	}
	if w.steps++; w.steps&255 == 0 {
		if err := w.c.ctx.Err(); err != nil {
			return false, err
		}
		if time.Now().After(w.deadline) {
			return false, errListDeadline
		}
		if w.steps > maxSteps {
			return false, &Error{Code: CodeTooComplex, Msg: "list visits too many relations"}
		}
	}
	for _, f := range w.filters {
		if f.rel == r {
			if _, ok := out[subject(obj, r.id)]; !ok {
				out[subject(obj, r.id)] = nil
			}
		}
	}
	w.path = append(w.path, key)
	cycle, err = w.rewrite(obj, r, r.rw, out)
	w.path = w.path[:len(w.path)-1]
	return cycle, err
}

func (w *forwardWalk) rewrite(obj uint32, r *crel, n *cnode, out userSet) (cycle bool, err error) {
	switch n.op {
	case OpThis:
		return w.direct(obj, r, out)
	case OpComputed:
		if n.target == nil {
			return false, nil
		}
		return w.expand(obj, n.target, out)
	case OpTTU:
		return w.ttu(obj, n, out)
	case OpUnion:
		for _, ch := range n.children {
			cy, err := w.rewrite(obj, r, ch, out)
			if err != nil {
				return false, err
			}
			cycle = cycle || cy
		}
		return cycle, nil
	case OpIntersection:
		sets := make([]userSet, len(n.children))
		for i, ch := range n.children {
			sets[i] = userSet{}
			cy, err := w.rewrite(obj, r, ch, sets[i])
			if err != nil {
				return false, err
			}
			cycle = cycle || cy
		}
		w.intersect(sets, out)
		return cycle, nil
	case OpExclusion:
		base, sub := userSet{}, userSet{}
		cb, err := w.rewrite(obj, r, n.children[0], base)
		if err != nil {
			return false, err
		}
		cs, err := w.rewrite(obj, r, n.children[1], sub)
		if err != nil {
			return false, err
		}
		w.subtract(base, sub, out)
		return cb || cs, nil
	}
	return false, nil
}

func (w *forwardWalk) isWild(u uint64) bool {
	return subjRel(u) == 0 && w.c.isWildcard(subjObj(u))
}

// in reports whether set s holds the plain user or userset u: itself, or
// for a plain user the wildcard of its type without u excluded.
func (w *forwardWalk) in(u uint64, s userSet) bool {
	if _, ok := s[u]; ok {
		return true
	}
	if subjRel(u) != 0 {
		return false
	}
	wc := w.c.wildcardOf(w.c.typeOf(subjObj(u)))
	if wc == 0 {
		return false
	}
	ex, ok := s[subject(wc, 0)]
	if !ok {
		return false
	}
	_, excluded := ex[u]
	return !excluded
}

// intersect adds to out the users in every one of sets.
func (w *forwardWalk) intersect(sets []userSet, out userSet) {
	for i, s := range sets {
		for u := range s {
			if w.isWild(u) {
				if i > 0 {
					continue // the first set that has it decides
				}
				ex := exclSet{}
				all := true
				for _, o := range sets {
					oex, ok := o[u]
					if !ok {
						all = false
						break
					}
					for v := range oex {
						ex[v] = struct{}{}
					}
				}
				if all {
					if len(ex) == 0 {
						ex = nil
					}
					out.addWild(u, ex)
				}
				continue
			}
			if _, done := out[u]; done {
				continue
			}
			in := true
			for _, o := range sets {
				if !w.in(u, o) {
					in = false
					break
				}
			}
			if in {
				out[u] = nil
			}
		}
	}
}

// subtract adds to out the users of base not in sub. A wildcard of base
// survives with sub's plain users of its type excluded; if sub holds the
// wildcard too, what survives are the users sub's wildcard excludes.
func (w *forwardWalk) subtract(base, sub userSet, out userSet) {
	for u, ex := range base {
		if !w.isWild(u) {
			if !w.in(u, sub) {
				out[u] = nil
			}
			continue
		}
		typ := w.c.typeOf(subjObj(u))
		if subEx, ok := sub[u]; ok {
			for v := range subEx {
				if _, gone := ex[v]; !gone && !w.in(v, sub) {
					out[v] = nil
				}
			}
			continue
		}
		nex := exclSet{}
		for v := range ex {
			nex[v] = struct{}{}
		}
		for v := range sub {
			if subjRel(v) == 0 && !w.isWild(v) && w.c.typeOf(subjObj(v)) == typ {
				nex[v] = struct{}{}
			}
		}
		if len(nex) == 0 {
			nex = nil
		}
		out.addWild(u, nex)
	}
}

// matches reports whether a subject of type typ and relation rel (0:
// plain or wildcard) is something a filter asks for.
func (w *forwardWalk) matches(typ uint16, rel uint16) bool {
	for _, f := range w.filters {
		if f.typ.id != typ {
			continue
		}
		if f.rel == nil && rel == 0 || f.rel != nil && f.rel.id == rel {
			return true
		}
	}
	return false
}

func (w *forwardWalk) direct(obj uint32, r *crel, out userSet) (cycle bool, err error) {
	c := w.c
	or := objrel(obj, r.id)
	for src := 0; src < 2; src++ {
		for _, s := range c.subjects(or, src) {
			so, sr := subjObj(s), subjRel(s)
			st := c.typeOf(so)
			k := kindOf(st, sr)
			if sr == 0 && c.isWildcard(so) {
				k = kindOf(st, kindWild)
			}
			if !r.allowsKind(k) {
				continue
			}
			var target *crel
			if sr != 0 {
				if target = c.m.rel(st, sr); target == nil {
					continue
				}
				if !w.matches(st, sr) && !w.reaches(target) {
					continue
				}
			} else if !w.matches(st, 0) {
				continue
			}
			ok, err := c.admit(r, or, s, k, src)
			if err != nil {
				return false, err
			}
			if !ok {
				continue
			}
			if w.matches(st, sr) {
				if u := s &^ flagMask; sr == 0 && c.isWildcard(so) {
					out.addWild(u, nil)
				} else if _, ok := out[u]; !ok {
					out[u] = nil
				}
			}
			if target != nil && w.reaches(target) {
				cy, err := w.expand(so, target, out)
				if err != nil {
					return false, err
				}
				cycle = cycle || cy
			}
		}
	}
	return cycle, nil
}

func (w *forwardWalk) ttu(obj uint32, n *cnode, out userSet) (cycle bool, err error) {
	if n.ts == nil {
		return false, nil
	}
	c := w.c
	or := objrel(obj, n.ts.id)
	for src := 0; src < 2; src++ {
		for _, s := range c.subjects(or, src) {
			if s >= 1<<48 {
				break
			}
			po := subjObj(s)
			pt := c.typeOf(po)
			target := n.ttuTarget(pt)
			if target == nil || c.isWildcard(po) || !w.reaches(target) {
				continue
			}
			ok, err := c.admit(n.ts, or, s, kindOf(pt, 0), src)
			if err != nil {
				return false, err
			}
			if !ok {
				continue
			}
			cy, err := w.expand(po, target, out)
			if err != nil {
				return false, err
			}
			cycle = cycle || cy
		}
	}
	return cycle, nil
}
