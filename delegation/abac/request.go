package abac

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// Request holds the attributes a rule sees as the CEL variable request.
// Evaluate does not modify it or retain it.
type Request struct {
	// Subject is the user the call is made for (request.subject).
	Subject Subject
	// Agent is the client acting for the subject (request.agent).
	Agent Agent
	// Scopes are the granted OAuth scopes (request.scopes).
	Scopes []string
	// Tool is the tool or model name (request.tool).
	Tool string
	// Action is the operation on the resource (request.action).
	Action string
	// Resource names the target (request.resource).
	Resource string
	// Risk is the call's assessed risk (request.risk).
	Risk Risk
	// SourceIP is the caller's address (request.source_ip).
	SourceIP netip.Addr
	// Time is when the call was made (request.time).
	Time time.Time
	// Context holds extra attributes (request.context).
	Context map[string]any
}

// Subject is the user on whose behalf a call is made.
type Subject struct {
	// ID is the subject identifier (request.subject.id).
	ID string
	// Attrs are the subject's attributes (request.subject.attrs).
	Attrs map[string]any
}

// Agent is the OAuth client making the call.
type Agent struct {
	// ID identifies the agent (request.agent.id).
	ID string
	// ClientID is the OAuth client ID (request.agent.client_id).
	ClientID string
	// Attrs are the agent's attributes (request.agent.attrs).
	Attrs map[string]any
}

// Risk is the risk assessment of a call.
type Risk struct {
	// Level is a label such as "low" or "high" (request.risk.level).
	Level string
	// Score is a numeric risk score (request.risk.score).
	Score float64
}

// CEL type names.
const (
	requestTypeName = "abac.Request"
	subjectTypeName = "abac.Subject"
	agentTypeName   = "abac.Agent"
	riskTypeName    = "abac.Risk"
)

var (
	requestType = types.NewObjectType(requestTypeName)
	subjectType = types.NewObjectType(subjectTypeName)
	agentType   = types.NewObjectType(agentTypeName)
	riskType    = types.NewObjectType(riskTypeName)
	// ipType is the opaque CEL type of request.source_ip.
	ipType = types.NewOpaqueType("abac.IP")
	dynMap = types.NewMapType(types.StringType, types.DynType)
)

var errFieldType = errors.New("abac: field read from the wrong type")

// field builds a FieldType reading from *T.
func field[T any](t *types.Type, get func(*T) any) *types.FieldType {
	return &types.FieldType{
		Type:  t,
		IsSet: func(o any) bool { _, ok := unwrap[T](o); return ok },
		GetFrom: func(o any) (any, error) {
			p, ok := unwrap[T](o)
			if !ok {
				return nil, errFieldType
			}
			return get(p), nil
		},
	}
}

func unwrap[T any](o any) (*T, bool) {
	switch v := o.(type) {
	case *T:
		return v, v != nil
	case obj[T]:
		return v.p, v.p != nil
	}
	return nil, false
}

var structFields = map[string]map[string]*types.FieldType{
	requestTypeName: {
		"subject":   field(subjectType, func(r *Request) any { return obj[Subject]{&r.Subject} }),
		"agent":     field(agentType, func(r *Request) any { return obj[Agent]{&r.Agent} }),
		"scopes":    field(types.NewListType(types.StringType), func(r *Request) any { return r.Scopes }),
		"tool":      field(types.StringType, func(r *Request) any { return types.String(r.Tool) }),
		"action":    field(types.StringType, func(r *Request) any { return types.String(r.Action) }),
		"resource":  field(types.StringType, func(r *Request) any { return types.String(r.Resource) }),
		"risk":      field(riskType, func(r *Request) any { return obj[Risk]{&r.Risk} }),
		"source_ip": field(ipType, func(r *Request) any { return ipVal{r.SourceIP} }),
		"time":      field(types.TimestampType, func(r *Request) any { return types.Timestamp{Time: r.Time} }),
		"context":   field(dynMap, func(r *Request) any { return r.Context }),
	},
	subjectTypeName: {
		"id":    field(types.StringType, func(s *Subject) any { return types.String(s.ID) }),
		"attrs": field(dynMap, func(s *Subject) any { return s.Attrs }),
	},
	agentTypeName: {
		"id":        field(types.StringType, func(a *Agent) any { return types.String(a.ID) }),
		"client_id": field(types.StringType, func(a *Agent) any { return types.String(a.ClientID) }),
		"attrs":     field(dynMap, func(a *Agent) any { return a.Attrs }),
	},
	riskTypeName: {
		"level": field(types.StringType, func(r *Risk) any { return types.String(r.Level) }),
		"score": field(types.DoubleType, func(r *Risk) any { return types.Double(r.Score) }),
	},
}

// provider declares the request types on top of CEL's standard registry.
type provider struct {
	*types.Registry
}

func (p provider) FindStructType(name string) (*types.Type, bool) {
	if _, ok := structFields[name]; ok {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return p.Registry.FindStructType(name)
}

func (p provider) FindStructFieldNames(name string) ([]string, bool) {
	if fs, ok := structFields[name]; ok {
		names := make([]string, 0, len(fs))
		for n := range fs {
			names = append(names, n)
		}
		slices.Sort(names)
		return names, true
	}
	return p.Registry.FindStructFieldNames(name)
}

func (p provider) FindStructFieldType(name, fieldName string) (*types.FieldType, bool) {
	if fs, ok := structFields[name]; ok {
		f, ok := fs[fieldName]
		return f, ok
	}
	return p.Registry.FindStructFieldType(name, fieldName)
}

func (p provider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := structFields[name]; ok {
		return types.NewErr("abac: %s cannot be constructed in a rule", name)
	}
	return p.Registry.NewValue(name, fields)
}

// obj is a request struct seen as a CEL value.
type obj[T any] struct{ p *T }

func (o obj[T]) ConvertToNative(t reflect.Type) (any, error) {
	if t == reflect.TypeFor[*T]() {
		return o.p, nil
	}
	return nil, fmt.Errorf("abac: cannot convert %s to %v", o.Type(), t)
}

func (o obj[T]) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return o.Type().(*types.Type)
	}
	if t.TypeName() == o.Type().TypeName() {
		return o
	}
	return types.NewErr("abac: cannot convert %s to %s", o.Type().TypeName(), t.TypeName())
}

func (o obj[T]) Equal(other ref.Val) ref.Val {
	v, ok := other.(obj[T])
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Bool(v.p == o.p)
}

func (o obj[T]) Type() ref.Type {
	switch any(o.p).(type) {
	case *Request:
		return requestType
	case *Subject:
		return subjectType
	case *Agent:
		return agentType
	default:
		return riskType
	}
}

func (o obj[T]) Value() any { return o.p }

// ipVal is request.source_ip as a CEL value.
type ipVal struct{ netip.Addr }

func (v ipVal) ConvertToNative(t reflect.Type) (any, error) {
	if t == reflect.TypeFor[netip.Addr]() {
		return v.Addr, nil
	}
	return nil, fmt.Errorf("abac: cannot convert IP to %v", t)
}

func (v ipVal) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.StringType:
		return types.String(v.Addr.String())
	case types.TypeType:
		return ipType
	}
	if t.TypeName() == ipType.TypeName() {
		return v
	}
	return types.NewErr("abac: cannot convert IP to %s", t.TypeName())
}

func (v ipVal) Equal(other ref.Val) ref.Val {
	o, ok := other.(ipVal)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Bool(o.Addr == v.Addr)
}

func (v ipVal) Type() ref.Type { return ipType }
func (v ipVal) Value() any     { return v.Addr }

// activation resolves the single variable request without allocating.
type activation struct{ req *Request }

func (a activation) ResolveName(name string) (any, bool) {
	if name == "request" {
		return obj[Request]{a.req}, true
	}
	return nil, false
}

func (a activation) Parent() interpreter.Activation { return nil }

// newEnv builds the CEL environment; loc is the zone of hour() and weekday().
func newEnv(loc *time.Location) (*cel.Env, error) {
	reg, err := types.NewRegistry()
	if err != nil {
		return nil, err
	}
	return cel.NewEnv(
		cel.CustomTypeProvider(provider{reg}),
		cel.CustomTypeAdapter(reg),
		cel.Variable("request", requestType),
		cel.Function("in_cidr",
			cel.Overload("in_cidr_ip_string", []*cel.Type{ipType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(ip, prefix ref.Val) ref.Val {
					v, ok := ip.(ipVal)
					if !ok {
						return types.MaybeNoSuchOverloadErr(ip)
					}
					return inCIDR(v.Addr, prefix)
				})),
			cel.Overload("in_cidr_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(ip, prefix ref.Val) ref.Val {
					s, ok := ip.(types.String)
					if !ok {
						return types.MaybeNoSuchOverloadErr(ip)
					}
					a, err := netip.ParseAddr(string(s))
					if err != nil {
						return types.NewErr("in_cidr: %q is not an IP address", clip(string(s)))
					}
					return inCIDR(a, prefix)
				})),
		),
		cel.Function("hour",
			cel.Overload("hour_timestamp", []*cel.Type{cel.TimestampType}, cel.IntType,
				cel.UnaryBinding(func(t ref.Val) ref.Val {
					ts, ok := t.(types.Timestamp)
					if !ok {
						return types.MaybeNoSuchOverloadErr(t)
					}
					return types.Int(ts.In(loc).Hour())
				}))),
		cel.Function("weekday",
			cel.Overload("weekday_timestamp", []*cel.Type{cel.TimestampType}, cel.IntType,
				cel.UnaryBinding(func(t ref.Val) ref.Val {
					ts, ok := t.(types.Timestamp)
					if !ok {
						return types.MaybeNoSuchOverloadErr(t)
					}
					return types.Int(ts.In(loc).Weekday())
				}))),
		cel.Function("has_scope",
			cel.Overload("has_scope_request_string", []*cel.Type{requestType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(r, s ref.Val) ref.Val {
					req, ok := r.(obj[Request])
					if !ok || req.p == nil {
						return types.MaybeNoSuchOverloadErr(r)
					}
					scope, ok := s.(types.String)
					if !ok {
						return types.MaybeNoSuchOverloadErr(s)
					}
					return types.Bool(slices.Contains(req.p.Scopes, string(scope)))
				}))),
	)
}

func inCIDR(a netip.Addr, prefix ref.Val) ref.Val {
	s, ok := prefix.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(prefix)
	}
	p, err := netip.ParsePrefix(string(s))
	if err != nil {
		return types.NewErr("in_cidr: %q is not a CIDR prefix", clip(string(s)))
	}
	if !a.IsValid() {
		return types.NewErr("in_cidr: source IP is not set")
	}
	return types.Bool(p.Contains(a.Unmap()))
}
