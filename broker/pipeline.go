package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/broker/token"
	"github.com/subzero-gateway/subzero/delegation"
	"github.com/subzero-gateway/subzero/guard"
	"github.com/subzero-gateway/subzero/mcp"
	"github.com/subzero-gateway/subzero/mcp/upstream"
)

// The request pipeline. Every call an agent makes through the gateway
// takes this path, in this order, each step an interface with a narrow
// contract (DESIGN.md, "The request pipeline"):
//
//	1 authenticate  the verified access token the resource guard put in ctx
//	2 limit         the agent's call budget
//	3 authorize     the decision point (ReBAC, ABAC, Rego), then the user's
//	                approval of a high-risk call
//	4 guard in      the arguments, as tool arguments
//	5 credentials   what the upstream request carries for the user
//	6 forward       to the upstream (the call's own Forward)
//	7 guard out     the result, as a tool result
//	8 audit         exactly one event, whichever step the call left at
type pipeline struct {
	authn    authenticator
	limit    limiter
	authz    authorizer
	guardIn  guard.Scanner
	creds    credentialer
	guardOut guard.Scanner
	audit    auditor
	policy   pipelinePolicy
	logger   *slog.Logger
}

// authenticator names the caller of a request from its context.
type authenticator interface {
	authenticate(ctx context.Context) (*principal, error)
}

// limiter admits a call or refuses it with how long to wait.
type limiter interface {
	admit(ctx context.Context, p *principal, c *mcp.Call) (ok bool, retryAfter time.Duration)
}

// authorizer is the decision point.
type authorizer interface {
	Decide(ctx context.Context, req delegation.Request) (delegation.Decision, error)
}

// credentialer gives the per-call credentials for the upstream.
type credentialer interface {
	credentials(ctx context.Context, p *principal, c *mcp.Call) (mcp.Credentials, error)
}

// auditor appends one event to the trail.
type auditor interface {
	Append(ctx context.Context, e audit.Event) (uint64, error)
}

// pipelinePolicy is what the pipeline decides by configuration.
type pipelinePolicy struct {
	// actions maps a Call's method to the relation the decision point
	// checks on the call's object.
	actions map[string]string
	// approve lists the risk levels whose calls need the user's approval.
	approve []string
}

// principal is the authenticated caller: the user a call is made for,
// the client (agent) making it, and the delegation chain the token
// carries.
type principal struct {
	subject, client string
	scopes          []string
	chain           []string
	sourceIP        netip.Addr
}

// Do runs c through the pipeline.
func (p *pipeline) Do(ctx context.Context, c *mcp.Call) (result json.RawMessage, err error) {
	ev := audit.Event{Type: "mcp", Action: c.Method, Target: c.Name, RequestID: RequestID(ctx)}
	defer func() { p.record(ctx, &ev, err) }()

	// 1. authenticate
	who, err := p.authn.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	ev.Actor = audit.Actor{Subject: who.subject, ClientID: who.client, Chain: who.chain}

	// 2. limit
	if ok, wait := p.limit.admit(ctx, who, c); !ok {
		return nil, &mcp.Denied{Code: mcp.CodeRateLimited, Message: fmt.Sprintf("the agent's call budget is spent; retry in %s", wait.Round(time.Second))}
	}

	// 3. authorize
	d, err := p.authz.Decide(ctx, p.request(who, c))
	if err != nil || !d.Allowed {
		ev.Reason = denyReason(d, err)
		return nil, &mcp.Denied{Code: mcp.CodeForbidden, Message: "not allowed: " + ev.Reason}
	}
	if slices.Contains(p.policy.approve, c.Risk) {
		if err := p.approve(ctx, c); err != nil {
			ev.Reason = err.Error()
			return nil, err
		}
	}

	// 4. guard in
	args := c.Args
	if len(args) > 0 {
		v, err := p.guardIn.Scan(ctx, guard.Input{Direction: guard.ToolArguments, JSON: args, Meta: meta(c, who)})
		if err != nil {
			return nil, &mcp.Denied{Code: mcp.CodeBlocked, Message: "the arguments could not be scanned: " + err.Error()}
		}
		ev.Findings = append(ev.Findings, findings(v)...)
		switch v.Action {
		case guard.Block:
			ev.Reason = "arguments blocked by the guard: " + summary(v)
			return nil, &mcp.Denied{Code: mcp.CodeBlocked, Message: "the arguments were blocked by the guard (" + summary(v) + ")"}
		case guard.Redact:
			args = json.RawMessage(v.Redacted)
		}
	}

	// 5. credentials
	creds, err := p.creds.credentials(ctx, who, c)
	if err != nil {
		return nil, err
	}

	// 6. forward
	out, err := c.Forward(ctx, args, creds)
	if err != nil {
		ev.Reason = "upstream: " + err.Error()
		p.logger.WarnContext(ctx, "mcp upstream", "upstream", c.Upstream, "method", c.Method, "name", c.UpstreamName, "err", err)
		return nil, upstreamError(c, err)
	}

	// 7. guard out
	v, err := p.guardOut.Scan(ctx, guard.Input{Direction: guard.ToolResult, JSON: out, Meta: meta(c, who)})
	if err != nil {
		return nil, &mcp.Blocked{Message: "the result could not be scanned: " + err.Error()}
	}
	ev.Findings = append(ev.Findings, findings(v)...)
	switch v.Action {
	case guard.Block:
		ev.Reason = "result blocked by the guard: " + summary(v)
		return nil, &mcp.Blocked{Message: "Subzero withheld the result of " + c.Name + ": the guard found " + summary(v) + " in it."}
	case guard.Redact:
		out = json.RawMessage(v.Redacted)
	}
	return out, nil
}

// record writes the call's one audit event (8).
func (p *pipeline) record(ctx context.Context, ev *audit.Event, err error) {
	var denied *mcp.Denied
	var blocked *mcp.Blocked
	switch {
	case err == nil:
		ev.Decision = audit.Allow
	case errors.As(err, &denied), errors.As(err, &blocked):
		ev.Decision = audit.Deny
	default:
		ev.Decision = audit.Error
	}
	if ev.Reason == "" && err != nil {
		ev.Reason = err.Error()
	}
	ev.Reason = clipReason(ev.Reason)
	if _, aerr := p.audit.Append(context.WithoutCancel(ctx), *ev); aerr != nil {
		p.logger.ErrorContext(ctx, "audit", "action", ev.Action, "target", ev.Target, "err", aerr)
	}
}

// request is the decision point's question for c: the user (or the
// client calling for itself) holds the method's relation on the call's
// object, and the agent may exercise it for the user.
func (p *pipeline) request(who *principal, c *mcp.Call) delegation.Request {
	req := delegation.Request{
		Subject:  delegation.Subject{ID: who.subject},
		Action:   p.policy.actions[c.Method],
		Resource: c.Object,
		Tool:     c.Name,
		Scopes:   who.scopes,
		Risk:     delegation.Risk{Level: c.Risk},
		SourceIP: who.sourceIP,
		Context:  map[string]any{"method": c.Method, "upstream": c.Upstream, "server": c.Server},
	}
	if who.client != "" && who.client != who.subject {
		req.Agent = delegation.Agent{ID: who.client, ClientID: who.client}
	}
	return req
}

// approve asks the user to approve a high-risk call.
func (p *pipeline) approve(ctx context.Context, c *mcp.Call) error {
	if c.Approve == nil {
		return &mcp.Denied{Code: mcp.CodeForbidden, Message: fmt.Sprintf("%s is a %s-risk tool: calling it needs the user's approval, and this client cannot ask for it (MCP elicitation)", c.Name, c.Risk)}
	}
	ok, err := c.Approve(ctx, fmt.Sprintf("Allow the agent to call %s (%s risk)?", c.Name, c.Risk))
	switch {
	case err != nil:
		return &mcp.Denied{Code: mcp.CodeForbidden, Message: "the user's approval of " + c.Name + " could not be obtained"}
	case !ok:
		return &mcp.Denied{Code: mcp.CodeForbidden, Message: "the user declined the call to " + c.Name}
	}
	return nil
}

// upstreamError turns a Forward failure into what the agent is told.
func upstreamError(c *mcp.Call, err error) error {
	switch {
	case errors.Is(err, upstream.ErrCircuitOpen), errors.Is(err, upstream.ErrUnavailable),
		errors.Is(err, upstream.ErrClosed):
		return &mcp.Denied{Code: mcp.CodeUnavailable, Message: "upstream " + c.Upstream + " is unavailable; try again later"}
	case errors.Is(err, upstream.ErrTimeout):
		return &mcp.Denied{Code: mcp.CodeUnavailable, Message: "upstream " + c.Upstream + " did not answer in time"}
	case errors.Is(err, upstream.ErrResultTooLarge):
		return &mcp.Denied{Code: mcp.CodeUnavailable, Message: "upstream " + c.Upstream + " answered with a result larger than its limit"}
	case errors.Is(err, upstream.ErrRPC):
		return &mcp.Denied{Code: -32603, Message: "upstream " + c.Upstream + " refused the request"}
	}
	return err
}

func denyReason(d delegation.Decision, err error) string {
	switch {
	case err != nil && errors.Is(err, delegation.ErrInvalidRequest):
		return "the call cannot be authorized: " + d.Reason
	case err != nil:
		return "the decision point failed, so the call is denied"
	case d.Rule != "":
		return d.Reason + " (missing " + d.Rule + ")"
	}
	return d.Reason
}

func meta(c *mcp.Call, who *principal) guard.Meta {
	return guard.Meta{Route: c.Route, Tool: c.Name, Client: who.client}
}

// findings are v's findings as audit findings: detector, OWASP category
// and the action taken; never the excerpt.
func findings(v guard.Verdict) []audit.Finding {
	out := make([]audit.Finding, 0, len(v.Findings))
	for _, f := range v.Findings {
		out = append(out, audit.Finding{Rule: f.Detector, Category: string(f.Category), Severity: string(v.Action)})
	}
	return out
}

// summary names the kinds of findings of v, e.g. "prompt injection
// (LLM01), pii.email (LLM02)".
func summary(v guard.Verdict) string {
	var parts []string
	for _, f := range v.Findings {
		s := f.Detector + " (" + string(f.Category) + ")"
		if !slices.Contains(parts, s) {
			parts = append(parts, s)
		}
		if len(parts) == 4 {
			break
		}
	}
	if len(parts) == 0 {
		return "nothing specific"
	}
	return strings.Join(parts, ", ")
}

// maxReason bounds a call's audit reason; maxEventReason that of a
// gateway event, which may carry a definition's diff.
const (
	maxReason      = 1024
	maxEventReason = 16 << 10
)

func clipReason(s string) string { return clipTo(s, maxReason) }

func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i] + "…"
}

// tokenAuthn reads the caller from the claims the resource guard
// verified.
type tokenAuthn struct{}

func (tokenAuthn) authenticate(ctx context.Context) (*principal, error) {
	c := TokenClaims(ctx)
	if c == nil {
		return nil, &mcp.Denied{Code: mcp.CodeForbidden, Message: "the request carries no verified access token"}
	}
	return principalOf(ctx, c), nil
}

func principalOf(ctx context.Context, c *token.Claims) *principal {
	p := &principal{subject: c.Subject, client: c.ClientID, scopes: c.Scope}
	for a := c.Act; a != nil; a = a.Act {
		p.chain = append(p.chain, a.Sub)
	}
	if ip, ok := ClientIP(ctx); ok {
		p.sourceIP = ip
	}
	return p
}

// noCredentials adds nothing: upstreams' static headers are configured on
// the upstream; the vault adds the user's provider tokens here.
type noCredentials struct{}

func (noCredentials) credentials(context.Context, *principal, *mcp.Call) (mcp.Credentials, error) {
	return mcp.Credentials{}, nil
}
