package upstream

import (
	"strings"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/internal/secret"
	"github.com/subzero-gateway/subzero/internal/yamlconf"
)

// file is the part of the node config the upstream list sits in.
type file struct {
	MCP struct {
		Upstreams []Config `yaml:"upstreams"`
	} `yaml:"mcp"`
}

func decode(t testing.TB, doc string) ([]Config, error) {
	var f file
	if err := yamlconf.Decode([]byte(doc), &f); err != nil {
		return nil, err
	}
	return f.MCP.Upstreams, ValidateAll(f.MCP.Upstreams)
}

const goodYAML = `
mcp:
  upstreams:
    - name: notes
      transport: http
      url: https://notes.example/mcp
      headers:
        - name: Authorization
          value: {env: NOTES_TOKEN}
      call_timeout: 5s
      retries: {max: 0}
      breaker: {failures: 3, open_for: 1m}
    - name: local
      transport: stdio
      command: notes-server
      args: [--stdio]
      env: {LOG_LEVEL: debug}
      secret_env: {API_KEY: {file: /run/secrets/key}}
      prefix: ""
      max_result_bytes: 1048576
`

func TestConfigDecode(t *testing.T) {
	cfgs, err := decode(t, goodYAML)
	if err != nil {
		t.Fatal(err)
	}
	n, l := cfgs[0].withDefaults(), cfgs[1].withDefaults()
	if n.Headers[0].Value.Env != "NOTES_TOKEN" || n.CallTimeout != 5*time.Second || *n.Retries.Max != 0 ||
		n.ConnectTimeout != DefaultConnectTimeout || n.Breaker.Failures != 3 || n.Breaker.HalfOpenMax != 1 {
		t.Errorf("notes = %+v", n)
	}
	if n.ResolvedPrefix() != "notes__" || l.ResolvedPrefix() != "" {
		t.Errorf("prefixes = %q, %q; want notes__ and none", n.ResolvedPrefix(), l.ResolvedPrefix())
	}
	if *l.Retries.Max != DefaultRetries || l.MaxResultBytes != 1<<20 || l.Env["LOG_LEVEL"] != "debug" {
		t.Errorf("local = %+v", l)
	}
	if d := Default(); d.CallTimeout != DefaultCallTimeout || d.MaxResultBytes != DefaultMaxResultBytes ||
		d.Retries.InitialBackoff != DefaultInitialBackoff || d.Breaker.OpenFor != DefaultOpenFor {
		t.Errorf("Default = %+v", d)
	}
}

func TestConfigErrors(t *testing.T) {
	item := func(s string) string {
		return "mcp:\n  upstreams:\n    - " + strings.ReplaceAll(s, "\n", "\n      ") + "\n"
	}
	for _, tc := range []struct{ doc, want string }{
		{item("transport: http\nurl: https://a.example"), "mcp.upstreams[0].name: required"},
		{item("name: Notes\ntransport: http\nurl: https://a.example"), "mcp.upstreams[0].name: must match"},
		{item("name: a\ntransport: ftp"), "mcp.upstreams[0].transport: must be http or stdio"},
		{item("name: a\ntransport: http"), "mcp.upstreams[0].url: required"},
		{item("name: a\ntransport: http\nurl: http://notes.example/mcp"), "mcp.upstreams[0].url: scheme must be https"},
		{item("name: a\ntransport: http\nurl: https://user:pw@a.example"), "mcp.upstreams[0].url: must not hold credentials"},
		{item("name: a\ntransport: http\nurl: https://a.example\ncommand: x"), "mcp.upstreams[0].command: only for transport stdio"},
		{item("name: a\ntransport: http\nurl: https://a.example\nheaders: [{name: Authorization}]"), "mcp.upstreams[0].headers[0].value: required"},
		{item("name: a\ntransport: http\nurl: https://a.example\nheaders: [{name: Mcp-Session-Id, value: {env: X}}]"), "mcp.upstreams[0].headers[0].name: Mcp-Session-Id is set by the MCP transport"},
		{item("name: a\ntransport: http\nurl: https://a.example\nheaders: [{name: 'a b', value: {env: X}}]"), "mcp.upstreams[0].headers[0].name: not a header name"},
		{item("name: a\ntransport: http\nurl: https://a.example\nheaders: [{name: X, value: {env: X, file: /x}}]"), "mcp.upstreams[0].headers[0].value.env: must not be set with file"},
		{item("name: a\ntransport: http\nurl: https://a.example\nheaders: [{name: X, value: {env: X}}, {name: x, value: {env: Y}}]"), "mcp.upstreams[0].headers[1].name: x repeats headers[0]"},
		{item("name: a\ntransport: stdio"), "mcp.upstreams[0].command: required"},
		{item("name: a\ntransport: stdio\ncommand: x\nenv: {'A=B': c}"), `mcp.upstreams[0].env."A=B": not a variable name`},
		{item("name: a\ntransport: stdio\ncommand: x\nheaders: [{name: X, value: {env: X}}]"), "mcp.upstreams[0].headers: only for transport http"},
		{item("name: a\ntransport: stdio\ncommand: x\ncall_timeout: -1s"), "mcp.upstreams[0].call_timeout: must be between"},
		{item("name: a\ntransport: stdio\ncommand: x\nretries: {max: 11}"), "mcp.upstreams[0].retries.max: must be between 0 and 10"},
		{item("name: a\ntransport: stdio\ncommand: x\nretries: {initial_backoff: 1s, max_backoff: 10ms}"), "mcp.upstreams[0].retries.max_backoff: must not be less"},
		{item("name: a\ntransport: stdio\ncommand: x\nbreaker: {failures: -1}"), "mcp.upstreams[0].breaker.failures"},
		{item("name: a\ntransport: stdio\ncommand: x\nmax_result_bytes: 1000000000"), "mcp.upstreams[0].max_result_bytes"},
		{item("name: a\ntransport: stdio\ncommand: x\nprefix: 'a b'"), "mcp.upstreams[0].prefix: must match"},
		{item("name: a\ntransport: stdio\ncommand: x") + "    - name: a\n      transport: stdio\n      command: y\n", "mcp.upstreams[1].name: a is also the name of mcp.upstreams[0]"},
		{item("name: a\ntransport: stdio\ncommand: x\ncomand: y"), `mcp.upstreams[0].comand: unknown key (did you mean "command"?)`},
	} {
		_, err := decode(t, tc.doc)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\nerr = %v\nwant %q", tc.doc, err, tc.want)
		}
	}
}

func TestConfigLoopbackHTTP(t *testing.T) {
	for host, ok := range map[string]bool{"127.0.0.1:8080": true, "localhost": true, "[::1]:9": true, "10.0.0.1": false, "notes.example": false} {
		c := Config{Name: "a", Transport: TransportHTTP, URL: mustURL("http://" + host + "/mcp")}
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("http://%s: err = %v, want ok=%v", host, err, ok)
		}
		c.UnsafeAllowHTTP = true
		if err := c.Validate(); err != nil {
			t.Errorf("http://%s with unsafe_allow_http: %v", host, err)
		}
	}
}

func TestMissingSecret(t *testing.T) {
	c := Config{Name: "a", Transport: TransportHTTP, URL: mustURL("https://a.example"),
		Headers: []Header{{Name: "Authorization", Value: secretEnv("NOPE")}}}
	_, err := New(c, func(string) string { return "" }, nil)
	if err == nil || !strings.Contains(err.Error(), "headers[0].value: secret: env:NOPE is unset") {
		t.Errorf("err = %v, want the missing secret named", err)
	}
}

// FuzzConfig decodes arbitrary YAML as the upstream list: no panic, and a
// list that validates has names that are valid and unique and can be built.
func FuzzConfig(f *testing.F) {
	f.Add(goodYAML)
	f.Add("mcp:\n  upstreams:\n    - {name: a, transport: http, url: 'http://127.0.0.1:1/mcp'}\n")
	f.Add("mcp:\n  upstreams:\n    - {name: a, transport: stdio, command: x, env: {A: b}, prefix: p_}\n")
	f.Add("mcp:\n  upstreams:\n    - {name: a, transport: http, url: 'https://[::1]/', unsafe_allow_http: true, headers: [{name: X, value: {env: E}}]}\n")
	f.Add("mcp: {upstreams: [{name: '', transport: http}]}")
	f.Fuzz(func(t *testing.T, doc string) {
		cfgs, err := decode(t, doc)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, c := range cfgs {
			if !nameRE.MatchString(c.Name) || seen[c.Name] {
				t.Fatalf("valid list with bad or repeated name %q", c.Name)
			}
			seen[c.Name] = true
			if err := c.withDefaults().Validate(); err != nil {
				t.Fatalf("defaults broke a valid config: %v", err)
			}
			u, err := New(c, func(string) string { return "value" }, nil)
			if err == nil {
				u.Close()
			}
		}
	})
}

func secretEnv(name string) secret.Ref { return secret.Ref{Env: name} }
