package delegation

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/subzero-gateway/subzero/delegation/abac"
	"github.com/subzero-gateway/subzero/delegation/rebac"
	"github.com/subzero-gateway/subzero/delegation/rego"
	"github.com/subzero-gateway/subzero/store/bolt"
)

// model is the worked example of the package documentation.
const model = `model
  schema 1.1

type user
  relations
    define delegate: [agent, agent with only_tools]

type agent

type team
  relations
    define member: [user]

type tool
  relations
    define invoker: [user, team#member, agent]
    define can_invoke: invoker

condition only_tools(resource: string, tools: list<string>) {
  resource in tools
}
`

// tuple parses "object#relation@user".
func tuple(s string) rebac.Tuple {
	obj, rest, _ := strings.Cut(s, "#")
	rel, user, _ := strings.Cut(rest, "@")
	return rebac.Tuple{User: user, Relation: rel, Object: obj}
}

// onlyTools is a tuple under the model's only_tools condition.
func onlyTools(s string, tools ...string) rebac.Tuple {
	t := tuple(s)
	list := make([]any, len(tools))
	for i, s := range tools {
		list[i] = s
	}
	t.Condition = &rebac.TupleCondition{Name: "only_tools", Context: map[string]any{"tools": list}}
	return t
}

const (
	tool   = "tool:github.create_issue"
	other  = "tool:gmail.send"
	invoke = "can_invoke"
)

// base are the tuples of the package documentation's example.
var base = []string{
	"team:eng#member@user:anne",
	"team:eng#member@user:bob",
	tool + "#invoker@team:eng#member",
	tool + "#invoker@agent:copilot",
	"user:anne#delegate@agent:copilot",
}

// testRel is the ReBAC side of the tests: the real engine over a bbolt
// tuple store in a temporary directory, counting the checks it answers.
type testRel struct {
	*rebac.Engine
	checks atomic.Int64
}

// newRelations returns an engine with model m (none when m is "") and the
// tuples, each "object#relation@user".
func newRelations(t testing.TB, m string, tuples ...string) *testRel {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "subzero.db"), time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e, err := rebac.New(t.Context(), db.Tuples(), rebac.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	r := &testRel{Engine: e}
	if m != "" {
		if _, err := e.WriteModel(t.Context(), []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if len(tuples) > 0 {
		ts := make([]rebac.Tuple, len(tuples))
		for i, s := range tuples {
			ts[i] = tuple(s)
		}
		r.write(t, ts...)
	}
	return r
}

func (r *testRel) write(t testing.TB, ts ...rebac.Tuple) {
	t.Helper()
	if _, err := r.Write(t.Context(), ts, nil); err != nil {
		t.Fatal(err)
	}
}

func (r *testRel) delete(t testing.TB, ts ...rebac.Tuple) {
	t.Helper()
	if _, err := r.Write(t.Context(), nil, ts); err != nil {
		t.Fatal(err)
	}
}

func (r *testRel) Check(ctx context.Context, req rebac.CheckRequest) (rebac.CheckResult, error) {
	r.checks.Add(1)
	return r.Engine.Check(ctx, req)
}

func (r *testRel) Explain(ctx context.Context, req rebac.CheckRequest) (rebac.CheckResult, error) {
	r.checks.Add(1)
	return r.Engine.Explain(ctx, req)
}

// Rules of the ABAC engine the tests use: a deny the test can trigger
// through the subject attribute abac, and a deny after 18:00 UTC.
var abacRules = []abac.Rule{
	{Name: "abac-no", Effect: abac.Deny, When: `has(request.subject.attrs.abac) && request.subject.attrs.abac == "deny"`, Reason: "abac says no"},
	{Name: "abac-error", Effect: abac.Deny, When: `has(request.subject.attrs.abac) && request.subject.attrs.abac == "error" && request.subject.attrs.missing == "x"`},
	{Name: "after-hours", Effect: abac.Deny, When: `hour(request.time) >= 18`, Reason: "outside working hours"},
}

func newABAC(t testing.TB) *abac.Engine {
	t.Helper()
	cfg := abac.Default()
	cfg.Rules = abacRules
	e, err := abac.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

const policy = `package subzero.authz

default allow := false

allow if count(input.rebac.path) > 0

deny contains "rego says no" if input.subject.attrs.rego == "deny"

deny contains "bad number" if {
	input.subject.attrs.rego != "deny"
	to_number(input.subject.attrs.rego) > 0
}
`

// newRego starts a Rego engine over a temporary directory holding policy
// and returns it with the directory.
func newRego(t testing.TB, src string) (*rego.Engine, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "authz.rego"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := rego.Default()
	cfg.Dir = dir
	cfg.ReloadInterval = time.Hour // the tests reload explicitly
	cfg.Timeout = 10 * time.Second // a loaded machine must not fail them
	e, err := rego.New(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, dir
}

// noon is a fixed time within the working hours of abacRules.
var noon = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// newPoint builds a point over all three engines, with the clock at noon.
func newPoint(t testing.TB, cfg Config, rel Relations, attrs Attributes, pol Policies) *Point {
	t.Helper()
	p, err := New(cfg, rel, attrs, pol, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.now = func() time.Time { return noon }
	return p
}

func request(user string) Request {
	return Request{Subject: Subject{ID: user}, Action: invoke, Resource: tool}
}

func forAgent(user, agent string) Request {
	r := request(user)
	r.Agent = Agent{ID: agent, ClientID: "client-" + agent}
	return r
}

func TestDenyWins(t *testing.T) {
	rel := newRelations(t, model, base...)
	pol, _ := newRego(t, policy)
	p := newPoint(t, Default(), rel, newABAC(t), pol)
	for _, relOK := range []bool{true, false} {
		for _, abacOK := range []bool{true, false} {
			for _, regoOK := range []bool{true, false} {
				name := fmt.Sprintf("rebac=%v/abac=%v/rego=%v", relOK, abacOK, regoOK)
				t.Run(name, func(t *testing.T) {
					req := request("anne")
					if !relOK {
						req.Subject.ID = "carol" // in no team
					}
					req.Subject.Attrs = map[string]any{}
					if !abacOK {
						req.Subject.Attrs["abac"] = "deny"
					}
					if !regoOK {
						req.Subject.Attrs["rego"] = "deny"
					}
					want := Decision{Allowed: true, Reason: "allowed by rebac, abac, rego", Path: []string{
						"user:anne can_invoke " + tool, // Check reports no steps
					}}
					switch {
					case !relOK:
						want = Decision{Engine: EngineReBAC, Reason: "rebac: user:carol does not have can_invoke on " + tool, Rule: tool + "#can_invoke"}
					case !abacOK:
						want = Decision{Engine: EngineABAC, Reason: "abac: abac says no", Rule: "abac-no"}
					case !regoOK:
						want = Decision{Engine: EngineRego, Reason: "rego: rego says no", Rule: "rego says no"}
					}
					for i := range 2 {
						got, err := p.Decide(t.Context(), req)
						if err != nil {
							t.Fatalf("Decide: %v", err)
						}
						want.Cached = i == 1
						if diff := cmp.Diff(want, got); diff != "" {
							t.Errorf("Decide #%d (-want +got):\n%s", i, diff)
						}
					}
				})
			}
		}
	}
}

func TestAgentForUser(t *testing.T) {
	rel := newRelations(t, model, append(slices.Clone(base),
		"tool:gmail.send#invoker@user:anne",
		"tool:gmail.send#invoker@user:dave",
		"user:dave#delegate@agent:copilot",
		"user:anne#delegate@agent:mailer",
		"tool:gmail.send#invoker@agent:mailer",
	)...)
	rel.write(t, onlyTools("user:erin#delegate@agent:copilot", tool))
	rel.write(t, tuple(tool+"#invoker@user:erin"), tuple(other+"#invoker@user:erin"), tuple(other+"#invoker@agent:copilot"))
	p := newPoint(t, Default(), rel, nil, nil)

	onOther := func(r Request) Request { r.Resource = other; return r }
	tests := []struct {
		name     string
		req      Request
		allowed  bool
		rule     string
		inReason string
	}{
		{"user directly", request("anne"), true, "", ""},
		{"agent for the user who delegated", forAgent("anne", "copilot"), true, "", ""},
		// Confused deputy: Bob holds the permission, copilot holds the
		// tool and has Anne's delegation; Bob never delegated to copilot.
		{"confused deputy", forAgent("bob", "copilot"), false, "user:bob#delegate", "user:bob has not delegated to agent:copilot"},
		// Anne delegated to mailer, but mailer may not use this tool.
		{"agent lacks its own grant", forAgent("anne", "mailer"), false, tool + "#can_invoke", "agent:mailer does not have can_invoke"},
		// Dave delegated to copilot, which may use gmail for Anne, but
		// Dave's delegation does not extend Dave's own permissions.
		{"agent cannot exceed the user", forAgent("dave", "copilot"), false, tool + "#can_invoke", "user:dave does not have"},
		{"delegation scoped to the tool", forAgent("erin", "copilot"), true, "", ""},
		{"delegation scoped to another tool", onOther(forAgent("erin", "copilot")), false, "user:erin#delegate", "has not delegated"},
		{"unknown agent", forAgent("anne", "stranger"), false, "user:anne#delegate", "has not delegated to agent:stranger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Twice: the second answer comes from the cache, which must
			// keep different users' decisions apart.
			for i := range 2 {
				got, err := p.Decide(t.Context(), tt.req)
				if err != nil {
					t.Fatalf("Decide: %v", err)
				}
				if got.Allowed != tt.allowed || got.Rule != tt.rule || !strings.Contains(got.Reason, tt.inReason) || got.Cached != (i == 1) {
					t.Errorf("Decide #%d = %+v, want allowed %v, rule %q, reason containing %q", i, got, tt.allowed, tt.rule, tt.inReason)
				}
				if want := 1 + 2*btoi(tt.req.Agent.ID != ""); tt.allowed && len(got.Path) != want {
					t.Errorf("Path = %q, want %d paths", got.Path, want)
				}
			}
		})
	}

	// Revoking the delegation takes effect at once, cache or not.
	rel.delete(t, tuple("user:anne#delegate@agent:copilot"))
	got, err := p.Decide(t.Context(), forAgent("anne", "copilot"))
	if err != nil || got.Allowed || got.Cached {
		t.Errorf("after revoking the delegation: Decide = %+v, %v; want a fresh denial", got, err)
	}
}

func TestAgentPaths(t *testing.T) {
	p := newPoint(t, Default(), newRelations(t, model, base...), nil, nil)
	got, err := p.Explain(t.Context(), forAgent("anne", "copilot"))
	if err != nil {
		t.Fatal(err)
	}
	want := Decision{Allowed: true, Reason: "allowed by rebac", Path: []string{
		"user:anne can_invoke " + tool + " via " + tool + "#can_invoke > " + tool + "#invoker (computed) > team:eng#member > user:anne",
		"agent:copilot delegate user:anne via user:anne#delegate > agent:copilot",
		"agent:copilot can_invoke " + tool + " via " + tool + "#can_invoke > " + tool + "#invoker (computed) > agent:copilot",
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Explain (-want +got):\n%s", diff)
	}
}

func TestRelationNames(t *testing.T) {
	rel := newRelations(t, `model
  schema 1.1

type member
  relations
    define acts_for: [bot]

type bot

type tool
  relations
    define invoker: [member]
    define agent_use: [bot]
`,
		"tool:x#invoker@member:anne",
		"member:anne#acts_for@bot:b",
		"tool:x#agent_use@bot:b",
	)
	cfg := Default()
	cfg.ReBAC.UserType = "member"
	cfg.ReBAC.AgentType = "bot"
	cfg.ReBAC.DelegateRelation = "acts_for"
	cfg.ReBAC.AgentRelation = "agent_use"
	p := newPoint(t, cfg, rel, nil, nil)
	req := Request{Subject: Subject{ID: "anne"}, Agent: Agent{ID: "b"}, Action: "invoker", Resource: "tool:x"}
	if got, err := p.Decide(t.Context(), req); err != nil || !got.Allowed {
		t.Errorf("Decide = %+v, %v; want allowed", got, err)
	}
	req.Agent.ID = "c"
	if got, err := p.Decide(t.Context(), req); err != nil || got.Allowed || got.Rule != "member:anne#acts_for" {
		t.Errorf("Decide = %+v, %v; want denied by member:anne#acts_for", got, err)
	}
}

// fakeAttrs and fakePolicies are hand-written fakes for error injection
// and input capture.
type fakeAttrs struct {
	calls atomic.Int64
	eval  func(*abac.Request) (abac.Decision, error)
}

func (f *fakeAttrs) Evaluate(_ context.Context, r *abac.Request) (abac.Decision, error) {
	f.calls.Add(1)
	return f.eval(r)
}

type fakePolicies struct {
	calls atomic.Int64
	gen   atomic.Uint64
	eval  func(any) (rego.Decision, error)
}

func (f *fakePolicies) Evaluate(_ context.Context, in any) (rego.Decision, error) {
	f.calls.Add(1)
	return f.eval(in)
}

func (f *fakePolicies) Generation() uint64 { return f.gen.Load() }

func TestEngineErrorDenies(t *testing.T) {
	t.Run("rebac", func(t *testing.T) {
		rel := newRelations(t, "") // no model: every check fails
		p := newPoint(t, Default(), rel, nil, nil)
		for i := range 2 {
			d, err := p.Decide(t.Context(), request("anne"))
			var re *rebac.Error
			if d.Allowed || d.Engine != EngineReBAC || !errors.Is(err, ErrEngine) || !errors.As(err, &re) || re.Code != rebac.CodeNoModel {
				t.Errorf("Decide #%d = %+v, %v; want a rebac denial with the *rebac.Error", i, d, err)
			}
		}
		if n := rel.checks.Load(); n != 2 {
			t.Errorf("%d checks, want 2: errors must not be cached", n)
		}
	})
	t.Run("abac", func(t *testing.T) {
		pol, _ := newRego(t, policy)
		p := newPoint(t, Default(), newRelations(t, model, base...), newABAC(t), pol)
		req := request("anne")
		req.Subject.Attrs = map[string]any{"abac": "error"}
		for i := range 2 {
			d, err := p.Decide(t.Context(), req)
			if d.Allowed || d.Engine != EngineABAC || d.Rule != "abac-error" || d.Cached || !errors.Is(err, ErrEngine) || !errors.Is(err, abac.ErrEval) {
				t.Errorf("Decide #%d = %+v, %v; want an uncached abac denial with abac.ErrEval", i, d, err)
			}
		}
	})
	t.Run("rego", func(t *testing.T) {
		pol, _ := newRego(t, policy)
		p := newPoint(t, Default(), newRelations(t, model, base...), newABAC(t), pol)
		req := request("anne")
		req.Subject.Attrs = map[string]any{"rego": "not a number"}
		for i := range 2 {
			d, err := p.Decide(t.Context(), req)
			if d.Allowed || d.Engine != EngineRego || d.Cached || !errors.Is(err, ErrEngine) {
				t.Errorf("Decide #%d = %+v, %v; want an uncached rego denial", i, d, err)
			}
		}
	})
	t.Run("rego allows with an error", func(t *testing.T) {
		// An engine that (wrongly) allows while failing must still deny.
		pol := &fakePolicies{eval: func(any) (rego.Decision, error) {
			return rego.Decision{Allowed: true}, rego.ErrTimeout
		}}
		p := newPoint(t, Default(), newRelations(t, model, base...), nil, pol)
		d, err := p.Decide(t.Context(), request("anne"))
		if d.Allowed || !errors.Is(err, rego.ErrTimeout) {
			t.Errorf("Decide = %+v, %v; want denied with rego.ErrTimeout", d, err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		p := newPoint(t, Default(), newRelations(t, model, base...), newABAC(t), nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		d, err := p.Decide(ctx, request("anne"))
		if d.Allowed || !errors.Is(err, context.Canceled) {
			t.Errorf("Decide = %+v, %v; want denied with context.Canceled", d, err)
		}
	})
}

func TestCacheInvalidation(t *testing.T) {
	rel := newRelations(t, model, base...)
	pol, dir := newRego(t, policy)
	p := newPoint(t, Default(), rel, newABAC(t), pol)
	decide := func(want Decision) {
		t.Helper()
		got, err := p.Decide(t.Context(), request("carol"))
		if err != nil {
			t.Fatal(err)
		}
		got.Path = nil
		if got.Allowed != want.Allowed || got.Cached != want.Cached || got.Engine != want.Engine {
			t.Errorf("Decide = %+v, want allowed %v, cached %v, engine %q", got, want.Allowed, want.Cached, want.Engine)
		}
	}
	decide(Decision{Engine: EngineReBAC})
	decide(Decision{Engine: EngineReBAC, Cached: true})

	// A tuple write changes the ReBAC generation: the cached denial goes.
	rel.write(t, tuple(tool+"#invoker@user:carol"))
	decide(Decision{Allowed: true})
	decide(Decision{Allowed: true, Cached: true})

	// A policy reload changes the Rego generation.
	src := policy + "\ndeny contains \"no carol\" if input.subject.id == \"carol\"\n"
	if err := os.WriteFile(filepath.Join(dir, "authz.rego"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := pol.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	decide(Decision{Engine: EngineRego})
	decide(Decision{Engine: EngineRego, Cached: true})
}

func TestCacheTime(t *testing.T) {
	p := newPoint(t, Default(), newRelations(t, model, base...), newABAC(t), nil)
	at := func(clock string) Request {
		r := request("anne")
		tm, err := time.Parse(time.RFC3339Nano, clock)
		if err != nil {
			t.Fatal(err)
		}
		r.Time = tm
		return r
	}
	for _, tt := range []struct {
		clock           string
		allowed, cached bool
	}{
		{"2026-11-27T17:59:59.2Z", true, false},
		{"2026-11-27T17:59:59.9Z", true, true},   // same second
		{"2026-11-27T18:00:00.1Z", false, false}, // the rule's boundary: never reused across it
		{"2026-11-27T18:00:00.9Z", false, true},
		{"2026-11-27T18:59:59.5+01:00", true, true}, // 17:59:59.5 UTC, another zone
	} {
		got, err := p.Decide(t.Context(), at(tt.clock))
		if err != nil {
			t.Fatal(err)
		}
		if got.Allowed != tt.allowed || got.Cached != tt.cached {
			t.Errorf("Decide at %s = %+v, want allowed %v, cached %v", tt.clock, got, tt.allowed, tt.cached)
		}
	}

	// With the cache off the engines see the exact time.
	cfg := Default()
	cfg.Cache.Bytes = 0
	var seen time.Time
	attrs := &fakeAttrs{eval: func(r *abac.Request) (abac.Decision, error) {
		seen = r.Time
		return abac.Decision{Allowed: true}, nil
	}}
	p = newPoint(t, cfg, newRelations(t, model, base...), attrs, nil)
	exact := at("2026-11-27T17:59:59.25+01:00")
	if _, err := p.Decide(t.Context(), exact); err != nil {
		t.Fatal(err)
	}
	if !seen.Equal(exact.Time) || seen.Location() != time.UTC {
		t.Errorf("ABAC saw %v, want %v in UTC", seen, exact.Time)
	}
}

func TestCacheBounded(t *testing.T) {
	cfg := Default()
	cfg.Cache.Bytes = 8 << 10
	cfg.ReBAC.Enabled = false
	attrs := &fakeAttrs{eval: func(*abac.Request) (abac.Decision, error) { return abac.Decision{Allowed: true}, nil }}
	p := newPoint(t, cfg, nil, attrs, nil)
	for i := range 2000 {
		req := request(fmt.Sprintf("user%d", i))
		if _, err := p.Decide(t.Context(), req); err != nil {
			t.Fatal(err)
		}
	}
	p.cache.CleanUp()
	if w := p.cache.WeightedSize(); w > uint64(cfg.Cache.Bytes) {
		t.Errorf("cache weighs %d, more than its bound %d", w, cfg.Cache.Bytes)
	}
	if n := p.cache.EstimatedSize(); n == 0 || n > int(cfg.Cache.Bytes)/entryBytes {
		t.Errorf("cache holds %d entries, want between 1 and %d", n, int(cfg.Cache.Bytes)/entryBytes)
	}
}

func TestExplainUncached(t *testing.T) {
	rel := newRelations(t, model, base...)
	p := newPoint(t, Default(), rel, nil, nil)
	if _, err := p.Decide(t.Context(), request("anne")); err != nil {
		t.Fatal(err)
	}
	before := rel.checks.Load()
	for range 3 {
		d, err := p.Explain(t.Context(), request("anne"))
		if err != nil || !d.Allowed || d.Cached || len(d.Path) != 1 {
			t.Fatalf("Explain = %+v, %v; want an uncached allow with a path", d, err)
		}
	}
	if n := rel.checks.Load() - before; n != 3 {
		t.Errorf("Explain asked ReBAC %d times, want 3", n)
	}
	if d, _ := p.Decide(t.Context(), request("anne")); !d.Cached {
		t.Error("Explain disturbed the cache")
	}
}

func TestUncacheable(t *testing.T) {
	attrs := &fakeAttrs{eval: func(*abac.Request) (abac.Decision, error) { return abac.Decision{Allowed: true}, nil }}
	cfg := Default()
	cfg.ReBAC.Enabled = false
	p := newPoint(t, cfg, nil, attrs, nil)
	req := request("anne")
	req.Context = map[string]any{"x": struct{ A int }{1}}
	for range 2 {
		if d, err := p.Decide(t.Context(), req); err != nil || d.Cached || !d.Allowed {
			t.Errorf("Decide = %+v, %v; want an uncached allow", d, err)
		}
	}
	if n := attrs.calls.Load(); n != 2 {
		t.Errorf("%d evaluations, want 2", n)
	}
}

func TestCacheKey(t *testing.T) {
	cfg := Default()
	cfg.ReBAC.Enabled = false
	attrs := &fakeAttrs{}
	pol := &fakePolicies{}
	p := newPoint(t, cfg, nil, attrs, pol)
	full := func() Request {
		return Request{
			Subject:  Subject{ID: "anne", Attrs: map[string]any{"a": 1, "b": "x", "c": []any{true, nil, 1.5}}},
			Agent:    Agent{ID: "copilot", ClientID: "c1", Attrs: map[string]any{"n": int64(2)}},
			Action:   invoke,
			Resource: tool,
			Tool:     "github.create_issue",
			Scopes:   []string{"a", "b"},
			Risk:     Risk{Level: "low", Score: 0.5},
			SourceIP: netip.MustParseAddr("10.0.0.1"),
			Time:     noon,
			Context:  map[string]any{"k": map[string]any{"x": "y"}, "t": noon, "s": map[string]string{"p": "q"}},
			AtLeast:  "17",
		}
	}
	key := func(r Request) cacheKey {
		t.Helper()
		p.setTime(&r)
		if err := validate(&r); err != nil {
			t.Fatal(err)
		}
		k, ok := p.key(&r)
		if !ok {
			t.Fatal("request not cacheable")
		}
		return k
	}
	k0 := key(full())
	// The same request, maps filled in another order, has the same key.
	r := full()
	r.Subject.Attrs = map[string]any{"c": []any{true, nil, 1.5}, "b": "x", "a": 1}
	if key(r) != k0 {
		t.Error("map order changed the key")
	}
	changes := map[string]func(*Request){
		"subject.id":        func(r *Request) { r.Subject.ID = "bob" },
		"subject.attrs":     func(r *Request) { r.Subject.Attrs["a"] = 2 },
		"attr type":         func(r *Request) { r.Subject.Attrs["a"] = int64(1) },
		"attr float":        func(r *Request) { r.Subject.Attrs["a"] = 1.0 },
		"attr string":       func(r *Request) { r.Subject.Attrs["a"] = "1" },
		"attrs nil":         func(r *Request) { r.Subject.Attrs = nil },
		"attr moved":        func(r *Request) { delete(r.Subject.Attrs, "b"); r.Agent.Attrs["b"] = "x" },
		"nested list":       func(r *Request) { r.Subject.Attrs["c"] = []any{true, nil} },
		"agent.id":          func(r *Request) { r.Agent.ID = "other" },
		"agent.client_id":   func(r *Request) { r.Agent.ClientID = "c2" },
		"no agent":          func(r *Request) { r.Agent = Agent{} },
		"action":            func(r *Request) { r.Action = "can_read" },
		"resource":          func(r *Request) { r.Resource = other },
		"tool":              func(r *Request) { r.Tool = "" },
		"scopes":            func(r *Request) { r.Scopes = []string{"ab"} },
		"scopes order":      func(r *Request) { r.Scopes = []string{"b", "a"} },
		"scopes nil":        func(r *Request) { r.Scopes = nil },
		"risk.level":        func(r *Request) { r.Risk.Level = "high" },
		"risk.score":        func(r *Request) { r.Risk.Score = 0.51 },
		"source_ip":         func(r *Request) { r.SourceIP = netip.MustParseAddr("10.0.0.2") },
		"source_ip mapped":  func(r *Request) { r.SourceIP = netip.MustParseAddr("::ffff:10.0.0.1") },
		"source_ip unset":   func(r *Request) { r.SourceIP = netip.Addr{} },
		"time":              func(r *Request) { r.Time = noon.Add(time.Second) },
		"context":           func(r *Request) { r.Context["k"] = map[string]any{"x": "z"} },
		"context time zone": func(r *Request) { r.Context["t"] = noon.In(time.FixedZone("X", 3600)) },
		"context strings":   func(r *Request) { r.Context["s"] = map[string]string{"p": "r"} },
		"at_least":          func(r *Request) { r.AtLeast = "18" },
		"string boundary":   func(r *Request) { r.Subject.ID = "ann"; r.Agent.ID = "ecopilot" },
	}
	for name, change := range changes {
		r := full()
		change(&r)
		if key(r) == k0 {
			t.Errorf("%s: key unchanged", name)
		}
	}
	// The time within the TTL does not change the key; the generation does.
	r = full()
	r.Time = noon.Add(999 * time.Millisecond)
	if key(r) != k0 {
		t.Error("time within the TTL changed the key")
	}
	pol.gen.Add(1)
	if key(full()) == k0 {
		t.Error("policy generation did not change the key")
	}
}

func TestRegoInput(t *testing.T) {
	var got any
	pol := &fakePolicies{eval: func(in any) (rego.Decision, error) {
		got = in
		return rego.Decision{Allowed: true}, nil
	}}
	p := newPoint(t, Default(), newRelations(t, model, base...), nil, pol)
	req := forAgent("anne", "copilot")
	req.Subject.Attrs = map[string]any{"dept": "eng"}
	req.Tool = "github.create_issue"
	req.Scopes = []string{"issues:write"}
	req.Risk = Risk{Level: "low", Score: 0.25}
	req.SourceIP = netip.MustParseAddr("2001:db8::1")
	req.Time = time.Date(2026, 11, 27, 13, 4, 5, 600_000_000, time.FixedZone("CET", 3600))
	req.Context = map[string]any{"session": "s1"}
	if d, err := p.Decide(t.Context(), req); err != nil || !d.Allowed {
		t.Fatalf("Decide = %+v, %v", d, err)
	}
	want := map[string]any{
		"subject":   map[string]any{"id": "anne", "attrs": map[string]any{"dept": "eng"}},
		"agent":     map[string]any{"id": "copilot", "client_id": "client-copilot", "attrs": map[string]any{}},
		"action":    invoke,
		"resource":  tool,
		"tool":      "github.create_issue",
		"scopes":    []any{"issues:write"},
		"risk":      map[string]any{"level": "low", "score": 0.25},
		"source_ip": "2001:db8::1",
		"time":      "2026-11-27T12:04:05Z", // UTC, truncated to the cache TTL
		"context":   map[string]any{"session": "s1"},
		"rebac": map[string]any{"allowed": true, "path": []any{
			"user:anne can_invoke " + tool,
			"agent:copilot delegate user:anne",
			"agent:copilot can_invoke " + tool,
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Rego input (-want +got):\n%s", diff)
	}
}

func TestRegoReadsInput(t *testing.T) {
	// The real engine over the documented input: time, agent and paths.
	pol, _ := newRego(t, `package subzero.authz

default allow := false

allow if {
	time.parse_rfc3339_ns(input.time) >= time.parse_rfc3339_ns("2026-11-27T00:00:00Z")
	input.agent.id == "copilot"
	some p in input.rebac.path
	startswith(p, "agent:copilot delegate user:anne")
}
`)
	p := newPoint(t, Default(), newRelations(t, model, base...), nil, pol)
	if d, err := p.Decide(t.Context(), forAgent("anne", "copilot")); err != nil || !d.Allowed {
		t.Errorf("Decide = %+v, %v; want allowed", d, err)
	}
	if d, err := p.Decide(t.Context(), request("anne")); err != nil || d.Allowed || d.Engine != EngineRego {
		t.Errorf("Decide without agent = %+v, %v; want a rego denial", d, err)
	}
}

func TestInvalidRequest(t *testing.T) {
	rel := newRelations(t, model, base...)
	p := newPoint(t, Default(), rel, nil, nil)
	tests := map[string]func(*Request){
		"no subject":         func(r *Request) { r.Subject.ID = "" },
		"subject userset":    func(r *Request) { r.Subject.ID = "anne#delegate" },
		"subject wildcard":   func(r *Request) { r.Subject.ID = "*" },
		"subject space":      func(r *Request) { r.Subject.ID = "an ne" },
		"agent without id":   func(r *Request) { r.Agent = Agent{ClientID: "c"} },
		"agent userset":      func(r *Request) { r.Agent = Agent{ID: "x#member"} },
		"no action":          func(r *Request) { r.Action = "" },
		"action with colon":  func(r *Request) { r.Action = "a:b" },
		"resource no type":   func(r *Request) { r.Resource = "github" },
		"resource userset":   func(r *Request) { r.Resource = "tool:x#member" },
		"resource empty id":  func(r *Request) { r.Resource = "tool:" },
		"reserved subject":   func(r *Request) { r.Context = map[string]any{"subject": "user:root"} },
		"reserved resource":  func(r *Request) { r.Context = map[string]any{"resource": tool} },
		"reserved action":    func(r *Request) { r.Context = map[string]any{"action": invoke} },
		"long subject":       func(r *Request) { r.Subject.ID = strings.Repeat("a", maxID+1) },
		"agent attrs, no id": func(r *Request) { r.Agent = Agent{Attrs: map[string]any{"x": 1}} },
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			r := request("anne")
			change(&r)
			for _, f := range []func(context.Context, Request) (Decision, error){p.Decide, p.Explain} {
				d, err := f(t.Context(), r)
				if d.Allowed || !errors.Is(err, ErrInvalidRequest) || d.Reason == "" {
					t.Errorf("= %+v, %v; want denied with ErrInvalidRequest", d, err)
				}
			}
		})
	}
	if n := rel.checks.Load(); n != 0 {
		t.Errorf("%d checks for invalid requests, want 0", n)
	}
}

func TestNew(t *testing.T) {
	rel := newRelations(t, model, base...)
	var nilABAC *abac.Engine
	var nilRego *rego.Engine
	off := Default()
	off.ReBAC.Enabled = false
	badCache := Default()
	badCache.Cache.TTL = 7 * time.Second
	tests := []struct {
		name  string
		cfg   Config
		rel   Relations
		attrs Attributes
		pol   Policies
		want  string
	}{
		{"no engine", off, nil, nil, nil, "no engine configured"},
		{"rebac on without relations", Default(), nil, newABAC(t), nil, "no Relations"},
		{"rebac off with relations", off, rel, nil, nil, "rebac.enabled is false"},
		{"nil abac pointer", Default(), rel, nilABAC, nil, "attributes is a nil *abac.Engine"},
		{"nil rego pointer", Default(), rel, nil, nilRego, "policies is a nil *rego.Engine"},
		{"bad config", badCache, rel, nil, nil, "cache.ttl: must divide 24h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, tt.rel, tt.attrs, tt.pol, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := New(off, nil, newABAC(t), nil, nil); err != nil {
		t.Errorf("New with ABAC alone: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"default", func(*Config) {}, ""},
		{"cache off", func(c *Config) { c.Cache = CacheConfig{} }, ""},
		{"rebac off ignores names", func(c *Config) { c.ReBAC = ReBACConfig{} }, ""},
		{"empty user type", func(c *Config) { c.ReBAC.UserType = "" }, "rebac.user_type: must not be empty"},
		{"agent type with colon", func(c *Config) { c.ReBAC.AgentType = "a:b" }, "rebac.agent_type: must not contain"},
		{"same types", func(c *Config) { c.ReBAC.AgentType = "user" }, "rebac.agent_type: must differ"},
		{"delegate with hash", func(c *Config) { c.ReBAC.DelegateRelation = "a#b" }, "rebac.delegate_relation:"},
		{"agent relation with space", func(c *Config) { c.ReBAC.AgentRelation = "a b" }, "rebac.agent_relation:"},
		{"negative cache", func(c *Config) { c.Cache.Bytes = -1 }, "cache.bytes:"},
		{"zero ttl", func(c *Config) { c.Cache.TTL = 0 }, "cache.ttl: must be between"},
		{"long ttl", func(c *Config) { c.Cache.TTL = time.Hour }, "cache.ttl: must be between"},
		{"odd ttl", func(c *Config) { c.Cache.TTL = 7 * time.Second }, "cache.ttl: must divide 24h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mod(&c)
			before := c
			err := c.Validate()
			if before != c {
				t.Error("Validate mutated the config")
			}
			if tt.want == "" {
				if err != nil {
					t.Errorf("Validate: %v, want nil", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestConcurrent(t *testing.T) {
	rel := newRelations(t, model, base...)
	pol, _ := newRego(t, policy)
	p := newPoint(t, Default(), rel, newABAC(t), pol)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				user := []string{"anne", "bob", "carol"}[(g+i)%3]
				d, err := p.Decide(t.Context(), forAgent(user, "copilot"))
				if err != nil || d.Allowed != (user == "anne") {
					t.Errorf("Decide(%s) = %+v, %v", user, d, err)
					return
				}
				if i%50 == 0 { // move the generation under the readers
					w := []rebac.Tuple{tuple(fmt.Sprintf("%s#invoker@user:u%d-%d", other, g, i))}
					if _, err := rel.Write(t.Context(), w, nil); err != nil {
						t.Errorf("Write: %v", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestDocModel keeps the package documentation's example model the one the
// tests run.
func TestDocModel(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var doc strings.Builder
	in := false
	for line := range strings.Lines(string(src)) {
		body, ok := strings.CutPrefix(line, "//\t")
		switch {
		case ok && strings.HasPrefix(body, "model"):
			in = true
		case in && !ok && strings.TrimSpace(line) != "//":
			in = false
		}
		if in {
			if !ok {
				body = "\n"
			}
			doc.WriteString(body)
		}
	}
	if doc.Len() == 0 {
		t.Fatal("no model in doc.go")
	}
	if diff := cmp.Diff(strings.TrimSpace(model), strings.TrimSpace(doc.String())); diff != "" {
		t.Errorf("doc.go's model differs from the tests' (-tests +doc):\n%s", diff)
	}
}
