package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/time/rate"

	"github.com/subzero-gateway/subzero/mcp"
)

// BudgetConfig bounds the calls one agent (OAuth client) makes through
// the gateway: a token bucket of Burst calls refilled at PerMinute a
// minute. PerMinute 0 turns the budget off.
type BudgetConfig struct {
	PerMinute int `yaml:"calls_per_minute"`
	Burst     int `yaml:"burst"`
}

func (b BudgetConfig) validate(path string) error {
	switch {
	case b.PerMinute < 0 || b.PerMinute > 1_000_000:
		return fmt.Errorf("%s.calls_per_minute: %d not in [0, 1000000]", path, b.PerMinute)
	case b.Burst < 0 || b.Burst > 1_000_000:
		return fmt.Errorf("%s.burst: %d not in [0, 1000000]", path, b.Burst)
	}
	return nil
}

// maxBudgetAgents bounds the agents whose buckets are kept; the least
// recently seen are forgotten first (and start again with a full bucket).
const maxBudgetAgents = 100_000

// agentBudget is the limit step: one token bucket (x/time/rate) per
// agent, kept on this node.
type agentBudget struct {
	every   rate.Limit
	burst   int
	buckets *otter.Cache[string, *rate.Limiter]
}

func newAgentBudget(c BudgetConfig) limiter {
	if c.PerMinute == 0 {
		return unlimited{}
	}
	burst := c.Burst
	if burst == 0 {
		burst = max(1, c.PerMinute/6)
	}
	return &agentBudget{
		every: rate.Limit(float64(c.PerMinute) / 60),
		burst: burst,
		buckets: otter.Must(&otter.Options[string, *rate.Limiter]{
			MaximumSize:      maxBudgetAgents,
			ExpiryCalculator: otter.ExpiryAccessing[string, *rate.Limiter](time.Hour),
		}),
	}
}

func (b *agentBudget) admit(_ context.Context, p *principal, _ *mcp.Call) (bool, time.Duration) {
	key := p.client
	if key == "" {
		key = "user:" + p.subject
	}
	l, _ := b.buckets.Compute(key, func(old *rate.Limiter, found bool) (*rate.Limiter, otter.ComputeOp) {
		if found {
			return old, otter.CancelOp
		}
		return rate.NewLimiter(b.every, b.burst), otter.WriteOp
	})
	r := l.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return false, d
	}
	return true, 0
}

// unlimited admits every call.
type unlimited struct{}

func (unlimited) admit(context.Context, *principal, *mcp.Call) (bool, time.Duration) { return true, 0 }
