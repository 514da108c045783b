package llm_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/broker/llm"
	"github.com/subzero-gateway/subzero/internal/secret"
	"github.com/subzero-gateway/subzero/internal/yamlconf"
)

func TestConfigDecodeAndValidate(t *testing.T) {
	const doc = `
upstreams:
  - name: openai
    kind: openai
    base_url: https://api.openai.com/v1
    api_key: {env: OPENAI_API_KEY}
    models: [gpt-4o, gpt-4o-mini]
    timeout: 30s
    breaker: {failures: 3, open_for: 10s}
  - name: azure
    kind: azure
    base_url: https://example.openai.azure.com
    api_key: {file: /run/secrets/azure}
    models: [gpt4o-deploy]
  - name: local
    kind: compatible
    base_url: http://127.0.0.1:11434/v1
    models: [llama3.2]
aliases:
  gpt-fast: [openai/gpt-4o-mini, local/llama3.2]
max_body_bytes: 1048576
guard: {canary: true, hold_back_bytes: 256, system_prompt_leak: true}
`
	cfg := llm.Default()
	if err := yamlconf.Decode([]byte(doc), &cfg); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if cfg.Upstreams[0].Timeout != 30*time.Second || cfg.Aliases["gpt-fast"][1] != "local/llama3.2" || cfg.Guard.HoldBackBytes != 256 {
		t.Errorf("decoded %+v", cfg)
	}
	dump, err := yamlconf.Encode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dump), "env: OPENAI_API_KEY") {
		t.Errorf("dump:\n%s", dump)
	}
}

func TestConfigValidateErrors(t *testing.T) {
	https := func(s string) *url.URL { u, _ := url.Parse(s); return u }
	ok := func() llm.UpstreamConfig {
		return llm.UpstreamConfig{Name: "a", Kind: llm.KindOpenAI, BaseURL: https("https://api.example.com/v1"),
			APIKey: secret.Ref{Env: "K"}, Models: []string{"m"}}
	}
	for _, tc := range []struct {
		name string
		edit func(c *llm.Config)
		want string
	}{
		{"no name", func(c *llm.Config) { c.Upstreams[0].Name = "" }, "llm.upstreams[0].name: required"},
		{"bad name", func(c *llm.Config) { c.Upstreams[0].Name = "A B" }, "llm.upstreams[0].name: must match"},
		{"no kind", func(c *llm.Config) { c.Upstreams[0].Kind = "" }, "llm.upstreams[0].kind: required"},
		{"bad kind", func(c *llm.Config) { c.Upstreams[0].Kind = "anthropic" }, "llm.upstreams[0].kind: must be"},
		{"no url", func(c *llm.Config) { c.Upstreams[0].BaseURL = nil }, "llm.upstreams[0].base_url: required"},
		{"http remote", func(c *llm.Config) { c.Upstreams[0].BaseURL = https("http://api.example.com/v1") }, "base_url: scheme must be https"},
		{"credentials in url", func(c *llm.Config) { c.Upstreams[0].BaseURL = https("https://u:p@api.example.com/v1") }, "base_url: must not hold credentials"},
		{"query", func(c *llm.Config) { c.Upstreams[0].BaseURL = https("https://api.example.com/v1?key=x") }, "base_url: must not have a query"},
		{"no key", func(c *llm.Config) { c.Upstreams[0].APIKey = secret.Ref{} }, "llm.upstreams[0].api_key: required for kind openai"},
		{"key both", func(c *llm.Config) { c.Upstreams[0].APIKey = secret.Ref{Env: "A", File: "/b"} }, "llm.upstreams[0].api_key.env: must not be set with file"},
		{"api_version not azure", func(c *llm.Config) { c.Upstreams[0].APIVersion = "2024-10-21" }, "api_version: only for kind azure"},
		{"no models", func(c *llm.Config) { c.Upstreams[0].Models = nil }, "llm.upstreams[0].models: at least one"},
		{"model space", func(c *llm.Config) { c.Upstreams[0].Models = []string{"a b"} }, "llm.upstreams[0].models[0]: model name"},
		{"model twice", func(c *llm.Config) { c.Upstreams[0].Models = []string{"m", "m"} }, "llm.upstreams[0].models[1]: \"m\" is listed twice"},
		{"negative timeout", func(c *llm.Config) { c.Upstreams[0].Timeout = -1 }, "llm.upstreams[0].timeout: must be between"},
		{"breaker", func(c *llm.Config) { c.Upstreams[0].Breaker.Failures = -2 }, "llm.upstreams[0].breaker.failures"},
		{"duplicate upstream", func(c *llm.Config) { c.Upstreams = append(c.Upstreams, ok()) }, "llm.upstreams[1].name: a repeats upstreams[0]"},
		{"alias without targets", func(c *llm.Config) { c.Aliases = map[string][]string{"x": nil} }, "llm.aliases.x: needs at least one target"},
		{"alias bad target", func(c *llm.Config) { c.Aliases = map[string][]string{"x": {"m"}} }, "llm.aliases.x[0]: \"m\" is not upstream/model"},
		{"alias unknown upstream", func(c *llm.Config) { c.Aliases = map[string][]string{"x": {"b/m"}} }, "llm.aliases.x[0]: no upstream is named \"b\""},
		{"alias hides model", func(c *llm.Config) { c.Aliases = map[string][]string{"m": {"a/m"}} }, "llm.aliases.m: names a model of upstream a"},
		{"body limit", func(c *llm.Config) { c.MaxBodyBytes = -1 }, "llm.max_body_bytes: must be between"},
		{"hold back", func(c *llm.Config) { c.Guard.HoldBackBytes = 1 << 20 }, "llm.guard.hold_back_bytes: must be between"},
		{"sse line", func(c *llm.Config) { c.MaxSSELineBytes = 10 }, "llm.max_sse_line_bytes: must be at least 4096"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := llm.Default()
			c.Upstreams = []llm.UpstreamConfig{ok()}
			if err := c.Validate(); err != nil {
				t.Fatalf("the base config: %v", err)
			}
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "u:p") {
				t.Errorf("the error quotes the URL's credentials: %v", err)
			}
		})
	}
}

func TestNewResolvesKeys(t *testing.T) {
	c := llm.Default()
	u, _ := url.Parse("https://api.example.com/v1")
	c.Upstreams = []llm.UpstreamConfig{{Name: "a", Kind: llm.KindOpenAI, BaseURL: u, APIKey: secret.Ref{Env: "MISSING"}, Models: []string{"m"}}}
	_, err := llm.New(c, llm.Deps{GetEnv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "llm.upstreams[0].api_key: secret: env:MISSING is unset or empty") {
		t.Errorf("New = %v", err)
	}
}
