package rebac

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	openfgav1 "github.com/openfga/api/proto/openfga/v1"
)

// InlineCondition is the reserved condition name of OpenFGA's inline
// conditions: a restriction `[user with $expression]` accepts tuples whose
// condition is {"name": "$expression", "context": {"expression": "<CEL>",
// "parameters": {"<name>": "<type>", ...}}}. Parameters the expression
// uses but does not declare are strings. An inline condition's values
// come from the request context only.
const InlineCondition = "$expression"

// ConditionCostLimit is the CEL cost one evaluation of a condition may
// spend (OpenFGA's default maxConditionEvaluationCost); past it the
// evaluation fails with ErrConditionEval.
const ConditionCostLimit = 100

// ParamKind is the kind of a condition parameter's type; the values are
// OpenFGA's ConditionParamTypeRef type names.
type ParamKind uint8

// The parameter kinds. OpenFGA has no bytes type, so neither does this
// package.
const (
	ParamAny       ParamKind = iota + 1 // any JSON value
	ParamBool                           // bool
	ParamString                         // string
	ParamInt                            // int (int64): a JSON number without fraction, or a numeric string
	ParamUint                           // uint (uint64)
	ParamDouble                         // double
	ParamDuration                       // duration: a Go duration string, "1h30m"
	ParamTimestamp                      // timestamp: an RFC 3339 string
	ParamMap                            // map<T>: an object whose values are T
	ParamList                           // list<T>: an array of T
	ParamIPAddress                      // ipaddress: an IPv4 or IPv6 address string
)

var paramKindNames = [...]string{
	ParamAny: "any", ParamBool: "bool", ParamString: "string", ParamInt: "int", ParamUint: "uint",
	ParamDouble: "double", ParamDuration: "duration", ParamTimestamp: "timestamp", ParamMap: "map",
	ParamList: "list", ParamIPAddress: "ipaddress",
}

// String returns the DSL name of k: "int", "map", ...
func (k ParamKind) String() string {
	if k > 0 && int(k) < len(paramKindNames) {
		return paramKindNames[k]
	}
	return "ParamKind(" + strconv.Itoa(int(k)) + ")"
}

// ParamType is a condition parameter's type. Elem is the element kind of
// map<T> and list<T> (itself never a map or list, as in the DSL) and zero
// otherwise.
type ParamType struct {
	Kind ParamKind
	Elem ParamKind
}

// String formats t as in the DSL: "int", "map<string>", "list<ipaddress>".
func (t ParamType) String() string {
	if t.Kind == ParamMap || t.Kind == ParamList {
		return t.Kind.String() + "<" + t.Elem.String() + ">"
	}
	return t.Kind.String()
}

// ParseParamType parses a DSL parameter type: "int", "map<string>", ...
func ParseParamType(s string) (ParamType, error) {
	kind := func(s string) ParamKind {
		for k, n := range paramKindNames {
			if n != "" && n == s {
				return ParamKind(k)
			}
		}
		return 0
	}
	if base, rest, ok := strings.Cut(s, "<"); ok {
		elem, ok := strings.CutSuffix(rest, ">")
		k, e := kind(base), kind(elem)
		if !ok || (k != ParamMap && k != ParamList) || e == 0 || e == ParamMap || e == ParamList {
			return ParamType{}, fmt.Errorf("unknown parameter type %q", clip(s))
		}
		return ParamType{Kind: k, Elem: e}, nil
	}
	switch k := kind(s); k {
	case 0:
		return ParamType{}, fmt.Errorf("unknown parameter type %q", clip(s))
	case ParamMap, ParamList:
		return ParamType{}, fmt.Errorf("%s requires an element type, e.g. %s<string>", s, s)
	default:
		return ParamType{Kind: k}, nil
	}
}

func paramTypeFromProto(p *openfgav1.ConditionParamTypeRef) (ParamType, error) {
	k := ParamKind(p.GetTypeName())
	if k == 0 || int(k) >= len(paramKindNames) {
		return ParamType{}, fmt.Errorf("unknown parameter type %s", p.GetTypeName())
	}
	gs := p.GetGenericTypes()
	if k != ParamMap && k != ParamList {
		if len(gs) != 0 {
			return ParamType{}, fmt.Errorf("type %s takes no element type", k)
		}
		return ParamType{Kind: k}, nil
	}
	if len(gs) != 1 {
		return ParamType{}, fmt.Errorf("type %s needs exactly one element type", k)
	}
	e := ParamKind(gs[0].GetTypeName())
	if e == 0 || int(e) >= len(paramKindNames) || e == ParamMap || e == ParamList || len(gs[0].GetGenericTypes()) != 0 {
		return ParamType{}, fmt.Errorf("type %s: element type must be a scalar type", k)
	}
	return ParamType{Kind: k, Elem: e}, nil
}

func (t ParamType) celType() *cel.Type {
	switch t.Kind {
	case ParamMap:
		return cel.MapType(cel.StringType, ParamType{Kind: t.Elem}.celType())
	case ParamList:
		return cel.ListType(ParamType{Kind: t.Elem}.celType())
	case ParamAny:
		return cel.DynType
	case ParamBool:
		return cel.BoolType
	case ParamString:
		return cel.StringType
	case ParamInt:
		return cel.IntType
	case ParamUint:
		return cel.UintType
	case ParamDouble:
		return cel.DoubleType
	case ParamDuration:
		return cel.DurationType
	case ParamTimestamp:
		return cel.TimestampType
	case ParamIPAddress:
		return ipAddressType
	}
	panic("rebac: unknown parameter kind") // fromProto and ParseParamType admit no other
}

// Condition is a compiled condition of a [Model]: a CEL expression of type
// bool over typed parameters. It is safe for concurrent use.
type Condition struct {
	Name       string
	Expression string
	Params     map[string]ParamType
	// ParamNames lists the parameters sorted by name.
	ParamNames []string

	prg cel.Program
}

// Eval evaluates c. Each parameter's value is taken from bound (the
// context written with the tuple) or, when bound lacks it, from request
// (the check's context): on a key present in both, the tuple's value
// wins, as in OpenFGA. Values are JSON-decoded (float64, string, bool,
// []any, map[string]any; int and json.Number are accepted too) and
// converted to the parameter's type. Keys that are not parameters are
// ignored.
//
// Every declared parameter must have a value, even one the expression does
// not reach, as in OpenFGA: a missing one is an *Error with
// CodeValidation wrapping ErrMissingParameter, never a false or true. A
// value of the wrong type, a run-time failure and a cost over
// [ConditionCostLimit] are *Error with CodeValidation too; their messages
// never quote context values.
func (c *Condition) Eval(bound, request map[string]any) (bool, error) {
	vars := make(map[string]any, len(c.ParamNames))
	var missing []string
	for _, name := range c.ParamNames {
		v, ok := bound[name]
		if !ok {
			v, ok = request[name]
		}
		if !ok {
			missing = append(missing, name)
			continue
		}
		cv, err := convertParam(c.Params[name], v)
		if err != nil {
			return false, newError(CodeValidation, "", "condition %s: parameter %s: %s", c.Name, name, err)
		}
		vars[name] = cv
	}
	if len(missing) == 1 {
		return false, &Error{Code: CodeValidation, Msg: fmt.Sprintf("condition %s: missing parameter %s", c.Name, missing[0]), Err: ErrMissingParameter}
	}
	if len(missing) > 1 {
		return false, &Error{Code: CodeValidation, Msg: fmt.Sprintf("condition %s: missing parameters %s", c.Name, strings.Join(missing, ", ")), Err: ErrMissingParameter}
	}
	out, _, err := c.prg.Eval(vars)
	if err != nil {
		msg := "evaluation failed"
		if strings.Contains(err.Error(), "cost limit exceeded") {
			msg = fmt.Sprintf("evaluation exceeded the cost limit of %d", ConditionCostLimit)
		}
		return false, &Error{Code: CodeValidation, Msg: "condition " + c.Name + ": " + msg, Err: ErrConditionEval}
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, &Error{Code: CodeValidation, Msg: "condition " + c.Name + ": result is not a bool", Err: ErrConditionEval}
	}
	return bool(b), nil
}

// EvalCondition evaluates the condition of a tuple against the request
// context: true when tc is nil; the model's condition tc.Name with tc's
// context bound; or, for [InlineCondition], the expression carried in
// tc's context (compiled once per distinct expression and cached) with
// the request context alone. Errors are as for [Condition.Eval]; a name
// the model does not define is CodeValidation.
func (m *Model) EvalCondition(tc *TupleCondition, request map[string]any) (bool, error) {
	if tc == nil {
		return true, nil
	}
	if tc.Name == InlineCondition {
		c, err := m.inline.get(tc.Context)
		if err != nil {
			return false, err
		}
		return c.Eval(nil, request)
	}
	c, ok := m.Conditions[tc.Name]
	if !ok {
		return false, newError(CodeValidation, "", "condition %s is not defined in the model", quoteName(tc.Name))
	}
	return c.Eval(tc.Context, request)
}

// celEnv is the base CEL environment, built once: the standard library,
// OpenFGA's ipaddress type with its in_cidr member function and ipaddress
// constructor.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Function("in_cidr",
			cel.MemberOverload("ipaddress_in_cidr_string", []*cel.Type{ipAddressType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(inCIDR))),
		cel.Function("ipaddress",
			cel.Overload("string_to_ipaddress", []*cel.Type{cel.StringType}, ipAddressType,
				cel.UnaryBinding(toIPAddress))),
	)
})

// compileCondition type-checks expr against params and builds its
// program. Errors name the condition and quote CEL's diagnostics, which
// show the expression (model text, not context values).
func compileCondition(name, expr string, params map[string]ParamType) (*Condition, error) {
	field := "condition " + name
	if expr == "" {
		return nil, newError(CodeValidation, field, "expression is empty")
	}
	if len(expr) > MaxExpressionBytes {
		return nil, newError(CodeValidation, field, "expression is longer than %d bytes", MaxExpressionBytes)
	}
	base, err := celEnv()
	if err != nil {
		return nil, &Error{Code: CodeValidation, Msg: "CEL environment", Err: err} // programmer error
	}
	names := slices.Sorted(maps.Keys(params))
	opts := make([]cel.EnvOption, 0, len(names))
	for _, n := range names {
		opts = append(opts, cel.Variable(n, params[n].celType()))
	}
	env, err := base.Extend(opts...)
	if err != nil {
		return nil, newError(CodeValidation, field, "%s", err)
	}
	checked, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, newError(CodeValidation, field, "%s", iss.Err())
	}
	if out := checked.OutputType(); !out.IsExactType(cel.BoolType) {
		return nil, newError(CodeValidation, field, "expression must have type bool, not %s", out)
	}
	if err := checkCIDRLiterals(checked); err != nil {
		return nil, newError(CodeValidation, field, "%s", err)
	}
	prg, err := env.Program(checked,
		cel.EvalOptions(cel.OptOptimize),
		cel.CostLimit(ConditionCostLimit))
	if err != nil {
		return nil, newError(CodeValidation, field, "%s", err)
	}
	return &Condition{Name: name, Expression: expr, Params: params, ParamNames: names, prg: prg}, nil
}

// checkCIDRLiterals rejects in_cidr calls whose literal prefix does not
// parse: such a condition could only ever fail.
func checkCIDRLiterals(a *cel.Ast) error {
	var err error
	ast.PreOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if err != nil || e.Kind() != ast.CallKind || e.AsCall().FunctionName() != "in_cidr" {
			return
		}
		args := e.AsCall().Args()
		if len(args) != 1 || args[0].Kind() != ast.LiteralKind {
			return
		}
		if s, ok := args[0].AsLiteral().(types.String); ok {
			if _, perr := netip.ParsePrefix(string(s)); perr != nil {
				err = fmt.Errorf("in_cidr: %q is not a CIDR prefix", clip(string(s)))
			}
		}
	}))
	return err
}

// convertParam converts a JSON-decoded context value to t's Go form for
// CEL. Errors describe the expected type and never quote the value.
func convertParam(t ParamType, v any) (any, error) {
	switch t.Kind {
	case ParamMap:
		mv, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("expected %s, got %s", t, jsonKind(v))
		}
		out := make(map[string]any, len(mv))
		for k, e := range mv {
			ce, err := convertParam(ParamType{Kind: t.Elem}, e)
			if err != nil {
				return nil, fmt.Errorf("map value: %w", err)
			}
			out[k] = ce
		}
		return out, nil
	case ParamList:
		lv, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("expected %s, got %s", t, jsonKind(v))
		}
		out := make([]any, len(lv))
		for i, e := range lv {
			ce, err := convertParam(ParamType{Kind: t.Elem}, e)
			if err != nil {
				return nil, fmt.Errorf("list item %d: %w", i, err)
			}
			out[i] = ce
		}
		return out, nil
	case ParamAny:
		return normalizeAny(v)
	case ParamBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case ParamString:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case ParamInt:
		f, ok := number(v)
		if !ok {
			break
		}
		if f.isInt {
			return f.i, nil
		}
		if f.f != math.Trunc(f.f) || f.f < -(1<<63) || f.f >= 1<<63 {
			return nil, errors.New("expected int, got a number that is not an int64")
		}
		return int64(f.f), nil
	case ParamUint:
		f, ok := number(v)
		if !ok {
			break
		}
		if f.isInt {
			if f.i < 0 {
				return nil, errors.New("expected uint, got a negative number")
			}
			return uint64(f.i), nil
		}
		if f.isUint {
			return f.u, nil
		}
		if f.f != math.Trunc(f.f) || f.f < 0 || f.f >= 1<<64 {
			return nil, errors.New("expected uint, got a number that is not a uint64")
		}
		return uint64(f.f), nil
	case ParamDouble:
		f, ok := number(v)
		if !ok {
			break
		}
		switch {
		case f.isInt:
			return float64(f.i), nil
		case f.isUint:
			return float64(f.u), nil
		}
		return f.f, nil
	case ParamDuration:
		switch x := v.(type) {
		case time.Duration:
			return x, nil
		case string:
			d, err := time.ParseDuration(x)
			if err != nil {
				return nil, errors.New("expected a duration string such as \"1h30m\"")
			}
			return d, nil
		}
	case ParamTimestamp:
		switch x := v.(type) {
		case time.Time:
			return x, nil
		case string:
			ts, err := time.Parse(time.RFC3339, x)
			if err != nil {
				return nil, errors.New("expected an RFC 3339 timestamp string")
			}
			return ts, nil
		}
	case ParamIPAddress:
		switch x := v.(type) {
		case ipAddress:
			return x, nil
		case string:
			a, err := netip.ParseAddr(x)
			if err != nil {
				return nil, errors.New("expected an IP address string")
			}
			return ipAddress{a}, nil
		}
	}
	return nil, fmt.Errorf("expected %s, got %s", t, jsonKind(v))
}

type num struct {
	f      float64
	i      int64
	u      uint64
	isInt  bool // exact int64 in i
	isUint bool // exact uint64 in u, beyond int64
}

// number reads a JSON number (float64, json.Number), a Go integer (YAML
// decodes to int) or a numeric string (accepted by OpenFGA).
func number(v any) (num, bool) {
	switch x := v.(type) {
	case float64:
		return num{f: x}, !math.IsNaN(x) && !math.IsInf(x, 0)
	case float32:
		return number(float64(x))
	case int:
		return num{i: int64(x), isInt: true}, true
	case int64:
		return num{i: x, isInt: true}, true
	case int32:
		return num{i: int64(x), isInt: true}, true
	case uint64:
		if x <= math.MaxInt64 {
			return num{i: int64(x), isInt: true}, true
		}
		return num{u: x, isUint: true}, true
	case uint:
		return number(uint64(x))
	case uint32:
		return num{i: int64(x), isInt: true}, true
	case json.Number:
		return number(string(x))
	case string:
		if i, err := strconv.ParseInt(x, 10, 64); err == nil {
			return num{i: i, isInt: true}, true
		}
		if u, err := strconv.ParseUint(x, 10, 64); err == nil {
			return num{u: u, isUint: true}, true
		}
		f, err := strconv.ParseFloat(x, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return num{}, false
		}
		return num{f: f}, true
	}
	return num{}, false
}

// normalizeAny turns a JSON-like value into what CEL's default adapter
// takes: numbers become float64 (as from JSON, as in OpenFGA), nested maps
// and lists are copied.
func normalizeAny(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string, float64:
		return x, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ce, err := normalizeAny(e)
			if err != nil {
				return nil, err
			}
			out[k] = ce
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			ce, err := normalizeAny(e)
			if err != nil {
				return nil, err
			}
			out[i] = ce
		}
		return out, nil
	}
	if n, ok := number(v); ok {
		if _, isString := v.(string); !isString {
			switch {
			case n.isInt:
				return float64(n.i), nil
			case n.isUint:
				return float64(n.u), nil
			}
			return n.f, nil
		}
	}
	return nil, fmt.Errorf("expected a JSON value, got %s", jsonKind(v))
}

// jsonKind names the JSON kind of v, for errors that must not quote it.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a bool"
	case string:
		return "a string"
	case float64, float32, int, int32, int64, uint, uint32, uint64, json.Number:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("a %T", v)
}

// ipAddressType is the CEL type of ipaddress parameters.
var ipAddressType = cel.OpaqueType("ipaddress")

// ipAddress is an ipaddress value in CEL.
type ipAddress struct{ addr netip.Addr }

// ConvertToNative implements ref.Val.
func (ip ipAddress) ConvertToNative(t reflect.Type) (any, error) {
	switch {
	case reflect.TypeOf(ip).AssignableTo(t):
		return ip, nil
	case reflect.TypeOf(ip.addr).AssignableTo(t):
		return ip.addr, nil
	case t.Kind() == reflect.String:
		return ip.addr.String(), nil
	}
	return nil, fmt.Errorf("ipaddress cannot be converted to %v", t)
}

// ConvertToType implements ref.Val.
func (ip ipAddress) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.StringType:
		return types.String(ip.addr.String())
	case types.TypeType:
		return ipAddressType
	}
	return types.NewErr("ipaddress cannot be converted to %s", t.TypeName())
}

// Equal implements ref.Val.
func (ip ipAddress) Equal(other ref.Val) ref.Val {
	o, ok := other.(ipAddress)
	if !ok {
		return types.Bool(false)
	}
	return types.Bool(ip.addr == o.addr)
}

// Type implements ref.Val.
func (ip ipAddress) Type() ref.Type { return ipAddressType }

// Value implements ref.Val.
func (ip ipAddress) Value() any { return ip }

func inCIDR(lhs, rhs ref.Val) ref.Val {
	ip, ok := lhs.(ipAddress)
	if !ok {
		return types.NewErr("in_cidr: receiver is not an ipaddress")
	}
	s, ok := rhs.(types.String)
	if !ok {
		return types.NewErr("in_cidr: argument is not a string")
	}
	p, err := netip.ParsePrefix(string(s))
	if err != nil {
		return types.NewErr("in_cidr: malformed CIDR prefix") // no value: it may come from the context
	}
	return types.Bool(p.Contains(ip.addr.Unmap()) || p.Contains(ip.addr))
}

func toIPAddress(v ref.Val) ref.Val {
	s, ok := v.(types.String)
	if !ok {
		return types.NewErr("ipaddress: argument is not a string")
	}
	a, err := netip.ParseAddr(string(s))
	if err != nil {
		return types.NewErr("ipaddress: malformed IP address")
	}
	return ipAddress{a}
}

// inlineCache holds compiled inline conditions by their context's JSON.
type inlineCache struct {
	mu sync.Mutex
	m  map[string]*Condition
}

const inlineCacheSize = 1024

func newInlineCache() *inlineCache { return &inlineCache{m: map[string]*Condition{}} }

func (ic *inlineCache) get(ctx map[string]any) (*Condition, error) {
	if ic == nil { // a Model not made by ParseModel
		return compileInline(ctx)
	}
	key, err := json.Marshal(ctx)
	if err != nil {
		return nil, newError(CodeValidation, "", "condition %s: context is not JSON", InlineCondition)
	}
	ic.mu.Lock()
	c, ok := ic.m[string(key)]
	ic.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err = compileInline(ctx)
	if err != nil {
		return nil, err
	}
	ic.mu.Lock()
	if len(ic.m) >= inlineCacheSize {
		clear(ic.m) // crude, but bounded; distinct expressions are few
	}
	ic.m[string(key)] = c
	ic.mu.Unlock()
	return c, nil
}

// The keys of an inline condition's context.
const (
	inlineExpressionKey = "expression"
	inlineParametersKey = "parameters"
)

// compileInline compiles an inline condition from a tuple's context
// {"expression": "<CEL>", "parameters": {"<name>": "<type>"}}, as OpenFGA
// does: identifiers the expression uses without declaring them are
// string parameters.
func compileInline(ctx map[string]any) (*Condition, error) {
	field := "condition " + InlineCondition
	for k := range ctx {
		if k != inlineExpressionKey && k != inlineParametersKey {
			return nil, newError(CodeValidation, field, "context key %s is not expression or parameters", quoteName(k))
		}
	}
	expr, _ := ctx[inlineExpressionKey].(string)
	if expr == "" {
		return nil, newError(CodeValidation, field, "context must hold a non-empty string %q", inlineExpressionKey)
	}
	params := map[string]ParamType{}
	if raw, ok := ctx[inlineParametersKey]; ok {
		pm, ok := raw.(map[string]any)
		if !ok {
			return nil, newError(CodeValidation, field, "context key %q must be an object of parameter types", inlineParametersKey)
		}
		if len(pm) > MaxConditionParams {
			return nil, newError(CodeValidation, field, "at most %d parameters are allowed", MaxConditionParams)
		}
		for name, tv := range pm {
			if err := checkName(name); err != nil {
				return nil, newError(CodeValidation, field+", parameter "+quoteName(name), "%s", err)
			}
			if name == inlineExpressionKey || name == inlineParametersKey {
				return nil, newError(CodeValidation, field+", parameter "+name, "name is reserved")
			}
			ts, _ := tv.(string)
			t, err := ParseParamType(ts)
			if err != nil {
				return nil, newError(CodeValidation, field+", parameter "+name, "%s", err)
			}
			params[name] = t
		}
	}
	if len(expr) > MaxExpressionBytes {
		return nil, newError(CodeValidation, field, "expression is longer than %d bytes", MaxExpressionBytes)
	}
	base, err := celEnv()
	if err != nil {
		return nil, &Error{Code: CodeValidation, Msg: "CEL environment", Err: err}
	}
	parsed, iss := base.Parse(expr)
	if iss.Err() != nil {
		return nil, newError(CodeValidation, field, "%s", iss.Err())
	}
	for _, id := range freeIdents(parsed.NativeRep().Expr()) {
		if _, ok := params[id]; !ok {
			if err := checkName(id); err != nil {
				return nil, newError(CodeValidation, field+", parameter "+quoteName(id), "%s", err)
			}
			params[id] = ParamType{Kind: ParamString}
		}
	}
	if len(params) > MaxConditionParams {
		return nil, newError(CodeValidation, field, "at most %d parameters are allowed", MaxConditionParams)
	}
	return compileCondition(InlineCondition, expr, params)
}

// freeIdents returns the identifiers of e not bound by a comprehension.
func freeIdents(e ast.Expr) []string {
	var out []string
	var walk func(e ast.Expr, bound map[string]bool)
	walk = func(e ast.Expr, bound map[string]bool) {
		switch e.Kind() {
		case ast.IdentKind:
			if id := e.AsIdent(); !bound[id] && !slices.Contains(out, id) {
				out = append(out, id)
			}
		case ast.SelectKind:
			walk(e.AsSelect().Operand(), bound)
		case ast.CallKind:
			c := e.AsCall()
			if c.IsMemberFunction() {
				walk(c.Target(), bound)
			}
			for _, a := range c.Args() {
				walk(a, bound)
			}
		case ast.ListKind:
			for _, el := range e.AsList().Elements() {
				walk(el, bound)
			}
		case ast.MapKind:
			for _, en := range e.AsMap().Entries() {
				me := en.AsMapEntry()
				walk(me.Key(), bound)
				walk(me.Value(), bound)
			}
		case ast.StructKind:
			for _, f := range e.AsStruct().Fields() {
				walk(f.AsStructField().Value(), bound)
			}
		case ast.ComprehensionKind:
			c := e.AsComprehension()
			walk(c.IterRange(), bound)
			inner := maps.Clone(bound)
			if inner == nil {
				inner = map[string]bool{}
			}
			inner[c.IterVar()] = true
			if c.HasIterVar2() {
				inner[c.IterVar2()] = true
			}
			inner[c.AccuVar()] = true
			walk(c.AccuInit(), inner)
			walk(c.LoopCondition(), inner)
			walk(c.LoopStep(), inner)
			walk(c.Result(), inner)
		}
	}
	walk(e, nil)
	return out
}
