package rebac

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/openfga/language/pkg/go/transformer"
	"gopkg.in/yaml.v3"
)

const header = "model\n  schema 1.1\n"

// modelCmp compares models by their exported content.
var modelCmp = cmp.Options{
	cmpopts.IgnoreUnexported(Model{}, Type{}, Condition{}),
	cmpopts.EquateEmpty(),
}

func mustParse(t *testing.T, src string) *Model {
	t.Helper()
	m, err := ParseModel([]byte(src))
	if err != nil {
		t.Fatalf("ParseModel: %v\n%s", err, src)
	}
	return m
}

func TestParseModelRewrites(t *testing.T) {
	const types = "type user\ntype group\n  relations\n    define member: [user]\n"
	this := &Rewrite{Op: OpThis}
	comp := func(r string) *Rewrite { return &Rewrite{Op: OpComputed, Relation: r} }
	tests := []struct {
		name, def string
		want      *Relation
	}{
		{"direct", "[user]", &Relation{Rewrite: this, Direct: []DirectType{{Type: "user"}}}},
		{"direct kinds", "[user, user:*, group#member, user with c, group#member with $expression]", &Relation{
			Rewrite: this,
			Direct: []DirectType{
				{Type: "user"}, {Type: "user", Wildcard: true}, {Type: "group", Relation: "member"},
				{Type: "user", Condition: "c"}, {Type: "group", Relation: "member", Condition: InlineCondition},
			},
		}},
		{"computed", "owner", &Relation{Rewrite: comp("owner")}},
		{"ttu", "member from parent", &Relation{Rewrite: &Rewrite{Op: OpTTU, Tupleset: "parent", Relation: "member"}}},
		{"union", "[user] or owner or member from parent", &Relation{
			Rewrite: &Rewrite{Op: OpUnion, Children: []*Rewrite{this, comp("owner"), {Op: OpTTU, Tupleset: "parent", Relation: "member"}}},
			Direct:  []DirectType{{Type: "user"}},
		}},
		{"intersection", "[user] and owner", &Relation{
			Rewrite: &Rewrite{Op: OpIntersection, Children: []*Rewrite{this, comp("owner")}},
			Direct:  []DirectType{{Type: "user"}},
		}},
		{"exclusion", "owner but not blocked", &Relation{Rewrite: &Rewrite{Op: OpExclusion, Children: []*Rewrite{comp("owner"), comp("blocked")}}}},
		{"nested", "([user] or owner) but not (blocked and owner)", &Relation{
			Rewrite: &Rewrite{Op: OpExclusion, Children: []*Rewrite{
				{Op: OpUnion, Children: []*Rewrite{this, comp("owner")}},
				{Op: OpIntersection, Children: []*Rewrite{comp("blocked"), comp("owner")}},
			}},
			Direct: []DirectType{{Type: "user"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := header + types + "type doc\n  relations\n" +
				"    define owner: [user]\n    define blocked: [user]\n    define parent: [group]\n" +
				"    define r: " + tt.def + "\n" +
				"condition c(x: int) {\n  x < 1\n}\n"
			m := mustParse(t, src)
			got, err := m.Relation("doc", "r")
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Type, tt.want.Name = "doc", "r"
			if d := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("relation (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseModelShape(t *testing.T) {
	m := mustParse(t, header+"type user\ntype doc\n  relations\n    define viewer: [user]\n    define editor: [user]\n"+
		"type folder\n"+
		"condition c(x: int, s: map<string>, l: list<ipaddress>) {\n  x < 1\n}\n")
	if d := cmp.Diff([]string{"user", "doc", "folder"}, m.TypeNames); d != "" {
		t.Errorf("TypeNames (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"editor", "viewer"}, m.Types["doc"].RelationNames); d != "" {
		t.Errorf("RelationNames (-want +got):\n%s", d)
	}
	c := m.Conditions["c"]
	want := map[string]ParamType{"x": {Kind: ParamInt}, "s": {Kind: ParamMap, Elem: ParamString}, "l": {Kind: ParamList, Elem: ParamIPAddress}}
	if d := cmp.Diff(want, c.Params); d != "" {
		t.Errorf("Params (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"l", "s", "x"}, c.ParamNames); d != "" {
		t.Errorf("ParamNames (-want +got):\n%s", d)
	}
	if c.Expression != "x < 1" || m.ID != "" {
		t.Errorf("Expression = %q, ID = %q", c.Expression, m.ID)
	}
	if !strings.Contains(m.DSL, "define editor: [user]\n    define viewer: [user]") {
		t.Errorf("DSL is not canonical:\n%s", m.DSL)
	}
}

func TestParseModelErrors(t *testing.T) {
	const user = "type user\n"
	tests := []struct {
		name  string
		src   string
		code  ErrorCode
		field string // the error's Field
		msg   string // a substring of the message
	}{
		{"empty", "  \n", CodeValidation, "", "empty"},
		{"syntax", header + user + "type doc\n  relations\n    define a: [user] or\n", CodeValidation, "line 6, column 24", "expecting"},
		{"duplicate relation", header + user + "type doc\n  relations\n    define a: [user]\n    define a: [user]\n", CodeValidation, "line 7, column 12", "'a' is already defined"},
		{"duplicate type", header + user + "type doc\n" + user, CodeValidation, "line 5, type user", "defined twice"},
		{"too deep", header + user + "type doc\n  relations\n    define a: [user]\n    define b: " + strings.Repeat("(a or ", 20) + "a" + strings.Repeat(")", 20) + "\n", CodeValidation, "line 7, type doc, relation b", "nested more than 16 deep"},
		{"too deep json", `{"schema_version":"1.1","type_definitions":[{"type":"user","relations":{"a":` + strings.Repeat(`{"union":{"child":[`, 40) + `{"this":{}}` + strings.Repeat(`]}}`, 40) + `}}]}`, CodeValidation, "type user, relation a", "nested more than 16 deep"},
		{"too many terms", header + user + "type doc\n  relations\n    define a: [user]\n    define b: a" + strings.Repeat(" or a", 130) + "\n", CodeValidation, "line 7, type doc, relation b", "more than 128 terms"},
		{"schema 1.0", "model\n  schema 1.0\n" + user, CodeValidation, "schema", "not supported"},
		{"undefined type", header + user + "type doc\n  relations\n    define a: [team]\n", CodeTypeNotFound, "line 6, type doc, relation a", "type team is not defined"},
		{"undefined userset relation", header + user + "type doc\n  relations\n    define a: [user#friend]\n", CodeRelationNotFound, "line 6, type doc, relation a", "relation friend is not defined on type user"},
		{"undefined computed", header + user + "type doc\n  relations\n    define v: [user]\n    define a: owner\n", CodeRelationNotFound, "line 7, type doc, relation a", "relation owner is not defined on type doc"},
		{"undefined tupleset", header + user + "type doc\n  relations\n    define a: viewer from parent\n", CodeRelationNotFound, "line 6, type doc, relation a", "tupleset relation parent"},
		{"ttu relation on no type", header + user + "type doc\n  relations\n    define parent: [user]\n    define a: viewer from parent\n", CodeRelationNotFound, "line 7, type doc, relation a", "relation viewer is not defined on any type of parent (user)"},
		{"tupleset not direct", header + user + "type doc\n  relations\n    define o: [user]\n    define parent: [doc] or o\n    define a: o from parent\n", CodeValidation, "line 8, type doc, relation a", "must be defined by direct assignment alone"},
		{"tupleset wildcard", header + user + "type doc\n  relations\n    define o: [user]\n    define parent: [doc, doc:*]\n    define a: o from parent\n", CodeValidation, "line 7, type doc, relation parent", "may only allow plain types"},
		{"tupleset userset", header + user + "type doc\n  relations\n    define o: [user]\n    define parent: [doc#o]\n    define a: o from parent\n", CodeValidation, "line 7, type doc, relation parent", "may only allow plain types"},
		{"self", header + user + "type doc\n  relations\n    define a: [user] or a\n", CodeValidation, "line 6, type doc, relation a", "defined as itself"},
		{"no entry point", header + user + "type doc\n  relations\n    define a: b\n    define b: a\n", CodeValidation, "line 6, type doc, relation a", "can never be satisfied"},
		{"intersection loop", header + user + "type doc\n  relations\n    define a: [user] and b\n    define b: [user] and a\n", CodeValidation, "line 6, type doc, relation a", "can never be satisfied"},
		{"exclusion loop", header + user + "type doc\n  relations\n    define a: [user] but not b\n    define b: a but not a2\n    define a2: [user]\n", CodeValidation, "line 6, type doc, relation a", "can never be satisfied"},
		{"ttu loop", header + user + "type doc\n  relations\n    define parent: [doc]\n    define a: a from parent\n", CodeValidation, "line 7, type doc, relation a", "can never be satisfied"},
		{"union cycle", header + user + "type doc\n  relations\n    define a: [user] or b\n    define b: [user] or a\n", CodeValidation, "line 6, type doc, relation a", "cycle through computed relations"},
		{"undefined condition", header + user + "type doc\n  relations\n    define a: [user with c]\n", CodeValidation, "line 6, type doc, relation a", "condition c is not defined"},
		{"condition not bool", header + user + "type doc\n  relations\n    define a: [user with c]\ncondition c(x: int) {\n  x + 1\n}\n", CodeValidation, "line 7, condition c", "must have type bool, not int"},
		{"condition undeclared", header + user + "type doc\n  relations\n    define a: [user with c]\ncondition c(x: int) {\n  y < 1\n}\n", CodeValidation, "line 7, condition c", "undeclared reference to 'y'"},
		{"condition bad cidr", header + user + "type doc\n  relations\n    define a: [user with c]\ncondition c(x: ipaddress) {\n  x.in_cidr(\"10.0.0.0/99\")\n}\n", CodeValidation, "line 7, condition c", "not a CIDR prefix"},
		{"condition too long", header + user + "type doc\n  relations\n    define a: [user with c]\ncondition c(x: int) {\n  " + strings.Repeat("x < 1 && ", 60) + "true\n}\n", CodeValidation, "line 7, condition c", "longer than 512 bytes"},
		{"condition type bytes", header + user + "type doc\n  relations\n    define a: [user with c]\ncondition c(x: bytes) {\n  true\n}\n", CodeValidation, "line 7, column 16", "mismatched input 'bytes'"},
		{"json unknown field", `{"schema_version":"1.1","type_definitions":[{"type":"user"}],"extra":1}`, CodeValidation, "", `unknown field "extra"`},
		{"json bad type name", `{"schema_version":"1.1","type_definitions":[{"type":"us er"}]}`, CodeValidation, `type "us er"`, "white space"},
		{"json no restrictions", `{"schema_version":"1.1","type_definitions":[{"type":"user","relations":{"a":{"this":{}}}}]}`, CodeValidation, "type user, relation a", "lists no type restrictions"},
		{"json restrictions without this", `{"schema_version":"1.1","type_definitions":[{"type":"user","relations":{"a":{"this":{}},"b":{"computed_userset":{"relation":"a"}}},"metadata":{"relations":{"a":{"directly_related_user_types":[{"type":"user"}]},"b":{"directly_related_user_types":[{"type":"user"}]}}}}]}`, CodeValidation, "type user, relation b", "not directly assignable but lists type restrictions"},
		{"json empty rewrite", `{"schema_version":"1.1","type_definitions":[{"type":"user","relations":{"a":{}}}]}`, CodeValidation, "type user, relation a", "no definition"},
		{"json reserved", `{"schema_version":"1.1","type_definitions":[{"type":"self"}]}`, CodeValidation, "type self", "reserved"},
		{"json any parameter", `{"schema_version":"1.1","type_definitions":[{"type":"user"}],"conditions":{"c":{"name":"c","expression":"x == 1","parameters":{"x":{"type_name":"TYPE_NAME_ANY"}}}}}`, CodeValidation, "condition c, parameter x", "type any"},
		{"json condition key", `{"schema_version":"1.1","type_definitions":[{"type":"user"}],"conditions":{"c":{"name":"d","expression":"true"}}}`, CodeValidation, "condition c", "named"},
		{"json $expression condition", `{"schema_version":"1.1","type_definitions":[{"type":"user"}],"conditions":{"$expression":{"name":"$expression","expression":"true"}}}`, CodeValidation, "condition $expression", "reserved"},
		{"too large", header + strings.Repeat("#", MaxModelBytes), CodeValidation, "", "larger than"},
		{"not utf-8", header + "type \xff\n", CodeValidation, "", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseModel([]byte(tt.src))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ParseModel = %v, %v; want *Error", m, err)
			}
			if e.Code != tt.code || e.Field != tt.field || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got code %d field %q msg %q\nwant code %d field %q msg containing %q", e.Code, e.Field, e.Msg, tt.code, tt.field, tt.msg)
			}
		})
	}
}

func TestParseModelTooMany(t *testing.T) {
	var b strings.Builder
	b.WriteString(header)
	for i := range MaxTypes + 1 {
		b.WriteString("type t" + strconv.Itoa(i) + "\n")
	}
	_, err := ParseModel([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "at most 256 are allowed") {
		t.Errorf("ParseModel with %d types = %v; want a limit error", MaxTypes+1, err)
	}
}

func TestErrorFormat(t *testing.T) {
	cause := errors.New("cause")
	e := &Error{Code: CodeValidation, Field: "tuples[1].user", Msg: "must not be empty", Err: cause}
	if got, want := e.Error(), "rebac: tuples[1].user: must not be empty"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, cause) {
		t.Error("errors.Is(e, cause) = false")
	}
	if got, want := (&Error{Msg: "x"}).Error(), "rebac: x"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// DSL and the JSON the OpenFGA language package makes of it (camelCase
// field names, unlike the snake_case of Model.JSON) parse to equal models.
func TestParseModelDSLAndJSONEqual(t *testing.T) {
	for _, src := range append(sampleModels(), conformanceModels(t)...) {
		fromDSL := mustParse(t, src)
		js, err := transformer.TransformDSLToJSON(src)
		if err != nil {
			t.Fatal(err)
		}
		fromJSON := mustParse(t, js)
		if d := cmp.Diff(fromDSL, fromJSON, modelCmp); d != "" {
			t.Errorf("DSL and JSON models differ (-dsl +json):\n%s\n%s", d, src)
		}
		again := mustParse(t, string(fromDSL.JSON))
		if d := cmp.Diff(fromDSL, again, modelCmp); d != "" {
			t.Errorf("model and its canonical JSON differ (-model +json):\n%s", d)
		}
		fromCanonical := mustParse(t, fromDSL.DSL)
		if d := cmp.Diff(fromDSL, fromCanonical, modelCmp); d != "" {
			t.Errorf("model and its canonical DSL differ (-model +dsl):\n%s", d)
		}
	}
}

func TestLoadModel(t *testing.T) {
	m := mustParse(t, sampleModels()[0])
	got, err := LoadModel("01HZ", m.JSON)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "01HZ" {
		t.Errorf("ID = %q", got.ID)
	}
	got.ID = ""
	if d := cmp.Diff(m, got, modelCmp); d != "" {
		t.Errorf("loaded model differs (-want +got):\n%s", d)
	}
	for name, tc := range map[string]struct {
		id   string
		data string
	}{
		"dsl":     {"a", m.DSL},
		"no id":   {"", string(m.JSON)},
		"long id": {strings.Repeat("a", 65), string(m.JSON)},
	} {
		if _, err := LoadModel(tc.id, []byte(tc.data)); err == nil {
			t.Errorf("%s: LoadModel succeeded", name)
		}
	}
}

func TestModelRelation(t *testing.T) {
	m := mustParse(t, sampleModels()[0])
	if r, err := m.Relation("document", "viewer"); err != nil || r.Name != "viewer" || r.Type != "document" {
		t.Errorf("Relation = %+v, %v", r, err)
	}
	for _, tc := range []struct {
		typ, rel string
		code     ErrorCode
	}{{"folderx", "viewer", CodeTypeNotFound}, {"document", "nope", CodeRelationNotFound}} {
		_, err := m.Relation(tc.typ, tc.rel)
		var e *Error
		if !errors.As(err, &e) || e.Code != tc.code {
			t.Errorf("Relation(%q, %q) = %v; want code %d", tc.typ, tc.rel, err, tc.code)
		}
	}
}

// Every model of the OpenFGA conformance suite parses.
func TestConformanceModelsParse(t *testing.T) {
	ms := conformanceModels(t)
	if len(ms) < 190 {
		t.Fatalf("found %d conformance models; want the suite's 198", len(ms))
	}
	for _, src := range ms {
		if _, err := ParseModel([]byte(src)); err != nil {
			t.Errorf("%v\n%s", err, src)
		}
	}
}

func sampleModels() []string {
	return []string{
		header + `type user
type group
  relations
    define member: [user, group#member]
type folder
  relations
    define owner: [user]
    define viewer: [user, user:*, group#member] or owner
type document
  relations
    define parent: [folder]
    define owner: [user]
    define blocked: [user]
    define editor: ([user with in_office] and owner) but not blocked
    define viewer: [user, user:* with before, group#member with $expression] or editor or viewer from parent

condition in_office(ip: ipaddress, nets: list<string>) {
  ip.in_cidr("10.0.0.0/8") && nets.size() > 0
}

condition before(now: timestamp, limit: duration, m: map<int>) {
  now < timestamp("2030-01-01T00:00:00Z") && limit > duration("1m") && m.size() >= 0
}
`,
		header + "type user\n",
	}
}

// conformanceDir is where the OpenFGA conformance suite is read from:
// testdata/conformance when the engine's tests copied it there, else the
// shared checkout.
func conformanceDir(t *testing.T) string {
	for _, d := range []string{"testdata/conformance", "../../../shared/rebac-conformance"} {
		if ms, _ := filepath.Glob(filepath.Join(d, "*.yaml")); len(ms) > 0 {
			return d
		}
	}
	t.Fatal("the OpenFGA conformance suite is in neither testdata/conformance nor ../../../shared/rebac-conformance; copy it from shared/rebac-conformance")
	return ""
}

func conformanceModels(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(conformanceDir(t), "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var suite struct {
			Tests []struct {
				Stages []struct {
					Model string `yaml:"model"`
				} `yaml:"stages"`
			} `yaml:"tests"`
		}
		if err := yaml.Unmarshal(b, &suite); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range suite.Tests {
			for _, s := range tc.Stages {
				out = append(out, s.Model)
			}
		}
	}
	return out
}
