package llm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// upstream is one configured provider: its endpoint conventions, key and
// circuit breaker.
type upstream struct {
	cfg     UpstreamConfig
	base    string // base URL without a trailing slash
	key     string
	client  *http.Client
	breaker *gobreaker.TwoStepCircuitBreaker[struct{}]

	calls, failures atomic.Int64
}

// Health is the state of one upstream, for readiness details.
type Health struct {
	Name string `json:"name"`
	// State is the circuit breaker's: "closed" (healthy), "half-open" or
	// "open" (calls are not sent).
	State    string `json:"state"`
	Calls    int64  `json:"calls"`
	Failures int64  `json:"failures"`
}

func newUpstream(cfg UpstreamConfig, getenv func(string) string, client *http.Client) (*upstream, error) {
	u := &upstream{cfg: cfg, base: strings.TrimSuffix(cfg.BaseURL.String(), "/"), client: client}
	if !cfg.APIKey.IsZero() {
		key, err := cfg.APIKey.Resolve(getenv)
		if err != nil {
			return nil, fmt.Errorf("api_key: %w", err)
		}
		if strings.ContainsAny(key, "\r\n\x00") {
			return nil, fmt.Errorf("api_key: %s holds a line break or NUL", cfg.APIKey)
		}
		u.key = key
	}
	u.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        cfg.Name,
		MaxRequests: uint32(cfg.Breaker.HalfOpenMax),
		Timeout:     cfg.Breaker.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= uint32(cfg.Breaker.Failures)
		},
	})
	return u, nil
}

// endpoint returns the URL of an API path ("/chat/completions") for model:
// under the base URL for openai and compatible servers; under the
// deployment, with api-version, for Azure (go-openai's conventions).
func (u *upstream) endpoint(path, model string) string {
	if u.cfg.Kind == KindAzure {
		return u.base + "/openai/deployments/" + url.PathEscape(model) + path + "?api-version=" + url.QueryEscape(u.cfg.APIVersion)
	}
	return u.base + path
}

// request builds a POST of body to path for model, with the provider's
// authentication. Nothing of the client's request but the body is sent.
func (u *upstream) request(ctx context.Context, path, model string, body []byte, stream bool) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.endpoint(path, model), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	switch {
	case u.key == "":
	case u.cfg.Kind == KindAzure:
		req.Header.Set("api-key", u.key)
	default:
		req.Header.Set("Authorization", "Bearer "+u.key)
	}
	return req, nil
}

// errBreakerOpen is returned when the breaker lets no call through.
var errBreakerOpen = errors.New("llm: upstream circuit breaker open")

// do sends req through the breaker. done must be called once the call's
// outcome is known: failed reports a 5xx, timeout or transport error.
func (u *upstream) do(req *http.Request) (resp *http.Response, done func(failed bool), err error) {
	settle, err := u.breaker.Allow()
	if err != nil {
		return nil, nil, errBreakerOpen
	}
	u.calls.Add(1)
	var once atomic.Bool
	done = func(failed bool) {
		if once.Swap(true) {
			return
		}
		if failed {
			u.failures.Add(1)
		}
		if failed {
			settle(errUpstreamFailed)
		} else {
			settle(nil)
		}
	}
	resp, err = u.client.Do(req)
	if err != nil {
		// The caller going away is no fault of the upstream's.
		done(req.Context().Err() == nil || errors.Is(context.Cause(req.Context()), errUpstreamTimeout))
		return nil, nil, err
	}
	return resp, done, nil
}

// errUpstreamFailed is what the breaker counts as a failure.
var errUpstreamFailed = errors.New("llm: upstream failed")

// errUpstreamTimeout is the cause of a call's context past the upstream's
// timeout.
var errUpstreamTimeout = errors.New("llm: upstream timeout")

func (u *upstream) health() Health {
	h := Health{Name: u.cfg.Name, Calls: u.calls.Load(), Failures: u.failures.Load()}
	switch u.breaker.State() {
	case gobreaker.StateOpen:
		h.State = "open"
	case gobreaker.StateHalfOpen:
		h.State = "half-open"
	default:
		h.State = "closed"
	}
	return h
}

// newTransport returns the proxy's HTTP transport to upstreams: keep-alive
// connections for concurrent calls, no proxy from the environment.
func newTransport() *http.Transport {
	return &http.Transport{
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 0, // bounded by each upstream's timeout
	}
}
