package rebac

import (
	"errors"
	"fmt"
	"strings"
)

// overlay holds a request's contextual tuples, indexed like the index:
// objects the index does not know get IDs from the index's next ID up.
type overlay struct {
	x     *index
	base  uint32
	ids   map[string]uint32
	list  []string
	otype []uint16
	wild  map[uint16]uint32
	fwd   map[uint64][]uint64
	rev   map[uint64][]uint64
	conds map[condKey]*condEntry
}

// ctxErrorCode says how an invalid contextual tuple is reported: Check
// reports every one as CodeInvalidTuple; ListObjects and ListUsers report
// a problem with its condition (CodeValidation from ValidateTuple) as
// CodeValidation, as OpenFGA does.
type ctxErrorCode uint8

const (
	ctxForCheck ctxErrorCode = iota
	ctxForList
)

// newOverlay validates tuples against the model and indexes them; nil when
// there are none.
func newOverlay(x *index, m *cmodel, tuples []Tuple, how ctxErrorCode) (*overlay, error) {
	if len(tuples) == 0 {
		return nil, nil
	}
	if len(tuples) > maxContextualTuples {
		return nil, &Error{Code: CodeValidation, Field: "contextual_tuples", Msg: fmt.Sprintf("more than %d contextual tuples", maxContextualTuples)}
	}
	o := &overlay{
		x: x, base: x.strs.next(),
		ids: map[string]uint32{}, wild: map[uint16]uint32{},
		fwd: map[uint64][]uint64{}, rev: map[uint64][]uint64{}, conds: map[condKey]*condEntry{},
	}
	for i, t := range tuples {
		if err := m.m.ValidateTuple(t); err != nil {
			return nil, contextualError(i, err, how)
		}
		oid := o.object(t.Object)
		r := x.names.id(t.Relation)
		uo, ur, _ := strings.Cut(t.User, "#")
		uid := o.object(uo)
		var urel uint16
		if ur != "" {
			urel = x.names.id(ur)
		}
		if r == 0 || (ur != "" && urel == 0) {
			// ValidateTuple admits only model names, all interned.
			return nil, &Error{Code: CodeInvalidTuple, Field: fmt.Sprintf("contextual_tuples[%d]", i), Msg: "relation is not in the model"}
		}
		or, s := objrel(oid, r), subject(uid, urel)
		v := s
		k := condKey{or, s}
		delete(o.conds, k)
		if t.Condition != nil {
			v |= flagCond
			tc := *t.Condition
			o.conds[k] = &condEntry{name: x.names.id(tc.Name), nameStr: tc.Name, ctx: tc.Context, tc: &tc}
		}
		l, grew := insertSorted(o.fwd[or], v, flagMask)
		o.fwd[or] = l
		if grew {
			o.rev[s], _ = insertSorted(o.rev[s], or, 0)
		}
	}
	return o, nil
}

const maxContextualTuples = 100

func contextualError(i int, err error, how ctxErrorCode) error {
	code := CodeInvalidTuple
	msg := err.Error()
	var e *Error
	if errors.As(err, &e) {
		if how == ctxForList && e.Code == CodeValidation {
			code = CodeValidation
		}
		msg = e.Msg
		if e.Field != "" {
			msg = e.Field + ": " + msg
		}
	}
	return &Error{Code: code, Field: fmt.Sprintf("contextual_tuples[%d]", i), Msg: msg, Err: err}
}

func (o *overlay) object(s string) uint32 {
	if id := o.x.objID(s); id != 0 {
		return id
	}
	if id, ok := o.ids[s]; ok {
		return id
	}
	typ, rest, _ := strings.Cut(s, ":")
	id := o.base + uint32(len(o.list))
	o.ids[s] = id
	o.list = append(o.list, s)
	t := o.x.names.id(typ)
	o.otype = append(o.otype, t)
	if rest == "*" {
		o.wild[t] = id
	}
	return id
}

// objID returns the ID of s in the index or the overlay, 0 when neither
// holds it.
func (o *overlay) objID(s string) uint32 {
	if id := o.x.objID(s); id != 0 {
		return id
	}
	return o.ids[s]
}
