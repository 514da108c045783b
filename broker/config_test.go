package broker_test

import (
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/subzero-gateway/subzero/broker"
	"github.com/subzero-gateway/subzero/internal/yamlconf"
)

// configCmp compares configs: URLs by their text, prefixes by value, nil
// and empty lists alike.
var configCmp = []cmp.Option{
	cmpopts.EquateEmpty(),
	cmp.Comparer(func(a, b *url.URL) bool {
		if a == nil || b == nil {
			return a == b
		}
		return a.String() == b.String()
	}),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

func writeConfig(t testing.TB, dir, data string) string {
	t.Helper()
	path := filepath.Join(dir, "subzero.yaml")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkDumpLoads checks that cfg's dump, written to dir, loads again to an
// equal config.
func checkDumpLoads(t testing.TB, dir string, cfg *broker.Config, input []byte) {
	t.Helper()
	out, err := cfg.Dump()
	if err != nil {
		t.Fatalf("Dump of a loaded config: %v\ninput:\n%s", err, input)
	}
	path := filepath.Join(dir, "dump.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := broker.LoadConfig(path, nil, broker.Flags{})
	if err != nil {
		t.Fatalf("dump does not load again: %v\ninput:\n%s\ndump:\n%s", err, input, out)
	}
	if diff := cmp.Diff(cfg, again, configCmp...); diff != "" {
		t.Fatalf("dump loads to another config (-loaded +reloaded):\n%s\ninput:\n%s\ndump:\n%s", diff, input, out)
	}
}

func TestExamplesLoad(t *testing.T) {
	paths, err := filepath.Glob("../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no examples/*.yaml")
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg, err := broker.LoadConfig(path, nil, broker.Flags{})
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if !cfg.Explicit {
				t.Error("Explicit = false for a config file")
			}
			data, _ := os.ReadFile(path)
			checkDumpLoads(t, t.TempDir(), cfg, data)
		})
	}
}

// docs/CONFIG.md names every key path, in backticks.
func TestConfigDocCoversEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../docs/CONFIG.md")
	if err != nil {
		t.Fatalf("docs/CONFIG.md must document every configuration key: %v", err)
	}
	var missing []string
	for _, path := range yamlconf.Paths(broker.DefaultConfig()) {
		if !strings.Contains(string(doc), "`"+path+"`") {
			missing = append(missing, path)
		}
	}
	if len(missing) > 0 {
		t.Errorf("docs/CONFIG.md does not name these keys (in backticks):\n%s", strings.Join(missing, "\n"))
	}
}

func TestLoadConfigPrecedence(t *testing.T) {
	path := writeConfig(t, t.TempDir(), `
data_dir: /from/file
server:
  addr: 127.0.0.1:1001
  shutdown_timeout: 7s
log:
  level: warn
`)
	tests := []struct {
		name     string
		environ  []string
		flags    broker.Flags
		wantAddr string
		wantData string
		wantLvl  string
	}{
		{"file", nil, broker.Flags{}, "127.0.0.1:1001", "/from/file", "WARN"},
		{"env over file", []string{"SUBZERO_SERVER_ADDR=127.0.0.1:1002", "SUBZERO_DATA_DIR=/from/env", "SUBZERO_LOG_LEVEL=debug"},
			broker.Flags{}, "127.0.0.1:1002", "/from/env", "DEBUG"},
		{"flags over env", []string{"SUBZERO_SERVER_ADDR=127.0.0.1:1002", "SUBZERO_DATA_DIR=/from/env"},
			broker.Flags{Addr: "127.0.0.1:1003", DataDir: "/from/flag"}, "127.0.0.1:1003", "/from/flag", "WARN"},
		{"unrelated env ignored", []string{"HOME=/root", "SUBZERO_CONFIG=" + path, "SUBZEROX=1"},
			broker.Flags{}, "127.0.0.1:1001", "/from/file", "WARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := broker.LoadConfig(path, tt.environ, tt.flags)
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			got := []string{cfg.Server.Addr, cfg.DataDir, cfg.Log.Level.String()}
			want := []string{tt.wantAddr, tt.wantData, tt.wantLvl}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("addr, data_dir, log.level (-want +got):\n%s", diff)
			}
			if cfg.Server.ShutdownTimeout != 7*time.Second {
				t.Errorf("server.shutdown_timeout = %s, want 7s from the file", cfg.Server.ShutdownTimeout)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(cert, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		yaml    string // "" for no file
		environ []string
		flags   broker.Flags
		want    []string // substrings of the error
	}{
		{"malformed YAML", "server: [\n", nil, broker.Flags{}, []string{"line 2"}},
		{"tab indentation", "server:\n\taddr: x\n", nil, broker.Flags{}, []string{"line"}},
		{"unknown key", "server:\n  shutdown_timout: 10s\n", nil, broker.Flags{},
			[]string{"server.shutdown_timout", "unknown key", `did you mean "shutdown_timeout"`}},
		{"unknown top-level key", "stores: {}\n", nil, broker.Flags{}, []string{"stores", "unknown key"}},
		{"duration without unit", "server:\n  shutdown_timeout: 10\n", nil, broker.Flags{},
			[]string{"server.shutdown_timeout", "duration"}},
		{"mapping for a scalar", "data_dir: {a: 1}\n", nil, broker.Flags{}, []string{"data_dir"}},
		{"bad prefix", "server:\n  trusted_proxies: [10.0.0.0/33]\n", nil, broker.Flags{}, []string{"server.trusted_proxies"}},
		{"bad log level", "log:\n  level: loud\n", nil, broker.Flags{}, []string{"log.level"}},
		{"bad log format", "log:\n  format: xml\n", nil, broker.Flags{}, []string{"log.format", "json or text"}},
		{"bad store kind", "store:\n  kind: sqlite\n", nil, broker.Flags{}, []string{"store.kind", "bolt or redis"}},
		{"bad node id", "node:\n  id: -x\n", nil, broker.Flags{}, []string{"node.id"}},
		{"empty data dir", "data_dir: \"\"\n", nil, broker.Flags{}, []string{"data_dir"}},
		{"bad guard action", "guard:\n  detectors:\n    prompt_attack:\n      prompt: {action: explode}\n", nil, broker.Flags{},
			[]string{"guard.detectors.prompt_attack.prompt.action", "explode"}},
		{"bad guard direction", "guard:\n  detectors:\n    secret:\n      sideways: {action: block}\n", nil, broker.Flags{},
			[]string{"guard.detectors.secret.sideways", "unknown direction"}},
		{"bad rebac depth", "authz:\n  rebac:\n    max_depth: 0\n", nil, broker.Flags{}, []string{"authz.rebac.max_depth"}},
		{"bad decision cache ttl", "authz:\n  decision:\n    cache:\n      ttl: 7s\n", nil, broker.Flags{}, []string{"authz.decision.cache.ttl"}},
		{"bad addr", "server:\n  addr: nope\n", nil, broker.Flags{}, []string{"server.addr", "host:port"}},
		{"cert without key", "server:\n  tls:\n    cert_file: " + cert + "\n", nil, broker.Flags{},
			[]string{"server.tls", "together"}},
		{"missing cert file", "server:\n  tls:\n    cert_file: /nonexistent/c.pem\n    key_file: /nonexistent/k.pem\n", nil, broker.Flags{},
			[]string{"server.tls", "/nonexistent/c.pem"}},
		{"zero shutdown timeout", "server:\n  shutdown_timeout: 0s\n", nil, broker.Flags{}, []string{"server.shutdown_timeout"}},
		{"redis without url", "store:\n  kind: redis\n", nil, broker.Flags{}, []string{"store.redis.url"}},
		{"redis url scheme", "store:\n  kind: redis\n  redis:\n    url: http://h:6379\n", nil, broker.Flags{},
			[]string{"store.redis.url: scheme must be redis or rediss"}},
		{"redis url password", "store:\n  kind: redis\n  redis:\n    url: redis://u:hunter2@h:6379\n", nil, broker.Flags{},
			[]string{"store.redis.url", "password"}},
		{"redis password both refs", "store:\n  kind: redis\n  redis:\n    url: redis://h\n    password: {env: A, file: /b}\n", nil, broker.Flags{},
			[]string{"store.redis.password"}},
		{"redis braces in prefix", "store:\n  kind: redis\n  redis:\n    url: redis://h\n    key_prefix: \"a{b}\"\n", nil, broker.Flags{},
			[]string{"store.redis.key_prefix"}},
		{"audit checkpoint_every", "audit:\n  checkpoint_every: 0\n", nil, broker.Flags{}, []string{"audit.checkpoint_every"}},
		{"unknown env var", "", []string{"SUBZERO_STORE_KIN=redis"}, broker.Flags{},
			[]string{"SUBZERO_STORE_KIN", "unknown configuration variable", "SUBZERO_STORE_KIND"}},
		{"bad env value", "", []string{"SUBZERO_SERVER_SHUTDOWN_TIMEOUT=10"}, broker.Flags{},
			[]string{"SUBZERO_SERVER_SHUTDOWN_TIMEOUT", "server.shutdown_timeout"}},
		{"non-loopback without config", "", nil, broker.Flags{Addr: "0.0.0.0:0"},
			[]string{"server.addr", "loopback", "--config"}},
		{"redis without server secret", "store:\n  kind: redis\n  redis:\n    url: redis://h:6379\n", nil, broker.Flags{},
			[]string{"server_secret: required with store.kind redis"}},
		{"non-loopback from env without config", "", []string{"SUBZERO_SERVER_ADDR=192.0.2.1:80"}, broker.Flags{},
			[]string{"server.addr", "loopback"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.yaml != "" {
				path = writeConfig(t, t.TempDir(), tt.yaml)
			}
			cfg, err := broker.LoadConfig(path, tt.environ, tt.flags)
			if err == nil {
				t.Fatalf("LoadConfig = %+v, want an error containing %q", cfg, tt.want)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestLoadConfigLoopbackDefaults(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0", "localhost:0", "127.1.2.3:80"} {
		if _, err := broker.LoadConfig("", nil, broker.Flags{Addr: addr}); err != nil {
			t.Errorf("LoadConfig without a file, --addr %s: %v", addr, err)
		}
	}
	// An explicit config may bind beyond loopback.
	path := writeConfig(t, t.TempDir(), "server:\n  addr: 0.0.0.0:8080\noauth:\n  issuer: https://subzero.example.com\n")
	if _, err := broker.LoadConfig(path, nil, broker.Flags{}); err != nil {
		t.Errorf("LoadConfig with a file binding 0.0.0.0: %v", err)
	}
	// Beyond loopback the issuer cannot be guessed.
	path = writeConfig(t, t.TempDir(), "server:\n  addr: 0.0.0.0:8080\n")
	if _, err := broker.LoadConfig(path, nil, broker.Flags{}); err == nil || !strings.Contains(err.Error(), "oauth.issuer: required") {
		t.Errorf("LoadConfig binding 0.0.0.0 without oauth.issuer = %v, want oauth.issuer required", err)
	}
}
