package rebac

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// condModel defines one relation per condition under test.
const condModel = header + `type user
type doc
  relations
    define lt: [user with less_than]
    define both: [user with two_params]
    define ip: [user with in_office]
    define ts: [user with before]
    define dur: [user with short]
    define coll: [user with collections]
    define cost: [user with costly]
    define div: [user with divide]
    define u: [user with unsigned]
    define inline: [user with $expression]

condition less_than(x: int) {
  x < 100
}

condition two_params(x: int, unused: string) {
  x < 100
}

condition in_office(addr: ipaddress) {
  addr.in_cidr("10.0.0.0/8") || addr.in_cidr("2001:db8::/32")
}

condition before(now: timestamp, limit: timestamp) {
  now < limit
}

condition short(d: duration) {
  d < duration("1h")
}

condition collections(tags: list<string>, quota: map<int>) {
  "admin" in tags && quota["cpu"] <= 4
}

condition costly(l: list<int>) {
  l.all(a, l.all(b, l.all(c, a + b + c > 0)))
}

condition divide(a: int, b: int) {
  a / b > 1
}

condition unsigned(n: uint, f: double) {
  n > 1u && f > 0.5
}
`

// secret is planted in context values; no error may quote it.
const secret = "s3cr3t-context-value"

func TestConditionEval(t *testing.T) {
	m := mustParse(t, condModel)
	big := make([]any, 60)
	for i := range big {
		big[i] = float64(i + 1)
	}
	tests := []struct {
		name           string
		cond           string
		bound, request map[string]any
		want           bool
		errSub         string // non-empty: Eval fails with CodeValidation and this text
		missing        bool   // the error wraps ErrMissingParameter
		evalErr        bool   // the error wraps ErrConditionEval
	}{
		{name: "true", cond: "less_than", request: map[string]any{"x": 10.0}, want: true},
		{name: "false", cond: "less_than", request: map[string]any{"x": 101.0}},
		{name: "bound only", cond: "less_than", bound: map[string]any{"x": 10.0}, want: true},
		{name: "tuple context wins", cond: "less_than", bound: map[string]any{"x": 500.0}, request: map[string]any{"x": 1.0}},
		{name: "tuple context wins (allow)", cond: "less_than", bound: map[string]any{"x": 1.0}, request: map[string]any{"x": 500.0}, want: true},
		{name: "missing", cond: "less_than", request: map[string]any{"y": 1.0}, errSub: "condition less_than: missing parameter x", missing: true},
		{name: "missing unreferenced", cond: "two_params", request: map[string]any{"x": 1.0}, errSub: "condition two_params: missing parameter unused", missing: true},
		{name: "missing both", cond: "two_params", errSub: "missing parameters unused, x", missing: true},
		{name: "extra keys ignored", cond: "less_than", request: map[string]any{"x": 1.0, "other": secret}, want: true},
		{name: "int from int", cond: "less_than", request: map[string]any{"x": 10}, want: true},
		{name: "int from json.Number", cond: "less_than", request: map[string]any{"x": json.Number("10")}, want: true},
		{name: "int from string", cond: "less_than", request: map[string]any{"x": "10"}, want: true},
		{name: "int from fraction", cond: "less_than", request: map[string]any{"x": 10.5}, errSub: "parameter x: expected int"},
		{name: "int from huge", cond: "less_than", request: map[string]any{"x": 1e30}, errSub: "parameter x: expected int"},
		{name: "int from bool", cond: "less_than", request: map[string]any{"x": true}, errSub: "parameter x: expected int, got a bool"},
		{name: "int from null", cond: "less_than", request: map[string]any{"x": nil}, errSub: "expected int, got null"},
		{name: "int from secret string", cond: "less_than", request: map[string]any{"x": secret}, errSub: "expected int, got a string"},
		{name: "uint and double", cond: "unsigned", request: map[string]any{"n": 2.0, "f": 0.75}, want: true},
		{name: "uint negative", cond: "unsigned", request: map[string]any{"n": -2.0, "f": 0.75}, errSub: "parameter n: expected uint"},
		{name: "double from string", cond: "unsigned", request: map[string]any{"n": 2.0, "f": "0.25"}},
		{name: "ipv4 in cidr", cond: "in_office", request: map[string]any{"addr": "10.1.2.3"}, want: true},
		{name: "ipv4 not in cidr", cond: "in_office", request: map[string]any{"addr": "192.168.1.1"}},
		{name: "ipv6 in cidr", cond: "in_office", request: map[string]any{"addr": "2001:db8::1"}, want: true},
		{name: "ipv4-mapped ipv6 in cidr", cond: "in_office", request: map[string]any{"addr": "::ffff:10.0.0.1"}, want: true},
		{name: "bad ip", cond: "in_office", request: map[string]any{"addr": secret}, errSub: "parameter addr: expected an IP address string"},
		{name: "timestamp before", cond: "before", bound: map[string]any{"limit": "2023-10-11T10:00:00Z"}, request: map[string]any{"now": "2023-10-11T09:00:00.000Z"}, want: true},
		{name: "timestamp after", cond: "before", bound: map[string]any{"limit": "2023-10-11T10:00:00Z"}, request: map[string]any{"now": "2023-10-11T11:00:00+00:00"}},
		{name: "timestamp time.Time", cond: "before", bound: map[string]any{"limit": "2023-10-11T10:00:00Z"}, request: map[string]any{"now": time.Date(2023, 10, 11, 9, 0, 0, 0, time.UTC)}, want: true},
		{name: "bad timestamp", cond: "before", bound: map[string]any{"limit": "2023-10-11T10:00:00Z"}, request: map[string]any{"now": secret}, errSub: "parameter now: expected an RFC 3339 timestamp"},
		{name: "duration short", cond: "short", request: map[string]any{"d": "30m"}, want: true},
		{name: "duration long", cond: "short", request: map[string]any{"d": "2h"}},
		{name: "bad duration", cond: "short", request: map[string]any{"d": secret}, errSub: "parameter d: expected a duration"},
		{name: "list and map", cond: "collections", request: map[string]any{"tags": []any{"dev", "admin"}, "quota": map[string]any{"cpu": 4.0}}, want: true},
		{name: "list and map false", cond: "collections", request: map[string]any{"tags": []any{"dev"}, "quota": map[string]any{"cpu": 4.0}}},
		{name: "list item wrong", cond: "collections", request: map[string]any{"tags": []any{"dev", 1.0}, "quota": map[string]any{}}, errSub: "parameter tags: list item 1: expected string, got a number"},
		{name: "map value wrong", cond: "collections", request: map[string]any{"tags": []any{}, "quota": map[string]any{secret: secret}}, errSub: "parameter quota: map value: expected int, got a string"},
		{name: "missing map key", cond: "collections", request: map[string]any{"tags": []any{"admin"}, "quota": map[string]any{secret: 1.0}}, errSub: "condition collections: evaluation failed", evalErr: true},
		{name: "cost limit", cond: "costly", request: map[string]any{"l": big}, errSub: "exceeded the cost limit", evalErr: true},
		{name: "within cost", cond: "costly", request: map[string]any{"l": []any{1.0}}, want: true},
		{name: "division by zero", cond: "divide", request: map[string]any{"a": 1.0, "b": 0.0}, errSub: "evaluation failed", evalErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.Conditions[tt.cond].Eval(tt.bound, tt.request)
			if tt.errSub == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Eval = %v, %v; want %v", got, err, tt.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeValidation || !strings.Contains(e.Error(), tt.errSub) {
				t.Fatalf("Eval = %v, %v; want CodeValidation error containing %q", got, err, tt.errSub)
			}
			if got {
				t.Error("Eval returned true with an error")
			}
			if errors.Is(err, ErrMissingParameter) != tt.missing || errors.Is(err, ErrConditionEval) != tt.evalErr {
				t.Errorf("errors.Is(ErrMissingParameter) = %v, errors.Is(ErrConditionEval) = %v", errors.Is(err, ErrMissingParameter), errors.Is(err, ErrConditionEval))
			}
			if strings.Contains(err.Error(), secret) || e.Err != nil && strings.Contains(e.Err.Error(), secret) {
				t.Errorf("error quotes a context value: %v", err)
			}
		})
	}
}

func TestEvalCondition(t *testing.T) {
	m := mustParse(t, condModel)
	inline := func(expr string, params map[string]any) *TupleCondition {
		ctx := map[string]any{"expression": expr}
		if params != nil {
			ctx["parameters"] = params
		}
		return &TupleCondition{Name: InlineCondition, Context: ctx}
	}
	tests := []struct {
		name    string
		tc      *TupleCondition
		request map[string]any
		want    bool
		errSub  string
	}{
		{name: "no condition", want: true},
		{name: "named", tc: &TupleCondition{Name: "less_than", Context: map[string]any{"x": 1.0}}, want: true},
		{name: "named, tuple wins", tc: &TupleCondition{Name: "less_than", Context: map[string]any{"x": 1000.0}}, request: map[string]any{"x": 1.0}},
		{name: "named missing", tc: &TupleCondition{Name: "less_than"}, errSub: "missing parameter x"},
		{name: "undefined", tc: &TupleCondition{Name: "nope"}, errSub: "condition nope is not defined"},
		{name: "inline declared", tc: inline("count > 5", map[string]any{"count": "int"}), request: map[string]any{"count": 10.0}, want: true},
		{name: "inline declared false", tc: inline("count > 5", map[string]any{"count": "int"}), request: map[string]any{"count": 3.0}},
		{name: "inline inferred string", tc: inline("env == 'prod'", nil), request: map[string]any{"env": "prod"}, want: true},
		{name: "inline inferred, wrong type", tc: inline("env == 'prod'", nil), request: map[string]any{"env": 1.0}, errSub: "parameter env: expected string"},
		{name: "inline missing", tc: inline("env == 'prod'", nil), errSub: "condition $expression: missing parameter env"},
		{name: "inline ipaddress", tc: inline(`ip.in_cidr("10.0.0.0/8")`, map[string]any{"ip": "ipaddress"}), request: map[string]any{"ip": "10.1.2.3"}, want: true},
		{name: "inline timestamp", tc: inline(`ts < timestamp("2023-10-11T10:00:00.000Z")`, map[string]any{"ts": "timestamp"}), request: map[string]any{"ts": "2023-10-11T09:00:00.000Z"}, want: true},
		{name: "inline constant", tc: inline("true", nil), request: map[string]any{"anything": secret}, want: true},
		{name: "inline comprehension locals", tc: inline("tags.exists(t, t == want)", map[string]any{"tags": "list<string>"}), request: map[string]any{"tags": []any{"a", "b"}, "want": "b"}, want: true},
		{name: "inline no expression", tc: &TupleCondition{Name: InlineCondition, Context: map[string]any{"parameters": map[string]any{}}}, errSub: "non-empty string"},
		{name: "inline bad type", tc: inline("x > 1", map[string]any{"x": "float"}), errSub: `unknown parameter type "float"`},
		{name: "inline list without element", tc: inline("x.size() > 1", map[string]any{"x": "list"}), errSub: "requires an element type"},
		{name: "inline reserved name", tc: inline("expression > 1", map[string]any{"expression": "int"}), errSub: "reserved"},
		{name: "inline extra key", tc: &TupleCondition{Name: InlineCondition, Context: map[string]any{"expression": "true", "x": 1.0}}, errSub: "is not expression or parameters"},
		{name: "inline not bool", tc: inline("x + 1", map[string]any{"x": "int"}), errSub: "must have type bool"},
		{name: "inline syntax", tc: inline("x >", nil), errSub: "Syntax error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // the second time from the inline cache
				got, err := m.EvalCondition(tt.tc, tt.request)
				if tt.errSub == "" {
					if err != nil || got != tt.want {
						t.Fatalf("EvalCondition = %v, %v; want %v", got, err, tt.want)
					}
					continue
				}
				var e *Error
				if !errors.As(err, &e) || e.Code != CodeValidation || !strings.Contains(err.Error(), tt.errSub) {
					t.Fatalf("EvalCondition = %v, %v; want CodeValidation error containing %q", got, err, tt.errSub)
				}
			}
		})
	}
}

func TestParseParamType(t *testing.T) {
	for in, want := range map[string]ParamType{
		"int":             {Kind: ParamInt},
		"uint":            {Kind: ParamUint},
		"any":             {Kind: ParamAny},
		"ipaddress":       {Kind: ParamIPAddress},
		"map<string>":     {Kind: ParamMap, Elem: ParamString},
		"list<timestamp>": {Kind: ParamList, Elem: ParamTimestamp},
	} {
		got, err := ParseParamType(in)
		if err != nil || got != want {
			t.Errorf("ParseParamType(%q) = %v, %v; want %v", in, got, err, want)
		}
		if got.String() != in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), in)
		}
	}
	for _, in := range []string{"", "bytes", "map", "list", "map<map<int>>", "list<list<int>>", "map<int", "int<int>", "map<>"} {
		if got, err := ParseParamType(in); err == nil {
			t.Errorf("ParseParamType(%q) = %v; want an error", in, got)
		}
	}
}

func TestConditionConcurrent(t *testing.T) {
	m := mustParse(t, condModel)
	tc := &TupleCondition{Name: InlineCondition, Context: map[string]any{"expression": "n > 1", "parameters": map[string]any{"n": "int"}}}
	done := make(chan error)
	for i := range 8 {
		go func() {
			var err error
			for j := range 50 {
				var ok bool
				ok, err = m.EvalCondition(tc, map[string]any{"n": float64(i + j)})
				if err == nil && ok != (i+j > 1) {
					err = errors.New("wrong answer")
				}
				if err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestConditionParamNames(t *testing.T) {
	m := mustParse(t, condModel)
	if d := cmp.Diff([]string{"unused", "x"}, m.Conditions["two_params"].ParamNames); d != "" {
		t.Errorf("ParamNames (-want +got):\n%s", d)
	}
}
