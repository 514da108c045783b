package rebac

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const tupleModel = header + `type user
type employee
type group
  relations
    define member: [user, group#member]
    define owner: [user]
type folder
  relations
    define viewer: [user]
type document
  relations
    define parent: [folder]
    define viewer: [user, user:*, group#member] or owner
    define owner: [user]
    define computed: owner
    define cond: [user with is_ok, user with in_range, user:* with is_ok]
    define optional: [user, user with is_ok]
    define facet: [user, user:* with is_ok, group with is_ok, group#member]
    define inline: [user with $expression]
    define from_parent: viewer from parent

condition is_ok(ok: bool) {
  ok
}

condition in_range(x: int, ip: ipaddress) {
  x < 10 && ip.in_cidr("10.0.0.0/8")
}
`

func TestValidateTuple(t *testing.T) {
	m := mustParse(t, tupleModel)
	tc := func(name string, ctx map[string]any) *TupleCondition {
		return &TupleCondition{Name: name, Context: ctx}
	}
	tests := []struct {
		name    string
		tuple   Tuple
		code    ErrorCode // 0: valid
		inner   ErrorCode // the code of the wrapped *Error, when the outer is 2027 for an undefined name
		field   string
		msg     string
		notAllo bool // wraps ErrConditionNotAllowed
	}{
		{name: "direct", tuple: Tuple{User: "user:anne", Relation: "viewer", Object: "document:1"}},
		{name: "wildcard allowed", tuple: Tuple{User: "user:*", Relation: "viewer", Object: "document:1"}},
		{name: "userset allowed", tuple: Tuple{User: "group:eng#member", Relation: "viewer", Object: "document:1"}},
		{name: "undefined object type", tuple: Tuple{User: "user:anne", Relation: "viewer", Object: "folderx:1"}, code: CodeInvalidTuple, inner: CodeTypeNotFound, field: "object", msg: "type folderx is not defined"},
		{name: "undefined relation", tuple: Tuple{User: "user:anne", Relation: "writer", Object: "document:1"}, code: CodeInvalidTuple, inner: CodeRelationNotFound, field: "relation", msg: "relation writer is not defined on type document"},
		{name: "undefined user type", tuple: Tuple{User: "robot:1", Relation: "viewer", Object: "document:1"}, code: CodeInvalidTuple, inner: CodeTypeNotFound, field: "user", msg: "type robot is not defined"},
		{name: "undefined userset relation", tuple: Tuple{User: "group:eng#undefined", Relation: "viewer", Object: "document:1"}, code: CodeInvalidTuple, inner: CodeRelationNotFound, field: "user", msg: "relation undefined is not defined on type group"},
		{name: "user type not allowed", tuple: Tuple{User: "employee:bob", Relation: "viewer", Object: "document:1"}, code: CodeInvalidTuple, field: "user", msg: "type employee is not allowed: document#viewer allows [user, user:*, group#member]"},
		{name: "userset not allowed", tuple: Tuple{User: "group:eng#owner", Relation: "viewer", Object: "document:1"}, code: CodeInvalidTuple, field: "user", msg: "userset group#owner is not allowed"},
		{name: "plain group not allowed", tuple: Tuple{User: "group:eng", Relation: "viewer", Object: "document:1"}, code: CodeInvalidTuple, field: "user", msg: "type group is not allowed"},
		{name: "wildcard not allowed", tuple: Tuple{User: "user:*", Relation: "owner", Object: "document:1"}, code: CodeInvalidTuple, field: "user", msg: "wildcard user:* is not allowed: document#owner allows [user]"},
		{name: "computed relation", tuple: Tuple{User: "user:anne", Relation: "computed", Object: "document:1"}, code: CodeInvalidTuple, field: "user", msg: "cannot be assigned directly"},
		{name: "ttu relation", tuple: Tuple{User: "user:anne", Relation: "from_parent", Object: "document:1"}, code: CodeInvalidTuple, field: "user", msg: "cannot be assigned directly"},
		{name: "tupleset object", tuple: Tuple{User: "folder:x", Relation: "parent", Object: "document:1"}},
		{name: "tupleset wildcard", tuple: Tuple{User: "folder:*", Relation: "parent", Object: "document:1"}, code: CodeInvalidTuple, field: "user", msg: "tupleset relation"},
		{name: "tupleset userset", tuple: Tuple{User: "folder:x#viewer", Relation: "parent", Object: "document:1"}, code: CodeInvalidTuple, field: "user", msg: "tupleset relation"},
		{name: "object wildcard", tuple: Tuple{User: "user:anne", Relation: "viewer", Object: "document:*"}, code: CodeInvalidTuple, field: "object", msg: "cannot be the wildcard"},
		{name: "userset wildcard", tuple: Tuple{User: "group:*#member", Relation: "viewer", Object: "document:1"}, code: CodeInvalidTuple, field: "user", msg: "wildcard id"},
		{name: "object malformed", tuple: Tuple{User: "user:anne", Relation: "viewer", Object: "document"}, code: CodeInvalidTuple, field: "object", msg: "not of the form type:id"},
		{name: "object empty id", tuple: Tuple{User: "user:anne", Relation: "viewer", Object: "document:"}, code: CodeInvalidTuple, field: "object", msg: "id is empty"},
		{name: "object with hash", tuple: Tuple{User: "user:anne", Relation: "viewer", Object: "document:1#viewer"}, code: CodeInvalidTuple, field: "object", msg: "must not contain"},
		{name: "object too long", tuple: Tuple{User: "user:anne", Relation: "viewer", Object: "document:" + strings.Repeat("x", 250)}, code: CodeInvalidTuple, field: "object", msg: "longer than 256 bytes"},
		{name: "user too long", tuple: Tuple{User: "user:" + strings.Repeat("x", 510), Relation: "viewer", Object: "document:1"}, code: CodeInvalidTuple, field: "user", msg: "longer than 512 bytes"},
		{name: "relation too long", tuple: Tuple{User: "user:anne", Relation: strings.Repeat("r", 51), Object: "document:1"}, code: CodeInvalidTuple, field: "relation"},
		{name: "relation empty", tuple: Tuple{User: "user:anne", Object: "document:1"}, code: CodeInvalidTuple, field: "relation"},
		{name: "user malformed", tuple: Tuple{User: "anne", Relation: "viewer", Object: "document:1"}, code: CodeInvalidTuple, field: "user", msg: "not of the form type:id"},
		{name: "user with space", tuple: Tuple{User: "user:an ne", Relation: "viewer", Object: "document:1"}, code: CodeInvalidTuple, field: "user"},

		{name: "condition ok", tuple: Tuple{User: "user:anne", Relation: "cond", Object: "document:1", Condition: tc("is_ok", nil)}},
		{name: "condition with context", tuple: Tuple{User: "user:anne", Relation: "cond", Object: "document:1", Condition: tc("in_range", map[string]any{"x": 3.0})}},
		{name: "condition missing", tuple: Tuple{User: "user:anne", Relation: "cond", Object: "document:1"}, code: CodeValidation, field: "condition", msg: "condition is missing: document#cond allows this user only with is_ok or in_range"},
		{name: "condition optional, absent", tuple: Tuple{User: "user:anne", Relation: "optional", Object: "document:1"}},
		{name: "condition optional, present", tuple: Tuple{User: "user:anne", Relation: "optional", Object: "document:1", Condition: tc("is_ok", nil)}},
		{name: "condition extra", tuple: Tuple{User: "user:anne", Relation: "viewer", Object: "document:1", Condition: tc("is_ok", nil)}, code: CodeValidation, field: "condition", msg: "condition is_ok is not allowed", notAllo: true},
		{name: "condition wrong", tuple: Tuple{User: "user:anne", Relation: "optional", Object: "document:1", Condition: tc("in_range", nil)}, code: CodeValidation, field: "condition", msg: "condition in_range is not allowed", notAllo: true},
		{name: "condition undefined", tuple: Tuple{User: "user:anne", Relation: "cond", Object: "document:1", Condition: tc("nope", nil)}, code: CodeValidation, field: "condition", msg: "condition nope is not defined"},
		{name: "condition of the wildcard facet", tuple: Tuple{User: "user:*", Relation: "cond", Object: "document:1", Condition: tc("in_range", nil)}, code: CodeValidation, field: "condition", msg: "not allowed", notAllo: true},
		{name: "facet: user borrows wildcard's condition", tuple: Tuple{User: "user:alice", Relation: "facet", Object: "document:1", Condition: tc("is_ok", nil)}, code: CodeValidation, field: "condition", msg: "not allowed", notAllo: true},
		{name: "facet: userset borrows group's condition", tuple: Tuple{User: "group:eng#member", Relation: "facet", Object: "document:1", Condition: tc("is_ok", nil)}, code: CodeValidation, field: "condition", msg: "not allowed", notAllo: true},
		{name: "facet: wildcard needs its condition", tuple: Tuple{User: "user:*", Relation: "facet", Object: "document:1"}, code: CodeValidation, field: "condition", msg: "condition is missing"},
		{name: "facet: group with condition", tuple: Tuple{User: "group:eng", Relation: "facet", Object: "document:1", Condition: tc("is_ok", nil)}},
		{name: "context key not a parameter", tuple: Tuple{User: "user:anne", Relation: "cond", Object: "document:1", Condition: tc("is_ok", map[string]any{"nope": true})}, code: CodeValidation, field: "condition", msg: "context key nope is not a parameter of condition is_ok"},
		{name: "context wrong type", tuple: Tuple{User: "user:anne", Relation: "cond", Object: "document:1", Condition: tc("in_range", map[string]any{"x": secret})}, code: CodeValidation, field: "condition", msg: "parameter x: expected int, got a string"},
		{name: "context bad ip", tuple: Tuple{User: "user:anne", Relation: "cond", Object: "document:1", Condition: tc("in_range", map[string]any{"ip": secret})}, code: CodeValidation, field: "condition", msg: "parameter ip: expected an IP address"},
		{name: "context too large", tuple: Tuple{User: "user:anne", Relation: "cond", Object: "document:1", Condition: tc("is_ok", map[string]any{"ok": strings.Repeat("x", 5000)})}, code: CodeValidation, field: "condition", msg: "longer than 4096 bytes"},
		{name: "inline ok", tuple: Tuple{User: "user:anne", Relation: "inline", Object: "document:1", Condition: tc(InlineCondition, map[string]any{"expression": "env == 'prod'"})}},
		{name: "inline bad", tuple: Tuple{User: "user:anne", Relation: "inline", Object: "document:1", Condition: tc(InlineCondition, map[string]any{"expression": "env =="})}, code: CodeValidation, field: "condition", msg: "Syntax error"},
		{name: "inline missing", tuple: Tuple{User: "user:anne", Relation: "inline", Object: "document:1"}, code: CodeValidation, field: "condition", msg: "condition is missing"},
		{name: "inline not allowed", tuple: Tuple{User: "user:anne", Relation: "cond", Object: "document:1", Condition: tc(InlineCondition, map[string]any{"expression": "true"})}, code: CodeValidation, field: "condition", msg: "not allowed", notAllo: true},
		{name: "empty condition name", tuple: Tuple{User: "user:anne", Relation: "cond", Object: "document:1", Condition: tc("", nil)}, code: CodeValidation, field: "condition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.ValidateTuple(tt.tuple)
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("ValidateTuple(%v) = %v", tt.tuple, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ValidateTuple(%v) = %v; want *Error", tt.tuple, err)
			}
			if e.Code != tt.code || e.Field != tt.field || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got code %d field %q msg %q\nwant code %d field %q msg containing %q", e.Code, e.Field, e.Msg, tt.code, tt.field, tt.msg)
			}
			if tt.inner != 0 {
				var inner *Error
				if !errors.As(e.Err, &inner) || inner.Code != tt.inner {
					t.Errorf("wrapped error = %v; want code %d", e.Err, tt.inner)
				}
			}
			if errors.Is(err, ErrConditionNotAllowed) != tt.notAllo {
				t.Errorf("errors.Is(err, ErrConditionNotAllowed) = %v", !tt.notAllo)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error quotes a context value: %v", err)
			}
		})
	}
}

func TestParseObjectAndUser(t *testing.T) {
	for _, tc := range []struct{ in, typ, id string }{
		{"document:1", "document", "1"},
		{"document:a/b|c@d.e+f-g_h", "document", "a/b|c@d.e+f-g_h"},
		{"document:x*y", "document", "x*y"},
	} {
		typ, id, err := ParseObject(tc.in)
		if err != nil || typ != tc.typ || id != tc.id {
			t.Errorf("ParseObject(%q) = %q, %q, %v", tc.in, typ, id, err)
		}
	}
	for _, in := range []string{"", "document", ":1", "document:", "document:*", "doc ument:1", "document:1:2", "document:1#r", "*:1", "self:1"} {
		if _, _, err := ParseObject(in); err == nil {
			t.Errorf("ParseObject(%q) succeeded", in)
		} else if e := err.(*Error); e.Field != "object" || e.Code != CodeValidation {
			t.Errorf("ParseObject(%q) = %v", in, err)
		}
	}
	for _, tc := range []struct{ in, typ, id, rel string }{
		{"user:anne", "user", "anne", ""},
		{"user:*", "user", "*", ""},
		{"group:eng#member", "group", "eng", "member"},
	} {
		typ, id, rel, err := ParseUser(tc.in)
		if err != nil || typ != tc.typ || id != tc.id || rel != tc.rel {
			t.Errorf("ParseUser(%q) = %q, %q, %q, %v", tc.in, typ, id, rel, err)
		}
	}
	for _, in := range []string{"", "anne", "user:", "group:*#member", "group:eng#", "group:eng#a#b", "group:eng#a:b", "*", "user:an ne"} {
		if _, _, _, err := ParseUser(in); err == nil {
			t.Errorf("ParseUser(%q) succeeded", in)
		} else if e := err.(*Error); e.Field != "user" || e.Code != CodeValidation {
			t.Errorf("ParseUser(%q) = %v", in, err)
		}
	}
}

func TestTupleString(t *testing.T) {
	tu := Tuple{User: "user:anne", Relation: "viewer", Object: "document:1"}
	if got, want := tu.String(), "user:anne viewer document:1"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	tu.Condition = &TupleCondition{Name: "in_office", Context: map[string]any{"ip": secret}}
	if got, want := tu.String(), "user:anne viewer document:1 with in_office"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestEncodeDecodeCondition(t *testing.T) {
	for _, c := range []*TupleCondition{
		nil,
		{Name: "c"},
		{Name: "c", Context: map[string]any{"b": 1.5, "a": "x", "l": []any{true, nil}, "m": map[string]any{"z": "y"}}},
	} {
		b, err := EncodeCondition(c)
		if err != nil {
			t.Fatal(err)
		}
		if (c == nil) != (b == nil) {
			t.Errorf("EncodeCondition(%v) = %q", c, b)
		}
		got, err := DecodeCondition(b)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(c, got); d != "" {
			t.Errorf("round trip (-want +got):\n%s", d)
		}
	}
	b, _ := EncodeCondition(&TupleCondition{Name: "c", Context: map[string]any{"b": 1.0, "a": 2.0}})
	if got, want := string(b), `{"name":"c","context":{"a":2,"b":1}}`; got != want {
		t.Errorf("EncodeCondition = %s, want %s", got, want)
	}
	for _, in := range []string{`{"name":""}`, `{"name":"c","extra":1}`, `{"name":"c"} {}`, `[1]`, `{"name":"c","context":[]}`} {
		if c, err := DecodeCondition([]byte(in)); err == nil {
			t.Errorf("DecodeCondition(%s) = %v; want an error", in, c)
		}
	}
	if _, err := EncodeCondition(&TupleCondition{}); err == nil {
		t.Error("EncodeCondition with an empty name succeeded")
	}
}

func TestParseTuples(t *testing.T) {
	anne := Tuple{User: "user:anne", Relation: "viewer", Object: "document:1"}
	withCond := Tuple{User: "user:bob", Relation: "cond", Object: "document:2", Condition: &TupleCondition{Name: "in_range", Context: map[string]any{"x": 3.0, "ip": "10.0.0.1"}}}
	tests := []struct {
		name string
		in   string
		want []Tuple
	}{
		{"yaml list", "- user: user:anne\n  relation: viewer\n  object: document:1\n- user: user:bob\n  relation: cond\n  object: document:2\n  condition:\n    name: in_range\n    context:\n      x: 3\n      ip: 10.0.0.1\n", []Tuple{anne, withCond}},
		{"yaml store file", "name: store\nmodel: |\n  model\n    schema 1.1\ntuples:\n  - user: user:anne\n    relation: viewer\n    object: document:1\ntests: []\n", []Tuple{anne}},
		{"json list", `[{"user":"user:anne","relation":"viewer","object":"document:1"},{"object":"document:2","relation":"cond","user":"user:bob","condition":{"name":"in_range","context":{"x":3,"ip":"10.0.0.1"}}}]`, []Tuple{anne, withCond}},
		{"json tuples", `{"tuples":[{"user":"user:anne","relation":"viewer","object":"document:1"}]}`, []Tuple{anne}},
		{"json tuple_keys", ` {"tuple_keys":[{"user":"user:anne","relation":"viewer","object":"document:1"}]}`, []Tuple{anne}},
		{"empty list", "[]", []Tuple{}},
		{"yaml timestamp stays a string", "- user: user:anne\n  relation: viewer\n  object: document:1\n  condition:\n    name: c\n    context:\n      ts: 2023-10-11T09:00:00Z\n", []Tuple{{User: "user:anne", Relation: "viewer", Object: "document:1", Condition: &TupleCondition{Name: "c", Context: map[string]any{"ts": "2023-10-11T09:00:00Z"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTuples([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("ParseTuples (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseTuplesErrors(t *testing.T) {
	tests := []struct {
		name, in, field, msg string
	}{
		{"empty", " ", "", "empty"},
		{"scalar", "hello", "", "must hold a list"},
		{"unknown field", "- user: user:anne\n  relation: viewer\n  object: document:1\n  extra: 1\n", "tuples[0].extra", "unknown field"},
		{"unknown top-level", `{"tuples":[],"extra":1}`, "extra", "unknown field"},
		{"both lists", `{"tuples":[],"tuple_keys":[]}`, "", "both"},
		{"no list", `{"name":"x"}`, "", "no tuples"},
		{"empty user", `[{"user":"user:a","relation":"r","object":"d:1"},{"user":"","relation":"r","object":"d:1"}]`, "tuples[1].user", "must not be empty"},
		{"missing object", `[{"user":"user:a","relation":"r"}]`, "tuples[0].object", "must not be empty"},
		{"not a string", `[{"user":1,"relation":"r","object":"d:1"}]`, "tuples[0].user", "must be a string"},
		{"bad object", `{"tuple_keys":[{"user":"user:a","relation":"r","object":"d"}]}`, "tuple_keys[0].object", "type:id"},
		{"bad user", `[{"user":"group:*#member","relation":"r","object":"d:1"}]`, "tuples[0].user", "wildcard"},
		{"bad relation", `[{"user":"user:a","relation":"r r","object":"d:1"}]`, "tuples[0].relation", "white space"},
		{"not an object", `[1]`, "tuples[0]", "must be an object"},
		{"condition without name", `[{"user":"user:a","relation":"r","object":"d:1","condition":{"context":{}}}]`, "tuples[0].condition.name", "must not be empty"},
		{"condition unknown field", `[{"user":"user:a","relation":"r","object":"d:1","condition":{"name":"c","ctx":{}}}]`, "tuples[0].condition.ctx", "unknown field"},
		{"context not an object", `[{"user":"user:a","relation":"r","object":"d:1","condition":{"name":"c","context":[1]}}]`, "tuples[0].condition.context", "must be an object"},
		{"yaml alias", "- &a {user: user:a, relation: r, object: d:1}\n- *a\n", "", "aliases"},
		{"yaml repeated key", "- user: user:a\n  user: user:b\n  relation: r\n  object: d:1\n", "", "line 2: key user is repeated"},
		{"yaml nan", "- user: user:a\n  relation: r\n  object: d:1\n  condition: {name: c, context: {x: .nan}}\n", "", "JSON cannot represent"},
		{"bad yaml", "- user: [\n", "", "not valid YAML"},
		{"bad json", `[{"user":}]`, "", "not valid JSON"},
		{"trailing json", `[] []`, "", "after the first JSON value"},
		{"yaml non-string key", "- user: user:a\n  relation: r\n  object: d:1\n  condition:\n    name: c\n    context:\n      1: x\n", "", "line 7: mapping keys must be strings"},
		{"too large", "[" + strings.Repeat(" ", MaxTuplesFileBytes) + "]", "", "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTuples([]byte(tt.in))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ParseTuples = %v, %v; want *Error", got, err)
			}
			if e.Code != CodeValidation || e.Field != tt.field || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got code %d field %q msg %q\nwant field %q msg containing %q", e.Code, e.Field, e.Msg, tt.field, tt.msg)
			}
		})
	}
}

func TestParseTuplesTooMany(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	for i := range MaxTuplesFileTuples + 1 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"user":"user:a","relation":"r","object":"d:1"}`)
	}
	b.WriteString("]")
	_, err := ParseTuples([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "more than 100000 tuples") {
		t.Errorf("ParseTuples = %v; want a limit error", err)
	}
}
