package broker

import (
	"context"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/delegation"
	"github.com/subzero-gateway/subzero/delegation/rebac"
	"github.com/subzero-gateway/subzero/mcp"
	"github.com/subzero-gateway/subzero/store/bolt"
)

// countingAuthz counts the decisions asked of the node's decision point.
type countingAuthz struct {
	*Authz
	decides atomic.Int64
}

func (c *countingAuthz) Decide(ctx context.Context, req delegation.Request) (delegation.Decision, error) {
	c.decides.Add(1)
	return c.Authz.Decide(ctx, req)
}

// fixedAuthn authenticates every request as the principal in ctx.
type fixedAuthn struct{}

type principalKey struct{}

func (fixedAuthn) authenticate(ctx context.Context) (*principal, error) {
	return ctx.Value(principalKey{}).(*principal), nil
}

// Lists are kept per caller, server and items, and dropped by a change of
// the authorization state or of the time period.
func TestMCPVisibilityKept(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "subzero.db"), time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	engine, err := rebac.New(t.Context(), db.Tuples(), rebac.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	cfg := delegation.Default()
	cfg.Cache.TTL = time.Minute
	point, err := delegation.New(cfg, engine, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &Authz{engine: engine, point: point}
	if _, err := engine.WriteModel(t.Context(), []byte(`model
  schema 1.1
type agent
type user
  relations
    define delegate: [agent]
type tool
  relations
    define can_invoke: [user, agent]
`)); err != nil {
		t.Fatal(err)
	}
	grants := []rebac.Tuple{
		{User: "user:anne", Relation: "can_invoke", Object: "tool:t1"},
		{User: "user:anne", Relation: "can_invoke", Object: "tool:t2"},
		{User: "user:bert", Relation: "can_invoke", Object: "tool:t2"},
		{User: "agent:app", Relation: "delegate", Object: "user:anne"},
		{User: "agent:app", Relation: "can_invoke", Object: "tool:t1"},
	}
	if _, err := engine.Write(t.Context(), grants, nil); err != nil {
		t.Fatal(err)
	}
	authz := &countingAuthz{Authz: a}
	v := newMCPVisibility(&pipeline{authn: fixedAuthn{}, authz: authz,
		policy: pipelinePolicy{actions: map[string]string{mcp.MethodToolsCall: "can_invoke"}}})
	clock := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	v.now = func() time.Time { return clock }

	items := []mcp.Item{
		{Kind: "tool", Name: "up__t1", Upstream: "up", Object: "tool:t1"},
		{Kind: "tool", Name: "up__t2", Upstream: "up", Object: "tool:t2"},
		{Kind: "tool", Name: "up__t3", Upstream: "up", Object: "tool:t3"},
	}
	anne := &principal{subject: "anne", client: "anne", scopes: []string{"mcp"}}
	anneApp := &principal{subject: "anne", client: "app", scopes: []string{"mcp"}}
	bert := &principal{subject: "bert", client: "bert", scopes: []string{"mcp"}}
	list := func(who *principal, server string, items []mcp.Item, want []bool, decides int64) {
		t.Helper()
		before := authz.decides.Load()
		got, err := v.Visible(context.WithValue(t.Context(), principalKey{}, who), server, slices.Clone(items))
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Visible(%s/%s, %s) = %v, %v; want %v", who.subject, who.client, server, got, err, want)
		}
		if d := authz.decides.Load() - before; d != decides {
			t.Errorf("Visible(%s/%s, %s) asked %d decisions, want %d", who.subject, who.client, server, d, decides)
		}
	}

	list(anne, "", items, []bool{true, true, false}, 3)
	list(anne, "", items, []bool{true, true, false}, 0) // kept
	// Other callers, the same user through an agent, another server,
	// other items: none shares anne's list.
	list(bert, "", items, []bool{false, true, false}, 3)
	list(anneApp, "", items, []bool{true, false, false}, 3)
	list(anne, "vs", items, []bool{true, true, false}, 3)
	list(anne, "", items[1:], []bool{true, false}, 2)
	list(anne, "", items, []bool{true, true, false}, 0)
	list(bert, "", items, []bool{false, true, false}, 0)
	list(anneApp, "", items, []bool{true, false, false}, 0)

	// A tuple deleted: the next list asks again.
	if _, err := engine.Write(t.Context(), nil, grants[:1]); err != nil {
		t.Fatal(err)
	}
	list(anne, "", items, []bool{false, true, false}, 3)
	list(anne, "", items, []bool{false, true, false}, 0)
	list(anneApp, "", items, []bool{false, false, false}, 3)

	// The next period of the decision cache: asked again.
	clock = clock.Add(time.Minute)
	list(anne, "", items, []bool{false, true, false}, 3)

	// Items with the keys the gateway computes when it registers them are
	// kept by those keys; items whose keys collide are still told apart.
	keyed := slices.Clone(items)
	for i := range keyed {
		keyed[i].Key = uint64(i + 1)
	}
	list(anne, "", keyed, []bool{false, true, false}, 3)
	list(anne, "", keyed, []bool{false, true, false}, 0)
	other := slices.Clone(keyed)
	other[1].Object = "tool:t1" // same keys, other items
	list(anne, "", other, []bool{false, false, false}, 3)
	list(anne, "", keyed, []bool{false, true, false}, 3)
}
