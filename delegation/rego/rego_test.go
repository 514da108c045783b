package rego

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const basePolicy = `package subzero.authz

default allow := false

allow if input.user.role == "admin"

allow if {
	input.user.role == "member"
	input.tool.name in {"search", "read"}
}

deny contains "tool is disabled" if input.tool.disabled
deny contains "risk too high" if input.risk > 80
`

// writePolicy writes name into dir and returns dir.
func writePolicy(t testing.TB, dir, name, src string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newEngine(t testing.TB, files map[string]string, mod func(*Config)) (*Engine, string) {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		writePolicy(t, dir, name, src)
	}
	cfg := Default()
	cfg.Dir = dir
	if mod != nil {
		mod(&cfg)
	}
	e, err := New(t.Context(), cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e, dir
}

func TestEvaluate(t *testing.T) {
	e, _ := newEngine(t, map[string]string{"authz.rego": basePolicy}, nil)
	tests := []struct {
		name  string
		input map[string]any
		want  Decision
	}{
		{"admin", map[string]any{"user": map[string]any{"role": "admin"}, "tool": map[string]any{"name": "delete"}},
			Decision{Allowed: true}},
		{"member allowed tool", map[string]any{"user": map[string]any{"role": "member"}, "tool": map[string]any{"name": "read"}},
			Decision{Allowed: true}},
		{"member other tool", map[string]any{"user": map[string]any{"role": "member"}, "tool": map[string]any{"name": "delete"}},
			Decision{Reasons: []string{ReasonNotAllowed}}},
		{"no input fields", map[string]any{},
			Decision{Reasons: []string{ReasonNotAllowed}}},
		{"deny wins over allow", map[string]any{"user": map[string]any{"role": "admin"}, "tool": map[string]any{"name": "x", "disabled": true}},
			Decision{Reasons: []string{"tool is disabled"}}},
		{"all deny reasons sorted", map[string]any{"user": map[string]any{"role": "admin"}, "tool": map[string]any{"disabled": true}, "risk": 99},
			Decision{Reasons: []string{"risk too high", "tool is disabled"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.Evaluate(t.Context(), tt.input)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Evaluate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateFailsClosed(t *testing.T) {
	tests := []struct {
		name    string
		policy  string
		query   string
		wantErr error // nil: denied without error
	}{
		{"undefined package", "package other\n\nallow := true\n", "", ErrUndefined},
		{"missing allow", "package subzero.authz\n\nx := 1\n", "", nil},
		{"allow not bool", "package subzero.authz\n\nallow := \"yes\"\n", "", ErrBadResult},
		{"allow is 1", "package subzero.authz\n\nallow := 1\n", "", ErrBadResult},
		{"deny not strings", "package subzero.authz\n\nallow := true\n\ndeny contains 1 if true\n", "", ErrBadResult},
		{"deny is object", "package subzero.authz\n\nallow := true\n\ndeny := {\"a\": 1}\n", "", ErrBadResult},
		{"result not object", "package subzero.authz\n\nallow := true\n", "data.subzero.authz.allow", ErrBadResult},
		{"conflicting allow", "package subzero.authz\n\nallow := input.a if input.a\nallow := input.b if input.c\n", "", errAny},
		{"builtin error in deny", "package subzero.authz\n\nallow := true\n\ndeny contains \"big\" if to_number(input.n) > 5\n", "", errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newEngine(t, map[string]string{"p.rego": tt.policy}, func(c *Config) {
				if tt.query != "" {
					c.Query = tt.query
				}
			})
			got, err := e.Evaluate(t.Context(), map[string]any{"n": "not a number", "a": true, "b": false, "c": true})
			if got.Allowed {
				t.Fatalf("Evaluate = allowed, want denied (err %v)", err)
			}
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("Evaluate error = %v, want nil", err)
			case tt.wantErr == errAny && err == nil:
				t.Errorf("Evaluate error = nil, want an error")
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Errorf("Evaluate error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestTimeout(t *testing.T) {
	const slow = `package subzero.authz

allow if count([1 | some i in numbers.range(1, 100000); some j in numbers.range(1, 100000)]) > 0
`
	e, _ := newEngine(t, map[string]string{"slow.rego": slow}, func(c *Config) { c.Timeout = 20 * time.Millisecond })
	start := time.Now()
	got, err := e.Evaluate(t.Context(), nil)
	if got.Allowed {
		t.Fatal("slow policy allowed")
	}
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Evaluate error = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Evaluate took %v after a 20ms timeout", d)
	}
}

func TestCompileErrorNamesLine(t *testing.T) {
	tests := []struct {
		name      string
		files     map[string]string
		wantFile  string
		wantLine  int
		wantInMsg string
	}{
		{"parse error", map[string]string{"good.rego": basePolicy, "bad.rego": "package subzero.authz\n\nallow if {\n\tinput.x ==\n"},
			"bad.rego", 0, "rego_parse_error"},
		{"unsafe var", map[string]string{"bad.rego": "package subzero.authz\n\nallow if {\n\tx == 1\n}\n"},
			"bad.rego", 4, "unsafe"},
		{"v0 syntax rejected", map[string]string{"old.rego": "package subzero.authz\n\nallow { true }\n"},
			"old.rego", 3, ""},
		{"undefined function", map[string]string{"f.rego": "package subzero.authz\n\nallow if nope(input.x)\n"},
			"f.rego", 3, "undefined function"},
		{"network builtin denied", map[string]string{"net.rego": "package subzero.authz\n\nallow if http.send({\"method\": \"get\", \"url\": \"http://x\"}).status_code == 200\n"},
			"net.rego", 3, "http.send"},
		{"empty file", map[string]string{"empty.rego": "# nothing\n"}, "empty.rego", 0, "empty module"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := make(map[string][]byte)
			for k, v := range tt.files {
				files[k] = []byte(v)
			}
			for _, err := range []error{Check(files), newErr(t, tt.files)} {
				var ce *CompileError
				if !errors.As(err, &ce) {
					t.Fatalf("error = %v, want *CompileError", err)
				}
				p := ce.Problems[0]
				if p.File != tt.wantFile || (tt.wantLine != 0 && p.Line != tt.wantLine) || (tt.wantLine == 0 && tt.wantInMsg != "empty module" && p.Line == 0) {
					t.Errorf("problem = %+v, want file %s line %d", p, tt.wantFile, tt.wantLine)
				}
				if !strings.Contains(p.Message, tt.wantInMsg) {
					t.Errorf("message %q lacks %q", p.Message, tt.wantInMsg)
				}
				if !strings.Contains(err.Error(), tt.wantFile+":") {
					t.Errorf("Error() = %q, want it to name %s", err, tt.wantFile)
				}
			}
		})
	}
}

func newErr(t *testing.T, files map[string]string) error {
	dir := t.TempDir()
	for name, src := range files {
		writePolicy(t, dir, name, src)
	}
	cfg := Default()
	cfg.Dir = dir
	e, err := New(t.Context(), cfg, nil)
	if err == nil {
		e.Close()
	}
	return err
}

func TestNoPolicies(t *testing.T) {
	if err := Check(nil); !errors.Is(err, ErrNoPolicies) {
		t.Errorf("Check(nil) = %v, want ErrNoPolicies", err)
	}
	if err := newErr(t, map[string]string{"README.md": "hi"}); !errors.Is(err, ErrNoPolicies) {
		t.Errorf("New on dir without .rego = %v, want ErrNoPolicies", err)
	}
}

func TestOversizeFile(t *testing.T) {
	big := "package subzero.authz\n\n" + strings.Repeat("# padding\n", MaxFileSize/10+1)
	var ce *CompileError
	if err := Check(map[string][]byte{"big.rego": []byte(big)}); !errors.As(err, &ce) {
		t.Errorf("Check(oversize) = %v, want *CompileError", err)
	}
	if err := newErr(t, map[string]string{"big.rego": big}); !errors.As(err, &ce) {
		t.Errorf("New(oversize) = %v, want *CompileError", err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Default()
	ok.Dir = "/x"
	tests := []struct {
		name string
		mod  func(*Config)
		want string // substring; "" means valid
	}{
		{"default with dir", func(*Config) {}, ""},
		{"no dir", func(c *Config) { c.Dir = "" }, "rego.dir"},
		{"empty query", func(c *Config) { c.Query = "" }, "rego.query"},
		{"query not data", func(c *Config) { c.Query = "input.x" }, "rego.query"},
		{"query with var", func(c *Config) { c.Query = "data.x[y]" }, "rego.query"},
		{"query garbage", func(c *Config) { c.Query = "data.(" }, "rego.query"},
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, "rego.timeout"},
		{"zero interval", func(c *Config) { c.ReloadInterval = 0 }, "rego.reload_interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			before := c
			err := c.Validate()
			if before != c {
				t.Error("Validate mutated the config")
			}
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate = %v, want error naming %s", err, tt.want)
			}
		})
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	writePolicy(t, dir, "authz.rego", basePolicy)
	logs := &syncBuffer{}
	cfg := Default()
	cfg.Dir = dir
	cfg.ReloadInterval = 20 * time.Millisecond
	e, err := New(t.Context(), cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	guest := map[string]any{"user": map[string]any{"role": "guest"}}
	allowed := func() bool {
		d, err := e.Evaluate(context.Background(), guest)
		if err != nil {
			t.Fatalf("Evaluate: %v", err)
		}
		return d.Allowed
	}
	if allowed() {
		t.Fatal("guest allowed by the initial policy")
	}
	gen := e.Generation()

	// A changed file is picked up.
	writePolicy(t, dir, "authz.rego", basePolicy+"\nallow if input.user.role == \"guest\"\n")
	eventually(t, "reload to allow guests", allowed)
	if g := e.Generation(); g <= gen {
		t.Errorf("Generation = %d after reload, want > %d", g, gen)
	}
	gen = e.Generation()

	// A broken file is rejected and the previous policy stays.
	writePolicy(t, dir, "broken.rego", "package subzero.authz\n\nallow if {\n")
	eventually(t, "log of rejected policy", func() bool { return strings.Contains(logs.String(), "broken.rego:") })
	if !allowed() {
		t.Error("previous policy dropped after a broken reload")
	}
	if g := e.Generation(); g != gen {
		t.Errorf("Generation = %d after rejected reload, want %d", g, gen)
	}
	if strings.Contains(logs.String(), "guest") {
		t.Error("log line contains policy source")
	}

	// Fixing the directory (removing the broken file and the guest rule) applies.
	if err := os.Remove(filepath.Join(dir, "broken.rego")); err != nil {
		t.Fatal(err)
	}
	writePolicy(t, dir, "authz.rego", basePolicy)
	eventually(t, "reload to deny guests", func() bool { return !allowed() })
}

func TestReloadNow(t *testing.T) {
	e, dir := newEngine(t, map[string]string{"authz.rego": basePolicy}, func(c *Config) { c.ReloadInterval = time.Hour })
	gen := e.Generation()
	if err := e.Reload(t.Context()); err != nil || e.Generation() != gen {
		t.Fatalf("Reload of unchanged dir = %v, generation %d, want nil, %d", err, e.Generation(), gen)
	}
	writePolicy(t, dir, "extra.rego", "package subzero.authz\n\nallow if input.magic == 42\n")
	if err := e.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	d, err := e.Evaluate(t.Context(), map[string]any{"magic": 42})
	if err != nil || !d.Allowed {
		t.Errorf("Evaluate after Reload = %+v, %v, want allowed", d, err)
	}
	writePolicy(t, dir, "extra.rego", "package subzero.authz\n\nallow if input.magic ==\n")
	var ce *CompileError
	if err := e.Reload(t.Context()); !errors.As(err, &ce) {
		t.Fatalf("Reload of broken dir = %v, want *CompileError", err)
	}
	d, _ = e.Evaluate(t.Context(), map[string]any{"magic": 42})
	if !d.Allowed {
		t.Error("broken Reload replaced the active policy")
	}
}

func TestConcurrentEvaluateDuringReload(t *testing.T) {
	e, dir := newEngine(t, map[string]string{"authz.rego": basePolicy}, func(c *Config) {
		c.ReloadInterval = 5 * time.Millisecond
		c.Timeout = 10 * time.Second // this test is about the swap, not latency under -race
	})
	admin := map[string]any{"user": map[string]any{"role": "admin"}}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				d, err := e.Evaluate(context.Background(), admin)
				if err != nil || !d.Allowed {
					t.Errorf("Evaluate = %+v, %v", d, err)
					return
				}
			}
		})
	}
	for i := range 5 {
		writePolicy(t, dir, "authz.rego", basePolicy+strings.Repeat("\n", i+1))
		if err := e.Reload(t.Context()); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
}

func BenchmarkEvaluate(b *testing.B) {
	e, _ := newEngine(b, map[string]string{"authz.rego": basePolicy}, nil)
	input := map[string]any{
		"user": map[string]any{"role": "member"},
		"tool": map[string]any{"name": "read"},
		"risk": 10,
	}
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		d, err := e.Evaluate(ctx, input)
		if err != nil || !d.Allowed {
			b.Fatalf("Evaluate = %+v, %v", d, err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N), "ns/decision")
}
