package yamlconf

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

type redisConfig struct {
	URL      *url.URL `yaml:"url"`
	Password string   `yaml:"password"`
	DB       int      `yaml:"db"`
}

type storeConfig struct {
	Kind  string       `yaml:"kind"`
	Redis *redisConfig `yaml:"redis"`
	Path  string       `yaml:"path,omitempty"`
}

type auditConfig struct {
	CheckpointEvery int    `yaml:"checkpoint_every"`
	Dir             string `yaml:"dir"`
}

type route struct {
	Upstream url.URL       `yaml:"upstream"`
	Timeout  time.Duration `yaml:"timeout"`
	Methods  []string      `yaml:"methods"`
}

type Common struct {
	Region string `yaml:"region"`
}

// mode implements encoding.TextUnmarshaler with a pointer receiver.
type mode int

func (m *mode) UnmarshalText(b []byte) error {
	switch string(b) {
	case "":
		*m = 0
	case "open":
		*m = 1
	case "closed":
		*m = 2
	default:
		return fmt.Errorf("unknown mode %q", b)
	}
	return nil
}

func (m mode) MarshalText() ([]byte, error) {
	return []byte(map[mode]string{1: "open", 2: "closed"}[m]), nil
}

type config struct {
	Common   `yaml:",inline"`
	Name     string            `yaml:"name"`
	Debug    bool              `yaml:"debug"`
	Int      int               `yaml:"int"`
	Int8     int8              `yaml:"int8"`
	Int16    int16             `yaml:"int16"`
	Int32    int32             `yaml:"int32"`
	Int64    int64             `yaml:"int64"`
	Uint     uint              `yaml:"uint"`
	Uint8    uint8             `yaml:"uint8"`
	Uint16   uint16            `yaml:"uint16"`
	Uint32   uint32            `yaml:"uint32"`
	Uint64   uint64            `yaml:"uint64"`
	Float    float64           `yaml:"float"`
	Float32  float32           `yaml:"float32"`
	Timeout  time.Duration     `yaml:"timeout"`
	Upstream url.URL           `yaml:"upstream"`
	Proxy    *url.URL          `yaml:"proxy"`
	Trusted  netip.Prefix      `yaml:"trusted"`
	Bind     netip.Addr        `yaml:"bind"`
	Listen   netip.AddrPort    `yaml:"listen"`
	Level    slog.Level        `yaml:"level"`
	Mode     mode              `yaml:"mode"`
	MaxConns *int              `yaml:"max_conns"`
	Tags     []string          `yaml:"tags"`
	Ports    []uint16          `yaml:"ports"`
	Nets     []netip.Prefix    `yaml:"nets"`
	Waits    []time.Duration   `yaml:"waits"`
	Store    storeConfig       `yaml:"store"`
	Audit    *auditConfig      `yaml:"audit"`
	Routes   map[string]route  `yaml:"routes"`
	Labels   map[string]string `yaml:"labels"`
	Note     string
	Skip     string `yaml:"-"`
	secret   string `yaml:"secret"` //lint:ignore U1000 checks that unexported fields are ignored
}

func defaults() *config {
	return &config{
		Name:    "gw",
		Timeout: 5 * time.Second,
		Ports:   []uint16{80},
		Store:   storeConfig{Kind: "memory"},
		Labels:  map[string]string{"env": "dev"},
	}
}

var cmpOpts = cmp.Options{
	cmpopts.IgnoreUnexported(config{}),
	cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}, netip.AddrPort{}),
	cmp.Comparer(func(a, b url.URL) bool { return a.String() == b.String() }),
	cmpopts.EquateNaNs(),
	cmpopts.EquateEmpty(),
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func ptr[T any](v T) *T { return &v }

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want func(c *config) // applied to defaults()
	}{
		{"empty", "", func(*config) {}},
		{"comments only", "# nothing\n  # here\n", func(*config) {}},
		{"null document", "---\n~\n", func(*config) {}},
		{"strings and bools", "name: edge\ndebug: true\nregion: eu\n", func(c *config) {
			c.Name, c.Debug, c.Region = "edge", true, "eu"
		}},
		{"number as string", "name: 123\n", func(c *config) { c.Name = "123" }},
		{"empty string", "name: ''\n", func(c *config) { c.Name = "" }},
		{"integers", "int: -1\nint8: -128\nint16: 0x7fff\nint32: 1_000\nint64: 9223372036854775807\n" +
			"uint: 7\nuint8: 255\nuint16: 0o17\nuint32: \"42\"\nuint64: 18446744073709551615\n", func(c *config) {
			c.Int, c.Int8, c.Int16, c.Int32, c.Int64 = -1, -128, 0x7fff, 1000, 1<<63-1
			c.Uint, c.Uint8, c.Uint16, c.Uint32, c.Uint64 = 7, 255, 0o17, 42, 1<<64-1
		}},
		{"floats", "float: 1.5e3\nfloat32: -.inf\n", func(c *config) {
			c.Float, c.Float32 = 1500, float32(-1/zero())
		}},
		{"bool spellings", "debug: yes\n", func(c *config) { c.Debug = true }},
		{"duration", "timeout: 1m30s\n", func(c *config) { c.Timeout = 90 * time.Second }},
		{"urls", "upstream: https://api.example.com/v1\nproxy: http://proxy:3128\n", func(c *config) {
			c.Upstream = *mustURL("https://api.example.com/v1")
			c.Proxy = mustURL("http://proxy:3128")
		}},
		{"netip", "trusted: 10.0.0.0/8\nbind: ::1\nlisten: 127.0.0.1:8080\n", func(c *config) {
			c.Trusted = netip.MustParsePrefix("10.0.0.0/8")
			c.Bind = netip.MustParseAddr("::1")
			c.Listen = netip.MustParseAddrPort("127.0.0.1:8080")
		}},
		{"text unmarshalers", "level: warn\nmode: closed\n", func(c *config) { c.Level, c.Mode = slog.LevelWarn, 2 }},
		{"pointer to scalar", "max_conns: 10\n", func(c *config) { c.MaxConns = ptr(10) }},
		{"slices", "tags: [a, b]\nports:\n  - 443\n  - 8443\nnets: [192.168.0.0/16]\nwaits: [1s, 2ms]\n", func(c *config) {
			c.Tags = []string{"a", "b"}
			c.Ports = []uint16{443, 8443}
			c.Nets = []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")}
			c.Waits = []time.Duration{time.Second, 2 * time.Millisecond}
		}},
		{"empty slice replaces default", "ports: []\n", func(c *config) { c.Ports = []uint16{} }},
		{"nested struct keeps absent keys", "store:\n  path: /var/lib\n", func(c *config) { c.Store.Path = "/var/lib" }},
		{"pointer to struct allocated", "store:\n  redis:\n    url: redis://cache:6379/0\naudit: {}\n", func(c *config) {
			c.Store.Redis = &redisConfig{URL: mustURL("redis://cache:6379/0")}
			c.Audit = &auditConfig{}
		}},
		{"nulls change nothing", "name: ~\nstore: null\naudit:\nports:\n", func(*config) {}},
		{"maps", "routes:\n  api:\n    upstream: http://api:80\n    timeout: 2s\n  web: ~\nlabels:\n  team: core\n", func(c *config) {
			c.Routes = map[string]route{
				"api": {Upstream: *mustURL("http://api:80"), Timeout: 2 * time.Second},
				"web": {},
			}
			c.Labels["team"] = "core"
		}},
		{"anchors and aliases", "store: {kind: &k redis, path: *k}\nroutes:\n  a: &r {timeout: 1s, methods: [GET]}\n  b: *r\n", func(c *config) {
			c.Store = storeConfig{Kind: "redis", Path: "redis"}
			c.Routes = map[string]route{
				"a": {Timeout: time.Second, Methods: []string{"GET"}},
				"b": {Timeout: time.Second, Methods: []string{"GET"}},
			}
		}},
		{"merge key is a map key", "labels: {<<: x}\n", func(c *config) { c.Labels["<<"] = "x" }},
		{"binary string", "name: !!binary aGk=\n", func(c *config) { c.Name = "hi" }},
		{"document markers", "---\nname: x\n...\n", func(c *config) { c.Name = "x" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want := defaults(), defaults()
			tt.want(want)
			if err := Decode([]byte(tt.in), got); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
				t.Errorf("Decode mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func zero() float64 { return 0 }

func TestDecodeErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"unknown key with suggestion", "store:\n  redsi: {}\n", `store.redsi: unknown key (did you mean "redis"?)`},
		{"unknown key", "zzzzzz: 1\n", `zzzzzz: unknown key`},
		{"untagged field", "Note: x\n", `Note: unknown key (did you mean "mode"?)`},
		{"dash field", "skip: x\n", `skip: unknown key`},
		{"unexported field", "secret: x\n", `secret: unknown key`},
		{"unknown map entry key", "routes:\n  api:\n    timeot: 1s\n", `routes.api.timeot: unknown key (did you mean "timeout"?)`},
		{"duplicate key", "name: a\nname: b\n", `name: duplicate key (first on line 1)`},
		{"duplicate nested key", "store:\n  kind: a\n  kind: b\n", `store.kind: duplicate key (first on line 2)`},
		{"duplicate map key", "labels:\n  a: x\n  a: y\n", `labels.a: duplicate key (first on line 2)`},
		{"not an integer", "audit:\n  checkpoint_every: abc\n", `audit.checkpoint_every: expected an integer, got "abc"`},
		{"float for integer", "int: 1.5\n", `int: expected an integer, got "1.5"`},
		{"int8 overflow", "int8: 300\n", `int8: expected an integer between -128 and 127, got "300"`},
		{"negative uint", "uint: -1\n", `uint: expected a non-negative integer, got "-1"`},
		{"uint8 overflow", "uint8: 256\n", `uint8: expected an integer between 0 and 255, got "256"`},
		{"uint64 overflow", "uint64: 18446744073709551616\n", `uint64: expected an integer between 0 and 18446744073709551615, got "18446744073709551616"`},
		{"not a number", "float: fast\n", `float: expected a number, got "fast"`},
		{"float32 overflow", "float32: 1e39\n", `float32: expected a number, got "1e39"`},
		{"not a bool", "debug: maybe\n", `debug: expected a boolean, got "maybe"`},
		{"bare integer duration", "timeout: 10\n", `timeout: expected a duration such as 10s, got "10"`},
		{"bad duration", "timeout: soon\n", `timeout: expected a duration such as 10s, got "soon"`},
		{"relative URL", "upstream: /v1\n", `upstream: expected an absolute URL, got "/v1"`},
		{"URL without host, password masked", "proxy: //user:pw@/x\n", `proxy: expected an absolute URL, got "//user:xxxxx@/x"`},
		{"unparsable URL", "proxy: 'http://[::1'\n", `proxy: expected an absolute URL: missing ']' in host`},
		{"bad address", "bind: 1.2.3\n", `bind: expected an IP address, got "1.2.3"`},
		{"bad prefix", "trusted: 10.0.0.0\n", `trusted: expected an IP prefix such as 10.0.0.0/8, got "10.0.0.0"`},
		{"bad addrport", "listen: :80\n", `listen: expected an IP address and port such as 127.0.0.1:8080, got ":80"`},
		{"bad text value", "mode: ajar\n", `mode: invalid value "ajar": unknown mode "ajar"`},
		{"bad slice item", "ports: [80, 70000]\n", `ports[1]: expected an integer between 0 and 65535, got "70000"`},
		{"mapping for scalar", "name: {a: 1}\n", `name: expected a string, got a mapping`},
		{"sequence for mapping", "store: [1]\n", `store: expected a mapping, got a sequence`},
		{"scalar for mapping", "store: ''\n", `store: expected a mapping, got ""`},
		{"scalar for pointer to struct", "audit: 5\n", `audit: expected a mapping, got "5"`},
		{"scalar for sequence", "tags: a,b\n", `tags: expected a sequence, got "a,b"`},
		{"nested sequence", "tags: [[a]]\n", `tags[0]: expected a string, got a sequence`},
		{"scalar for map entry", "routes:\n  api: 5\n", `routes.api: expected a mapping, got "5"`},
		{"sequence for URL", "proxy: [a]\n", `proxy: expected an absolute URL, got a sequence`},
		{"mapping for text value", "mode: {}\n", `mode: expected a value of type yamlconf.mode, got a mapping`},
		{"non-scalar key", "? [a]\n: 1\n", `expected a string key, got a sequence`},
		{"merge key", "store: &s {kind: x}\naudit:\n  <<: *s\n", `audit.<<: unknown key`},
		{"top level sequence", "- a\n", `expected a mapping at the top level, got a sequence`},
		{"top level scalar", "hello\n", `expected a mapping at the top level, got "hello"`},
		{"two documents", "name: a\n---\nname: b\n", `line 2: more than one YAML document`},
		{"syntax error line 1", "name: a: b\n", `line 1: mapping values are not allowed in this context`},
		{"syntax error line 3", "name: a\nstore:\n  kind: \"x\n", `line 3: found unexpected end of stream`},
		{"parser error line", "name: a\ndebug: true\n- x\n", `line 3: did not find expected key`},
		{"flow error line", "name: a\ntags: [a, b\n", `line 2: did not find expected ',' or ']'`},
		{"tab indentation", "store:\n\tkind: x\n", `line 2: found character that cannot start any token`},
		{"unknown anchor", "name: a\ntags: *nope\n", `line 2: unknown anchor 'nope' referenced`},
		{"control character", "name: a\nstore: \x01\n", `line 2: control character U+0001 is not allowed`},
		{"invalid UTF-8", "name: a\n\nname: \xff\n", `line 3: invalid UTF-8`},
		{"self-referencing sequence", "tags: &t [*t]\n", `tags[0]: expected a string, got a sequence`},
		{"alias bomb", aliasBomb(200, 1000), `document too complex: more than 100000 nodes after expanding aliases`},
		{"oversize", "name: " + strings.Repeat("x", MaxBytes) + "\n", `configuration is 1048583 bytes, more than the limit of 1048576`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaults()
			err := Decode([]byte(tt.in), c)
			if err == nil {
				t.Fatalf("Decode succeeded, want error %q", tt.want)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// aliasBomb returns routes whose aliases expand to entries·items nodes.
func aliasBomb(entries, items int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "routes:\n  r0: &r {methods: [%s]}\n", strings.Repeat("a, ", items-1)+"a")
	for i := 1; i < entries; i++ {
		fmt.Fprintf(&b, "  r%d: *r\n", i)
	}
	return b.String()
}

func TestAliasesBelowCap(t *testing.T) {
	c := defaults()
	if err := Decode([]byte(aliasBomb(50, 1000)), c); err != nil {
		t.Fatal(err)
	}
	if len(c.Routes) != 50 || len(c.Routes["r49"].Methods) != 1000 {
		t.Errorf("got %d routes, r49 has %d methods", len(c.Routes), len(c.Routes["r49"].Methods))
	}
}

func TestDecodeBadTarget(t *testing.T) {
	var c config
	for _, dst := range []any{nil, c, (*config)(nil), new(int)} {
		if err := Decode([]byte("name: x\n"), dst); err == nil || !strings.Contains(err.Error(), "non-nil pointer to a struct") {
			t.Errorf("Decode(%T) error = %v", dst, err)
		}
	}
}

func TestApplyEnv(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		ignore  func(string) bool
		want    func(c *config)
		wantErr string
	}{
		{
			name: "overrides",
			environ: []string{
				"PATH=/bin", "SUBZERO_NAME=edge", "SUBZERO_REGION=eu", "SUBZERO_DEBUG=true",
				"SUBZERO_STORE_REDIS_URL=redis://cache:6379/1", "SUBZERO_AUDIT_CHECKPOINT_EVERY=10",
				"SUBZERO_TAGS=a, b", "SUBZERO_PORTS=", "SUBZERO_MAX_CONNS=3", "SUBZERO_TIMEOUT=1m",
				"SUBZERO_TRUSTED=10.0.0.0/8", "SUBZERO_LEVEL=error", "SUBZERO_PROXY=",
			},
			want: func(c *config) {
				c.Name, c.Region, c.Debug, c.MaxConns, c.Timeout = "edge", "eu", true, ptr(3), time.Minute
				c.Store.Redis = &redisConfig{URL: mustURL("redis://cache:6379/1")}
				c.Audit = &auditConfig{CheckpointEvery: 10}
				c.Tags, c.Ports = []string{"a", "b"}, []uint16{}
				c.Trusted, c.Level = netip.MustParsePrefix("10.0.0.0/8"), slog.LevelError
			},
		},
		{
			name:    "unknown variable",
			environ: []string{"SUBZERO_STORE_KIN=redis"},
			wantErr: "SUBZERO_STORE_KIN: unknown configuration variable (did you mean SUBZERO_STORE_KIND?)",
		},
		{
			name:    "map entries are not variables",
			environ: []string{"SUBZERO_ROUTES_API_TIMEOUT=1s"},
			wantErr: "SUBZERO_ROUTES_API_TIMEOUT: unknown configuration variable",
		},
		{
			name:    "ignored variables",
			environ: []string{"SUBZERO_CONFIG=/etc/subzero.yaml", "SUBZERO_NAME=x"},
			ignore:  func(name string) bool { return name == "SUBZERO_CONFIG" },
			want:    func(c *config) { c.Name = "x" },
		},
		{
			name:    "ignore does not hide bad values",
			environ: []string{"SUBZERO_INT=x"},
			ignore:  func(string) bool { return true },
			wantErr: `SUBZERO_INT: int: expected an integer, got "x"`,
		},
		{
			name:    "all errors",
			environ: []string{"SUBZERO_AUDIT_CHECKPOINT_EVERY=abc", "SUBZERO_NOPE=1", "SUBZERO_PORTS=1,x"},
			wantErr: "SUBZERO_AUDIT_CHECKPOINT_EVERY: audit.checkpoint_every: expected an integer, got \"abc\"\n" +
				"SUBZERO_NOPE: unknown configuration variable (did you mean SUBZERO_NAME?)\n" +
				"SUBZERO_PORTS: ports[1]: expected a non-negative integer, got \"x\"",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := defaults()
			err := ApplyEnv(got, "SUBZERO", tt.environ, tt.ignore)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ApplyEnv error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ApplyEnv: %v", err)
			}
			want := defaults()
			tt.want(want)
			if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
				t.Errorf("ApplyEnv mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if err := ApplyEnv(defaults(), "", nil, nil); err == nil {
		t.Error("ApplyEnv with an empty prefix succeeded")
	}
}

func TestSet(t *testing.T) {
	tests := []struct {
		path, value string
		want        func(c *config)
		wantErr     string
	}{
		{path: "name", value: "x", want: func(c *config) { c.Name = "x" }},
		{path: "region", value: "us", want: func(c *config) { c.Region = "us" }},
		{path: "store.redis.db", value: "2", want: func(c *config) { c.Store.Redis = &redisConfig{DB: 2} }},
		{path: "nets", value: "10.0.0.0/8,fd00::/8", want: func(c *config) {
			c.Nets = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
		}},
		{path: "listen", value: "[::1]:443", want: func(c *config) { c.Listen = netip.MustParseAddrPort("[::1]:443") }},
		{path: "store.redsi.db", value: "2", wantErr: `store.redsi: unknown key (did you mean "redis"?)`},
		{path: "store.redis.nope", value: "2", wantErr: `store.redis.nope: unknown key`},
		{path: "name.first", value: "2", wantErr: `name.first: unknown key`},
		{path: "store", value: "x", wantErr: `store: expected the path of a single value, not of a mapping`},
		{path: "routes.api.timeout", value: "1s", wantErr: `routes.api: map entries cannot be set from flags or environment variables`},
		{path: "timeout", value: "5", wantErr: `timeout: expected a duration such as 10s, got "5"`},
		{path: "", value: "x", wantErr: `unknown key`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got := defaults()
			err := Set(got, tt.path, tt.value)
			want := defaults()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Set error = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("Set: %v", err)
			} else {
				tt.want(want)
			}
			// A bad path must leave the struct unchanged (no allocated pointers).
			if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
				t.Errorf("Set mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func full() *config {
	c := defaults()
	c.Region, c.Name, c.Debug = "eu", "yes", true
	c.Int, c.Int8, c.Int16, c.Int32, c.Int64 = -5, -128, 300, 1<<20, -1<<63
	c.Uint, c.Uint8, c.Uint16, c.Uint32, c.Uint64 = 5, 255, 65535, 1<<32-1, 1<<64-1
	c.Float, c.Float32 = 0.1, 1e30
	c.Timeout = 90*time.Minute + time.Nanosecond
	c.Upstream = *mustURL("https://user:secret@api.example.com:8443/v1?q=1#frag")
	c.Proxy = mustURL("http://proxy:3128")
	c.Trusted, c.Bind = netip.MustParsePrefix("fd00::/8"), netip.MustParseAddr("10.1.2.3")
	c.Listen = netip.MustParseAddrPort("[::]:443")
	c.Level, c.Mode, c.MaxConns = slog.LevelDebug, 1, ptr(0)
	c.Tags = []string{"true", "", "multi\nline", "#x", "- y", "null", "012"}
	c.Ports = []uint16{}
	c.Nets = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	c.Waits = []time.Duration{0, -time.Second}
	c.Store = storeConfig{Kind: "redis", Redis: &redisConfig{URL: mustURL("redis://:pw@cache:6379/0"), Password: "pw", DB: 3}}
	c.Audit = &auditConfig{CheckpointEvery: 100, Dir: "/var/audit"}
	c.Routes = map[string]route{
		"b": {Upstream: *mustURL("http://b:80"), Methods: []string{"GET", "POST"}},
		"a": {Timeout: time.Second},
	}
	c.Labels = map[string]string{"<<": "merge", "k: v": "1", "": "empty"}
	return c
}

func TestEncodeRoundTrip(t *testing.T) {
	for name, c := range map[string]*config{"zero": {}, "defaults": defaults(), "full": full()} {
		t.Run(name, func(t *testing.T) {
			out, err := Encode(c)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			var got config
			if err := Decode(out, &got); err != nil {
				t.Fatalf("Decode: %v\n%s", err, out)
			}
			if diff := cmp.Diff(c, &got, cmpOpts); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s\n%s", diff, out)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	c := &config{
		Name:    "gw",
		Timeout: 1500 * time.Millisecond,
		Proxy:   mustURL("http://proxy:3128"),
		Ports:   []uint16{80, 443},
		Store:   storeConfig{Kind: "memory"},
		Routes:  map[string]route{"z": {}, "a": {Methods: []string{"on"}}},
	}
	want := `region: ""
name: gw
debug: false
int: 0
int8: 0
int16: 0
int32: 0
int64: 0
uint: 0
uint8: 0
uint16: 0
uint32: 0
uint64: 0
float: 0
float32: 0
timeout: 1.5s
upstream: ""
proxy: http://proxy:3128
trusted: ""
bind: ""
listen: ""
level: INFO
mode: ""
tags: []
ports: [80, 443]
nets: []
waits: []
store:
  kind: memory
routes:
  a:
    upstream: ""
    timeout: 0s
    methods: ["on"]
  z:
    upstream: ""
    timeout: 0s
    methods: []
labels: {}
`
	out, err := Encode(*c)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("Encode mismatch (-want +got):\n%s", diff)
	}
	if _, err := Encode((*config)(nil)); err == nil {
		t.Error("Encode(nil pointer) succeeded")
	}
	if _, err := Encode(42); err == nil {
		t.Error("Encode(42) succeeded")
	}
}

// secretString masks itself with a value receiver, returning its own type.
type secretString string

func (s secretString) YAMLConfDump() any {
	if s == "" {
		return s
	}
	return secretString("*****")
}

// credentials masks itself with a pointer receiver, returning another type.
type credentials struct {
	User     string `yaml:"user"`
	Password string `yaml:"password"`
}

func (c *credentials) YAMLConfDump() any {
	return map[string]any{"user": c.User, "password": "*****"}
}

// backend masks a field and returns its own type.
type backend struct {
	URL   *url.URL     `yaml:"url"`
	Token secretString `yaml:"token"`
	Auth  *credentials `yaml:"auth"`
}

func (b backend) YAMLConfDump() any {
	if b.URL != nil {
		b.URL = mustURL(b.URL.Redacted())
	}
	return b
}

type dumpConfig struct {
	Backend  backend            `yaml:"backend"`
	Backends map[string]backend `yaml:"backends"`
	Creds    credentials        `yaml:"creds"`
	Tokens   []secretString     `yaml:"tokens"`
}

func TestEncodeDump(t *testing.T) {
	b := backend{
		URL:   mustURL("redis://:hunter2@cache:6379"),
		Token: "hunter2",
		Auth:  &credentials{User: "bob", Password: "hunter2"},
	}
	c := dumpConfig{
		Backend:  b,
		Backends: map[string]backend{"x": b},
		Creds:    credentials{User: "alice", Password: "hunter2"},
		Tokens:   []secretString{"hunter2", ""},
	}
	out, err := Encode(&c)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("hunter2")) {
		t.Errorf("Encode leaked a secret:\n%s", out)
	}
	want := `backend:
  url: redis://:xxxxx@cache:6379
  token: '*****'
  auth:
    password: '*****'
    user: bob
backends:
  x:
    url: redis://:xxxxx@cache:6379
    token: '*****'
    auth:
      password: '*****'
      user: bob
creds:
  password: '*****'
  user: alice
tokens: ['*****', ""]
`
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("Encode mismatch (-want +got):\n%s", diff)
	}
}

func TestPaths(t *testing.T) {
	want := []string{
		"region", "name", "debug", "int", "int8", "int16", "int32", "int64",
		"uint", "uint8", "uint16", "uint32", "uint64", "float", "float32", "timeout",
		"upstream", "proxy", "trusted", "bind", "listen", "level", "mode", "max_conns",
		"tags", "ports", "nets", "waits",
		"store.kind", "store.redis.url", "store.redis.password", "store.redis.db", "store.path",
		"audit.checkpoint_every", "audit.dir",
		"routes.<name>.upstream", "routes.<name>.timeout", "routes.<name>.methods",
		"labels.<name>",
	}
	for _, v := range []any{config{}, &config{}, (*config)(nil)} {
		if diff := cmp.Diff(want, Paths(v)); diff != "" {
			t.Errorf("Paths(%T) mismatch (-want +got):\n%s", v, diff)
		}
	}

	type item struct {
		X int `yaml:"x"`
	}
	type tree map[string]tree
	type node struct {
		Name  string `yaml:"name"`
		Next  *node  `yaml:"next"`
		Items []item `yaml:"items"`
		Tree  tree   `yaml:"tree"`
	}
	if diff := cmp.Diff([]string{"name", "items[].x"}, Paths(node{})); diff != "" {
		t.Errorf("Paths(recursive) mismatch (-want +got):\n%s", diff)
	}
	if got := Paths(42); got != nil {
		t.Errorf("Paths(42) = %q, want nil", got)
	}
}

func TestSliceOfStructs(t *testing.T) {
	type item struct {
		Name string `yaml:"name"`
		Port int    `yaml:"port"`
	}
	type cfg struct {
		Items []item `yaml:"items"`
	}
	var c cfg
	if err := Decode([]byte("items:\n  - name: a\n  - {name: b, port: 2}\n"), &c); err != nil {
		t.Fatal(err)
	}
	want := cfg{Items: []item{{Name: "a"}, {Name: "b", Port: 2}}}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	err := Decode([]byte("items:\n  - name: a\n  - nme: b\n"), &c)
	if want := `items[1].nme: unknown key (did you mean "name"?)`; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}
