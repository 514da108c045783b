package abac

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// typical returns a request at 10:30 UTC on Wednesday 2026-11-25.
func typical() *Request {
	return &Request{
		Subject:  Subject{ID: "alice", Attrs: map[string]any{"dept": "eng", "level": 3}},
		Agent:    Agent{ID: "agent-1", ClientID: "claude", Attrs: map[string]any{"trusted": true}},
		Scopes:   []string{"files:read", "mail:send"},
		Tool:     "github.create_issue",
		Action:   "write",
		Resource: "repo:subzero",
		Risk:     Risk{Level: "low", Score: 0.2},
		SourceIP: netip.MustParseAddr("10.1.2.3"),
		Time:     time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC),
		Context:  map[string]any{"ticket": "SZ-1"},
	}
}

func allowIf(when string) Config {
	c := Default()
	c.Rules = []Rule{{Name: "r", Effect: Allow, When: when, Reason: "ok"}}
	return c
}

func TestConditions(t *testing.T) {
	v6 := typical()
	v6.SourceIP = netip.MustParseAddr("2001:db8::1")
	tests := []struct {
		name string
		when string
		req  func(*Request)
		want bool
	}{
		{"scope in list", `"files:read" in request.scopes`, nil, true},
		{"scope missing", `"admin" in request.scopes`, nil, false},
		{"has_scope", `has_scope(request, "mail:send")`, nil, true},
		{"has_scope missing", `has_scope(request, "admin")`, nil, false},
		{"tool", `request.tool == "github.create_issue"`, nil, true},
		{"tool prefix", `request.tool.startsWith("slack.")`, nil, false},
		{"action resource", `request.action == "write" && request.resource == "repo:subzero"`, nil, true},
		{"risk level", `request.risk.level in ["low", "medium"]`, nil, true},
		{"risk level high", `request.risk.level in ["low", "medium"]`, func(r *Request) { r.Risk.Level = "high" }, false},
		{"risk score under", `request.risk.score < 0.5`, nil, true},
		{"risk score over", `request.risk.score < 0.5`, func(r *Request) { r.Risk.Score = 0.9 }, false},
		{"cidr in", `in_cidr(request.source_ip, "10.0.0.0/8")`, nil, true},
		{"cidr out", `in_cidr(request.source_ip, "192.168.0.0/16")`, nil, false},
		{"cidr v6 in", `in_cidr(request.source_ip, "2001:db8::/32")`, func(r *Request) { r.SourceIP = v6.SourceIP }, true},
		{"cidr v6 out", `in_cidr(request.source_ip, "2001:db9::/32")`, func(r *Request) { r.SourceIP = v6.SourceIP }, false},
		{"cidr v4 vs v6 prefix", `in_cidr(request.source_ip, "::/0")`, nil, false},
		{"cidr v4-mapped", `in_cidr(request.source_ip, "10.0.0.0/8")`, func(r *Request) { r.SourceIP = netip.MustParseAddr("::ffff:10.0.0.1") }, true},
		{"cidr string", `in_cidr(request.context.ip, "fd00::/8")`, func(r *Request) { r.Context = map[string]any{"ip": "fd00::5"} }, true},
		{"hour", `hour(request.time) >= 9 && hour(request.time) < 17`, nil, true},
		{"hour late", `hour(request.time) >= 9 && hour(request.time) < 17`, func(r *Request) { r.Time = r.Time.Add(8 * time.Hour) }, false},
		{"weekday", `weekday(request.time) >= 1 && weekday(request.time) <= 5`, nil, true},
		{"weekend", `weekday(request.time) in [0, 6]`, func(r *Request) { r.Time = r.Time.AddDate(0, 0, 3) }, true},
		{"builtin tz", `request.time.getHours("Asia/Tokyo") == 19`, nil, true},
		{"subject id", `request.subject.id == "alice"`, nil, true},
		{"subject attr", `request.subject.attrs.dept == "eng" && request.subject.attrs.level >= 3`, nil, true},
		{"subject attr has", `has(request.subject.attrs.clearance) && request.subject.attrs.clearance == "top"`, nil, false},
		{"agent", `request.agent.client_id == "claude" && request.agent.id == "agent-1" && request.agent.attrs.trusted`, nil, true},
		{"context", `request.context.ticket.startsWith("SZ-")`, nil, true},
		{"time compare", `request.time < timestamp("2027-01-01T00:00:00Z")`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(allowIf(tt.when))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			req := typical()
			if tt.req != nil {
				tt.req(req)
			}
			d, err := e.Evaluate(t.Context(), req)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if d.Allowed != tt.want {
				t.Errorf("Allowed = %v, want %v (%+v)", d.Allowed, tt.want, d)
			}
		})
	}
}

func TestTimezone(t *testing.T) {
	tests := []struct {
		tz         string
		hour, wday int64
	}{
		// 2026-11-25 23:30 UTC is a Wednesday.
		{"UTC", 23, 3},
		{"", 23, 3},
		{"Europe/Berlin", 0, 4},        // 00:30 Thursday
		{"America/Los_Angeles", 15, 3}, // 15:30 Wednesday
		{"Asia/Kolkata", 5, 4},         // 05:00 Thursday
	}
	for _, tt := range tests {
		t.Run(tt.tz, func(t *testing.T) {
			c := Default()
			c.Timezone = tt.tz
			c.Rules = []Rule{{Name: "r", Effect: Allow, When: `hour(request.time) == ` + itoa(tt.hour) + ` && weekday(request.time) == ` + itoa(tt.wday)}}
			e, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			req := typical()
			req.Time = time.Date(2026, 11, 25, 23, 30, 0, 0, time.UTC)
			d, err := e.Evaluate(t.Context(), req)
			if err != nil || !d.Allowed {
				t.Errorf("got %+v, %v; want allowed", d, err)
			}
		})
	}
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

func TestEvaluateOrder(t *testing.T) {
	rules := []Rule{
		{Name: "read", Effect: Allow, When: `"files:read" in request.scopes`, Reason: "reader"},
		{Name: "high-risk", Effect: Deny, When: `request.risk.score > 0.8`, Reason: "risk too high"},
		{Name: "office", Effect: Allow, When: `in_cidr(request.source_ip, "10.0.0.0/8")`, Reason: "office network"},
	}
	tests := []struct {
		name  string
		rules []Rule
		req   func(*Request)
		want  Decision
	}{
		{"first allow wins", rules, nil, Decision{Allowed: true, Rule: "read", Reason: "reader"}},
		{"deny wins over allow", rules, func(r *Request) { r.Risk.Score = 0.9 }, Decision{Rule: "high-risk", Reason: "risk too high"}},
		{"second allow", rules, func(r *Request) { r.Scopes = nil }, Decision{Allowed: true, Rule: "office", Reason: "office network"}},
		{"no allow matched", rules, func(r *Request) { r.Scopes = nil; r.SourceIP = netip.MustParseAddr("8.8.8.8") }, Decision{Reason: "no allow rule matched"}},
		{"no rules", nil, nil, Decision{Allowed: true, Reason: "no rules"}},
		{"deny only, no match", rules[1:2], nil, Decision{Allowed: true, Reason: "no deny rule matched"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Rules = tt.rules
			e, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			req := typical()
			if tt.req != nil {
				tt.req(req)
			}
			got, err := e.Evaluate(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Evaluate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	ok := Rule{Name: "ok", Effect: Allow, When: "true"}
	tests := []struct {
		name string
		cfg  func(*Config)
		want []string // substrings
	}{
		{"typo field", func(c *Config) {
			c.Rules = []Rule{ok, ok, ok, {Name: "tools", Effect: Deny, When: `request.tol == "x"`}}
			c.Rules[1].Name, c.Rules[2].Name = "b", "c"
		}, []string{"rules[3].when", `"tools"`, "1:8", "undefined field 'tol'"}},
		{"syntax", func(c *Config) { c.Rules = []Rule{{Name: "s", Effect: Allow, When: "request.tool ==\n  ("}} }, []string{"rules[0].when", `"s"`, "2:4"}},
		{"not bool", func(c *Config) { c.Rules = []Rule{{Name: "n", Effect: Allow, When: "request.risk.score"}} }, []string{"rules[0].when", "must have type bool", "double"}},
		{"dyn not bool", func(c *Config) { c.Rules = []Rule{{Name: "n", Effect: Allow, When: "request.context.flag"}} }, []string{"rules[0].when", "must have type bool, not dyn", "== true"}},
		{"undeclared var", func(c *Config) { c.Rules = []Rule{{Name: "u", Effect: Allow, When: "req.tool == 'x'"}} }, []string{"undeclared reference to 'req'"}},
		{"bad cidr literal", func(c *Config) {
			c.Rules = []Rule{{Name: "c", Effect: Allow, When: `in_cidr(request.source_ip, "10.0.0.0/33")`}}
		}, []string{"rules[0].when", "not a CIDR prefix"}},
		{"wrong arg type", func(c *Config) { c.Rules = []Rule{{Name: "w", Effect: Allow, When: `hour(request.tool) == 1`}} }, []string{"rules[0].when", "no matching overload"}},
		{"empty name", func(c *Config) { c.Rules = []Rule{{Effect: Allow, When: "true"}} }, []string{"rules[0].name: must not be empty"}},
		{"dup name", func(c *Config) { c.Rules = []Rule{ok, ok} }, []string{`rules[1].name: "ok" is used twice`}},
		{"bad effect", func(c *Config) { c.Rules = []Rule{{Name: "e", Effect: "maybe", When: "true"}} }, []string{"rules[0].effect"}},
		{"empty when", func(c *Config) { c.Rules = []Rule{{Name: "e", Effect: Deny}} }, []string{"rules[0].when: must not be empty"}},
		{"too long", func(c *Config) {
			c.Rules = []Rule{{Name: "l", Effect: Allow, When: strings.Repeat("true && ", 2000) + "true"}}
		}, []string{"rules[0].when: longer than"}},
		{"cost zero", func(c *Config) { c.CostLimit = 0 }, []string{"cost_limit"}},
		{"bad tz", func(c *Config) { c.Timezone = "Mars/Olympus" }, []string{"timezone"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.cfg(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate: nil error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if _, err2 := New(c); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("New error %v differs from Validate error %v", err2, err)
			}
		})
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

func TestEvalErrorsDeny(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
		req  func(*Request)
		ctx  func() context.Context
		want string
	}{
		{"missing key", func(c *Config) { *c = allowIf(`request.subject.attrs.clearance == "top"`) }, nil, nil, "no such key"},
		{"missing key in deny", func(c *Config) {
			c.Rules = []Rule{{Name: "d", Effect: Deny, When: `request.context.blocked == true`}, {Name: "a", Effect: Allow, When: "true"}}
		}, nil, nil, "no such key"},
		{"nil attrs", func(c *Config) { *c = allowIf(`request.agent.attrs.trusted == true`) }, func(r *Request) { r.Agent.Attrs = nil }, nil, "no such key"},
		{"dyn not bool at runtime", func(c *Config) { *c = allowIf(`request.context.ticket == "SZ-1" && request.subject.attrs.dept`) }, nil, nil, "no such overload"},
		{"cidr runtime bad", func(c *Config) { *c = allowIf(`in_cidr(request.source_ip, request.context.ticket)`) }, nil, nil, "not a CIDR prefix"},
		{"unset ip", func(c *Config) { *c = allowIf(`in_cidr(request.source_ip, "0.0.0.0/0")`) }, func(r *Request) { r.SourceIP = netip.Addr{} }, nil, "source IP is not set"},
		{"cost limit", func(c *Config) {
			*c = allowIf(`request.scopes.exists(a, request.scopes.exists(b, a + b == "x"))`)
			c.CostLimit = 1000
		}, func(r *Request) { r.Scopes = make([]string, 200) }, nil, "cost limit exceeded"},
		{"cancelled", func(c *Config) { *c = allowIf("true") }, nil, func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.cfg(&c)
			e, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			req := typical()
			if tt.req != nil {
				tt.req(req)
			}
			ctx := t.Context()
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			d, err := e.Evaluate(ctx, req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Evaluate error = %v, want containing %q", err, tt.want)
			}
			if !errors.Is(err, ErrEval) {
				t.Errorf("error %v is not ErrEval", err)
			}
			if d.Allowed {
				t.Errorf("Decision allowed on error: %+v", d)
			}
		})
	}
	e, _ := New(allowIf("true"))
	if d, err := e.Evaluate(t.Context(), nil); !errors.Is(err, ErrNilRequest) || d.Allowed {
		t.Errorf("nil request: %+v, %v", d, err)
	}
}

func TestCostTracking(t *testing.T) {
	tests := []struct {
		when    string
		tracked bool
	}{
		{`request.tool == "x" && in_cidr(request.source_ip, "10.0.0.0/8")`, false},
		{`[1, 2, 3].exists(x, x == 2)`, false},
		{`request.scopes.exists(s, s.startsWith("files:"))`, true},
		{`request.context.a == request.context.b`, true},
		{`request.tool.matches(request.context.re)`, true},
	}
	for _, tt := range tests {
		t.Run(tt.when, func(t *testing.T) {
			e, err := New(allowIf(tt.when))
			if err != nil {
				t.Fatal(err)
			}
			if got := e.allow[0].tracked; got != tt.tracked {
				t.Errorf("tracked = %v, want %v", got, tt.tracked)
			}
		})
	}
}

func TestConcurrent(t *testing.T) {
	e, err := New(benchConfig())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 200 {
				if d, err := e.Evaluate(t.Context(), typical()); err != nil || !d.Allowed {
					t.Errorf("got %+v, %v", d, err)
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}

func benchConfig() Config {
	c := Default()
	c.Rules = []Rule{
		{Name: "high-risk", Effect: Deny, When: `request.risk.level == "high" || request.risk.score > 0.8`},
		{Name: "off-hours-write", Effect: Deny, When: `request.action == "write" && (hour(request.time) < 7 || hour(request.time) >= 20)`},
		{Name: "untrusted-net", Effect: Deny, When: `!in_cidr(request.source_ip, "10.0.0.0/8") && request.tool.startsWith("admin.")`},
		{Name: "eng-github", Effect: Allow, When: `request.subject.attrs.dept == "eng" && request.tool.startsWith("github.")`},
		{Name: "reader", Effect: Allow, When: `has_scope(request, "files:read") && weekday(request.time) in [1, 2, 3, 4, 5]`},
	}
	return c
}

func BenchmarkEvaluate(b *testing.B) {
	e, err := New(benchConfig())
	if err != nil {
		b.Fatal(err)
	}
	req := typical()
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		d, err := e.Evaluate(ctx, req)
		if err != nil || !d.Allowed {
			b.Fatalf("got %+v, %v", d, err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N), "ns/decision")
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`true`, `request.tool == "x"`, `in_cidr(request.source_ip, "10.0.0.0/8")`,
		`hour(request.time) > 9 && weekday(request.time) < 6`, `has_scope(request, "a")`,
		`request.subject.attrs.dept == "eng"`, `request.tol`, `((((`, `"\xff"`,
		`[1,2,3].map(x, x * 2).size() == 3`, `in_cidr("1.2.3.4", "::/0")`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, when string) {
		c := Default()
		c.Rules = []Rule{{Name: "f", Effect: Deny, When: when}}
		e, err := New(c)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		d, err := e.Evaluate(ctx, typical())
		if err != nil && d.Allowed {
			t.Fatalf("allowed on error: %v", err)
		}
	})
}
