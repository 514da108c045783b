package rebac

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tup parses "user relation object".
func tup(s string) Tuple {
	f := strings.Fields(s)
	if len(f) != 3 {
		panic("tup: want user relation object: " + s)
	}
	return Tuple{User: f[0], Relation: f[1], Object: f[2]}
}

func tups(ss ...string) []Tuple {
	out := make([]Tuple, len(ss))
	for i, s := range ss {
		out[i] = tup(s)
	}
	return out
}

// newTestEngine returns an engine on a fresh bolt store holding model and
// tuples.
func newTestEngine(t testing.TB, opts Options, model string, tuples ...Tuple) *Engine {
	t.Helper()
	ctx := context.Background()
	e, err := New(ctx, openBoltTuples(t), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if _, err := e.WriteModel(ctx, []byte(model)); err != nil {
		t.Fatal(err)
	}
	if len(tuples) > 0 {
		if _, err := e.Write(ctx, tuples, nil); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// wantCode checks err against a code, 0 meaning no error.
func wantCode(t *testing.T, err error, code ErrorCode) {
	t.Helper()
	var e *Error
	switch {
	case code == 0 && err != nil:
		t.Fatalf("error %v, want none", err)
	case code == 0:
	case !errors.As(err, &e):
		t.Fatalf("error %v, want *Error with code %d", err, code)
	case e.Code != code:
		t.Fatalf("error code %d (%v), want %d", e.Code, err, code)
	}
}

const docModel = `model
  schema 1.1
type user
type group
  relations
    define member: [user, user:*, group#member]
type folder
  relations
    define viewer: [user, group#member]
    define owner: [user]
type document
  relations
    define parent: [folder]
    define owner: [user]
    define editor: [user, group#member] or owner
    define viewer: [user, user:*, group#member] or editor or viewer from parent
    define blocked: [user, group#member]
    define allowed: [user]
    define restricted_view: viewer but not blocked
    define both: viewer and allowed
    define owner_from_parent: owner from parent
`

func TestCheckRewrites(t *testing.T) {
	e := newTestEngine(t, Options{}, docModel, tups(
		"user:anne owner document:1",
		"user:bob editor document:1",
		"group:eng#member viewer document:1",
		"user:carl member group:eng",
		"group:core#member member group:eng",
		"user:dana member group:core",
		"folder:f parent document:1",
		"user:erin viewer folder:f",
		"user:fred owner folder:f",
		"user:*  viewer document:public",
		"user:bob blocked document:1",
		"group:core#member blocked document:1",
		"user:anne allowed document:1",
		"user:gina allowed document:1",
	)...)
	tests := []struct {
		user, rel, obj string
		want           bool
	}{
		{"user:anne", "owner", "document:1", true},  // this
		{"user:anne", "editor", "document:1", true}, // computed
		{"user:anne", "viewer", "document:1", true}, // computed of computed
		{"user:bob", "viewer", "document:1", true},  // union
		{"user:carl", "viewer", "document:1", true}, // userset
		{"user:dana", "viewer", "document:1", true}, // nested usersets
		{"user:erin", "viewer", "document:1", true}, // tuple to userset
		{"user:fred", "owner_from_parent", "document:1", true},
		{"user:erin", "owner_from_parent", "document:1", false},
		{"user:zed", "viewer", "document:public", true}, // wildcard
		{"user:zed", "viewer", "document:1", false},
		{"user:anne", "restricted_view", "document:1", true}, // exclusion
		{"user:bob", "restricted_view", "document:1", false},
		{"user:dana", "restricted_view", "document:1", false}, // subtracted through a userset
		{"user:carl", "restricted_view", "document:1", true},
		{"user:gina", "restricted_view", "document:1", false}, // base missing
		{"user:anne", "both", "document:1", true},             // intersection
		{"user:gina", "both", "document:1", false},
		{"user:carl", "both", "document:1", false},
		{"group:eng#member", "viewer", "document:1", true}, // userset as the user
		{"group:core#member", "viewer", "document:1", true},
		{"group:eng#member", "member", "group:eng", true}, // self-defining
		{"user:anne", "viewer", "document:unknown", false},
		{"user:*", "viewer", "document:public", true},
		{"user:*", "viewer", "document:1", false},
	}
	for _, tt := range tests {
		t.Run(tt.user+" "+tt.rel+" "+tt.obj, func(t *testing.T) {
			got, err := e.Check(t.Context(), CheckRequest{User: tt.user, Relation: tt.rel, Object: tt.obj})
			if err != nil {
				t.Fatal(err)
			}
			if got.Allowed != tt.want {
				t.Errorf("allowed %v, want %v", got.Allowed, tt.want)
			}
			if got.Revision == "" {
				t.Error("no revision token")
			}
		})
	}
}

func TestCheckValidation(t *testing.T) {
	e := newTestEngine(t, Options{}, docModel)
	tests := []struct {
		name           string
		user, rel, obj string
		ctx            []Tuple
		want           ErrorCode
	}{
		{"unknown object type", "user:anne", "viewer", "file:1", nil, CodeValidation},
		{"unknown relation", "user:anne", "reader", "document:1", nil, CodeValidation},
		{"unknown user type", "robot:r", "viewer", "document:1", nil, CodeValidation},
		{"unknown userset relation", "group:eng#boss", "viewer", "document:1", nil, CodeValidation},
		{"malformed user", "a:b:c", "viewer", "document:1", nil, CodeValidation},
		{"malformed object", "user:anne", "viewer", "document", nil, CodeValidation},
		{"wildcard object", "user:anne", "viewer", "document:*", nil, CodeValidation},
		{"contextual tuple of an unknown type", "user:anne", "viewer", "document:1", tups("user:anne viewer file:1"), CodeInvalidTuple},
		{"contextual tuple not allowed", "user:anne", "viewer", "document:1", tups("user:* owner document:1"), CodeInvalidTuple},
		{"contextual wildcard on a tupleset", "user:anne", "viewer", "document:1", tups("folder:* parent document:1"), CodeInvalidTuple},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Check(t.Context(), CheckRequest{User: tt.user, Relation: tt.rel, Object: tt.obj, ContextualTuples: tt.ctx})
			wantCode(t, err, tt.want)
		})
	}
}

func TestCheckNoModel(t *testing.T) {
	e, err := New(t.Context(), openBoltTuples(t), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Check(t.Context(), CheckRequest{User: "user:a", Relation: "r", Object: "t:1"})
	wantCode(t, err, CodeNoModel)
	_, err = e.Write(t.Context(), tups("user:a r t:1"), nil)
	wantCode(t, err, CodeNoModel)
	_, err = e.Model()
	wantCode(t, err, CodeNoModel)
}

const officeModel = `model
  schema 1.1
type user
type group
  relations
    define member: [user with in_office]
type document
  relations
    define viewer: [user with in_office, group#member] or editor
    define editor: [user]
    define blocked: [user with in_office]
    define safe_view: viewer but not blocked
condition in_office(ip: ipaddress, cidr: string) {
  ip.in_cidr(cidr)
}
`

func TestCheckConditions(t *testing.T) {
	office := &TupleCondition{Name: "in_office", Context: map[string]any{"cidr": "10.0.0.0/8"}}
	e := newTestEngine(t, Options{}, officeModel,
		Tuple{User: "user:anne", Relation: "viewer", Object: "document:1", Condition: office},
		Tuple{User: "user:bob", Relation: "member", Object: "group:eng", Condition: office},
		Tuple{User: "group:eng#member", Relation: "viewer", Object: "document:1"},
		Tuple{User: "user:carl", Relation: "editor", Object: "document:1"},
		Tuple{User: "user:carl", Relation: "viewer", Object: "document:1", Condition: office},
		Tuple{User: "user:carl", Relation: "blocked", Object: "document:1", Condition: office},
	)
	inside := map[string]any{"ip": "10.1.2.3"}
	outside := map[string]any{"ip": "192.168.0.1"}
	tests := []struct {
		name     string
		user     string
		rel      string
		ctx      map[string]any
		want     bool
		wantCode ErrorCode
	}{
		{"condition true", "user:anne", "viewer", inside, true, 0},
		{"condition false", "user:anne", "viewer", outside, false, 0},
		{"missing parameter is an error, not an allow", "user:anne", "viewer", nil, false, CodeValidation},
		{"through a userset", "user:bob", "viewer", inside, true, 0},
		{"through a userset, missing", "user:bob", "viewer", nil, false, CodeValidation},
		{"another branch decides the union", "user:carl", "viewer", nil, true, 0},
		{"subtracted side missing its parameter", "user:carl", "safe_view", nil, false, CodeValidation},
		{"subtracted side true", "user:carl", "safe_view", inside, false, 0},
		{"subtracted side false", "user:carl", "safe_view", outside, true, 0},
		{"base false decides the exclusion", "user:zed", "safe_view", nil, false, 0},
		{"wrong parameter type", "user:anne", "viewer", map[string]any{"ip": 7}, false, CodeValidation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.Check(t.Context(), CheckRequest{User: tt.user, Relation: tt.rel, Object: "document:1", Context: tt.ctx})
			wantCode(t, err, tt.wantCode)
			if err == nil && got.Allowed != tt.want {
				t.Errorf("allowed %v, want %v", got.Allowed, tt.want)
			}
		})
	}
}

func TestCheckContextualTuples(t *testing.T) {
	e := newTestEngine(t, Options{}, docModel, tups("folder:f parent document:1")...)
	ctx := t.Context()
	tests := []struct {
		name string
		user string
		obj  string
		ctxT []Tuple
		want bool
	}{
		{"none", "user:anne", "document:1", nil, false},
		{"direct", "user:anne", "document:1", tups("user:anne viewer document:1"), true},
		{"on a new object", "user:anne", "document:new", tups("user:anne owner document:new"), true},
		{"through a stored parent", "user:anne", "document:1", tups("user:anne viewer folder:f"), true},
		{"through a contextual parent", "user:anne", "document:2", tups("folder:g parent document:2", "user:anne viewer folder:g"), true},
		{"through a new group", "user:anne", "document:1", tups("group:x#member editor document:1", "user:anne member group:x"), true},
		{"another user's", "user:bob", "document:1", tups("user:anne viewer document:1"), false},
		{"duplicates", "user:anne", "document:1", tups("user:anne viewer document:1", "user:anne viewer document:1"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.Check(ctx, CheckRequest{User: tt.user, Relation: "viewer", Object: tt.obj, ContextualTuples: tt.ctxT})
			if err != nil {
				t.Fatal(err)
			}
			if got.Allowed != tt.want {
				t.Errorf("allowed %v, want %v", got.Allowed, tt.want)
			}
		})
	}
	// Contextual tuples are not stored.
	got, err := e.Check(ctx, CheckRequest{User: "user:anne", Relation: "viewer", Object: "document:1"})
	if err != nil || got.Allowed {
		t.Errorf("after contextual checks: %v, %v; want false", got.Allowed, err)
	}
}

func TestCheckCycles(t *testing.T) {
	const model = `model
  schema 1.1
type user
type document
  relations
    define editor: [user, document#viewer]
    define viewer: [user, document#editor] or editor
    define restricted: [user, document#viewer]
    define limited: [user] but not restricted
`
	e := newTestEngine(t, Options{}, model, tups(
		"document:1#viewer editor document:1",
		"document:1#editor viewer document:1",
		"document:2#viewer editor document:2",
		"document:2#editor viewer document:2",
		"user:anne viewer document:2",
		"user:anne limited document:3",
		"document:3#viewer restricted document:3",
	)...)
	tests := []struct {
		user, rel, obj string
		want           bool
	}{
		{"user:anne", "viewer", "document:1", false}, // a cycle is not an allow
		{"user:anne", "editor", "document:1", false},
		{"user:anne", "viewer", "document:2", true}, // but a way out of it is
		{"user:anne", "editor", "document:2", true},
		{"user:anne", "limited", "document:3", true},
	}
	for _, tt := range tests {
		t.Run(tt.user+" "+tt.rel+" "+tt.obj, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			got, err := e.Check(ctx, CheckRequest{User: tt.user, Relation: tt.rel, Object: tt.obj})
			if err != nil {
				t.Fatal(err)
			}
			if got.Allowed != tt.want {
				t.Errorf("allowed %v, want %v", got.Allowed, tt.want)
			}
		})
	}
}

// chainModel has relations r1..rN, each a userset of the previous.
func chainModel(n int) string {
	var b strings.Builder
	b.WriteString("model\n  schema 1.1\ntype user\ntype res\n  relations\n    define r1: [user]\n")
	for i := 2; i <= n; i++ {
		fmt.Fprintf(&b, "    define r%d: [res#r%d]\n", i, i-1)
	}
	return b.String()
}

func chainTuples(n int) []Tuple {
	ts := tups("user:maria r1 res:1")
	for i := 2; i <= n; i++ {
		ts = append(ts, tup(fmt.Sprintf("res:1#r%d r%d res:1", i-1, i)))
	}
	return ts
}

func TestCheckDepthLimit(t *testing.T) {
	tests := []struct {
		chain, maxDepth int
		want            ErrorCode
	}{
		{24, 0, 0},
		{25, 0, 0},
		{26, 0, CodeTooComplex},
		{30, 0, CodeTooComplex},
		{9, 9, 0},
		{10, 9, CodeTooComplex},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("chain %d depth %d", tt.chain, tt.maxDepth), func(t *testing.T) {
			e := newTestEngine(t, Options{MaxDepth: tt.maxDepth}, chainModel(tt.chain), chainTuples(tt.chain)...)
			got, err := e.Check(t.Context(), CheckRequest{User: "user:maria", Relation: fmt.Sprintf("r%d", tt.chain), Object: "res:1"})
			wantCode(t, err, tt.want)
			if err == nil && !got.Allowed {
				t.Error("not allowed")
			}
		})
	}
}

func TestCheckFanOut(t *testing.T) {
	const model = `model
  schema 1.1
type user
type group
  relations
    define member: [user]
type document
  relations
    define viewer: [user, group#member]
`
	var ts []Tuple
	for i := range 12 {
		ts = append(ts, tup(fmt.Sprintf("group:g%02d#member viewer document:1", i)))
	}
	ts = append(ts, tup("user:anne member group:g00")) // groups are expanded last first
	tests := []struct {
		fan  int
		want ErrorCode
	}{
		{0, 0},               // default 1000
		{12, 0},              // exactly enough
		{11, CodeTooComplex}, // anne is in the 12th group expanded
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.fan), func(t *testing.T) {
			e := newTestEngine(t, Options{MaxFanOut: tt.fan}, model, ts...)
			got, err := e.Check(t.Context(), CheckRequest{User: "user:anne", Relation: "viewer", Object: "document:1"})
			wantCode(t, err, tt.want)
			if err == nil && !got.Allowed {
				t.Error("not allowed")
			}
		})
	}
}

func TestCheckCancelled(t *testing.T) {
	// A wide and deep graph: 8 levels of 40 groups, each group of a
	// level a member of every group of the next: 40^8 paths to the
	// bottom, which the memo of sub-results walks in 320 steps.
	const model = `model
  schema 1.1
type user
type group
  relations
    define member: [user, group#member]
`
	var ts []Tuple
	for l := 0; l < 8; l++ {
		for i := range 40 {
			for j := range 40 {
				ts = append(ts, tup(fmt.Sprintf("group:l%d_%d#member member group:l%d_%d", l+1, j, l, i)))
			}
		}
	}
	e := newTestEngine(t, Options{MaxFanOut: 100}, model)
	for i := 0; i < len(ts); i += 1000 {
		if _, err := e.Write(t.Context(), ts[i:min(i+1000, len(ts))], nil); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	got, err := e.Check(t.Context(), CheckRequest{User: "user:nobody", Relation: "member", Object: "group:l0_0"})
	if err != nil || got.Allowed {
		t.Fatalf("check: %v, %v; want false", got.Allowed, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("check took %s", d)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = e.Check(ctx, CheckRequest{User: "user:nobody", Relation: "member", Object: "group:l0_0"})
	if !errors.Is(err, context.Canceled) {
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeTooComplex {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	}
}

func TestExplain(t *testing.T) {
	e := newTestEngine(t, Options{}, docModel, tups(
		"folder:f parent document:1",
		"group:eng#member viewer folder:f",
		"user:anne member group:eng",
		"user:bob owner document:1",
	)...)
	tests := []struct {
		user string
		want []string
	}{
		{"user:anne", []string{"document:1#viewer", "folder:f#viewer (from parent)", "group:eng#member", "user:anne"}},
		{"user:bob", []string{"document:1#viewer", "document:1#editor (computed)", "document:1#owner (computed)", "user:bob"}},
		{"user:carl", nil},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			got, err := e.Explain(t.Context(), CheckRequest{User: tt.user, Relation: "viewer", Object: "document:1"})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.Path); diff != "" {
				t.Errorf("path (-want +got):\n%s", diff)
			}
			if got.Allowed != (tt.want != nil) {
				t.Errorf("allowed %v", got.Allowed)
			}
		})
	}
}

func TestCheckAllocs(t *testing.T) {
	e := newTestEngine(t, Options{}, benchModel, tups(
		"user:o admin org:acme",
		"user:anne member org:acme",
		"org:acme org team:core",
		"user:bob member team:core",
		"org:acme org repo:r",
		"team:core team repo:r",
		"team:core#member reader repo:r",
	)...)
	ctx := context.Background()
	for _, user := range []string{"user:anne", "user:bob", "user:nobody"} {
		req := CheckRequest{User: user, Relation: "reader", Object: "repo:r"}
		if _, err := e.Check(ctx, req); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { e.Check(ctx, req) }); n != 0 {
			t.Errorf("%s: %v allocations per check, want 0", user, n)
		}
	}
}

func TestBatchCheck(t *testing.T) {
	e := newTestEngine(t, Options{MaxBatch: 4}, docModel, tups("user:anne owner document:1")...)
	ctx := t.Context()
	reqs := []CheckRequest{
		{User: "user:anne", Relation: "viewer", Object: "document:1"},
		{User: "user:bob", Relation: "viewer", Object: "document:1"},
		{User: "user:anne", Relation: "nope", Object: "document:1"},
		{User: "user:anne", Relation: "viewer", Object: "document:1"},
	}
	res, errs, err := e.BatchCheck(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range reqs {
		got = append(got, fmt.Sprintf("%v %v", res[i].Allowed, errs[i] != nil))
	}
	if diff := cmp.Diff([]string{"true false", "false false", "false true", "true false"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	_, _, err = e.BatchCheck(ctx, append(reqs, reqs[0]))
	wantCode(t, err, CodeValidation)
	_, _, err = e.BatchCheck(ctx, []CheckRequest{{User: "user:anne", Relation: "viewer", Object: "document:1", AtLeast: "junk"}})
	wantCode(t, err, CodeValidation)
}

func TestFastParseMatchesParse(t *testing.T) {
	inputs := []string{
		"user:anne", "user:*", "group:eng#member", "a:b:c", "user:", ":anne", "user", "user:an ne",
		"self:x", "this:x", "user:a@b", "user:a*b", "us*er:a", "us@er:a", "user:a\tb", "group:eng#",
		"group:*#member", "group:eng#mem ber", "group:eng#a#b", "grüp:eng", "user:änne", "user:a\x7f",
		"group:eng#" + strings.Repeat("r", 51), strings.Repeat("t", 255) + ":x", "user:#", "user:a:b",
		"group:eng#*", "group:eng#mem:ber", "document:1", "document:*", "x:y", "user:a\u2028",
	}
	for _, s := range inputs {
		typ, id, ok := fastObject(s)
		wtyp, wid, err := ParseObject(s)
		if ok && (err != nil || typ != wtyp || id != wid) {
			t.Errorf("fastObject(%q) = %q, %q, ok; ParseObject: %q, %q, %v", s, typ, id, wtyp, wid, err)
		}
		utyp, uid, urel, ok := fastUser(s)
		wutyp, wuid, wurel, err := ParseUser(s)
		if ok && (err != nil || utyp != wutyp || uid != wuid || urel != wurel) {
			t.Errorf("fastUser(%q) = %q, %q, %q, ok; ParseUser: %q, %q, %q, %v", s, utyp, uid, urel, wutyp, wuid, wurel, err)
		}
	}
}
