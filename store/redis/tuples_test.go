package redis_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/subzero-gateway/subzero/delegation/rebac/tuplestore"
	"github.com/subzero-gateway/subzero/store/redis"
	"github.com/subzero-gateway/subzero/store/storetest"
)

func TestTuplesKeep(t *testing.T) {
	storetest.TuplesKeep(t, redis.TuplesWithKeep(openDB(t, config(t, srv), noEnv), 10), 10)
}

func TestTuplesInvalid(t *testing.T) {
	storetest.TuplesInvalid(t, openDB(t, config(t, srv), noEnv).Tuples())
}

// TestTuplesTwoNodes writes through two connection pools to one store,
// as two nodes would.
func TestTuplesTwoNodes(t *testing.T) {
	cfg := config(t, srv)
	storetest.TuplesConcurrent(t, openDB(t, cfg, noEnv).Tuples(), openDB(t, cfg, noEnv).Tuples())
}

func TestTuplesKeyLayout(t *testing.T) {
	cfg := config(t, srv)
	s := openDB(t, cfg, noEnv).Tuples()
	ctx := t.Context()
	if _, err := s.WriteModel(ctx, tuplestore.Model{ID: "m1", Data: []byte("model")}); err != nil {
		t.Fatal(err)
	}
	ts := []tuplestore.Tuple{
		{Object: "doc:1", Relation: "viewer", User: "user:a", Condition: []byte(`{"name":"c"}`)},
		{Object: "doc:2", Relation: "owner", User: "group:x#member"},
	}
	if _, err := s.Write(ctx, ts, nil); err != nil {
		t.Fatal(err)
	}
	raw := rawClient(t)
	keys, err := raw.Keys(ctx, cfg.KeyPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.KeyPrefix + "{rebac}:"
	want := map[string]string{p + "meta": "hash", p + "tuples": "zset", p + "users": "zset", p + "conditions": "hash", p + "changes": "stream", p + "models": "hash"}
	got := map[string]string{}
	for _, k := range keys {
		got[k] = raw.Type(ctx, k).Val()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	slot := raw.ClusterKeySlot(ctx, p+"meta").Val()
	for k := range got {
		if s := raw.ClusterKeySlot(ctx, k).Val(); s != slot {
			t.Errorf("key %q in slot %d, want %d with the others", k, s, slot)
		}
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"meta", raw.HGetAll(ctx, p+"meta").Val(), map[string]string{"revision": "2", "model": "m1"}},
		{"tuples", raw.ZRange(ctx, p+"tuples", 0, -1).Val(), []string{"doc:1\x00viewer\x00user:a", "doc:2\x00owner\x00group:x#member"}},
		{"users", raw.ZRange(ctx, p+"users", 0, -1).Val(), []string{"group:x#member\x00doc:2\x00owner", "user:a\x00doc:1\x00viewer"}},
		{"conditions", raw.HGetAll(ctx, p+"conditions").Val(), map[string]string{"doc:1\x00viewer\x00user:a": `{"name":"c"}`}},
		{"models", raw.HGetAll(ctx, p+"models").Val(), map[string]string{"m1": "model"}},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
	var ids []string
	for _, m := range raw.XRange(ctx, p+"changes", "-", "+").Val() {
		ids = append(ids, m.ID+" "+m.Values["op"].(string))
	}
	if diff := cmp.Diff([]string{"1-0 3", "2-0 1", "2-1 1"}, ids); diff != "" {
		t.Errorf("change IDs and ops (-want +got):\n%s", diff)
	}
}

// TestTuplesLostMeta checks that writes fail, applying nothing, when the
// meta hash is lost (evicted) while the change log remains.
func TestTuplesLostMeta(t *testing.T) {
	cfg := config(t, srv)
	s, ctx := openDB(t, cfg, noEnv).Tuples(), t.Context()
	a := []tuplestore.Tuple{{Object: "doc:a", Relation: "viewer", User: "user:1"}}
	if _, err := s.Write(ctx, a, nil); err != nil {
		t.Fatal(err)
	}
	raw := rawClient(t)
	if err := raw.Del(ctx, cfg.KeyPrefix+"{rebac}:meta").Err(); err != nil {
		t.Fatal(err)
	}
	b := []tuplestore.Tuple{{Object: "doc:b", Relation: "viewer", User: "user:1"}}
	if _, err := s.Write(ctx, b, nil); err == nil || !strings.Contains(err.Error(), "CORRUPT") {
		t.Errorf("Write after meta was lost = %v, want CORRUPT", err)
	}
	if _, err := s.WriteModel(ctx, tuplestore.Model{ID: "m", Data: []byte("m")}); err == nil || !strings.Contains(err.Error(), "CORRUPT") {
		t.Errorf("WriteModel after meta was lost = %v, want CORRUPT", err)
	}
	if got := raw.ZRange(ctx, cfg.KeyPrefix+"{rebac}:tuples", 0, -1).Val(); len(got) != 1 {
		t.Errorf("tuples = %q, want doc:a's only", got)
	}
	if n := raw.Exists(ctx, cfg.KeyPrefix+"{rebac}:meta", cfg.KeyPrefix+"{rebac}:models").Val(); n != 0 {
		t.Errorf("refused writes created %d of meta and models", n)
	}
}

// TestTuplesWriteOneRoundTrip checks that a Write of MaxWrite tuples is
// one round trip, and so is a refused one.
func TestTuplesWriteOneRoundTrip(t *testing.T) {
	db := openDB(t, config(t, srv), noEnv)
	s, ctx := db.Tuples(), t.Context()
	first := []tuplestore.Tuple{{Object: "doc:0", Relation: "viewer", User: "user:1"}}
	if _, err := s.Write(ctx, first, nil); err != nil { // loads the script
		t.Fatal(err)
	}
	h := &countHook{}
	redis.UnsafeClient(db).AddHook(h)
	var ts []tuplestore.Tuple
	for i := range tuplestore.MaxWrite - 1 {
		ts = append(ts, tuplestore.Tuple{Object: "doc:" + strings.Repeat("x", i%50) + string(rune('a'+i%26)), Relation: "viewer", User: "user:" + strings.Repeat("1", 1+i/50)})
	}
	if _, err := s.Write(ctx, ts, first); err != nil {
		t.Fatal(err)
	}
	if n := h.n.Load(); n != 1 {
		t.Errorf("Write of %d tuples took %d round trips, want 1", len(ts)+1, n)
	}
	h.n.Store(0)
	if _, err := s.Write(ctx, ts, nil); err == nil {
		t.Fatal("Write of stored tuples succeeded")
	}
	if n := h.n.Load(); n != 1 {
		t.Errorf("refused Write took %d round trips, want 1", n)
	}
}

func BenchmarkTuples(b *testing.B) {
	storetest.TuplesBench(b, func(b *testing.B) tuplestore.Store { return openDB(b, config(b, srv), noEnv).Tuples() })
}
