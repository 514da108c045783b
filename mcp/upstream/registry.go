package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Registry holds the configured upstreams, in configuration order.
type Registry struct {
	list   []*Upstream
	byName map[string]*Upstream
	log    *slog.Logger
	m      *metrics
}

// NewRegistry validates cfgs ([ValidateAll]), reads their secrets through
// getenv and registers the upstream metrics with reg (which may be nil).
// log may be nil. Nothing connects before [Registry.Start].
func NewRegistry(cfgs []Config, getenv func(string) string, log *slog.Logger, reg prometheus.Registerer) (*Registry, error) {
	if err := ValidateAll(cfgs); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	r := &Registry{byName: make(map[string]*Upstream, len(cfgs)), log: log, m: m}
	for i, c := range cfgs {
		u, err := newUpstream(c, getenv, log, m)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("%s[%d].%w", KeyPath, i, err)
		}
		r.list = append(r.list, u)
		r.byName[c.Name] = u
	}
	return r, nil
}

// Start connects every upstream at once and returns when each has
// connected or failed its first attempt (each bounded by its
// connect_timeout). An upstream that failed stays down and reconnects in the
// background with backoff; its [Health] says why. Start fails only if ctx
// ends first.
func (r *Registry) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, u := range r.list {
		wg.Go(func() {
			if err := u.Start(ctx); err != nil {
				r.log.Warn("upstream did not start; retrying in the background", "upstream", u.Name(), "err", err)
			}
		})
	}
	wg.Wait()
	return ctx.Err()
}

// Get returns the upstream called name.
func (r *Registry) Get(name string) (*Upstream, bool) {
	u, ok := r.byName[name]
	return u, ok
}

// All returns the upstreams in configuration order.
func (r *Registry) All() []*Upstream {
	return append([]*Upstream(nil), r.list...)
}

// Health returns the health of every upstream, in configuration order.
func (r *Registry) Health() []Health {
	out := make([]Health, len(r.list))
	for i, u := range r.list {
		out[i] = u.Health()
	}
	return out
}

// Close closes every upstream at once.
func (r *Registry) Close() error {
	errs := make([]error, len(r.list))
	var wg sync.WaitGroup
	for i, u := range r.list {
		wg.Go(func() { errs[i] = u.Close() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *Registry) metrics() *metrics { return r.m }

// metrics are the upstream metrics, shared by the upstreams of a registry.
// A nil *metrics records nothing.
type metrics struct {
	up       *prometheus.GaugeVec
	open     *prometheus.GaugeVec
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "subzero_mcp_upstream_up",
			Help: "1 when the upstream MCP server is connected, else 0.",
		}, []string{"upstream"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "subzero_mcp_upstream_circuit_open",
			Help: "1 when the upstream's circuit breaker is open, else 0.",
		}, []string{"upstream"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "subzero_mcp_upstream_requests_total",
			Help: "Requests to upstream MCP servers, each attempt counted, by method and outcome.",
		}, []string{"upstream", "method", "outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "subzero_mcp_upstream_request_seconds",
			Help:    "Time of an attempt of a request to an upstream MCP server.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"upstream", "method"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.up, m.open, m.requests, m.seconds} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("upstream metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *metrics) setUp(name string, up bool) {
	if m != nil {
		m.up.WithLabelValues(name).Set(b2f(up))
	}
}

func (m *metrics) setOpen(name string, open bool) {
	if m != nil {
		m.open.WithLabelValues(name).Set(b2f(open))
	}
}

func (m *metrics) observe(name, method, outcome string, d time.Duration) {
	if m != nil {
		m.requests.WithLabelValues(name, method, outcome).Inc()
		if outcome != "circuit_open" {
			m.seconds.WithLabelValues(name, method).Observe(d.Seconds())
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
