package rebac

import (
	"slices"
	"strings"
)

// typeCheck applies OpenFGA's model rules (pkg/typesystem NewAndValidate)
// to m, whose names and shapes fromProto has checked:
//
//   - every relation a rewrite names exists: `a` on the same type, the
//     tupleset `t` of `a from t` on the same type, and `a` on at least one
//     of t's types; a relation is not defined as itself;
//   - a tupleset relation is defined by direct assignment alone, and its
//     type restrictions are plain types (no wildcard, no userset);
//   - a relation has type restrictions if and only if its rewrite
//     contains direct assignment; each restriction names a defined type,
//     a defined relation of it (group#member), and a defined condition;
//   - every relation has an entry point: some user can be related to it
//     through direct assignment, so `define a: b` / `define b: a` and
//     intersections or exclusions over such relations are rejected;
//   - no relation reaches itself through computed relations of the same
//     type (`define a: [user] or b`, `define b: a`).
//
// Types are checked in model order, relations by name.
func (m *Model) typeCheck() error {
	for _, tn := range m.TypeNames {
		t := m.Types[tn]
		tuplesets := t.tuplesets()
		t.tuplesetRels = tuplesets
		for _, rn := range t.RelationNames {
			r := t.Relations[rn]
			field := "type " + tn + ", relation " + rn
			if err := m.checkRewrite(t, r, r.Rewrite, field); err != nil {
				return err
			}
			if err := m.checkDirect(r, tuplesets[rn], field); err != nil {
				return err
			}
		}
	}
	if err := m.checkEntrypoints(); err != nil {
		return err
	}
	return m.checkCycles()
}

// isTupleset reports whether relation rel of t is used as a tupleset.
func (t *Type) isTupleset(rel string) bool {
	if t.tuplesetRels == nil {
		return t.tuplesets()[rel]
	}
	return t.tuplesetRels[rel]
}

// tuplesets returns the relations of t used as a tupleset (`x from T`).
func (t *Type) tuplesets() map[string]bool {
	out := map[string]bool{}
	for _, r := range t.Relations {
		walkRewrite(r.Rewrite, func(w *Rewrite) {
			if w.Op == OpTTU {
				out[w.Tupleset] = true
			}
		})
	}
	return out
}

func walkRewrite(w *Rewrite, fn func(*Rewrite)) {
	fn(w)
	for _, c := range w.Children {
		walkRewrite(c, fn)
	}
}

func (m *Model) checkRewrite(t *Type, r *Relation, w *Rewrite, field string) error {
	switch w.Op {
	case OpComputed:
		if w.Relation == r.Name {
			return newError(CodeValidation, field, "relation is defined as itself")
		}
		if _, ok := t.Relations[w.Relation]; !ok {
			return newError(CodeRelationNotFound, field, "relation %s is not defined on type %s", w.Relation, t.Name)
		}
	case OpTTU:
		ts, ok := t.Relations[w.Tupleset]
		if !ok {
			return newError(CodeRelationNotFound, field, "tupleset relation %s of '%s from %s' is not defined on type %s", w.Tupleset, w.Relation, w.Tupleset, t.Name)
		}
		if ts.Rewrite.Op != OpThis {
			return newError(CodeValidation, field, "relation %s is the tupleset of '%s from %s', so it must be defined by direct assignment alone, e.g. [folder]", w.Tupleset, w.Relation, w.Tupleset)
		}
		found := false
		for _, d := range ts.Direct {
			if dt, ok := m.Types[d.Type]; ok {
				if _, ok := dt.Relations[w.Relation]; ok {
					found = true
					break
				}
			}
		}
		if !found {
			return newError(CodeRelationNotFound, field, "'%s from %s': relation %s is not defined on any type of %s (%s)", w.Relation, w.Tupleset, w.Relation, w.Tupleset, directList(ts.Direct))
		}
	}
	for _, c := range w.Children {
		if err := m.checkRewrite(t, r, c, field); err != nil {
			return err
		}
	}
	return nil
}

func containsThis(w *Rewrite) bool {
	if w.Op == OpThis {
		return true
	}
	return slices.ContainsFunc(w.Children, containsThis)
}

func (m *Model) checkDirect(r *Relation, isTupleset bool, field string) error {
	assignable := containsThis(r.Rewrite)
	switch {
	case assignable && len(r.Direct) == 0:
		return newError(CodeValidation, field, "relation is directly assignable but lists no type restrictions")
	case !assignable && len(r.Direct) > 0:
		return newError(CodeValidation, field, "relation is not directly assignable but lists type restrictions")
	}
	for _, d := range r.Direct {
		dt, ok := m.Types[d.Type]
		if !ok {
			return newError(CodeTypeNotFound, field, "type restriction %s: type %s is not defined", d, d.Type)
		}
		if d.Relation != "" {
			if _, ok := dt.Relations[d.Relation]; !ok {
				return newError(CodeRelationNotFound, field, "type restriction %s: relation %s is not defined on type %s", d, d.Relation, d.Type)
			}
		}
		if isTupleset && (d.Wildcard || d.Relation != "") {
			return newError(CodeValidation, field, "type restriction %s: relation %s is used as a tupleset, so it may only allow plain types", d, r.Name)
		}
		if d.Condition != "" && d.Condition != InlineCondition {
			if _, ok := m.Conditions[d.Condition]; !ok {
				return newError(CodeValidation, field, "type restriction %s: condition %s is not defined", d, d.Condition)
			}
		}
	}
	return nil
}

func directList(ds []DirectType) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.String()
	}
	return strings.Join(s, ", ")
}

// checkEntrypoints computes, as a least fixed point, which relations some
// user can ever be related to, and rejects the first (in model order)
// that none can. Starting from "none" and growing to stability means that
// a relation depending only on itself, directly or through others, has no
// entry point, as in OpenFGA. A work list re-evaluates a relation only
// when one it depends on gains an entry point, so the cost stays linear
// in the size of the model times the size of one definition.
func (m *Model) checkEntrypoints() error {
	dependents := map[relKey][]relKey{}
	var queue []relKey
	for _, tn := range m.TypeNames {
		t := m.Types[tn]
		for _, rn := range t.RelationNames {
			k := relKey{tn, rn}
			queue = append(queue, k)
			r := t.Relations[rn]
			for _, d := range r.Direct {
				if d.Relation != "" {
					dep := relKey{d.Type, d.Relation}
					dependents[dep] = append(dependents[dep], k)
				}
			}
			walkRewrite(r.Rewrite, func(w *Rewrite) {
				switch w.Op {
				case OpComputed:
					dep := relKey{tn, w.Relation}
					dependents[dep] = append(dependents[dep], k)
				case OpTTU:
					for _, d := range t.Relations[w.Tupleset].Direct {
						dep := relKey{d.Type, w.Relation}
						dependents[dep] = append(dependents[dep], k)
					}
				}
			})
		}
	}
	has := map[relKey]bool{}
	for len(queue) > 0 {
		k := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if has[k] {
			continue
		}
		t := m.Types[k.typ]
		r := t.Relations[k.rel]
		if m.entry(t, r, r.Rewrite, has) {
			has[k] = true
			for _, d := range dependents[k] {
				if !has[d] {
					queue = append(queue, d)
				}
			}
		}
	}
	for _, tn := range m.TypeNames {
		t := m.Types[tn]
		for _, rn := range t.RelationNames {
			if !has[relKey{tn, rn}] {
				return newError(CodeValidation, "type "+tn+", relation "+rn,
					"relation can never be satisfied: no user can be related to it, directly or through the relations it uses (a cycle without direct assignment?)")
			}
		}
	}
	return nil
}

type relKey struct{ typ, rel string }

func (m *Model) entry(t *Type, r *Relation, w *Rewrite, has map[relKey]bool) bool {
	switch w.Op {
	case OpThis:
		for _, d := range r.Direct {
			if d.Relation == "" || has[relKey{d.Type, d.Relation}] {
				return true
			}
		}
		return false
	case OpComputed:
		return has[relKey{t.Name, w.Relation}]
	case OpTTU:
		for _, d := range t.Relations[w.Tupleset].Direct {
			if has[relKey{d.Type, w.Relation}] {
				return true
			}
		}
		return false
	case OpUnion:
		return slices.ContainsFunc(w.Children, func(c *Rewrite) bool { return m.entry(t, r, c, has) })
	default: // intersection, exclusion: every operand
		for _, c := range w.Children {
			if !m.entry(t, r, c, has) {
				return false
			}
		}
		return true
	}
}

// checkCycles rejects a relation that reaches itself through computed
// relations of its own type, in any operand of any operator (OpenFGA's
// HasCycle); tupleset steps move to other objects and do not count.
func (m *Model) checkCycles() error {
	const (
		unseen = iota
		active
		done
	)
	for _, tn := range m.TypeNames {
		t := m.Types[tn]
		state := make(map[string]int, len(t.Relations))
		var visit func(rn string) string
		visit = func(rn string) string {
			switch state[rn] {
			case active:
				return rn
			case done:
				return ""
			}
			state[rn] = active
			var found string
			walkRewrite(t.Relations[rn].Rewrite, func(w *Rewrite) {
				if found == "" && w.Op == OpComputed {
					found = visit(w.Relation)
				}
			})
			state[rn] = done
			return found
		}
		for _, rn := range t.RelationNames {
			if on := visit(rn); on != "" {
				return newError(CodeValidation, "type "+tn+", relation "+on,
					"relation is defined in a cycle through computed relations of type %s", tn)
			}
		}
	}
	return nil
}
