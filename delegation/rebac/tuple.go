package rebac

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/subzero-gateway/subzero/delegation/rebac/tuplestore"
)

// Tuple limits, OpenFGA's where it has one.
const (
	MaxObjectBytes   = 256 // "type:id" in object position (OpenFGA: 256)
	MaxUserBytes     = 512 // user field (OpenFGA: 512)
	MaxRelationBytes = 50  // relation (OpenFGA: 50)
	// MaxTuplesFileBytes bounds the input of ParseTuples.
	MaxTuplesFileBytes = 16 << 20
	// MaxTuplesFileTuples bounds the tuples ParseTuples returns.
	MaxTuplesFileTuples = 100_000
)

// ParseObject splits an object "type:id". The type follows the model's
// type name rule; the id is non-empty and has no ':', '#' or white space
// (OpenFGA's rule). The wildcard id "*" is refused: "type:*" is a user,
// never an object. Errors are *Error with CodeValidation and Field
// "object".
func ParseObject(s string) (typ, id string, err error) {
	typ, id, err = splitObject(s)
	if err == nil && id == "*" {
		err = fmt.Errorf("object cannot be the wildcard %s:*", typ)
	}
	if err != nil {
		return "", "", newError(CodeValidation, "object", "%s", err)
	}
	return typ, id, nil
}

// ParseUser splits a user: "type:id", "type:*" (id "*") or "type:id#rel"
// (a userset; its id cannot be "*"). Errors are *Error with
// CodeValidation and Field "user".
func ParseUser(s string) (typ, id, relation string, err error) {
	obj, rel, hasRel := strings.Cut(s, "#")
	typ, id, err = splitObject(obj)
	if err == nil && hasRel {
		switch {
		case id == "*":
			err = fmt.Errorf("userset %s cannot have the wildcard id", quoteName(s))
		case checkName(rel) != nil:
			err = fmt.Errorf("userset %s: relation: %w", quoteName(s), checkName(rel))
		}
	}
	if err != nil {
		return "", "", "", newError(CodeValidation, "user", "%s", err)
	}
	return typ, id, rel, nil
}

func splitObject(s string) (typ, id string, err error) {
	typ, id, ok := strings.Cut(s, ":")
	if !ok {
		return "", "", fmt.Errorf("%s is not of the form type:id", quoteName(s))
	}
	if err := checkTypeName(typ); err != nil {
		return "", "", fmt.Errorf("%s: type: %w", quoteName(s), err)
	}
	if id == "" {
		return "", "", fmt.Errorf("%s: id is empty", quoteName(s))
	}
	if strings.ContainsFunc(id, func(r rune) bool { return r == ':' || r == '#' || badNameRune(r) && r != '*' && r != '@' }) {
		return "", "", fmt.Errorf("%s: id must not contain ':', '#' or white space", quoteName(s))
	}
	return typ, id, nil
}

// String formats t as "user:anne viewer document:1", followed by
// " with cond" when it has a condition. Context values are not shown.
func (t Tuple) String() string {
	s := t.User + " " + t.Relation + " " + t.Object
	if t.Condition != nil {
		s += " with " + t.Condition.Name
	}
	return s
}

// ValidateTuple checks t as OpenFGA checks a tuple written or passed as a
// contextual tuple. Errors are *Error with Field "object", "relation",
// "user" or "condition":
//
//   - CodeInvalidTuple (2027), as OpenFGA's write path reports it, when a
//     field is malformed or too long, the object is a wildcard, a type or
//     relation is not defined (Err then holds the *Error with
//     CodeTypeNotFound or CodeRelationNotFound), or the user's type,
//     wildcard or userset is not among the relation's type restrictions
//     (the message lists them);
//   - CodeValidation (2000), as OpenFGA reports conditional tuple errors,
//     when the condition is missing though every matching restriction
//     requires one, is not defined, is not allowed for the user's facet
//     (Err is ErrConditionNotAllowed), or its context holds a key that is
//     not a parameter, a value of the wrong type (the value is not
//     quoted), an inline condition that does not compile, or more than
//     tuplestore.MaxCondition bytes of JSON.
//
// A condition's context need not bind every parameter: the rest comes
// with each check.
func (m *Model) ValidateTuple(t Tuple) error {
	if err := m.validateTuple(t); err != nil {
		return err
	}
	return nil
}

func (m *Model) validateTuple(t Tuple) *Error {
	if len(t.Object) > MaxObjectBytes {
		return newError(CodeInvalidTuple, "object", "object is longer than %d bytes", MaxObjectBytes)
	}
	otyp, _, err := ParseObject(t.Object)
	if err != nil {
		return invalidTuple(asError(err))
	}
	if t.Relation == "" || len(t.Relation) > MaxRelationBytes || checkName(t.Relation) != nil {
		return newError(CodeInvalidTuple, "relation", "relation must have 1 to %d bytes without ':', '#', '@', '*' or white space", MaxRelationBytes)
	}
	if len(t.User) > MaxUserBytes {
		return newError(CodeInvalidTuple, "user", "user is longer than %d bytes", MaxUserBytes)
	}
	utyp, uid, urel, err := ParseUser(t.User)
	if err != nil {
		return invalidTuple(asError(err))
	}
	if _, ok := m.Types[otyp]; !ok {
		return invalidTuple(newError(CodeTypeNotFound, "object", "type %s is not defined", otyp))
	}
	r, err := m.Relation(otyp, t.Relation)
	if err != nil {
		e := asError(err)
		e.Field = "relation"
		return invalidTuple(e)
	}
	if _, ok := m.Types[utyp]; !ok {
		return invalidTuple(newError(CodeTypeNotFound, "user", "type %s is not defined", utyp))
	}
	if urel != "" {
		if _, ok := m.Types[utyp].Relations[urel]; !ok {
			return invalidTuple(newError(CodeRelationNotFound, "user", "relation %s is not defined on type %s", urel, utyp))
		}
	}
	wildcard := uid == "*"
	if m.Types[otyp].isTupleset(t.Relation) && (wildcard || urel != "") {
		return newError(CodeInvalidTuple, "user", "%s#%s is a tupleset relation: its users must be objects, not wildcards or usersets", otyp, t.Relation)
	}
	// The restrictions of the user's facet: same type and the same kind
	// (plain object, wildcard, or userset with the same relation).
	var facet []DirectType
	for _, d := range r.Direct {
		if d.Type == utyp && d.Wildcard == wildcard && d.Relation == urel {
			facet = append(facet, d)
		}
	}
	if len(facet) == 0 {
		what := "type " + utyp
		switch {
		case wildcard:
			what = "wildcard " + utyp + ":*"
		case urel != "":
			what = "userset " + utyp + "#" + urel
		}
		allowed := directList(r.Direct)
		if allowed == "" {
			return newError(CodeInvalidTuple, "user", "%s is not allowed: %s#%s cannot be assigned directly", what, otyp, t.Relation)
		}
		return newError(CodeInvalidTuple, "user", "%s is not allowed: %s#%s allows [%s]", what, otyp, t.Relation, allowed)
	}
	return m.validateTupleCondition(t, r, facet)
}

func (m *Model) validateTupleCondition(t Tuple, r *Relation, facet []DirectType) *Error {
	if t.Condition == nil {
		if slices.ContainsFunc(facet, func(d DirectType) bool { return d.Condition == "" }) {
			return nil
		}
		names := make([]string, len(facet))
		for i, d := range facet {
			names[i] = d.Condition
		}
		return newError(CodeValidation, "condition", "condition is missing: %s#%s allows this user only with %s", r.Type, r.Name, strings.Join(names, " or "))
	}
	name := t.Condition.Name
	var cond *Condition
	if name != InlineCondition {
		var ok bool
		if cond, ok = m.Conditions[name]; !ok {
			return newError(CodeValidation, "condition", "condition %s is not defined", quoteName(name))
		}
	}
	if !slices.ContainsFunc(facet, func(d DirectType) bool { return d.Condition == name }) {
		return &Error{Code: CodeValidation, Field: "condition", Err: ErrConditionNotAllowed,
			Msg: fmt.Sprintf("condition %s is not allowed for this user on %s#%s, which allows [%s]", name, r.Type, r.Name, directList(r.Direct))}
	}
	if b, err := EncodeCondition(t.Condition); err != nil {
		return asError(err)
	} else if len(b) > tuplestore.MaxCondition {
		return newError(CodeValidation, "condition", "condition is longer than %d bytes of JSON", tuplestore.MaxCondition)
	}
	if name == InlineCondition {
		if _, err := compileInline(t.Condition.Context); err != nil {
			e := asError(err)
			e.Field = "condition"
			return e
		}
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(t.Condition.Context)) {
		pt, ok := cond.Params[k]
		if !ok {
			return newError(CodeValidation, "condition", "context key %s is not a parameter of condition %s", quoteName(k), name)
		}
		if _, err := convertParam(pt, t.Condition.Context[k]); err != nil {
			return newError(CodeValidation, "condition", "condition %s: parameter %s: %s", name, k, err)
		}
	}
	return nil
}

// EncodeCondition encodes a tuple's condition as the JSON kept in
// tuplestore.Tuple.Condition: {"name":"...","context":{...}}, with keys
// sorted so that equal conditions encode equally. A nil condition is nil.
// Errors are *Error with CodeValidation.
func EncodeCondition(c *TupleCondition) ([]byte, error) {
	if c == nil {
		return nil, nil
	}
	if c.Name == "" {
		return nil, newError(CodeValidation, "condition", "condition name is empty")
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, &Error{Code: CodeValidation, Field: "condition", Msg: "condition context is not JSON", Err: err}
	}
	return b, nil
}

// DecodeCondition decodes what [EncodeCondition] produced; nil or empty
// input is a nil condition. Unknown fields are refused. Numbers in the
// context decode as float64. Errors are *Error with CodeValidation.
func DecodeCondition(b []byte) (*TupleCondition, error) {
	if len(b) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var c TupleCondition
	if err := d.Decode(&c); err != nil {
		return nil, &Error{Code: CodeValidation, Field: "condition", Msg: "stored condition is not valid JSON", Err: err}
	}
	if d.More() {
		return nil, newError(CodeValidation, "condition", "stored condition has trailing data")
	}
	if c.Name == "" {
		return nil, newError(CodeValidation, "condition", "stored condition has no name")
	}
	if len(c.Context) == 0 {
		c.Context = nil // as EncodeCondition omits it
	}
	return &c, nil
}

// ParseTuples parses a tuple file, YAML or JSON:
//
//   - a list of {user, relation, object[, condition: {name, context}]};
//   - an object whose "tuples" key holds such a list (OpenFGA's store
//     file; its other keys name, model, model_file, tuple_file,
//     tuple_files and tests are ignored);
//   - an object whose "tuple_keys" key holds such a list (OpenFGA's API).
//
// Unknown fields, empty fields and malformed objects or users are
// refused; so is input over MaxTuplesFileBytes or with more than
// MaxTuplesFileTuples tuples, and YAML aliases. Context values are
// decoded as JSON decodes them (numbers are float64). Errors are *Error
// with CodeValidation and Field "tuples[i].user" and the like. ParseTuples
// does not check the tuples against a model.
func ParseTuples(data []byte) ([]Tuple, error) {
	if len(data) > MaxTuplesFileBytes {
		return nil, newError(CodeValidation, "", "tuple file is larger than %d bytes", MaxTuplesFileBytes)
	}
	doc, err := decodeDocument(data)
	if err != nil {
		return nil, err
	}
	list, field, err := tupleList(doc)
	if err != nil {
		return nil, err
	}
	if len(list) > MaxTuplesFileTuples {
		return nil, newError(CodeValidation, field, "more than %d tuples", MaxTuplesFileTuples)
	}
	out := make([]Tuple, 0, len(list))
	for i, item := range list {
		t, err := tupleFrom(item, fmt.Sprintf("%s[%d]", field, i))
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// decodeDocument decodes JSON (first non-space byte '{' or '[') with
// encoding/json, or YAML with yaml.v3 and then through JSON, so that both
// give the same Go values.
func decodeDocument(data []byte) (any, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, newError(CodeValidation, "", "tuple file is empty")
	}
	if trimmed[0] != '{' && trimmed[0] != '[' {
		var n yaml.Node
		if err := yaml.Unmarshal(data, &n); err != nil {
			return nil, &Error{Code: CodeValidation, Msg: "tuple file is not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: "), Err: err}
		}
		v, err := yamlValue(&n)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, &Error{Code: CodeValidation, Msg: "tuple file holds values JSON cannot represent", Err: err}
		}
		data = b
	}
	d := json.NewDecoder(bytes.NewReader(data))
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, &Error{Code: CodeValidation, Msg: "tuple file is not valid JSON: " + err.Error(), Err: err}
	}
	if d.More() {
		return nil, newError(CodeValidation, "", "tuple file has data after the first JSON value")
	}
	return v, nil
}

// yamlValue converts a YAML node to JSON-like Go values. It does what
// yaml.v3's decoding into any does, except that it refuses aliases and
// non-string keys and finds duplicate keys with a map: yaml.v3 compares
// every pair of keys of a mapping, which a large file turns into minutes.
func yamlValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return yamlValue(n.Content[0])
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := yamlValue(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
				return nil, newError(CodeValidation, "", "line %d: mapping keys must be strings", k.Line)
			}
			if _, dup := out[k.Value]; dup {
				return nil, newError(CodeValidation, "", "line %d: key %s is repeated", k.Line, quoteName(k.Value))
			}
			v, err := yamlValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			out[k.Value] = v
		}
		return out, nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, &Error{Code: CodeValidation, Msg: fmt.Sprintf("line %d: not a valid YAML value", n.Line), Err: err}
		}
		return v, nil
	case yaml.AliasNode:
		return nil, newError(CodeValidation, "", "line %d: YAML aliases are not supported", n.Line)
	}
	return nil, newError(CodeValidation, "", "line %d: unsupported YAML node", n.Line)
}

// storeFileKeys are the keys of an OpenFGA store file other than tuples.
var storeFileKeys = []string{"name", "model", "model_file", "tuple_file", "tuple_files", "tests"}

func tupleList(doc any) ([]any, string, error) {
	switch v := doc.(type) {
	case nil:
		return nil, "tuples", nil
	case []any:
		return v, "tuples", nil
	case map[string]any:
		key := ""
		for k := range v {
			switch {
			case k == "tuples" || k == "tuple_keys":
				if key != "" {
					return nil, "", newError(CodeValidation, "", "tuple file has both tuples and tuple_keys")
				}
				key = k
			case slices.Contains(storeFileKeys, k):
			default:
				return nil, "", newError(CodeValidation, quoteName(k), "unknown field")
			}
		}
		if key == "" {
			return nil, "", newError(CodeValidation, "", "tuple file has no tuples or tuple_keys list")
		}
		switch l := v[key].(type) {
		case []any:
			return l, key, nil
		case nil:
			return nil, key, nil
		}
		return nil, "", newError(CodeValidation, key, "must be a list")
	}
	return nil, "", newError(CodeValidation, "", "tuple file must hold a list of tuples or an object with a tuples list")
}

func tupleFrom(item any, field string) (Tuple, error) {
	obj, ok := item.(map[string]any)
	if !ok {
		return Tuple{}, newError(CodeValidation, field, "must be an object with user, relation and object")
	}
	var t Tuple
	for k, v := range obj {
		switch k {
		case "user", "relation", "object":
			s, ok := v.(string)
			if !ok {
				return Tuple{}, newError(CodeValidation, field+"."+k, "must be a string")
			}
			switch k {
			case "user":
				t.User = s
			case "relation":
				t.Relation = s
			case "object":
				t.Object = s
			}
		case "condition":
			c, err := conditionFrom(v, field+".condition")
			if err != nil {
				return Tuple{}, err
			}
			t.Condition = c
		default:
			return Tuple{}, newError(CodeValidation, field+"."+quoteName(k), "unknown field")
		}
	}
	for _, f := range []struct{ name, v string }{{"user", t.User}, {"relation", t.Relation}, {"object", t.Object}} {
		if f.v == "" {
			return Tuple{}, newError(CodeValidation, field+"."+f.name, "must not be empty")
		}
	}
	if len(t.Object) > MaxObjectBytes {
		return Tuple{}, newError(CodeValidation, field+".object", "longer than %d bytes", MaxObjectBytes)
	}
	if _, _, err := ParseObject(t.Object); err != nil {
		e := asError(err)
		e.Field = field + ".object"
		return Tuple{}, e
	}
	if len(t.Relation) > MaxRelationBytes || checkName(t.Relation) != nil {
		return Tuple{}, newError(CodeValidation, field+".relation", "must have 1 to %d bytes without ':', '#', '@', '*' or white space", MaxRelationBytes)
	}
	if len(t.User) > MaxUserBytes {
		return Tuple{}, newError(CodeValidation, field+".user", "longer than %d bytes", MaxUserBytes)
	}
	if _, _, _, err := ParseUser(t.User); err != nil {
		e := asError(err)
		e.Field = field + ".user"
		return Tuple{}, e
	}
	return t, nil
}

func conditionFrom(v any, field string) (*TupleCondition, error) {
	if v == nil {
		return nil, nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, newError(CodeValidation, field, "must be an object with name and context")
	}
	c := &TupleCondition{}
	for k, fv := range obj {
		switch k {
		case "name":
			s, ok := fv.(string)
			if !ok {
				return nil, newError(CodeValidation, field+".name", "must be a string")
			}
			c.Name = s
		case "context":
			if fv == nil {
				continue
			}
			m, ok := fv.(map[string]any)
			if !ok {
				return nil, newError(CodeValidation, field+".context", "must be an object")
			}
			if len(m) > 0 {
				c.Context = m
			}
		default:
			return nil, newError(CodeValidation, field+"."+quoteName(k), "unknown field")
		}
	}
	if c.Name == "" {
		return nil, newError(CodeValidation, field+".name", "must not be empty")
	}
	return c, nil
}
