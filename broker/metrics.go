package broker

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/subzero-gateway/subzero/audit"
)

// metrics are one node's Prometheus collectors, on a registry of its own.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	storeTime *prometheus.HistogramVec
}

func newMetrics(backend string) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "subzero_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "subzero_http_request_duration_seconds",
			Help:    "HTTP request latency, by route pattern and status code.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route", "code"}),
		storeTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "subzero_store_operation_duration_seconds",
			Help:        "Storage backend latency, by operation.",
			Buckets:     prometheus.ExponentialBuckets(0.0001, 2, 16),
			ConstLabels: prometheus.Labels{"backend": backend},
		}, []string{"op"}),
	}
	reg.MustRegister(m.requests, m.latency, m.storeTime,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) registerAudit(log *audit.Log) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "subzero_audit_events_appended_total",
		Help: "Audit events made durable by this node; its rate is the append rate.",
	}, func() float64 { return float64(log.Appended()) }))
}

func (m *metrics) observeStore(op string, start time.Time) {
	m.storeTime.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

// timedAuditStore records the latency of every audit store operation.
type timedAuditStore struct {
	audit.Store
	m *metrics
}

func (s timedAuditStore) Append(ctx context.Context, node string, prev uint64, events, cps []audit.Record) error {
	defer s.m.observeStore("audit_append", time.Now())
	return s.Store.Append(ctx, node, prev, events, cps)
}

func (s timedAuditStore) Last(ctx context.Context, node string) (audit.Record, bool, error) {
	defer s.m.observeStore("audit_last", time.Now())
	return s.Store.Last(ctx, node)
}

func (s timedAuditStore) PutKey(ctx context.Context, node, keyID string, pub []byte) error {
	defer s.m.observeStore("audit_put_key", time.Now())
	return s.Store.PutKey(ctx, node, keyID, pub)
}
