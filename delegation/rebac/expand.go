package rebac

import (
	"context"
	"slices"
)

// Expand returns the userset tree of req.Object#req.Relation one level
// deep, as OpenFGA's Expand does: the relation's rewrite with, at each
// leaf, the direct users (users, wildcards and usersets the model still
// admits), the computed userset, or the usersets a tupleset points to.
// Expanding those is the caller's next request. Conditions are not
// evaluated.
func (e *Engine) Expand(ctx context.Context, req ExpandRequest) (*Tree, error) {
	v := e.cur.Load()
	m := v.model
	if m == nil {
		return nil, errNoModel()
	}
	typ, _, err := ParseObject(req.Object)
	if err != nil {
		return nil, validationError("object", err)
	}
	r, err := m.relation(typ, req.Relation, "object")
	if err != nil {
		return nil, err
	}
	ov, err := newOverlay(v.x, m, req.ContextualTuples, ctxForCheck)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := e.getChecker()
	defer e.putChecker(c)
	c.x, c.m, c.ov, c.ctx = v.x, m, ov, ctx
	c.userObj, c.userRel, c.userSubj, c.userWild = 0, 0, 0, 0
	obj := c.objID(req.Object)
	if obj == 0 {
		obj = c.unknown(req.Object)
	}
	return c.expandTree(obj, r, r.rw, req.Object+"#"+r.name), nil
}

func (c *checker) expandTree(obj uint32, r *crel, n *cnode, name string) *Tree {
	t := &Tree{Name: name}
	switch n.op {
	case OpThis:
		or := objrel(obj, r.id)
		for src := 0; src < 2; src++ {
			for _, s := range c.subjects(or, src) {
				so, sr := subjObj(s), subjRel(s)
				k := kindOf(c.typeOf(so), sr)
				if sr == 0 && c.isWildcard(so) {
					k = kindOf(c.typeOf(so), kindWild)
				}
				if r.allowsKind(k) {
					t.Users = append(t.Users, c.subjString(s))
				}
			}
		}
		slices.Sort(t.Users)
		t.Users = slices.Compact(t.Users)
	case OpComputed:
		t.Op = "computed"
		if n.target != nil {
			t.Users = []string{c.objString(obj) + "#" + n.target.name}
		}
	case OpTTU:
		t.Op = "tupleset"
		if n.ts == nil {
			break
		}
		or := objrel(obj, n.ts.id)
		for src := 0; src < 2; src++ {
			for _, s := range c.subjects(or, src) {
				if s >= 1<<48 {
					break
				}
				po := subjObj(s)
				pt := c.typeOf(po)
				if target := n.ttuTarget(pt); target != nil && !c.isWildcard(po) && n.ts.allowsKind(kindOf(pt, 0)) {
					t.Users = append(t.Users, c.objString(po)+"#"+target.name)
				}
			}
		}
		slices.Sort(t.Users)
		t.Users = slices.Compact(t.Users)
	default:
		t.Op = n.op.String()
		for _, ch := range n.children {
			t.Children = append(t.Children, c.expandTree(obj, r, ch, name))
		}
	}
	return t
}
