package broker

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/subzero-gateway/subzero/guard"
	"github.com/subzero-gateway/subzero/mcp"
	"github.com/subzero-gateway/subzero/mcp/pin"
	"github.com/subzero-gateway/subzero/mcp/upstream"
)

// MCPConfig is the mcp section of the configuration: the gateway
// (mcp.Config, inline: upstreams, virtual servers, pinning, origins,
// risk) and the policy the pipeline applies to its calls.
type MCPConfig struct {
	mcp.Config `yaml:",inline"`
	// Actions are the relations the decision point checks for each kind
	// of call, on the call's object ("tool:<upstream>.<tool>",
	// "prompt:<upstream>.<prompt>", "resource:<upstream>").
	Actions MCPActions `yaml:"actions"`
	// ApproveRisks are the tool risk levels whose calls need the user's
	// approval through MCP elicitation; a client that cannot be asked is
	// denied them.
	ApproveRisks []string `yaml:"approve_risks"`
	// Budget bounds each agent's calls.
	Budget BudgetConfig `yaml:"budget"`
	// RequireDPoP refuses access tokens not bound to a DPoP key at /mcp,
	// whatever oauth.dpop_required says.
	RequireDPoP bool `yaml:"require_dpop"`
	// Scopes are the scopes a token needs at /mcp.
	Scopes []string `yaml:"scopes"`
}

// MCPActions names the relations checked per method.
type MCPActions struct {
	Tools     string `yaml:"tools"`
	Prompts   string `yaml:"prompts"`
	Resources string `yaml:"resources"`
}

func defaultMCP() MCPConfig {
	return MCPConfig{
		Config:       mcp.Default(),
		Actions:      MCPActions{Tools: "can_invoke", Prompts: "can_get", Resources: "can_read"},
		ApproveRisks: []string{"high", "critical"},
		Scopes:       []string{"mcp"},
	}
}

func (c MCPConfig) validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	for key, a := range map[string]string{"tools": c.Actions.Tools, "prompts": c.Actions.Prompts, "resources": c.Actions.Resources} {
		if !validRelation(a) {
			return fmt.Errorf("mcp.actions.%s: %q is not a relation name", key, a)
		}
	}
	for i, r := range c.ApproveRisks {
		if guard.RiskLevel(r).Rank() == 0 {
			return fmt.Errorf("mcp.approve_risks[%d]: unknown level %q (want low, medium, high or critical)", i, r)
		}
	}
	if err := c.Budget.validate("mcp.budget"); err != nil {
		return err
	}
	for i, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \"\\") {
			return fmt.Errorf("mcp.scopes[%d]: %q is not a scope", i, s)
		}
	}
	return nil
}

func validRelation(s string) bool {
	if s == "" || len(s) > 50 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// mcpNode is the gateway of a node: its upstreams, pins, pipeline and
// the resource guards of /mcp and each virtual server.
type mcpNode struct {
	upstreams *upstream.Registry
	gateway   *mcp.Gateway
	resources map[string]*resourceGuard // by path: "/mcp", "/mcp/<name>"
	urls      map[string]*url.URL       // resource URI by path
	closeOnce sync.Once
}

// paths are the paths the gateway serves: /mcp and /mcp/<server>.
func (c MCPConfig) paths() []string {
	out := []string{"/mcp"}
	for _, name := range slices.Sorted(maps.Keys(c.Servers)) {
		out = append(out, "/mcp/"+name)
	}
	return out
}

// newMCPNode assembles the gateway; it serves once started.
func newMCPNode(cfg MCPConfig, issuer *url.URL, pins pin.Store, p *pipeline, scanner guard.Scanner,
	getenv func(string) string, reg prometheus.Registerer, logger *slog.Logger) (*mcpNode, error) {
	ups, err := upstream.NewRegistry(cfg.Upstreams, getenv, logger.With("component", "mcp.upstream"), reg)
	if err != nil {
		return nil, err
	}
	pp, err := pin.New(pins, cfg.Pinning, nil)
	if err != nil {
		ups.Close()
		return nil, fmt.Errorf("mcp.pinning: %w", err)
	}
	gw, err := mcp.New(mcp.Options{
		Config: cfg.Config, Upstreams: ups, Pipeline: p, Visibility: newMCPVisibility(p),
		Identity: func(ctx context.Context) (string, string, bool) {
			c := TokenClaims(ctx)
			if c == nil {
				return "", "", false
			}
			return c.Subject, c.ClientID, true
		},
		Recorder: mcpRecorder{log: p.audit, logger: logger}, Pins: pp, Scanner: scanner,
		Logger: logger.With("component", "mcp"), Registerer: reg, PublicOrigin: issuer.Scheme + "://" + issuer.Host,
	})
	if err != nil {
		ups.Close()
		return nil, err
	}
	n := &mcpNode{upstreams: ups, gateway: gw, resources: map[string]*resourceGuard{}, urls: map[string]*url.URL{}}
	for _, path := range cfg.paths() {
		n.urls[path] = issuer.JoinPath(path)
	}
	return n, nil
}

// start connects the upstreams (those down keep retrying in the
// background) and builds the gateway's index.
func (n *mcpNode) start(ctx context.Context) error {
	if err := n.upstreams.Start(ctx); err != nil {
		return err
	}
	return n.gateway.Start(ctx)
}

// close stops the gateway and the upstreams (stdio children included);
// it may be called more than once.
func (n *mcpNode) close() {
	n.closeOnce.Do(func() {
		n.gateway.Close()
		n.upstreams.Close()
	})
}

// handler serves /mcp and /mcp/<server>, each its own protected resource
// (RFC 8707): a token for /mcp/notes is not one for /mcp.
func (n *mcpNode) handler() http.Handler {
	h := n.gateway.Handler()
	wrapped := map[string]http.Handler{}
	for path, g := range n.resources {
		wrapped[path] = g.wrap(h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimSuffix(r.URL.Path, "/")
		hh, ok := wrapped[path]
		if !ok {
			writeError(w, r, http.StatusNotFound, "not_found", "no such MCP server")
			return
		}
		hh.ServeHTTP(w, r)
	})
}

// newMCP builds the node's gateway: the guard g (the guard section), the
// pipeline over the node's decision point and audit log, and a resource
// guard per MCP path.
func (s *Server) newMCP(cfg *Config, issuer *url.URL, pins pin.Store, g *guard.Guard, getenv func(string) string, logger *slog.Logger) (*mcpNode, error) {
	p := &pipeline{
		authn: tokenAuthn{}, limit: newAgentBudget(cfg.MCP.Budget), authz: s.authz,
		guardIn: g, creds: noCredentials{}, guardOut: g, audit: s.audit, logger: logger,
		policy: pipelinePolicy{
			actions: map[string]string{
				mcp.MethodToolsCall: cfg.MCP.Actions.Tools, mcp.MethodPromptsGet: cfg.MCP.Actions.Prompts,
				mcp.MethodResourcesRead: cfg.MCP.Actions.Resources,
			},
			approve: cfg.MCP.ApproveRisks,
		},
	}
	n, err := newMCPNode(cfg.MCP, issuer, pins, p, g, getenv, s.metrics.reg, logger)
	if err != nil {
		return nil, err
	}
	for path, u := range n.urls {
		n.resources[path] = &resourceGuard{
			public: issuer, resource: u.String(), scopes: cfg.MCP.Scopes,
			metadataURL: issuer.String() + "/.well-known/oauth-protected-resource" + path,
			requireDPoP: cfg.OAuth.DPoPRequired || cfg.MCP.RequireDPoP,
			tokens:      s.oauth.Validator(), proofs: s.oauth.DPoP(),
		}
	}
	return n, nil
}
