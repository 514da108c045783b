package delegation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/maypok86/otter/v2"

	"github.com/subzero-gateway/subzero/delegation/abac"
	"github.com/subzero-gateway/subzero/delegation/rebac"
	"github.com/subzero-gateway/subzero/delegation/rego"
)

// Relations answers relationship checks; *rebac.Engine implements it.
//
// Check and Explain return an error when they cannot answer (no model, a
// missing condition parameter, a bound reached, the AtLeast revision not
// reached); the point then denies. Explain answers like Check but always
// fills CheckResult.Path when allowed. Generation must change whenever
// tuples or the model change, and only after the change is visible to
// Check, so that a decision computed before a change is never stored under
// the generation that follows it. All methods are safe for concurrent use.
type Relations interface {
	Check(ctx context.Context, req rebac.CheckRequest) (rebac.CheckResult, error)
	Explain(ctx context.Context, req rebac.CheckRequest) (rebac.CheckResult, error)
	Generation() uint64
}

// Attributes evaluates attribute rules; *abac.Engine implements it. Its
// rules are fixed when it is built, so it has no generation. An error
// denies. Evaluate is safe for concurrent use.
type Attributes interface {
	Evaluate(ctx context.Context, req *abac.Request) (abac.Decision, error)
}

// Policies evaluates Rego policies; *rego.Engine implements it. Evaluate
// receives the input document described in the package documentation; an
// error denies. Generation changes when the policies are reloaded. Both are
// safe for concurrent use.
type Policies interface {
	Evaluate(ctx context.Context, input any) (rego.Decision, error)
	Generation() uint64
}

// Request asks: may this agent, acting for this user, do this action on
// this resource, now? The point does not modify or retain it, nor the maps
// and slices it refers to.
type Request struct {
	// Subject is the user the call is made for. Required.
	Subject Subject
	// Agent is the client acting for Subject; the zero Agent when the user
	// calls directly.
	Agent Agent
	// Action is a relation of the ReBAC model, e.g. "can_invoke". Required.
	Action string
	// Resource is the object acted on, "type:id", e.g.
	// "tool:github.create_issue". Required.
	Resource string
	// Tool is the tool or model name.
	Tool string
	// Scopes are the OAuth scopes the call's token carries.
	Scopes []string
	// Risk is the call's assessed risk.
	Risk Risk
	// SourceIP is the caller's address; the zero Addr when unknown.
	SourceIP netip.Addr
	// Time is when the call was made; the zero Time means now.
	Time time.Time
	// Context holds extra attributes: ABAC's request.context, Rego's
	// input.context and the request context of ReBAC conditions. It must
	// not contain the keys the point sets for ReBAC conditions ("subject",
	// "action", "resource").
	Context map[string]any
	// AtLeast is a ReBAC revision token the checks must reflect; "" takes
	// whatever the index holds.
	AtLeast string
}

// Subject is the user a call is made for.
type Subject struct {
	// ID identifies the user, without the model type: the ReBAC user is
	// [ReBACConfig.UserType] + ":" + ID.
	ID string
	// Attrs are the user's attributes.
	Attrs map[string]any
}

// Agent is the client making a call for a user.
type Agent struct {
	// ID identifies the agent, without the model type: the ReBAC agent is
	// [ReBACConfig.AgentType] + ":" + ID. Required when ClientID or Attrs
	// is set.
	ID string
	// ClientID is the agent's OAuth client ID.
	ClientID string
	// Attrs are the agent's attributes.
	Attrs map[string]any
}

// Risk is a call's assessed risk.
type Risk struct {
	// Level is a label such as "low" or "high".
	Level string
	// Score is a numeric score.
	Score float64
}

// present reports whether an agent takes part in the call.
func (a *Agent) present() bool {
	return a.ID != "" || a.ClientID != "" || len(a.Attrs) > 0
}

// Engine names in [Decision.Engine].
const (
	EngineReBAC = "rebac"
	EngineABAC  = "abac"
	EngineRego  = "rego"
)

// Decision is the point's answer.
type Decision struct {
	// Allowed reports whether the call may proceed.
	Allowed bool
	// Reason explains the decision in one line.
	Reason string
	// Engine names the engine that denied or failed: [EngineReBAC],
	// [EngineABAC] or [EngineRego]; "" when allowed or when the request
	// itself was invalid.
	Engine string
	// Path, when allowed and ReBAC is on, holds one entry per relationship
	// check that granted, in the order user, delegation, agent, each
	// written "<user> <relation> <object>" followed, when the engine
	// reported it (always from [Point.Explain], not from Decide), by
	// " via " and the granting path's steps joined by " > ", e.g.
	// "user:anne can_invoke tool:t via tool:t#can_invoke > tool:t#invoker
	// (computed) > team:eng#member > user:anne".
	Path []string
	// Rule names what denied: the ReBAC check as "<object>#<relation>", the
	// ABAC rule, or the Rego policy's deny reasons joined by "; ".
	Rule string
	// Cached reports that the decision came from the cache.
	Cached bool
}

// Errors returned with a denying [Decision]; check them with [errors.Is].
// Engine errors are returned wrapped, so that errors.Is and errors.As reach
// the engine's own errors (e.g. *rebac.Error, rego.ErrTimeout).
var (
	// ErrInvalidRequest reports a request the point cannot ask about.
	ErrInvalidRequest = errors.New("delegation: invalid request")
	// ErrEngine reports that an engine failed to answer.
	ErrEngine = errors.New("delegation: engine failed")
)

// Log keys.
const (
	keyEngine = "engine"
	keyError  = "error"
)

// Point is the one decision point: it asks the configured engines and
// combines their answers, deny wins. It is safe for concurrent use.
type Point struct {
	cfg    ReBACConfig
	rel    Relations  // nil when ReBAC is off
	attrs  Attributes // nil when off
	pol    Policies   // nil when off
	logger *slog.Logger
	now    func() time.Time

	allowReason string // "allowed by rebac, abac, rego"

	cache *otter.Cache[cacheKey, Decision] // nil when off
	ttl   time.Duration                    // the cache's TTL and time resolution
}

// New returns a decision point over the given engines. rel must be nil
// exactly when cfg turns ReBAC off; attrs and pol are optional (nil is
// off). At least one engine must be on. logger may be nil.
func New(cfg Config, rel Relations, attrs Attributes, pol Policies, logger *slog.Logger) (*Point, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("delegation: %w", err)
	}
	for _, e := range []struct {
		name string
		v    any
	}{{"relations", rel}, {"attributes", attrs}, {"policies", pol}} {
		if v := reflect.ValueOf(e.v); e.v != nil && v.Kind() == reflect.Pointer && v.IsNil() {
			return nil, fmt.Errorf("delegation: %s is a nil %T; pass a nil interface to turn it off", e.name, e.v)
		}
	}
	switch {
	case cfg.ReBAC.Enabled && rel == nil:
		return nil, errors.New("delegation: rebac.enabled is true but no Relations was given")
	case !cfg.ReBAC.Enabled && rel != nil:
		return nil, errors.New("delegation: rebac.enabled is false but a Relations was given")
	case rel == nil && attrs == nil && pol == nil:
		return nil, errors.New("delegation: no engine configured; a point without engines would allow everything")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Point{
		cfg:    cfg.ReBAC,
		rel:    rel,
		attrs:  attrs,
		pol:    pol,
		logger: logger,
		now:    time.Now,
	}
	var on []string
	if rel != nil {
		on = append(on, EngineReBAC)
	} else {
		logger.Warn("delegation: rebac is off; only ABAC rules and Rego policies check that a user delegated to an agent")
	}
	if attrs != nil {
		on = append(on, EngineABAC)
	}
	if pol != nil {
		on = append(on, EngineRego)
	}
	p.allowReason = "allowed by " + strings.Join(on, ", ")
	if cfg.Cache.Bytes > 0 {
		p.ttl = cfg.Cache.TTL
		p.cache = newCache(cfg.Cache)
	}
	return p, nil
}

// Decide answers req: ReBAC first (the user's permission and, when an agent
// acts, the delegation and the agent's own permission), then the ABAC
// rules, then the Rego policies. The first engine that denies decides;
// an engine error denies and is returned, wrapped in [ErrEngine], with the
// denying Decision. The answer is cached (errors never are); see the
// package documentation for what the cache key holds.
func (p *Point) Decide(ctx context.Context, req Request) (Decision, error) {
	p.setTime(&req)
	if p.cache == nil {
		if err := validate(&req); err != nil {
			return invalid(err)
		}
		return p.evaluate(ctx, &req, false)
	}
	// A hit needs no validation: the key encodes every field, so an
	// entry exists only for a request that passed it (errors, invalid
	// requests included, are never stored).
	k, ok := p.key(&req) // reads the generations before the engines run
	if ok {
		if d, hit := p.cache.GetIfPresent(k); hit {
			d.Cached = true
			d.Path = slices.Clone(d.Path)
			return d, nil
		}
	}
	if err := validate(&req); err != nil {
		return invalid(err)
	}
	d, err := p.evaluate(ctx, &req, false)
	if err == nil && ok {
		p.cache.Set(k, d)
	}
	return d, err
}

// Generation identifies the authorization state a decision depends on
// besides its request and time: the generations of the ReBAC tuples and
// model and of the Rego policies (the ABAC rules never change). Values are
// only compared: equal values mean no change between the two reads.
type Generation struct {
	rebac, rego uint64
}

// Generation returns the current [Generation], as the decision cache
// reads it: an answer [Point.Decide] gives after the call reflects at
// least this state, so a caller may keep answers it got after reading g
// for as long as Generation still returns g and the requests' times stay
// within the same [Point.CacheTTL] period, as the cache does.
func (p *Point) Generation() Generation {
	var g Generation
	if p.rel != nil {
		g.rebac = p.rel.Generation()
	}
	if p.pol != nil {
		g.rego = p.pol.Generation()
	}
	return g
}

// CacheTTL returns how long the decision cache keeps an answer, which is
// also the resolution of a request's time (see [CacheConfig.TTL]); 0 when
// the cache is off, and a caller should then keep no answers either.
func (p *Point) CacheTTL() time.Duration { return p.ttl }

// Explain answers req as [Point.Decide] does, bypassing the cache and
// asking ReBAC for the full granting paths, for `subzero authz explain`.
func (p *Point) Explain(ctx context.Context, req Request) (Decision, error) {
	p.setTime(&req)
	if err := validate(&req); err != nil {
		return invalid(err)
	}
	return p.evaluate(ctx, &req, true)
}

func invalid(err error) (Decision, error) {
	return Decision{Reason: err.Error()}, err
}

// setTime sets the time of req: now when unset, in UTC, and, while the
// cache is on, truncated to the cache TTL.
func (p *Point) setTime(req *Request) {
	if req.Time.IsZero() {
		req.Time = p.now()
	}
	req.Time = req.Time.UTC()
	if p.ttl > 0 {
		req.Time = req.Time.Truncate(p.ttl)
	}
}

// validate checks that req can be asked about.
func validate(req *Request) error {
	if err := checkID(req.Subject.ID); err != nil {
		return fmt.Errorf("%w: subject.id: %w", ErrInvalidRequest, err)
	}
	if req.Agent.present() {
		if err := checkID(req.Agent.ID); err != nil {
			return fmt.Errorf("%w: agent.id: %w", ErrInvalidRequest, err)
		}
	}
	if err := checkName(req.Action); err != nil {
		return fmt.Errorf("%w: action: %w", ErrInvalidRequest, err)
	}
	if err := checkObject(req.Resource); err != nil {
		return fmt.Errorf("%w: resource: %w", ErrInvalidRequest, err)
	}
	for _, k := range reservedContext {
		if _, ok := req.Context[k]; ok {
			return fmt.Errorf("%w: context: key %q is reserved", ErrInvalidRequest, k)
		}
	}
	return nil
}

// reservedContext are the ReBAC request-context keys the point sets.
var reservedContext = [...]string{ctxSubject, ctxAction, ctxResource}

// The ReBAC request-context keys the point sets for model conditions.
const (
	ctxSubject  = "subject"  // the user object, "user:anne"
	ctxAction   = "action"   // Request.Action
	ctxResource = "resource" // Request.Resource
)

// maxID is the longest subject or agent ID.
const maxID = 254

// checkID checks a subject or agent ID: it must not change the meaning of
// the ReBAC user string it is put in ("#" would make it a userset, "*" the
// wildcard).
func checkID(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case len(s) > maxID:
		return fmt.Errorf("longer than %d bytes", maxID)
	case s == "*" || strings.ContainsAny(s, "#@") || strings.ContainsFunc(s, unicode.IsSpace):
		return errors.New("must not be \"*\" or contain '#', '@' or spaces")
	}
	return nil
}

// checkObject checks a "type:id" object.
func checkObject(s string) error {
	typ, id, ok := strings.Cut(s, ":")
	if !ok {
		return errors.New(`must be "type:id"`)
	}
	if err := checkName(typ); err != nil {
		return fmt.Errorf("type: %w", err)
	}
	if err := checkID(id); err != nil {
		return fmt.Errorf("id: %w", err)
	}
	return nil
}

// evaluate asks the engines in order; the first denial or error decides.
func (p *Point) evaluate(ctx context.Context, req *Request, explain bool) (Decision, error) {
	var paths []string
	if p.rel != nil {
		d, ps, err := p.relations(ctx, req, explain)
		if err != nil || !d.Allowed {
			return d, err
		}
		paths = ps
	}
	if p.attrs != nil {
		ar := abacRequest(req)
		ad, err := p.attrs.Evaluate(ctx, &ar)
		if err != nil {
			return p.failed(ctx, EngineABAC, ad.Rule, err)
		}
		if !ad.Allowed {
			reason := ad.Reason
			if reason == "" {
				reason = fmt.Sprintf("denied by rule %q", ad.Rule)
			}
			return Decision{Engine: EngineABAC, Reason: "abac: " + reason, Rule: ad.Rule}, nil
		}
	}
	if p.pol != nil {
		pd, err := p.pol.Evaluate(ctx, p.regoInput(req, paths))
		if err != nil {
			return p.failed(ctx, EngineRego, "", err)
		}
		if !pd.Allowed {
			rule := strings.Join(pd.Reasons, "; ")
			if rule == "" {
				rule = rego.ReasonNotAllowed
			}
			return Decision{Engine: EngineRego, Reason: "rego: " + strings.TrimPrefix(rule, "rego: "), Rule: rule}, nil
		}
	}
	return Decision{Allowed: true, Reason: p.allowReason, Path: paths}, nil
}

// failed is the denial for an engine error.
func (p *Point) failed(ctx context.Context, engine, rule string, err error) (Decision, error) {
	level := slog.LevelWarn
	if ctx.Err() != nil {
		level = slog.LevelDebug // the caller gave up; nothing is wrong with the engine
	}
	p.logger.LogAttrs(ctx, level, "delegation: engine failed, call denied",
		slog.String(keyEngine, engine), slog.String(keyError, err.Error()))
	return Decision{Engine: engine, Reason: engine + ": evaluation error", Rule: rule},
		fmt.Errorf("%w: %s: %w", ErrEngine, engine, err)
}

// relCheck is one relationship check of a request.
type relCheck struct {
	user, relation, object string
	denied                 string // the reason when it does not hold
}

// relations runs the ReBAC checks of req: the user's permission, then, when
// an agent acts, the user's delegation to the agent and the agent's own
// permission. All must hold.
func (p *Point) relations(ctx context.Context, req *Request, explain bool) (Decision, []string, error) {
	user := p.cfg.UserType + ":" + req.Subject.ID
	checks := make([]relCheck, 1, 3)
	checks[0] = relCheck{user, req.Action, req.Resource, ""}
	if req.Agent.present() {
		agent := p.cfg.AgentType + ":" + req.Agent.ID
		rel := p.cfg.AgentRelation
		if rel == "" {
			rel = req.Action
		}
		checks = append(checks,
			relCheck{agent, p.cfg.DelegateRelation, user, user + " has not delegated to " + agent},
			relCheck{agent, rel, req.Resource, ""})
	}
	rctx := make(map[string]any, len(req.Context)+len(reservedContext))
	for k, v := range req.Context {
		rctx[k] = v
	}
	rctx[ctxSubject] = user
	rctx[ctxAction] = req.Action
	rctx[ctxResource] = req.Resource

	paths := make([]string, 0, len(checks))
	for _, c := range checks {
		cr := rebac.CheckRequest{User: c.user, Relation: c.relation, Object: c.object, Context: rctx, AtLeast: req.AtLeast}
		var (
			res rebac.CheckResult
			err error
		)
		if explain {
			res, err = p.rel.Explain(ctx, cr)
		} else {
			res, err = p.rel.Check(ctx, cr)
		}
		rule := c.object + "#" + c.relation
		if err != nil {
			d, err := p.failed(ctx, EngineReBAC, rule, fmt.Errorf("check %s %s %s: %w", c.user, c.relation, c.object, err))
			return d, nil, err
		}
		if !res.Allowed {
			reason := c.denied
			if reason == "" {
				reason = c.user + " does not have " + c.relation + " on " + c.object
			}
			return Decision{Engine: EngineReBAC, Reason: "rebac: " + reason, Rule: rule}, nil, nil
		}
		path := c.user + " " + c.relation + " " + c.object
		if len(res.Path) > 0 {
			path += " via " + strings.Join(res.Path, " > ")
		}
		paths = append(paths, path)
	}
	return Decision{Allowed: true}, paths, nil
}

// abacRequest maps req to the ABAC request.
func abacRequest(req *Request) abac.Request {
	return abac.Request{
		Subject:  abac.Subject{ID: req.Subject.ID, Attrs: req.Subject.Attrs},
		Agent:    abac.Agent{ID: req.Agent.ID, ClientID: req.Agent.ClientID, Attrs: req.Agent.Attrs},
		Scopes:   req.Scopes,
		Tool:     req.Tool,
		Action:   req.Action,
		Resource: req.Resource,
		Risk:     abac.Risk{Level: req.Risk.Level, Score: req.Risk.Score},
		SourceIP: req.SourceIP,
		Time:     req.Time,
		Context:  req.Context,
	}
}

// regoInput builds the Rego input document (see the package
// documentation). paths are the granting ReBAC paths.
func (p *Point) regoInput(req *Request, paths []string) map[string]any {
	scopes := make([]any, len(req.Scopes))
	for i, s := range req.Scopes {
		scopes[i] = s
	}
	ip := ""
	if req.SourceIP.IsValid() {
		ip = req.SourceIP.String()
	}
	in := map[string]any{
		"subject": map[string]any{"id": req.Subject.ID, "attrs": orEmpty(req.Subject.Attrs)},
		"agent": map[string]any{
			"id":        req.Agent.ID,
			"client_id": req.Agent.ClientID,
			"attrs":     orEmpty(req.Agent.Attrs),
		},
		"action":    req.Action,
		"resource":  req.Resource,
		"tool":      req.Tool,
		"scopes":    scopes,
		"risk":      map[string]any{"level": req.Risk.Level, "score": req.Risk.Score},
		"source_ip": ip,
		"time":      req.Time.Format(time.RFC3339Nano),
		"context":   orEmpty(req.Context),
	}
	if p.rel != nil {
		ps := make([]any, len(paths))
		for i, s := range paths {
			ps[i] = s
		}
		in["rebac"] = map[string]any{"allowed": true, "path": ps}
	}
	return in
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
