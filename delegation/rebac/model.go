package rebac

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	openfgav1 "github.com/openfga/api/proto/openfga/v1"
	"github.com/openfga/language/pkg/go/transformer"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/subzero-gateway/subzero/delegation/rebac/tuplestore"
)

// Model limits. A model over any of them is rejected with CodeValidation.
// Where OpenFGA has a limit (names, conditions, parameters, expression
// length) the value is OpenFGA's, so that a model accepted here is also
// accepted there.
const (
	// MaxModelBytes bounds the source given to [ParseModel] and the
	// canonical JSON kept by the store.
	MaxModelBytes = tuplestore.MaxModel
	// MaxTypes bounds the type definitions of a model.
	MaxTypes = 256
	// MaxRelations bounds the relations of one type.
	MaxRelations = 256
	// MaxDirectTypes bounds the type restrictions of one relation.
	MaxDirectTypes = 64
	// MaxRewriteNodes bounds the nodes of one relation's rewrite tree.
	MaxRewriteNodes = 128
	// MaxRewriteDepth bounds the nesting of one relation's rewrite tree.
	MaxRewriteDepth = 16
	// MaxConditions bounds the conditions of a model (OpenFGA: 25).
	MaxConditions = 25
	// MaxConditionParams bounds the parameters of a condition (OpenFGA: 25).
	MaxConditionParams = 25
	// MaxExpressionBytes bounds a condition's CEL expression (OpenFGA: 512).
	MaxExpressionBytes = 512
	// MaxTypeName bounds a type name (OpenFGA: 254 bytes).
	MaxTypeName = 254
	// MaxRelationName bounds a relation, condition or parameter name
	// (OpenFGA: 50 bytes).
	MaxRelationName = 50
)

// SchemaVersion is the only OpenFGA schema version accepted.
const SchemaVersion = "1.1"

// Model is a compiled, type-checked authorization model (OpenFGA schema
// 1.1). It is immutable after [ParseModel] or [LoadModel] return and safe
// for concurrent use.
type Model struct {
	ID   string // assigned by the engine when written; empty from ParseModel
	DSL  string // canonical DSL (transformer.TransformJSONProtoToDSL)
	JSON []byte // canonical JSON (protojson of openfgav1.AuthorizationModel, without id), what the store keeps

	Types map[string]*Type
	// TypeNames lists the types in model order.
	TypeNames  []string
	Conditions map[string]*Condition

	inline *inlineCache // compiled $expression conditions
}

// Type is one type definition of a [Model].
type Type struct {
	Name      string
	Relations map[string]*Relation
	// RelationNames lists the relations in the canonical order, by name:
	// OpenFGA keeps relations in a map, so the order of the source is not
	// kept, and the canonical DSL lists them sorted.
	RelationNames []string

	tuplesetRels map[string]bool // the relations used as a tupleset; set by typeCheck
}

// Relation is one relation of a [Type]: how it is computed (Rewrite) and,
// when the rewrite contains direct assignment, which users may be
// assigned (Direct).
type Relation struct {
	Type, Name string
	Rewrite    *Rewrite
	// Direct lists the [...] type restrictions in model order; it is empty
	// when the rewrite has no OpThis.
	Direct []DirectType
}

// DirectType is one type restriction of a relation: "user", "user:*",
// "group#member", each optionally "with cond".
type DirectType struct {
	Type      string // "user"
	Relation  string // "member" for group#member; "" otherwise
	Wildcard  bool   // user:*
	Condition string // "with cond"; "" when none; [InlineCondition] for "with $expression"
}

// String formats d as in the DSL: "user", "user:*", "group#member",
// followed by " with cond" when conditioned.
func (d DirectType) String() string {
	s := d.Type
	switch {
	case d.Wildcard:
		s += ":*"
	case d.Relation != "":
		s += "#" + d.Relation
	}
	if d.Condition != "" {
		s += " with " + d.Condition
	}
	return s
}

// RewriteOp is the kind of a [Rewrite] node.
type RewriteOp uint8

// The rewrite operations.
const (
	OpThis         RewriteOp = iota // direct assignment: [user, group#member]
	OpComputed                      // another relation of the same object
	OpTTU                           // tuple to userset: `viewer from parent`
	OpUnion                         // a or b
	OpIntersection                  // a and b
	OpExclusion                     // a but not b
)

var opNames = [...]string{"this", "computed", "tupleset", "union", "intersection", "exclusion"}

// String returns "this", "computed", "tupleset", "union", "intersection" or
// "exclusion".
func (op RewriteOp) String() string {
	if int(op) < len(opNames) {
		return opNames[op]
	}
	return "RewriteOp(" + strconv.Itoa(int(op)) + ")"
}

// Rewrite is a node of a relation's definition.
type Rewrite struct {
	Op RewriteOp
	// Relation is, for OpComputed, the relation on the same object and,
	// for OpTTU, the relation on the tupleset's objects.
	Relation string
	// Tupleset is, for OpTTU, the tupleset relation on this object:
	// `viewer from parent` has Tupleset "parent" and Relation "viewer".
	Tupleset string
	// Children are the operands: for union and intersection in model
	// order; for exclusion [base, subtract].
	Children []*Rewrite
}

// Relation returns the relation rel of type typ, or an *Error with
// CodeTypeNotFound or CodeRelationNotFound.
func (m *Model) Relation(typ, rel string) (*Relation, error) {
	t, ok := m.Types[typ]
	if !ok {
		return nil, newError(CodeTypeNotFound, "", "type %s is not defined", quoteName(typ))
	}
	r, ok := t.Relations[rel]
	if !ok {
		return nil, newError(CodeRelationNotFound, "", "relation %s is not defined on type %s", quoteName(rel), typ)
	}
	return r, nil
}

// ParseModel parses and type-checks an authorization model written in the
// OpenFGA DSL or, when its first non-space byte is '{', in OpenFGA's JSON
// (protojson of AuthorizationModel; unknown fields are rejected). Only
// schema 1.1 is accepted, and only models the DSL can express: a JSON
// model is converted to the DSL and back, and that conversion must be
// exact. Errors are *Error with CodeValidation (syntax, structure, limits,
// cycles, conditions), CodeTypeNotFound or CodeRelationNotFound (a
// reference to an undefined type or relation); Field names the line and
// column of a syntax error, or the type and relation (and, for DSL input,
// the line) of a semantic one.
func ParseModel(src []byte) (*Model, error) {
	if len(src) > MaxModelBytes {
		return nil, newError(CodeValidation, "", "model is larger than %d bytes", MaxModelBytes)
	}
	if !utf8.Valid(src) {
		return nil, newError(CodeValidation, "", "model is not valid UTF-8")
	}
	trimmed := bytes.TrimLeft(src, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, newError(CodeValidation, "", "model is empty")
	}
	if trimmed[0] == '{' {
		p, err := decodeModelJSON(src)
		if err != nil {
			return nil, err
		}
		return build(p, nil)
	}
	p, err := parseDSL(string(src))
	if err != nil {
		return nil, err
	}
	return build(p, strings.Split(string(src), "\n"))
}

// LoadModel loads a model from the JSON the store keeps ([Model.JSON]) and
// sets its ID. It type-checks again, so a stored model that a newer
// version of this package rejects does not load.
func LoadModel(id string, data []byte) (*Model, error) {
	if id == "" || len(id) > tuplestore.MaxModelID {
		return nil, newError(CodeValidation, "id", "model ID must have 1 to %d bytes", tuplestore.MaxModelID)
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, newError(CodeValidation, "", "stored model is not JSON")
	}
	m, err := ParseModel(data)
	if err != nil {
		return nil, err
	}
	m.ID = id
	return m, nil
}

// decodeModelJSON decodes OpenFGA's JSON model strictly.
func decodeModelJSON(src []byte) (*openfgav1.AuthorizationModel, error) {
	p := &openfgav1.AuthorizationModel{}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(src, p); err != nil {
		// protojson's messages name the offending field and offset; it
		// follows "proto:" with varying white space.
		msg := strings.TrimLeftFunc(strings.TrimPrefix(err.Error(), "proto:"), unicode.IsSpace)
		return nil, &Error{Code: CodeValidation, Msg: "invalid JSON model: " + msg, Err: err}
	}
	return p, nil
}

// syntaxErrorRE matches transformer.OpenFgaDslSyntaxError's text; its line
// is zero-based (the transformer subtracts one from ANTLR's), its column
// zero-based.
var syntaxErrorRE = regexp.MustCompile(`(?s)^syntax error at line=(-?\d+), column=(-?\d+): (.*)$`)

// parseDSL runs the OpenFGA DSL parser, turning its syntax errors into an
// *Error naming the first error's line and column (both one-based).
func parseDSL(src string) (p *openfgav1.AuthorizationModel, err error) {
	defer func() {
		if r := recover(); r != nil { // the generated parser is not fuzzed upstream
			p, err = nil, newError(CodeValidation, "", "the DSL parser failed on this input")
		}
	}()
	p, err = transformer.TransformDSLToProto(src)
	if err == nil {
		return p, nil
	}
	var multi *transformer.OpenFgaDslSyntaxMultipleError
	if !errors.As(err, &multi) || len(multi.Errors) == 0 {
		return nil, &Error{Code: CodeValidation, Msg: "invalid DSL: " + err.Error(), Err: err}
	}
	first := multi.Errors[0].Error()
	e := &Error{Code: CodeValidation, Msg: first, Err: err}
	if sm := syntaxErrorRE.FindStringSubmatch(first); sm != nil {
		line, _ := strconv.Atoi(sm[1])
		col, _ := strconv.Atoi(sm[2])
		e.Field = fmt.Sprintf("line %d, column %d", line+1, col+1)
		e.Msg = sm[3]
	}
	if n := len(multi.Errors) - 1; n > 0 {
		e.Msg += fmt.Sprintf(" (and %d more)", n)
	}
	return nil, e
}

// normalize re-encodes p through protojson. The DSL parser leaves oneof
// wrappers such as Userset_This with nil contents, which the DSL printer
// does not recognise; a decoded copy has them filled in. It also drops
// the model ID.
func normalize(p *openfgav1.AuthorizationModel) (*openfgav1.AuthorizationModel, error) {
	b, err := protojson.Marshal(p)
	if err != nil {
		return nil, &Error{Code: CodeValidation, Msg: "model cannot be encoded: " + err.Error(), Err: err}
	}
	q := &openfgav1.AuthorizationModel{}
	if err := protojson.Unmarshal(b, q); err != nil {
		return nil, &Error{Code: CodeValidation, Msg: "model cannot be decoded: " + err.Error(), Err: err}
	}
	q.Id = ""
	return q, nil
}

// build converts, type-checks and canonicalises p. lines is the DSL
// source, used to point semantic errors at a line; nil for JSON.
func build(p *openfgav1.AuthorizationModel, lines []string) (*Model, error) {
	if err := checkDepth(p); err != nil {
		return nil, locate(err, lines)
	}
	p, err := normalize(p)
	if err != nil {
		return nil, err
	}
	m, err := fromProto(p)
	if err == nil {
		err = m.typeCheck()
	}
	if err != nil {
		return nil, locate(err, lines)
	}
	// Canonical form: print the DSL, parse it again, and require that
	// printing that gives the same text, so that DSL, JSON and the model
	// all describe one thing and the DSL can be edited and re-submitted.
	dsl, err := printDSL(p)
	if err != nil {
		return nil, err
	}
	p2, err := parseDSL(dsl)
	if err != nil {
		e := asError(err)
		return nil, &Error{Code: CodeValidation, Msg: fmt.Sprintf("model cannot be written in the DSL: its DSL does not parse (%s: %s)", e.Field, e.Msg), Err: err}
	}
	if p2, err = normalize(p2); err != nil {
		return nil, err
	}
	dsl2, err := printDSL(p2)
	if err != nil {
		return nil, err
	}
	if dsl2 != dsl {
		return nil, newError(CodeValidation, "", "model cannot be written in the DSL: it does not survive a round trip through the DSL (names the DSL cannot express?)")
	}
	m2, err := fromProto(p2)
	if err == nil {
		err = m2.typeCheck()
	}
	if err != nil {
		return nil, err
	}
	js, err := (protojson.MarshalOptions{UseProtoNames: true}).Marshal(p2)
	if err != nil {
		return nil, &Error{Code: CodeValidation, Msg: "model cannot be encoded: " + err.Error(), Err: err}
	}
	// protojson varies its whitespace between builds on purpose; the
	// compact form is stable (map keys are sorted).
	var buf bytes.Buffer
	if err := json.Compact(&buf, js); err != nil {
		return nil, &Error{Code: CodeValidation, Msg: "model cannot be encoded: " + err.Error(), Err: err}
	}
	if buf.Len() > MaxModelBytes {
		return nil, newError(CodeValidation, "", "model's JSON is larger than %d bytes", MaxModelBytes)
	}
	m2.DSL = dsl
	m2.JSON = buf.Bytes()
	return m2, nil
}

// checkDepth rejects rewrites nested deeper than MaxRewriteDepth before
// anything recurses over them (protojson's own limit is 10,000).
func checkDepth(p *openfgav1.AuthorizationModel) error {
	var tooDeep func(u *openfgav1.Userset, depth int) bool
	tooDeep = func(u *openfgav1.Userset, depth int) bool {
		if depth > MaxRewriteDepth {
			return true
		}
		var cs []*openfgav1.Userset
		switch v := u.GetUserset().(type) {
		case *openfgav1.Userset_Union:
			cs = v.Union.GetChild()
		case *openfgav1.Userset_Intersection:
			cs = v.Intersection.GetChild()
		case *openfgav1.Userset_Difference:
			cs = []*openfgav1.Userset{v.Difference.GetBase(), v.Difference.GetSubtract()}
		}
		return slices.ContainsFunc(cs, func(c *openfgav1.Userset) bool { return tooDeep(c, depth+1) })
	}
	for _, td := range p.GetTypeDefinitions() {
		for _, rn := range slices.Sorted(maps.Keys(td.GetRelations())) {
			if tooDeep(td.GetRelations()[rn], 1) {
				return newError(CodeValidation, "type "+quoteName(td.GetType())+", relation "+quoteName(rn), "definition is nested more than %d deep", MaxRewriteDepth)
			}
		}
	}
	return nil
}

func printDSL(p *openfgav1.AuthorizationModel) (dsl string, err error) {
	defer func() {
		if r := recover(); r != nil {
			dsl, err = "", newError(CodeValidation, "", "model cannot be written in the DSL")
		}
	}()
	dsl, err = transformer.TransformJSONProtoToDSL(p)
	if err != nil {
		return "", &Error{Code: CodeValidation, Msg: "model cannot be written in the DSL: " + err.Error(), Err: err}
	}
	return dsl, nil
}

// fromProto converts p into a Model, checking names, limits and the
// shape of every rewrite; references are checked by typeCheck.
func fromProto(p *openfgav1.AuthorizationModel) (*Model, error) {
	if p.GetSchemaVersion() != SchemaVersion {
		return nil, newError(CodeValidation, "schema", "schema version %q is not supported; use %s", clip(p.GetSchemaVersion()), SchemaVersion)
	}
	tds := p.GetTypeDefinitions()
	if len(tds) > MaxTypes {
		return nil, newError(CodeValidation, "", "model has %d types; at most %d are allowed", len(tds), MaxTypes)
	}
	m := &Model{
		Types:      make(map[string]*Type, len(tds)),
		TypeNames:  make([]string, 0, len(tds)),
		Conditions: make(map[string]*Condition, len(p.GetConditions())),
		inline:     newInlineCache(),
	}
	for _, td := range tds {
		name := td.GetType()
		if err := checkTypeName(name); err != nil {
			return nil, newError(CodeValidation, "type "+quoteName(name), "%s", err)
		}
		if _, dup := m.Types[name]; dup {
			return nil, newError(CodeValidation, "type "+name, "type is defined twice")
		}
		t, err := typeFromProto(td)
		if err != nil {
			return nil, err
		}
		m.Types[name] = t
		m.TypeNames = append(m.TypeNames, name)
	}
	conds := p.GetConditions()
	if len(conds) > MaxConditions {
		return nil, newError(CodeValidation, "", "model has %d conditions; at most %d are allowed", len(conds), MaxConditions)
	}
	for key, c := range conds {
		field := "condition " + quoteName(key)
		if c.GetName() != key {
			return nil, newError(CodeValidation, field, "condition is keyed %q but named %q", clip(key), clip(c.GetName()))
		}
		if key == InlineCondition {
			return nil, newError(CodeValidation, field, "%s is reserved for inline conditions", InlineCondition)
		}
		if err := checkName(key); err != nil {
			return nil, newError(CodeValidation, field, "%s", err)
		}
		params := make(map[string]ParamType, len(c.GetParameters()))
		if len(c.GetParameters()) > MaxConditionParams {
			return nil, newError(CodeValidation, field, "condition has %d parameters; at most %d are allowed", len(c.GetParameters()), MaxConditionParams)
		}
		for pn, pt := range c.GetParameters() {
			if err := checkName(pn); err != nil {
				return nil, newError(CodeValidation, field+", parameter "+quoteName(pn), "%s", err)
			}
			t, err := paramTypeFromProto(pt)
			if err == nil && (t.Kind == ParamAny || t.Elem == ParamAny) {
				err = errors.New("type any cannot be written in the DSL, so it is not supported")
			}
			if err != nil {
				return nil, newError(CodeValidation, field+", parameter "+pn, "%s", err)
			}
			params[pn] = t
		}
		cc, err := compileCondition(key, c.GetExpression(), params)
		if err != nil {
			return nil, err
		}
		m.Conditions[key] = cc
	}
	return m, nil
}

func typeFromProto(td *openfgav1.TypeDefinition) (*Type, error) {
	name := td.GetType()
	rels := td.GetRelations()
	if len(rels) > MaxRelations {
		return nil, newError(CodeValidation, "type "+name, "type has %d relations; at most %d are allowed", len(rels), MaxRelations)
	}
	meta := td.GetMetadata().GetRelations()
	for rn := range meta {
		if _, ok := rels[rn]; !ok {
			return nil, newError(CodeValidation, "type "+name, "metadata names relation %s, which is not defined", quoteName(rn))
		}
	}
	t := &Type{Name: name, Relations: make(map[string]*Relation, len(rels))}
	for rn := range rels {
		t.RelationNames = append(t.RelationNames, rn)
	}
	slices.Sort(t.RelationNames)
	for _, rn := range t.RelationNames {
		field := "type " + name + ", relation " + quoteName(rn)
		if err := checkName(rn); err != nil {
			return nil, newError(CodeValidation, field, "%s", err)
		}
		if rn == "self" || rn == "this" {
			return nil, newError(CodeValidation, field, "%s is a reserved word", rn)
		}
		nodes := 0
		rw, err := rewriteFromProto(rels[rn], 1, &nodes)
		if err != nil {
			return nil, newError(CodeValidation, field, "%s", err)
		}
		refs := meta[rn].GetDirectlyRelatedUserTypes()
		if len(refs) > MaxDirectTypes {
			return nil, newError(CodeValidation, field, "relation has %d type restrictions; at most %d are allowed", len(refs), MaxDirectTypes)
		}
		r := &Relation{Type: name, Name: rn, Rewrite: rw}
		for _, ref := range refs {
			d := DirectType{
				Type:      ref.GetType(),
				Relation:  ref.GetRelation(),
				Wildcard:  ref.GetWildcard() != nil,
				Condition: ref.GetCondition(),
			}
			if err := checkTypeName(d.Type); err != nil {
				return nil, newError(CodeValidation, field, "type restriction %s: %s", quoteName(d.Type), err)
			}
			if _, isRel := ref.GetRelationOrWildcard().(*openfgav1.RelationReference_Relation); isRel && d.Relation == "" {
				return nil, newError(CodeValidation, field, "type restriction %s# names no relation", d.Type)
			}
			if d.Relation != "" {
				if err := checkName(d.Relation); err != nil {
					return nil, newError(CodeValidation, field, "type restriction %s#%s: %s", d.Type, quoteName(d.Relation), err)
				}
			}
			if d.Condition != "" && d.Condition != InlineCondition {
				if err := checkName(d.Condition); err != nil {
					return nil, newError(CodeValidation, field, "type restriction %s: condition %s: %s", d.Type, quoteName(d.Condition), err)
				}
			}
			if slices.Contains(r.Direct, d) {
				return nil, newError(CodeValidation, field, "type restriction %s is listed twice", d)
			}
			r.Direct = append(r.Direct, d)
		}
		t.Relations[rn] = r
	}
	return t, nil
}

func rewriteFromProto(u *openfgav1.Userset, depth int, nodes *int) (*Rewrite, error) {
	if depth > MaxRewriteDepth {
		return nil, fmt.Errorf("definition is nested more than %d deep", MaxRewriteDepth)
	}
	if *nodes++; *nodes > MaxRewriteNodes {
		return nil, fmt.Errorf("definition has more than %d terms", MaxRewriteNodes)
	}
	children := func(us []*openfgav1.Userset) ([]*Rewrite, error) {
		if len(us) == 0 {
			return nil, errors.New("definition has an operator without operands")
		}
		out := make([]*Rewrite, 0, len(us))
		for _, c := range us {
			r, err := rewriteFromProto(c, depth+1, nodes)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	}
	switch v := u.GetUserset().(type) {
	case *openfgav1.Userset_This:
		return &Rewrite{Op: OpThis}, nil
	case *openfgav1.Userset_ComputedUserset:
		rel := v.ComputedUserset.GetRelation()
		if err := checkName(rel); err != nil {
			return nil, fmt.Errorf("computed relation %s: %w", quoteName(rel), err)
		}
		return &Rewrite{Op: OpComputed, Relation: rel}, nil
	case *openfgav1.Userset_TupleToUserset:
		ts := v.TupleToUserset.GetTupleset().GetRelation()
		rel := v.TupleToUserset.GetComputedUserset().GetRelation()
		if err := checkName(ts); err != nil {
			return nil, fmt.Errorf("tupleset %s: %w", quoteName(ts), err)
		}
		if err := checkName(rel); err != nil {
			return nil, fmt.Errorf("relation %s from %s: %w", quoteName(rel), ts, err)
		}
		return &Rewrite{Op: OpTTU, Tupleset: ts, Relation: rel}, nil
	case *openfgav1.Userset_Union:
		cs, err := children(v.Union.GetChild())
		if err != nil {
			return nil, err
		}
		return &Rewrite{Op: OpUnion, Children: cs}, nil
	case *openfgav1.Userset_Intersection:
		cs, err := children(v.Intersection.GetChild())
		if err != nil {
			return nil, err
		}
		return &Rewrite{Op: OpIntersection, Children: cs}, nil
	case *openfgav1.Userset_Difference:
		if v.Difference.GetBase() == nil || v.Difference.GetSubtract() == nil {
			return nil, errors.New("exclusion needs a base and a subtracted term")
		}
		cs, err := children([]*openfgav1.Userset{v.Difference.GetBase(), v.Difference.GetSubtract()})
		if err != nil {
			return nil, err
		}
		return &Rewrite{Op: OpExclusion, Children: cs}, nil
	default:
		return nil, errors.New("relation has no definition")
	}
}

// checkTypeName applies OpenFGA's type name rule (1 to 254 bytes without
// ':', '#', '@' or white space), and also refuses '*', which would make
// "type:*" ambiguous, and the reserved words self and this.
func checkTypeName(s string) error {
	if len(s) == 0 || len(s) > MaxTypeName {
		return fmt.Errorf("name must have 1 to %d bytes", MaxTypeName)
	}
	if strings.ContainsFunc(s, badNameRune) {
		return errors.New("name must not contain ':', '#', '@', '*' or white space")
	}
	if s == "self" || s == "this" {
		return fmt.Errorf("%s is a reserved word", s)
	}
	return nil
}

// checkName applies OpenFGA's relation, condition and parameter name rule:
// 1 to 50 bytes without ':', '#', '@' or white space (and here '*').
func checkName(s string) error {
	if len(s) == 0 || len(s) > MaxRelationName {
		return fmt.Errorf("name must have 1 to %d bytes", MaxRelationName)
	}
	if strings.ContainsFunc(s, badNameRune) {
		return errors.New("name must not contain ':', '#', '@', '*' or white space")
	}
	return nil
}

func badNameRune(r rune) bool {
	switch r {
	case ':', '#', '@', '*', ' ', '\t', '\n', '\v', '\f', '\r', 0x85, 0xA0:
		return true
	}
	return r == utf8.RuneError || isSpace(r) || r < 0x20 || r == 0x7f
}

func isSpace(r rune) bool {
	return strings.ContainsRune("\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000", r)
}

// quoteName returns s when it is a plausible name and a clipped, quoted
// form otherwise, so that errors about bad names stay readable.
func quoteName(s string) string {
	if s != "" && len(s) <= MaxTypeName && !strings.ContainsFunc(s, badNameRune) {
		return s
	}
	return strconv.Quote(clip(s))
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// locate prefixes a semantic error's Field ("type T, relation R", "type
// T" or "condition C") with the DSL line of that declaration.
func locate(err error, lines []string) error {
	var e *Error
	if lines == nil || !errors.As(err, &e) {
		return err
	}
	var typ, rel, cond string
	for part := range strings.SplitSeq(e.Field, ", ") {
		switch k, v, _ := strings.Cut(part, " "); k {
		case "type":
			typ = v
		case "relation":
			rel = v
		case "condition":
			cond = v
		}
	}
	line := 0
	switch {
	case cond != "":
		line = findDecl(lines, 0, "condition", cond)
	case typ != "":
		line = findDecl(lines, 0, "type", typ)
		if line > 0 && strings.HasSuffix(e.Msg, "defined twice") {
			line = findDecl(lines, line, "type", typ)
		}
		if line > 0 && rel != "" {
			if rl := findDecl(lines, line, "define", rel); rl > 0 {
				line = rl
			}
		}
	}
	if line > 0 {
		e.Field = fmt.Sprintf("line %d, %s", line, e.Field)
	}
	return err
}

// findDecl returns the one-based number of the first line after line
// `after` that declares name with keyword ("type document", "define
// viewer:", "condition c("), or 0. Searching for a relation stops at the
// next type or condition.
func findDecl(lines []string, after int, keyword, name string) int {
	for i := after; i < len(lines); i++ {
		s := strings.TrimSpace(lines[i])
		if keyword == "define" && (strings.HasPrefix(s, "type ") || strings.HasPrefix(s, "condition ")) {
			return 0
		}
		rest, ok := strings.CutPrefix(s, keyword+" ")
		if !ok {
			continue
		}
		rest = strings.TrimLeft(rest, " \t")
		if end := strings.IndexAny(rest, " \t:("); end >= 0 {
			rest = rest[:end]
		}
		if rest == name {
			return i + 1
		}
	}
	return 0
}
