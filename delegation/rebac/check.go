package rebac

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
)

// batchPerWorker is the fewest checks of a batch worth a goroutine.
const batchPerWorker = 16

// res is the outcome of one step of a check: false, true, or false
// because the step closed a cycle. OpenFGA tells the last apart because
// a subtracted operand that closes a cycle makes the exclusion false.
type res uint8

const (
	resFalse res = iota
	resTrue
	resCycle
)

const (
	memoBits = 10
	memoSize = 1 << memoBits
)

type memoEntry struct {
	key   uint64
	gen   uint32
	depth uint16
	out   res
}

// maxSteps bounds the dispatches of one check, against graphs whose
// fan-out is under the bound at every node but whose paths multiply.
const maxSteps = 1 << 20

// checker evaluates one check over one index version. It is reused
// through Engine.checkers, so a check without contextual tuples or
// conditions allocates nothing.
type checker struct {
	x      *index
	m      *cmodel
	ov     *overlay
	ctx    context.Context
	reqCtx map[string]any
	maxFan int

	userObj  uint32 // 0 when neither the index nor the overlay holds it
	userRel  uint16 // the relation of a userset user; 0 otherwise
	userSubj uint64 // subject(userObj, userRel); 0 when userObj is 0
	userWild uint64 // the wildcard subject of the user's type; 0 when none or a userset
	userKind uint32
	wildKind uint32
	kidx     int

	depth int
	stack []uint64 // objrels being resolved, outermost first
	steps int
	abort error // a cancelled context or the step budget: ends the walk

	// memo caches the outcome of dispatches whose walk closed no cycle
	// and failed nowhere, for this user; an entry is reused at its depth
	// or shallower, where the depth bound leaves at least as much room.
	memo    [memoSize]memoEntry
	memoGen uint32
	cycles  int

	unknownStr  string // the object unknownObj stands for
	unknownUser string // the user's object

	// Explain
	trace    bool
	path     []string
	best     []string
	noRecord int
}

func (e *Engine) getChecker() *checker {
	c, _ := e.checkers.Get().(*checker)
	if c == nil {
		c = &checker{stack: make([]uint64, e.opts.MaxDepth+1)}
	}
	return c
}

func (e *Engine) putChecker(c *checker) {
	c.x, c.m, c.ov, c.ctx, c.reqCtx = nil, nil, nil, nil, nil
	c.path, c.best, c.abort = nil, nil, nil
	c.unknownStr, c.unknownUser = "", ""
	e.checkers.Put(c)
}

// checkTarget is a validated check request.
type checkTarget struct {
	obj  string
	rel  *crel
	user string // the user as given
	uobj string // its object part ("group:eng" of "group:eng#member")
	utyp *ctype
	urel *crel // the relation of a userset user
	wild bool
}

// parseCheck validates a check's object, relation and user against the
// model; every problem is CodeValidation, as OpenFGA's Check reports it.
func parseCheck(m *cmodel, object, relation, user string) (checkTarget, error) {
	var t checkTarget
	typ, _, ok := fastObject(object)
	if !ok {
		var err error
		if typ, _, err = ParseObject(object); err != nil {
			return t, validationError("object", err)
		}
	}
	ct := m.types[typ]
	if ct == nil {
		return t, &Error{Code: CodeValidation, Field: "object", Msg: "type " + quoteName(typ) + " is not defined"}
	}
	if t.rel = ct.rels[relation]; t.rel == nil {
		return t, &Error{Code: CodeValidation, Field: "relation", Msg: "relation " + quoteName(relation) + " is not defined on type " + typ}
	}
	t.obj = object
	if err := parseUser(m, user, &t); err != nil {
		return t, err
	}
	return t, nil
}

func parseUser(m *cmodel, user string, t *checkTarget) error {
	utyp, uid, urel, ok := fastUser(user)
	if !ok {
		var err error
		if utyp, uid, urel, err = ParseUser(user); err != nil {
			return validationError("user", err)
		}
	}
	if t.utyp = m.types[utyp]; t.utyp == nil {
		return &Error{Code: CodeValidation, Field: "user", Msg: "type " + quoteName(utyp) + " is not defined"}
	}
	t.user = user
	t.uobj = user
	if urel != "" {
		if t.urel = t.utyp.rels[urel]; t.urel == nil {
			return &Error{Code: CodeValidation, Field: "user", Msg: "relation " + quoteName(urel) + " is not defined on type " + utyp}
		}
		t.uobj = user[:len(user)-len(urel)-1]
	}
	t.wild = uid == "*"
	return nil
}

// fastObject is ParseObject for the common case of ASCII input without
// allocating; ok false means "ask ParseObject", which decides.
func fastObject(s string) (typ, id string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			typ, id = s[:i], s[i+1:]
			return typ, id, fastTypeName(typ) && fastID(id) && id != "*"
		}
	}
	return "", "", false
}

// fastUser is ParseUser for the common case, as fastObject.
func fastUser(s string) (typ, id, rel string, ok bool) {
	obj := s
	for i := 0; i < len(s); i++ {
		if s[i] == '#' {
			obj, rel = s[:i], s[i+1:]
			if len(rel) == 0 || len(rel) > MaxRelationName || !fastName(rel) {
				return "", "", "", false
			}
			break
		}
	}
	for i := 0; i < len(obj); i++ {
		if obj[i] == ':' {
			typ, id = obj[:i], obj[i+1:]
			ok = fastTypeName(typ) && fastID(id) && (rel == "" || id != "*")
			return typ, id, rel, ok
		}
	}
	return "", "", "", false
}

// fastName reports whether s is made of ASCII bytes that checkName and
// checkTypeName accept.
func fastName(s string) bool {
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b >= 0x80 || b <= ' ' || b == 0x7f, b == ':' || b == '#' || b == '@' || b == '*':
			return false
		}
	}
	return true
}

func fastTypeName(s string) bool {
	return len(s) > 0 && len(s) <= MaxTypeName && fastName(s) && s != "self" && s != "this"
}

// fastID reports whether s is an ASCII object id splitObject accepts.
func fastID(s string) bool {
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b >= 0x80 || b <= ' ' || b == 0x7f, b == ':' || b == '#':
			return false
		}
	}
	return len(s) > 0
}

func validationError(field string, err error) *Error {
	msg := err.Error()
	if e, ok := err.(*Error); ok {
		msg = e.Msg
	}
	return &Error{Code: CodeValidation, Field: field, Msg: msg, Err: err}
}

// start prepares c to check t on view v.
func (c *checker) start(ctx context.Context, v *view, ov *overlay, t *checkTarget, reqCtx map[string]any, maxFan int) {
	c.x, c.m, c.ov, c.ctx, c.reqCtx, c.maxFan = v.x, v.model, ov, ctx, reqCtx, maxFan
	c.depth, c.steps, c.noRecord, c.abort, c.cycles = 0, 0, 0, nil, 0
	if c.memoGen++; c.memoGen == 0 {
		c.memo = [memoSize]memoEntry{}
		c.memoGen = 1
	}
	c.userObj = c.objID(t.uobj)
	c.unknownUser = t.uobj
	c.userRel, c.userKind, c.kidx = 0, kindOf(t.utyp.id, 0), t.utyp.kidx
	if t.urel != nil {
		c.userRel, c.userKind, c.kidx = t.urel.id, kindOf(t.utyp.id, t.urel.id), t.urel.kidx
	}
	c.userSubj = 0
	if c.userObj != 0 {
		c.userSubj = subject(c.userObj, c.userRel)
	}
	c.userWild, c.wildKind = 0, kindOf(t.utyp.id, kindWild)
	if t.urel == nil {
		if w := c.wildcardOf(t.utyp.id); w != 0 {
			c.userWild = subject(w, 0)
		}
	}
	if t.wild {
		c.userKind = c.wildKind
	}
}

// unknownObj stands for the object of a request that no tuple names: it
// is in no list, yet the request's object and a userset user on it must
// still be the same object.
const unknownObj = maxObjectID

// unknown returns unknownObj for the object s, making a userset user on
// the same object match it.
func (c *checker) unknown(s string) uint32 {
	c.unknownStr = s
	if c.userRel != 0 && c.userObj == 0 && c.unknownUser == s {
		c.userObj = unknownObj
		c.userSubj = subject(unknownObj, c.userRel)
	}
	return unknownObj
}

func (c *checker) objID(s string) uint32 {
	if c.ov != nil {
		return c.ov.objID(s)
	}
	return c.x.objID(s)
}

func (c *checker) typeOf(obj uint32) uint16 {
	if c.ov != nil && obj >= c.ov.base {
		if i := obj - c.ov.base; int(i) < len(c.ov.otype) {
			return c.ov.otype[i]
		}
		return 0
	}
	return c.x.typeOf(obj)
}

func (c *checker) wildcardOf(typ uint16) uint32 {
	if w := c.x.wildcard(typ); w != 0 {
		return w
	}
	if c.ov != nil {
		return c.ov.wild[typ]
	}
	return 0
}

func (c *checker) isWildcard(obj uint32) bool {
	w := c.wildcardOf(c.typeOf(obj))
	return w != 0 && w == obj
}

func (c *checker) objString(obj uint32) string {
	if obj == unknownObj {
		return c.unknownStr
	}
	if c.ov != nil && obj >= c.ov.base {
		if i := obj - c.ov.base; int(i) < len(c.ov.list) {
			return c.ov.list[i]
		}
		return ""
	}
	return c.x.objString(obj)
}

func (c *checker) subjString(s uint64) string {
	o := c.objString(subjObj(s))
	if r := subjRel(s); r != 0 {
		return o + "#" + c.x.names.str(r)
	}
	return o
}

// subjects returns the index's and the overlay's subjects of or.
func (c *checker) subjects(or uint64, src int) []uint64 {
	if src == 0 {
		return c.x.fwd.get(or)
	}
	if c.ov == nil {
		return nil
	}
	return c.ov.fwd[or]
}

// member returns the entry of subject key subj in or's list subs; big
// says subs is a long base list, looked up in the member set.
func (c *checker) member(or uint64, subs []uint64, big bool, subj uint64) (uint64, bool) {
	if big {
		return c.x.fwd.members.get(or, subj)
	}
	return findSubject(subs, subj)
}

func (c *checker) condOf(or, s uint64, src int) *condEntry {
	if src == 0 {
		return c.x.cond(or, s)
	}
	return c.ov.conds[condKey{or, s &^ flagMask}]
}

// admit reports whether the tuple (or, s) from source src, of user kind
// k, passes r's restrictions and its condition.
func (c *checker) admit(r *crel, or, s uint64, k uint32, src int) (bool, error) {
	if s&flagCond == 0 {
		return r.allows(k, 0), nil
	}
	ce := c.condOf(or, s, src)
	if ce == nil || !r.allows(k, ce.name) {
		return false, nil
	}
	return c.m.m.EvalCondition(ce.tc, c.reqCtx)
}

// How a dispatch was reached, for Explain.
const (
	viaTop = iota
	viaComputed
	viaTTU
	viaUserset
)

func errDepth() error {
	return &Error{Code: CodeTooComplex, Msg: "resolution depth exceeded"}
}

func errFanOut(n int) error {
	return &Error{Code: CodeTooComplex, Msg: fmt.Sprintf("more than %d subjects to expand at one step", n)}
}

// dispatch resolves obj#r for the user: OpenFGA's ResolveCheck.
func (c *checker) dispatch(obj uint32, r *crel, via int, ts string) (res, error) {
	if c.depth >= len(c.stack)-1 {
		return resFalse, errDepth()
	}
	if c.userRel != 0 && obj == c.userObj && r.id == c.userRel {
		if c.trace {
			c.path = append(c.path, c.label(obj, r, via, ts))
			c.record("")
			c.path = c.path[:len(c.path)-1]
		}
		return resTrue, nil
	}
	key := objrel(obj, r.id)
	for _, k := range c.stack[:c.depth] {
		if k == key {
			c.cycles++
			return resCycle, nil
		}
	}
	if c.abort != nil {
		return resFalse, c.abort
	}
	h := mix(key) >> (64 - memoBits)
	slot := &c.memo[h]
	if !c.trace {
		for _, m := range [2]*memoEntry{slot, &c.memo[h^1]} {
			if m.gen == c.memoGen && m.key == key && int(m.depth) >= c.depth {
				return m.out, nil
			}
		}
		if slot.gen == c.memoGen { // keep the newer entry, evict the other
			slot = &c.memo[h^1]
		}
	}
	cycles := c.cycles
	if c.steps++; c.steps&127 == 0 {
		if err := c.ctx.Err(); err != nil {
			c.abort = err
			return resFalse, err
		}
		if c.steps > maxSteps {
			c.abort = &Error{Code: CodeTooComplex, Msg: "check visits too many relations"}
			return resFalse, c.abort
		}
	}
	c.stack[c.depth] = key
	c.depth++
	if c.trace {
		c.path = append(c.path, c.label(obj, r, via, ts))
	}
	out, err := c.rewrite(obj, r, r.rw)
	if c.trace {
		c.path = c.path[:len(c.path)-1]
	}
	c.depth--
	if err == nil && c.cycles == cycles {
		*slot = memoEntry{key: key, gen: c.memoGen, depth: uint16(c.depth), out: out}
	}
	return out, err
}

func (c *checker) label(obj uint32, r *crel, via int, ts string) string {
	s := c.objString(obj) + "#" + r.name
	switch via {
	case viaComputed:
		s += " (computed)"
	case viaTTU:
		s += " (from " + ts + ")"
	}
	return s
}

// record notes the path to a granting tuple, leaf being its user.
func (c *checker) record(leaf string) {
	if !c.trace || c.noRecord > 0 || c.best != nil {
		return
	}
	c.best = slices.Clone(c.path)
	if leaf != "" {
		c.best = append(c.best, leaf)
	}
}

func (c *checker) rewrite(obj uint32, r *crel, n *cnode) (res, error) {
	if c.trace {
		prev := c.best
		out, err := c.rewrite1(obj, r, n)
		if out != resTrue {
			c.best = prev
		}
		return out, err
	}
	return c.rewrite1(obj, r, n)
}

// rewrite1 combines operands the way OpenFGA's concurrent union,
// intersection and exclusion do, so the outcome does not depend on the
// order: a union is true if any operand is, else an error if any failed;
// an intersection is false if any operand is, else an error if any
// failed; an exclusion is false if the base is false or the subtracted
// operand true or cyclic, else an error if either failed.
func (c *checker) rewrite1(obj uint32, r *crel, n *cnode) (res, error) {
	switch n.op {
	case OpThis:
		return c.direct(obj, r)
	case OpComputed:
		if n.target == nil {
			return resFalse, nil
		}
		return c.dispatch(obj, n.target, viaComputed, "")
	case OpTTU:
		return c.ttu(obj, n)
	case OpUnion:
		var u union
		for _, ch := range n.children {
			if u.add(c.rewrite(obj, r, ch)) {
				return resTrue, nil
			}
		}
		return u.result()
	case OpIntersection:
		var err error
		for _, ch := range n.children {
			out, e := c.rewrite(obj, r, ch)
			switch {
			case e != nil:
				err = e
			case out != resTrue:
				return out, nil
			}
		}
		if err != nil {
			return resFalse, err
		}
		return resTrue, nil
	case OpExclusion:
		base, errBase := c.rewrite(obj, r, n.children[0])
		if errBase == nil && base != resTrue {
			return base, nil
		}
		c.noRecord++
		sub, errSub := c.rewrite(obj, r, n.children[1])
		c.noRecord--
		if errSub == nil {
			switch sub {
			case resCycle:
				return resCycle, nil
			case resTrue:
				return resFalse, nil
			}
		}
		if errBase != nil {
			return resFalse, errBase
		}
		if errSub != nil {
			return resFalse, errSub
		}
		return resTrue, nil
	}
	return resFalse, nil
}

// direct resolves direct assignment: the user's own tuple, the wildcard
// of its type and, recursively, usersets; a union.
func (c *checker) direct(obj uint32, r *crel) (res, error) {
	or := objrel(obj, r.id)
	var u union
	fan := 0
	for src := 0; src < 2; src++ {
		var subs []uint64
		var hasUsersets, big bool
		if src == 0 {
			subs, hasUsersets, big = c.x.fwd.lookup(or)
		} else {
			if c.ov == nil {
				break
			}
			subs = c.ov.fwd[or]
			hasUsersets = len(subs) > 0 && subs[len(subs)-1] >= 1<<48
		}
		if len(subs) == 0 {
			continue
		}
		if c.userSubj != 0 && r.allowsKind(c.userKind) {
			if s, ok := c.member(or, subs, big, c.userSubj); ok {
				ok, e := c.admit(r, or, s, c.userKind, src)
				if e != nil {
					u.err = e
				} else if ok {
					if c.trace {
						c.record(c.subjString(s))
					}
					return resTrue, nil
				}
			}
		}
		if c.userWild != 0 && c.userWild != c.userSubj && r.allowsKind(c.wildKind) {
			if s, ok := c.member(or, subs, big, c.userWild); ok {
				ok, e := c.admit(r, or, s, c.wildKind, src)
				if e != nil {
					u.err = e
				} else if ok {
					if c.trace {
						c.record(c.subjString(s) + " (wildcard)")
					}
					return resTrue, nil
				}
			}
		}
		if !hasUsersets || !r.viaUsersets.has(c.kidx) {
			continue
		}
		for i := len(subs) - 1; i >= 0 && subs[i] >= 1<<48; i-- {
			s := subs[i]
			so, sr := subjObj(s), subjRel(s)
			st := c.typeOf(so)
			k := kindOf(st, sr)
			if !r.allowsKind(k) {
				continue
			}
			target := c.m.rel(st, sr)
			if target == nil || !target.reach.has(c.kidx) {
				continue
			}
			ok, e := c.admit(r, or, s, k, src)
			if e != nil {
				u.err = e
				continue
			}
			if !ok {
				continue
			}
			if fan++; fan > c.maxFan {
				if u.err == nil {
					u.err = errFanOut(c.maxFan)
				}
				break
			}
			if u.add(c.dispatch(so, target, viaUserset, "")) {
				return resTrue, nil
			}
		}
	}
	return u.result()
}

// union collects the operands of a union: true as soon as one is, else
// the last error, else a cycle if one operand ran into one.
type union struct {
	err   error
	cycle bool
}

// add records one operand's outcome and reports whether it decides the
// union (true).
func (u *union) add(out res, err error) bool {
	switch {
	case err != nil:
		u.err = err
	case out == resTrue:
		return true
	case out == resCycle:
		u.cycle = true
	}
	return false
}

// result is the union's outcome when no operand was true.
func (u *union) result() (res, error) {
	if u.err != nil {
		return resFalse, u.err
	}
	if u.cycle {
		return resCycle, nil
	}
	return resFalse, nil
}

// ttu resolves `rel from tupleset`: rel on every object the tupleset
// relation points to whose type has rel; a union.
func (c *checker) ttu(obj uint32, n *cnode) (res, error) {
	if n.ts == nil {
		return resFalse, nil
	}
	or := objrel(obj, n.ts.id)
	var u union
	fan := 0
	for src := 0; src < 2; src++ {
		for _, s := range c.subjects(or, src) {
			if s >= 1<<48 {
				break // usersets sort last and are no tupleset users
			}
			po := subjObj(s)
			pt := c.typeOf(po)
			target := n.ttuTarget(pt)
			if target == nil || !target.reach.has(c.kidx) || c.isWildcard(po) {
				continue
			}
			ok, e := c.admit(n.ts, or, s, kindOf(pt, 0), src)
			if e != nil {
				u.err = e
				continue
			}
			if !ok {
				continue
			}
			if fan++; fan > c.maxFan {
				if u.err == nil {
					u.err = errFanOut(c.maxFan)
				}
				break
			}
			if u.add(c.dispatch(po, target, viaTTU, n.ts.name)) {
				return resTrue, nil
			}
		}
	}
	return u.result()
}

// Check reports whether req.User has req.Relation on req.Object.
func (e *Engine) Check(ctx context.Context, req CheckRequest) (CheckResult, error) {
	v, err := e.viewAt(ctx, req.AtLeast)
	if err != nil {
		return CheckResult{}, err
	}
	ok, _, err := e.check(ctx, v, &req, false)
	if err != nil {
		return CheckResult{}, err
	}
	return CheckResult{Allowed: ok, Revision: v.token}, nil
}

// Explain is Check that also fills CheckResult.Path when allowed. It
// costs a few allocations per step, so Check leaves Path empty.
func (e *Engine) Explain(ctx context.Context, req CheckRequest) (CheckResult, error) {
	v, err := e.viewAt(ctx, req.AtLeast)
	if err != nil {
		return CheckResult{}, err
	}
	ok, path, err := e.check(ctx, v, &req, true)
	if err != nil {
		return CheckResult{}, err
	}
	return CheckResult{Allowed: ok, Path: path, Revision: v.token}, nil
}

func (e *Engine) check(ctx context.Context, v *view, req *CheckRequest, trace bool) (bool, []string, error) {
	if v.model == nil {
		return false, nil, errNoModel()
	}
	t, err := parseCheck(v.model, req.Object, req.Relation, req.User)
	if err != nil {
		return false, nil, err
	}
	ov, err := newOverlay(v.x, v.model, req.ContextualTuples, ctxForCheck)
	if err != nil {
		return false, nil, err
	}
	c := e.getChecker()
	defer e.putChecker(c)
	c.start(ctx, v, ov, &t, req.Context, e.opts.MaxFanOut)
	c.trace = trace
	obj := c.objID(t.obj)
	if obj == 0 {
		obj = c.unknown(t.obj)
	}
	out, err := c.dispatch(obj, t.rel, viaTop, "")
	if err != nil {
		return false, nil, err
	}
	return out == resTrue, c.best, nil
}

// BatchCheck runs up to Options.MaxBatch checks. Results and errors are
// per item, in order; the third result is an error of the whole request
// (too many items, a bad or unreachable AtLeast token, no model). Items
// without context or contextual tuples that repeat an earlier one are
// answered once.
func (e *Engine) BatchCheck(ctx context.Context, reqs []CheckRequest) ([]CheckResult, []error, error) {
	if len(reqs) > e.opts.MaxBatch {
		return nil, nil, &Error{Code: CodeValidation, Field: "checks", Msg: fmt.Sprintf("%d checks in one batch; at most %d", len(reqs), e.opts.MaxBatch)}
	}
	// Wait once, for the newest token asked for.
	var newest string
	var want uint64
	for i := range reqs {
		if tok := reqs[i].AtLeast; tok != "" {
			rev, err := parseToken(tok)
			if err != nil {
				return nil, nil, fieldError(fmt.Sprintf("checks[%d]", i), err)
			}
			if newest == "" || rev > want {
				newest, want = tok, rev
			}
		}
	}
	v, err := e.viewAt(ctx, newest)
	if err != nil {
		return nil, nil, err
	}
	if v.model == nil {
		return nil, nil, errNoModel()
	}
	results := make([]CheckResult, len(reqs))
	errs := make([]error, len(reqs))
	type key struct{ user, rel, obj string }
	// dup[i] is the earlier identical item i repeats, or -1.
	dup := make([]int, len(reqs))
	unique := make([]int, 0, len(reqs))
	var first map[key]int
	if len(reqs) > 1 {
		first = make(map[key]int, len(reqs))
	}
	for i := range reqs {
		dup[i] = -1
		r := &reqs[i]
		if first != nil && len(r.Context) == 0 && len(r.ContextualTuples) == 0 {
			k := key{r.User, r.Relation, r.Object}
			if j, ok := first[k]; ok {
				dup[i] = j
				continue
			}
			first[k] = i
		}
		unique = append(unique, i)
	}
	run := func(part []int) {
		for _, i := range part {
			if err := ctx.Err(); err != nil {
				errs[i] = err
				continue
			}
			ok, _, err := e.check(ctx, v, &reqs[i], false)
			results[i] = CheckResult{Allowed: ok, Revision: v.token}
			errs[i] = err
		}
	}
	// Split the batch over the cores once it is worth a goroutine.
	workers := min(runtime.GOMAXPROCS(0), len(unique)/batchPerWorker)
	if workers <= 1 {
		run(unique)
	} else {
		var wg sync.WaitGroup
		size := (len(unique) + workers - 1) / workers
		for part := range slices.Chunk(unique, size) {
			wg.Go(func() { run(part) })
		}
		wg.Wait()
	}
	for i, j := range dup {
		if j >= 0 {
			results[i], errs[i] = results[j], errs[j]
		}
	}
	return results, errs, nil
}
