package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/broker/apikey"
	"github.com/subzero-gateway/subzero/broker/limits"
	"github.com/subzero-gateway/subzero/broker/llm"
	"github.com/subzero-gateway/subzero/delegation"
	"github.com/subzero-gateway/subzero/guard"
)

// LLMConfig is the llm section of the configuration: the OpenAI-compatible
// proxy at /v1 (llm.Config, inline: upstreams, aliases, limits, guard
// additions), its budgets and what the decision point checks.
type LLMConfig struct {
	llm.Config `yaml:",inline"`
	// Budgets bound each API key's, client's and user's use (LLM10).
	Budgets limits.Config `yaml:"budgets"`
	// Action is the relation a token's user (and the agent acting for
	// them) must hold on "model:<name>" to call a model; API keys are
	// bound by their own model scope instead.
	Action string `yaml:"action"`
	// RequireDPoP refuses access tokens not bound to a DPoP key at /v1,
	// whatever oauth.dpop_required says.
	RequireDPoP bool `yaml:"require_dpop"`
	// Scopes are the scopes an access token needs at /v1.
	Scopes []string `yaml:"scopes"`
}

func defaultLLM() LLMConfig {
	return LLMConfig{Config: llm.Default(), Budgets: limits.Default(), Action: "can_use", Scopes: []string{"llm"}}
}

func (c LLMConfig) validate() error {
	if err := c.Config.Validate(); err != nil {
		return err // its errors name llm.<key>
	}
	if err := c.Budgets.Validate(); err != nil {
		return fmt.Errorf("llm.budgets.%w", err)
	}
	if !validRelation(c.Action) {
		return fmt.Errorf("llm.action: %q is not a relation name", c.Action)
	}
	for i, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \"\\") {
			return fmt.Errorf("llm.scopes[%d]: %q is not a scope", i, s)
		}
	}
	return nil
}

// llmPath is the proxy's protected resource.
const llmPath = "/v1"

// llmNode is the proxy of a node and what it needs beyond it: the API
// keys, the budget counters (closed before the store) and the resource
// guard of /v1.
type llmNode struct {
	proxy    *llm.Proxy
	keys     *apikey.Keys
	resource *resourceGuard
	counters interface{ Close() error } // nil when the store needs no closing
	admin    apiKeys                    // the keys' administration, audited
}

// close stops the proxy and flushes the counters; the store is still open.
func (n *llmNode) close() {
	n.proxy.Close()
	if n.counters != nil {
		n.counters.Close()
	}
}

// handler authenticates each request (an API key, or an access token for
// /v1 through the resource guard) and hands it to the proxy with its
// caller.
func (n *llmNode) handler(logger *slog.Logger) http.Handler {
	viaToken := n.resource.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := principalOf(r.Context(), TokenClaims(r.Context()))
		caller := llm.Caller{Subject: who.subject, ClientID: who.client, Chain: who.chain}
		n.proxy.ServeHTTP(w, r.WithContext(llm.WithCaller(r.Context(), caller)))
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// Whatever has the keys' prefix is a key, well formed or not.
		if !ok || !strings.HasPrefix(bearer, apikey.Prefix) {
			viaToken.ServeHTTP(w, r)
			return
		}
		key, err := n.keys.Verify(r.Context(), bearer)
		if err != nil {
			status, code, msg := http.StatusUnauthorized, "invalid_api_key", "Incorrect API key provided."
			if !errors.Is(err, apikey.ErrInvalid) {
				logger.ErrorContext(r.Context(), "api key verification", "err", err)
				status, code, msg = http.StatusServiceUnavailable, "unavailable", "The API key could not be checked; try again later."
			}
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+n.resource.metadataURL+`"`)
			writeJSON(w, status, openAIError(code, msg, RequestID(r.Context())))
			return
		}
		caller := llm.Caller{APIKeyID: key.ID, Models: key.Models}
		n.proxy.ServeHTTP(w, r.WithContext(llm.WithCaller(r.Context(), caller)))
	})
}

// openAIError is an error body in OpenAI's shape, for the refusals the
// node makes at /v1 before the proxy sees a request.
func openAIError(code, msg, requestID string) any {
	return map[string]any{"error": map[string]any{
		"message": msg, "type": "invalid_request_error", "param": nil, "code": code,
	}, keyRequestID: requestID}
}

// newLLM builds the node's proxy over its guard, decision point, budget
// counters and audit log.
func (s *Server) newLLM(cfg *Config, st stores, secret []byte, issuer *url.URL, deps llm.Deps) (_ *llmNode, err error) {
	keys, err := apikey.New(st.apikeys, secret)
	if err != nil {
		return nil, err
	}
	counters, closer, err := st.counters()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && closer != nil {
			closer.Close()
		}
	}()
	limiter, err := limits.New(cfg.LLM.Budgets, counters)
	if err != nil {
		return nil, fmt.Errorf("llm.budgets: %w", err)
	}
	deps.Limiter = limiter
	deps.Authorizer = llmAuthorizer{authz: s.authz, action: cfg.LLM.Action}
	deps.Recorder = llmRecorder{log: s.audit, logger: deps.Logger}
	proxy, err := llm.New(cfg.LLM.Config, deps)
	if err != nil {
		return nil, err
	}
	resource := &resourceGuard{
		public: issuer, resource: issuer.JoinPath(llmPath).String(), scopes: cfg.LLM.Scopes,
		metadataURL: issuer.String() + llmMetadataPath, requireDPoP: cfg.OAuth.DPoPRequired || cfg.LLM.RequireDPoP,
		tokens: s.oauth.Validator(), proofs: s.oauth.DPoP(), body: openAIError,
	}
	return &llmNode{proxy: proxy, keys: keys, resource: resource, counters: closer,
		admin: apiKeys{keys: keys, log: s.audit, logger: deps.Logger}}, nil
}

// llmAuthorizer asks the decision point whether a token's user, and the
// agent acting for them, may use a model. API keys were created for their
// models by an admin: their scope (checked by the proxy) is their grant.
type llmAuthorizer struct {
	authz  authorizer
	action string
}

func (a llmAuthorizer) AllowModel(ctx context.Context, c llm.Caller, model string) error {
	if c.APIKeyID != "" {
		return nil
	}
	req := delegation.Request{
		Subject:  delegation.Subject{ID: c.Subject},
		Action:   a.action,
		Resource: "model:" + model,
		Tool:     model,
		Context:  map[string]any{"route": "llm"},
	}
	if claims := TokenClaims(ctx); claims != nil {
		req.Scopes = claims.Scope
	}
	if ip, ok := ClientIP(ctx); ok {
		req.SourceIP = ip
	}
	if c.ClientID != "" && c.ClientID != c.Subject {
		req.Agent = delegation.Agent{ID: c.ClientID, ClientID: c.ClientID}
	}
	d, err := a.authz.Decide(ctx, req)
	if err != nil || !d.Allowed {
		return errors.New(denyReason(d, err))
	}
	return nil
}

// llmRecorder writes one audit event per proxy call: who, which model
// through which upstream, the tokens, the guard's findings, the decision
// and the latency. No prompt or answer text: a hash of them.
type llmRecorder struct {
	log    auditor
	logger *slog.Logger
}

func (r llmRecorder) Record(ctx context.Context, e llm.Event) {
	actor := audit.Actor{Subject: e.Caller.Subject, ClientID: e.Caller.ClientID, Chain: e.Caller.Chain}
	if e.Caller.APIKeyID != "" {
		actor.ClientID = "apikey:" + e.Caller.APIKeyID
	}
	detail, _ := json.Marshal(struct {
		Upstream         string `json:"upstream,omitempty"`
		UpstreamModel    string `json:"upstream_model,omitempty"`
		PromptTokens     int64  `json:"prompt_tokens"`
		CompletionTokens int64  `json:"completion_tokens"`
		TokensCounted    bool   `json:"tokens_counted,omitempty"`
		Stream           bool   `json:"stream,omitempty"`
		Status           int    `json:"status"`
		LatencyMS        int64  `json:"latency_ms"`
		ContentSHA256    string `json:"content_sha256,omitempty"`
	}{e.Upstream, e.UpstreamModel, e.PromptTokens, e.CompletionTokens, e.TokensCounted, e.Stream, e.Status,
		e.Latency.Milliseconds(), e.ContentHash})
	reason := e.Reason
	if reason != "" {
		reason += " "
	}
	reason += string(detail)
	d := audit.Allow
	switch e.Decision {
	case "deny", "block":
		d = audit.Deny
	case "error":
		d = audit.Error
	}
	severity := guard.Flag
	if e.Decision == "block" {
		severity = guard.Block
	}
	target := "model:" + e.Model
	if e.Model == "" {
		target = "llm"
	}
	ev := audit.Event{Type: "llm", Action: "llm." + strings.ReplaceAll(strings.TrimPrefix(e.Endpoint, "v1/"), "/", "."), Target: target, Actor: actor,
		Decision: d, Reason: clipTo(reason, maxEventReason), Findings: findings(guard.Verdict{Action: severity, Findings: e.Findings}), RequestID: RequestID(ctx)}
	if _, err := r.log.Append(context.WithoutCancel(ctx), ev); err != nil {
		r.logger.ErrorContext(ctx, "audit", "action", ev.Action, "target", target, "err", err)
	}
}

// llmMetadataPath is where /v1's RFC 9728 metadata is served.
const llmMetadataPath = "/.well-known/oauth-protected-resource" + llmPath

// llmReady reports the proxy's upstreams for /readyz.
func (n *llmNode) ready() []llm.Health { return n.proxy.Health() }
