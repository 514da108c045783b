package delegation

import (
	"testing"
	"time"
)

func TestGeneration(t *testing.T) {
	rel := newRelations(t, model, base...)
	pol := &fakePolicies{}
	p := newPoint(t, Default(), rel, nil, pol)
	g0 := p.Generation()
	if g := p.Generation(); g != g0 {
		t.Fatalf("Generation changed without a change: %v, then %v", g0, g)
	}
	rel.write(t, tuple(tool+"#invoker@user:carol"))
	g1 := p.Generation()
	if g1 == g0 {
		t.Errorf("Generation = %v after a tuple write, unchanged", g1)
	}
	pol.gen.Add(1)
	if g := p.Generation(); g == g1 {
		t.Errorf("Generation = %v after a policy reload, unchanged", g)
	}

	if ttl := p.CacheTTL(); ttl != Default().Cache.TTL {
		t.Errorf("CacheTTL = %s, want the configured %s", ttl, Default().Cache.TTL)
	}
	cfg := Default()
	cfg.Cache = CacheConfig{Bytes: 1 << 20, TTL: 5 * time.Second}
	if ttl := newPoint(t, cfg, rel, nil, nil).CacheTTL(); ttl != 5*time.Second {
		t.Errorf("CacheTTL = %s, want 5s", ttl)
	}
	cfg.Cache = CacheConfig{}
	if ttl := newPoint(t, cfg, rel, nil, nil).CacheTTL(); ttl != 0 {
		t.Errorf("CacheTTL = %s with the cache off, want 0", ttl)
	}
}
