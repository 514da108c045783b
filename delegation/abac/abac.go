package abac

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// Effect is what a matching [Rule] does to the call.
type Effect string

// The effects a [Rule] may have.
const (
	// Allow permits the call when the rule matches and no deny rule does.
	Allow Effect = "allow"
	// Deny refuses the call when the rule matches, whatever else matches.
	Deny Effect = "deny"
)

// Rule is one named condition. When is a CEL expression of type bool over
// the variable request (see the package documentation).
type Rule struct {
	// Name identifies the rule in decisions, errors and the audit trail.
	Name string `yaml:"name"`
	// Effect is allow or deny.
	Effect Effect `yaml:"effect"`
	// When is the CEL condition; it must have type bool.
	When string `yaml:"when"`
	// Reason is returned in the [Decision] when the rule decides the call.
	Reason string `yaml:"reason"`
}

// Config configures an [Engine].
type Config struct {
	// Rules are evaluated deny rules first, then allow rules, each group in
	// order.
	Rules []Rule `yaml:"rules"`
	// CostLimit bounds the CEL cost of evaluating one rule; see the package
	// documentation's Security section.
	CostLimit uint64 `yaml:"cost_limit"`
	// Timezone is the IANA zone used by hour() and weekday(); empty means UTC.
	Timezone string `yaml:"timezone"`
}

// DefaultCostLimit is the default [Config.CostLimit]: ample for attribute
// comparisons and small list scans, small enough to stop runaway
// comprehensions in well under a millisecond.
const DefaultCostLimit = 10_000

// MaxCostLimit is the largest [Config.CostLimit] accepted.
const MaxCostLimit = 10_000_000

// MaxWhenBytes is the longest [Rule.When] accepted.
const MaxWhenBytes = 8 << 10

// Default returns the default configuration: no rules (allow all), the
// default cost limit, UTC.
func Default() Config {
	return Config{CostLimit: DefaultCostLimit, Timezone: "UTC"}
}

// Validate reports the first invalid field, named by its key path, e.g.
// `rules[3].when: rule "tools": ERROR: <input>:1:8: undefined field 'tol'`
// followed by CEL's source excerpt. It compiles
// every rule and does not mutate c. Loading the timezone may read the
// system's zoneinfo.
func (c Config) Validate() error {
	_, err := compile(c)
	return err
}

// Decision is the outcome of [Engine.Evaluate].
type Decision struct {
	// Allowed reports whether the call may proceed.
	Allowed bool
	// Rule names the rule that decided, or is empty when none did.
	Rule string
	// Reason explains the decision: the rule's reason, "no allow rule
	// matched", "no deny rule matched" (deny rules only) or "no rules".
	Reason string
}

// Errors returned by [Engine.Evaluate]; check them with [errors.Is].
var (
	// ErrEval reports that a rule could not be evaluated (the wrapping error
	// names the rule); the call is denied.
	ErrEval = errors.New("abac: evaluation failed")
	// ErrNilRequest reports a nil *Request.
	ErrNilRequest = errors.New("abac: nil request")
)

// Engine holds compiled rules. It is safe for concurrent use.
type Engine struct {
	deny, allow []compiled
}

type compiled struct {
	name, reason string
	prg          cel.Program
	// tracked is set when the rule's static cost bound exceeds the cost
	// limit: it runs with runtime cost tracking and context interrupts.
	tracked bool
}

// interruptEvery is how many comprehension iterations run between checks
// of the context.
const interruptEvery = 64

// noSizes tells the cost estimator nothing about attribute sizes, so any
// cost that depends on the size of request data is unbounded.
type noSizes struct{}

func (noSizes) EstimateSize(checker.AstNode) *checker.SizeEstimate { return nil }

func (noSizes) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// New validates cfg and compiles its rules once.
func New(cfg Config) (*Engine, error) {
	return compile(cfg)
}

func compile(c Config) (*Engine, error) {
	if c.CostLimit == 0 || c.CostLimit > MaxCostLimit {
		return nil, fmt.Errorf("cost_limit: must be between 1 and %d", MaxCostLimit)
	}
	tz := c.Timezone
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("timezone: %q is not an IANA time zone", tz)
	}
	env, err := newEnv(loc)
	if err != nil {
		return nil, fmt.Errorf("abac: cel environment: %w", err) // programmer error
	}
	e := &Engine{}
	for i, r := range c.Rules {
		switch {
		case r.Name == "":
			return nil, fmt.Errorf("rules[%d].name: must not be empty", i)
		case slices.ContainsFunc(c.Rules[:i], func(o Rule) bool { return o.Name == r.Name }):
			return nil, fmt.Errorf("rules[%d].name: %q is used twice", i, r.Name)
		case r.Effect != Allow && r.Effect != Deny:
			return nil, fmt.Errorf("rules[%d].effect: must be allow or deny, not %q", i, r.Effect)
		case r.When == "":
			return nil, fmt.Errorf("rules[%d].when: must not be empty", i)
		case len(r.When) > MaxWhenBytes:
			return nil, fmt.Errorf("rules[%d].when: longer than %d bytes", i, MaxWhenBytes)
		}
		checked, iss := env.Compile(r.When)
		if iss.Err() != nil {
			return nil, fmt.Errorf("rules[%d].when: rule %q: %w", i, r.Name, iss.Err())
		}
		if out := checked.OutputType(); !out.IsExactType(cel.BoolType) {
			hint := ""
			if out.IsExactType(cel.DynType) {
				hint = " (compare dynamic attributes explicitly, e.g. request.context.flag == true)"
			}
			return nil, fmt.Errorf("rules[%d].when: rule %q: must have type bool, not %s%s", i, r.Name, out, hint)
		}
		if err := checkCIDRLiterals(checked); err != nil {
			return nil, fmt.Errorf("rules[%d].when: rule %q: %w", i, r.Name, err)
		}
		// A rule whose static worst-case cost is within the limit cannot
		// exceed it at run time, so it runs without the (costly) runtime
		// tracker and, having no unbounded loop, without interrupt checks.
		est, err := env.EstimateCost(checked, noSizes{})
		if err != nil {
			return nil, fmt.Errorf("rules[%d].when: rule %q: estimate cost: %w", i, r.Name, err)
		}
		bounded := est.Max <= c.CostLimit
		opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
		if !bounded {
			opts = append(opts, cel.CostLimit(c.CostLimit), cel.InterruptCheckFrequency(interruptEvery))
		}
		prg, err := env.Program(checked, opts...)
		if err != nil {
			return nil, fmt.Errorf("rules[%d].when: rule %q: %w", i, r.Name, err)
		}
		cr := compiled{name: r.Name, reason: r.Reason, prg: prg, tracked: !bounded}
		if r.Effect == Deny {
			e.deny = append(e.deny, cr)
		} else {
			e.allow = append(e.allow, cr)
		}
	}
	return e, nil
}

// checkCIDRLiterals rejects in_cidr calls whose literal prefix does not parse.
func checkCIDRLiterals(a *cel.Ast) error {
	var err error
	ast.PreOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if err != nil || e.Kind() != ast.CallKind || e.AsCall().FunctionName() != "in_cidr" {
			return
		}
		args := e.AsCall().Args()
		if len(args) != 2 || args[1].Kind() != ast.LiteralKind {
			return
		}
		if s, ok := args[1].AsLiteral().(types.String); ok {
			if _, perr := netip.ParsePrefix(string(s)); perr != nil {
				err = fmt.Errorf("in_cidr: %q is not a CIDR prefix", clip(string(s)))
			}
		}
	}))
	return err
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Evaluate decides req. Deny rules run first and the first match denies;
// then the first matching allow rule allows; if allow rules exist and none
// matches, the call is denied. Any evaluation error is returned with a
// denying Decision.
func (e *Engine) Evaluate(ctx context.Context, req *Request) (Decision, error) {
	if req == nil {
		return Decision{Reason: "evaluation error"}, ErrNilRequest
	}
	if err := ctx.Err(); err != nil {
		return Decision{Reason: "evaluation error"}, fmt.Errorf("%w: %w", ErrEval, err)
	}
	act := activation{req: req}
	for i := range e.deny {
		ok, err := e.deny[i].eval(ctx, act)
		if err != nil {
			return Decision{Rule: e.deny[i].name, Reason: "evaluation error"}, err
		}
		if ok {
			return Decision{Rule: e.deny[i].name, Reason: e.deny[i].reason}, nil
		}
	}
	if len(e.allow) == 0 {
		if len(e.deny) == 0 {
			return Decision{Allowed: true, Reason: "no rules"}, nil
		}
		return Decision{Allowed: true, Reason: "no deny rule matched"}, nil
	}
	for i := range e.allow {
		ok, err := e.allow[i].eval(ctx, act)
		if err != nil {
			return Decision{Rule: e.allow[i].name, Reason: "evaluation error"}, err
		}
		if ok {
			return Decision{Allowed: true, Rule: e.allow[i].name, Reason: e.allow[i].reason}, nil
		}
	}
	return Decision{Reason: "no allow rule matched"}, nil
}

func (c *compiled) eval(ctx context.Context, act activation) (bool, error) {
	var (
		out ref.Val
		err error
	)
	if c.tracked {
		out, _, err = c.prg.ContextEval(ctx, act)
	} else {
		out, _, err = c.prg.Eval(act)
	}
	if err != nil {
		return false, fmt.Errorf("%w: rule %q: %w", ErrEval, c.name, err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("%w: rule %q: result is %s, not bool", ErrEval, c.name, out.Type())
	}
	return bool(b), nil
}
