package mcp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/subzero-gateway/subzero/mcp/upstream"
)

// Path is where the gateway serves the aggregate; virtual servers are at
// Path + "/<name>".
const Path = "/mcp"

// serverVersion is what the gateway reports as its MCP server version.
const serverVersion = "0.1.0"

// protocolVersions are the MCP protocol versions the gateway serves.
var protocolVersions = []string{
	mcpgo.ProtocolVersion20260728,
	mcpgo.ProtocolVersion20251125,
	mcpgo.ProtocolVersion20250618,
}

// vserver is one MCP server the gateway serves: /mcp, or a virtual server
// at /mcp/<name> serving the subset its patterns select.
type vserver struct {
	g     *Gateway
	name  string
	route string
	cfg   ServerConfig
	all   bool // /mcp: everything

	mcp  *server.MCPServer
	http *server.StreamableHTTPServer

	// serverInfo is the server's identity, encoded, and resultHead the
	// start of a 2026-07-28 result that carries it (fastcall.go).
	serverInfo, resultHead []byte

	// listed is the tools last registered with mcp, encoded (list.go);
	// bufs holds *[]byte the lists were written from.
	listed atomic.Pointer[listedTools]
	bufs   sync.Pool

	// What was last registered with mcp, to register only changes (each
	// tells every client its list changed). Guarded by g.mu.
	toolsFP, promptsFP, resourcesFP, templatesFP string
}

func (g *Gateway) newServer(name string, cfg ServerConfig, all bool) *vserver {
	v := &vserver{g: g, name: name, route: Path, cfg: cfg, all: all}
	v.listed.Store(encodeTools(nil))
	if name != "" {
		v.route = Path + "/" + name
	}
	title := "Subzero"
	if name != "" {
		title += " " + name
	}
	v.serverInfo, _ = json.Marshal(mcpgo.Implementation{Name: "subzero", Version: serverVersion, Title: title, Description: cfg.Description})
	v.resultHead = []byte(`{"_meta":{"` + mcpgo.MetaKeyServerInfo + `":` + string(v.serverInfo) + `},"resultType":"` + string(mcpgo.ResultTypeComplete) + `"`)
	hooks := &server.Hooks{}
	hooks.AddAfterListTools(v.filterTools)
	hooks.AddAfterListPrompts(v.filterPrompts)
	hooks.AddAfterListResources(v.filterResources)
	hooks.AddAfterListResourceTemplates(v.filterTemplates)
	hooks.AddOnRegisterSession(func(_ context.Context, sess server.ClientSession) {
		g.sessions.registered(sess.SessionID(), sess.NotificationChannel())
	})
	hooks.AddOnUnregisterSession(func(_ context.Context, sess server.ClientSession) {
		g.sessions.registered(sess.SessionID(), nil)
	})
	hooks.AddAfterInitialize(func(ctx context.Context, _ any, req *mcpgo.InitializeRequest, _ *mcpgo.InitializeResult) {
		if sess := server.ClientSessionFromContext(ctx); sess != nil && sess.SessionID() != "" {
			g.sessions.initialized(sess.SessionID(), req.Params.Capabilities.Elicitation != nil)
		}
	})
	v.mcp = server.NewMCPServer("subzero", serverVersion,
		server.WithTitle(title),
		server.WithDescription(cfg.Description),
		server.WithToolCapabilities(true),
		server.WithPromptCapabilities(true),
		server.WithResourceCapabilities(false, true),
		server.WithElicitation(),
		server.WithHooks(hooks),
	)
	v.http = server.NewStreamableHTTPServer(v.mcp,
		server.WithEndpointPath(v.route),
		server.WithSessionIdManagerResolver(resolver{s: g.sessions, server: name}),
		server.WithSessionIdleTTL(g.cfg.SessionIdleTTL),
		server.WithStreamableHTTPProtocolVersions(protocolVersions...),
		server.WithStreamableHTTPLogger(g.log),
		// Origin is checked on every request by the gateway, and every
		// request carries a token for this resource, which a page that
		// rebinds a name to loopback does not have; behind a proxy on the
		// same host the Host header is the public name.
		server.WithDisableLocalhostProtection(true),
	)
	return v
}

func (v *vserver) close() {
	v.http.CloseSessions(context.Background())
	_ = v.http.Shutdown(context.Background())
}

// selects reports whether the server serves name by patterns.
func (v *vserver) selects(patterns []string, name string) bool {
	return v.all || matchAny(patterns, name)
}

// update registers with mcp-go what x holds for the server, when it
// changed. g.mu is held.
func (v *vserver) update(x *index) {
	var tools []server.ServerTool
	var entries []*toolEntry
	var fp strings.Builder
	for _, name := range sortedKeys(x.tools) {
		e := x.tools[name]
		if !v.selects(v.cfg.Tools, name) {
			continue
		}
		tools = append(tools, server.ServerTool{Tool: e.listed, Handler: v.callTool})
		entries = append(entries, e)
		fmt.Fprintf(&fp, "%s\x00%s\x00%s\x00", name, e.hash, e.hidden)
	}
	if s := fp.String(); s != v.toolsFP {
		v.toolsFP = s
		// The encodings first: a list between the two finds mcp-go's
		// previous tools are not the ones encoded, and falls back.
		v.listed.Store(encodeTools(entries))
		v.g.sessions.notifyAll() // mcp-go tells every session
		v.mcp.SetTools(tools...)
	}

	var prompts []server.ServerPrompt
	fp.Reset()
	for _, name := range sortedKeys(x.prompts) {
		if !v.selects(v.cfg.Prompts, name) {
			continue
		}
		p := x.prompts[name].prompt
		p.Name = name
		prompts = append(prompts, server.ServerPrompt{Prompt: p, Handler: v.getPrompt})
		writeFP(&fp, p)
	}
	if s := fp.String(); s != v.promptsFP {
		v.promptsFP = s
		v.g.sessions.notifyAll()
		v.mcp.SetPrompts(prompts...)
		if len(prompts) == 0 {
			v.mcp.SendNotificationToAllClients(mcpgo.MethodNotificationPromptsListChanged, nil)
		}
	}

	var resources []server.ServerResource
	fp.Reset()
	for _, uri := range sortedKeys(x.resources) {
		if !v.selects(v.cfg.Resources, uri) {
			continue
		}
		r := x.resources[uri].res
		resources = append(resources, server.ServerResource{Resource: r, Handler: v.readResource})
		writeFP(&fp, r)
	}
	var templates []server.ServerResourceTemplate
	tfp := strings.Builder{}
	for _, uri := range sortedKeys(x.templates) {
		if !v.selects(v.cfg.Resources, uri) {
			continue
		}
		t := x.templates[uri].tmpl
		templates = append(templates, server.ServerResourceTemplate{Template: t, Handler: v.readResource})
		writeFP(&tfp, t)
	}
	if s := fp.String(); s != v.resourcesFP {
		v.resourcesFP = s
		v.g.sessions.notifyAll()
		v.mcp.SetResources(resources...)
		if len(resources) == 0 {
			v.mcp.SendNotificationToAllClients(mcpgo.MethodNotificationResourcesListChanged, nil)
		}
	}
	if s := tfp.String(); s != v.templatesFP {
		v.templatesFP = s
		v.g.sessions.notifyAll()
		v.mcp.SetResourceTemplates(templates...)
	}
}

func writeFP(b *strings.Builder, v any) {
	data, _ := json.Marshal(v)
	b.Write(data)
	b.WriteByte(0)
}

// --- lists ---

func (v *vserver) filterPrompts(ctx context.Context, _ any, _ *mcpgo.ListPromptsRequest, res *mcpgo.ListPromptsResult) {
	if res == nil {
		return
	}
	x := v.g.idx.Load()
	res.Prompts = filterList(ctx, v, res.Prompts, func(p mcpgo.Prompt) (Item, bool) {
		e := x.prompts[p.Name]
		if e == nil {
			return Item{}, false
		}
		return Item{Kind: kindPrompt, Name: e.name, Upstream: e.up.Name(), Object: e.object}, true
	})
}

func (v *vserver) filterResources(ctx context.Context, _ any, _ *mcpgo.ListResourcesRequest, res *mcpgo.ListResourcesResult) {
	if res == nil {
		return
	}
	x := v.g.idx.Load()
	res.Resources = filterList(ctx, v, res.Resources, func(r mcpgo.Resource) (Item, bool) {
		e := x.resources[r.URI]
		if e == nil {
			return Item{}, false
		}
		return Item{Kind: kindResource, Name: e.uri, Upstream: e.up.Name(), Object: e.object}, true
	})
}

func (v *vserver) filterTemplates(ctx context.Context, _ any, _ *mcpgo.ListResourceTemplatesRequest, res *mcpgo.ListResourceTemplatesResult) {
	if res == nil {
		return
	}
	x := v.g.idx.Load()
	res.ResourceTemplates = filterList(ctx, v, res.ResourceTemplates, func(t mcpgo.ResourceTemplate) (Item, bool) {
		if t.URITemplate == nil {
			return Item{}, false
		}
		e := x.templates[t.URITemplate.Raw()]
		if e == nil {
			return Item{}, false
		}
		return Item{Kind: kindResource, Name: e.uri, Upstream: e.up.Name(), Object: e.object}, true
	})
}

// filterList keeps the elements of list that item accepts and Visibility
// allows; when Visibility fails, none.
func filterList[T any](ctx context.Context, v *vserver, list []T, item func(T) (Item, bool)) []T {
	keep := make([]T, 0, len(list))
	items := make([]Item, 0, len(list))
	for _, el := range list {
		if it, ok := item(el); ok {
			keep = append(keep, el)
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		return keep
	}
	allowed := v.visible(ctx, items)
	out := keep[:0]
	for i, el := range keep {
		if allowed[i] {
			out = append(out, el)
		}
	}
	return out
}

// --- calls ---

func (v *vserver) callTool(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	name := req.Params.Name
	e := v.g.idx.Load().tools[name]
	if e == nil || !v.selects(v.cfg.Tools, name) {
		return nil, deny(ctx, &Denied{Code: mcpgo.INVALID_PARAMS, Message: "unknown tool " + strconv.Quote(name)})
	}
	if e.hidden != "" {
		return nil, deny(ctx, &Denied{Code: CodeForbidden, Message: "tool " + strconv.Quote(name) + " is " + hiddenMessage(e.hidden)})
	}
	args, err := argsJSON(req.Params.Arguments)
	if err != nil {
		return nil, deny(ctx, &Denied{Code: mcpgo.INVALID_PARAMS, Message: "arguments must be a JSON object"})
	}
	c := v.call(ctx, MethodToolsCall, name, e.up, e.tool.Name, e.object)
	out, err := v.runToolCall(ctx, c, e, args)
	if err != nil {
		return nil, v.fail(ctx, c, err)
	}
	res, err := mcpgo.ParseCallToolResult(&out)
	if err != nil {
		return nil, v.fail(ctx, c, fmt.Errorf("mcp: tools/call %s: result: %w", name, err))
	}
	return res, nil
}

// runToolCall runs c, a call of the tool e with args, through the
// pipeline, and returns the result to answer with: the upstream's as the
// outbound guard left it, or an error result the agent reads when the
// guard withheld it. An error is the pipeline's, for fail or refusal.
func (v *vserver) runToolCall(ctx context.Context, c *Call, e *toolEntry, args json.RawMessage) (json.RawMessage, error) {
	c.Risk = e.risk
	c.Args = args
	up, tool, name := e.up, e.raw, c.Name
	c.Forward = func(ctx context.Context, args json.RawMessage, creds Credentials) (json.RawMessage, error) {
		if len(creds.Headers) > 0 {
			return nil, errCredentials
		}
		res, err := up.CallToolRaw(ctx, tool, args)
		if err != nil {
			return nil, fmt.Errorf("mcp: tools/call %s: %w", name, err)
		}
		return res, nil
	}
	out, err := v.g.opts.Pipeline.Do(ctx, c)
	if err != nil {
		var b *Blocked
		if errors.As(err, &b) {
			return json.Marshal(mcpgo.NewToolResultError(b.Message))
		}
		return nil, err
	}
	return out, nil
}

func (v *vserver) getPrompt(ctx context.Context, req mcpgo.GetPromptRequest) (*mcpgo.GetPromptResult, error) {
	name := req.Params.Name
	e := v.g.idx.Load().prompts[name]
	if e == nil || !v.selects(v.cfg.Prompts, name) {
		return nil, deny(ctx, &Denied{Code: mcpgo.INVALID_PARAMS, Message: "unknown prompt " + strconv.Quote(name)})
	}
	args, err := json.Marshal(req.Params.Arguments)
	if err != nil || req.Params.Arguments == nil {
		args = json.RawMessage("{}")
	}
	c := v.call(ctx, MethodPromptsGet, name, e.up, e.prompt.Name, e.object)
	c.Args = args
	up, prompt := e.up, e.prompt.Name
	c.Forward = func(ctx context.Context, args json.RawMessage, creds Credentials) (json.RawMessage, error) {
		if len(creds.Headers) > 0 {
			return nil, errCredentials
		}
		var m map[string]string
		if err := json.Unmarshal(args, &m); err != nil {
			return nil, fmt.Errorf("mcp: prompts/get %s: arguments: %w", name, err)
		}
		res, err := up.GetPrompt(ctx, prompt, m)
		if err != nil {
			return nil, fmt.Errorf("mcp: prompts/get %s: %w", name, err)
		}
		return json.Marshal(res)
	}
	out, err := v.g.opts.Pipeline.Do(ctx, c)
	if err != nil {
		return nil, v.fail(ctx, c, err)
	}
	res, err := mcpgo.ParseGetPromptResult(&out)
	if err != nil {
		return nil, v.fail(ctx, c, fmt.Errorf("mcp: prompts/get %s: result: %w", name, err))
	}
	return res, nil
}

func (v *vserver) readResource(ctx context.Context, req mcpgo.ReadResourceRequest) ([]mcpgo.ResourceContents, error) {
	uri := req.Params.URI
	x := v.g.idx.Load()
	var up *upstream.Upstream
	var object string
	if e := x.resources[uri]; e != nil && v.selects(v.cfg.Resources, uri) {
		up, object = e.up, e.object
	} else {
		// A URI of a template: the one mcp-go matched is not told, so the
		// upstream is found again; two templates of different upstreams
		// that both match are ambiguous and refused.
		for _, t := range x.templates {
			if v.selects(v.cfg.Resources, t.uri) && t.tmpl.URITemplate.Regexp().MatchString(uri) {
				if up != nil && up != t.up {
					return nil, deny(ctx, &Denied{Code: mcpgo.INVALID_PARAMS, Message: "resource " + strconv.Quote(uri) + " matches templates of two upstreams"})
				}
				up, object = t.up, t.object
			}
		}
	}
	if up == nil {
		return nil, deny(ctx, &Denied{Code: mcpgo.INVALID_PARAMS, Message: "unknown resource " + strconv.Quote(uri)})
	}
	c := v.call(ctx, MethodResourcesRead, uri, up, uri, object)
	c.Forward = func(ctx context.Context, _ json.RawMessage, creds Credentials) (json.RawMessage, error) {
		if len(creds.Headers) > 0 {
			return nil, errCredentials
		}
		res, err := up.ReadResource(ctx, uri)
		if err != nil {
			return nil, fmt.Errorf("mcp: resources/read: %w", err)
		}
		return json.Marshal(res)
	}
	out, err := v.g.opts.Pipeline.Do(ctx, c)
	if err != nil {
		return nil, v.fail(ctx, c, err)
	}
	res, err := mcpgo.ParseReadResourceResult(&out)
	if err != nil {
		return nil, v.fail(ctx, c, fmt.Errorf("mcp: resources/read: result: %w", err))
	}
	return res.Contents, nil
}

// errCredentials: the pipeline gave per-call credentials, which the
// upstream package cannot send yet; the call is not made without them.
var errCredentials = errors.New("mcp: per-call upstream credentials are not supported yet")

func hiddenMessage(why string) string {
	if strings.HasPrefix(why, "quarantined") {
		return why
	}
	return "hidden: " + why
}

func argsJSON(a any) (json.RawMessage, error) {
	if a == nil {
		return json.RawMessage("{}"), nil
	}
	data, err := json.Marshal(a)
	if err != nil || len(data) == 0 || data[0] != '{' {
		return nil, errors.New("not an object")
	}
	return data, nil
}

// call starts the Call of a request to the server.
func (v *vserver) call(ctx context.Context, method, name string, up *upstream.Upstream, upName, object string) *Call {
	c := &Call{
		Method: method, Server: v.name, Route: v.route,
		Name: name, Upstream: up.Name(), UpstreamName: upName, Object: object,
	}
	if server.IsModernRequest(ctx) {
		// 2026-07-28 has no server-initiated requests; its multi round-trip
		// elicitation is not supported yet, so nobody can be asked.
		return c
	}
	sess := server.ClientSessionFromContext(ctx)
	if sess == nil {
		return c
	}
	c.Session = sess.SessionID()
	ci, ok := sess.(server.SessionWithClientInfo)
	if !ok || ci.GetClientCapabilities().Elicitation == nil {
		return c
	}
	c.Approve = func(ctx context.Context, message string) (bool, error) {
		res, err := v.mcp.RequestElicitation(ctx, mcpgo.ElicitationRequest{
			Request: mcpgo.Request{Method: string(mcpgo.MethodElicitationCreate)},
			Params: mcpgo.ElicitationParams{
				Message:         message,
				RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{}},
			},
		})
		if err != nil {
			return false, fmt.Errorf("mcp: elicitation: %w", err)
		}
		return res.Action == mcpgo.ElicitationResponseActionAccept, nil
	}
	return c
}

// fail turns a pipeline error into the error the handler returns: a
// *Denied keeps its code and message, anything else is an internal error
// without detail (logged).
func (v *vserver) fail(ctx context.Context, c *Call, err error) error {
	if d := v.refusal(c, err); d != nil {
		return deny(ctx, d)
	}
	return errInternal
}

// refusal is what the client is told of a pipeline error: a *Denied
// keeps its code and message, a *Blocked is CodeBlocked; nil for anything
// else, an internal error, which is logged.
func (v *vserver) refusal(c *Call, err error) *Denied {
	var d *Denied
	if errors.As(err, &d) {
		return d
	}
	var b *Blocked
	if errors.As(err, &b) {
		return &Denied{Code: CodeBlocked, Message: b.Message}
	}
	v.g.log.Error("mcp: call failed", "method", c.Method, "name", c.Name, "upstream", c.Upstream, "err", err)
	return nil
}

var errInternal = errors.New("internal error")

// --- HTTP ---

// Handler serves /mcp and /mcp/<name> (full paths). The broker mounts it
// behind its authentication: requests carry the caller in their context,
// which Options.Identity reads.
func (g *Gateway) Handler() http.Handler {
	return http.HandlerFunc(g.serveHTTP)
}

func (g *Gateway) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" && !g.origins[o] {
		writeHTTPError(w, http.StatusForbidden, "origin_not_allowed", "this Origin may not call the gateway")
		return
	}
	subject, client, ok := g.opts.Identity(r.Context())
	if !ok {
		writeHTTPError(w, http.StatusUnauthorized, "unauthorized", "authentication required")
		return
	}
	var v *vserver
	switch {
	case r.URL.Path == Path:
		v = g.servers[""]
	case strings.HasPrefix(r.URL.Path, Path+"/"):
		if name := r.URL.Path[len(Path)+1:]; name != "" {
			v = g.servers[name]
		}
	}
	if v == nil {
		writeHTTPError(w, http.StatusNotFound, "not_found", "no MCP server at this path")
		return
	}
	if pv := r.Header.Get(mcpgo.HeaderProtocolVersion); pv != "" && !slices.Contains(protocolVersions, pv) {
		writeHTTPError(w, http.StatusBadRequest, "unsupported_protocol_version",
			"unsupported MCP-Protocol-Version; supported: "+strings.Join(protocolVersions, ", "))
		return
	}
	if r.ContentLength > g.cfg.MaxRequestBytes {
		writeHTTPError(w, http.StatusRequestEntityTooLarge, "request_too_large", "the request body is too large")
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, g.cfg.MaxRequestBytes)
	}
	owner := ownerOf(v.name, subject, client)
	if id := r.Header.Get(mcpgo.HeaderSessionID); id != "" && !mcpgo.IsModernProtocol(r.Header.Get(mcpgo.HeaderProtocolVersion)) {
		// mcp-go checks the session on POST and GET; a DELETE by another
		// caller must not end it either.
		if !g.sessions.owns(id, owner) {
			writeHTTPError(w, http.StatusNotFound, "session_not_found", "no such session")
			return
		}
	}
	if id := r.Header.Get(mcpgo.HeaderSessionID); id != "" && r.Method == http.MethodGet {
		g.sessions.notify(id) // its stream takes notifications unseen
	}
	if r.Method == http.MethodPost && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		if err == nil && !g.noFast.Load() && v.serveFast(w, r, body) {
			return
		}
		// mcp-go reads the body again, and fails as it would have.
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		if id := r.Header.Get(mcpgo.HeaderSessionID); id != "" {
			g.sessions.servedByMCPGo(id)
		}
	}
	o := &override{token: "subzero-denied-" + randomHex()}
	ctx := context.WithValue(r.Context(), ownerKey{}, owner)
	ctx = context.WithValue(ctx, overrideKey{}, o)
	v.http.ServeHTTP(&rewriter{ResponseWriter: w, o: o}, r.WithContext(ctx))
}

func writeHTTPError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": message})
}

func randomHex() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// --- JSON-RPC errors with the gateway's codes ---

// mcp-go answers every error a handler returns with code -32603 and the
// error's text. To answer a refusal with its own code, the handler records
// it in the request's override and returns an error whose text is the
// override's random token; the response writer replaces the token's error
// with the refusal as it is written (one Write per message, as mcp-go
// writes JSON and SSE events).

type override struct {
	token string
	mu    sync.Mutex
	set   bool
	code  int
	msg   string
	// listFrom is the encoded placeholder of a tools/list result, which
	// the writer replaces with listTo (list.go), then puts in listPool.
	listFrom, listTo []byte
	listPool         *sync.Pool
}

type overrideKey struct{}

// deny returns the error a handler returns to refuse with d.
func deny(ctx context.Context, d *Denied) error {
	o, _ := ctx.Value(overrideKey{}).(*override)
	if o == nil {
		return d
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.set, o.code, o.msg = true, d.Code, d.Message
	return errors.New(o.token)
}

type rewriter struct {
	http.ResponseWriter
	o *override
}

func (w *rewriter) Write(p []byte) (int, error) {
	w.o.mu.Lock()
	set, code, msg := w.o.set, w.o.code, w.o.msg
	from, to, pool := w.o.listFrom, w.o.listTo, w.o.listPool
	w.o.mu.Unlock()
	if from != nil {
		if i := bytes.Index(p, from); i >= 0 {
			w.o.mu.Lock()
			w.o.listFrom, w.o.listTo, w.o.listPool = nil, nil, nil
			w.o.mu.Unlock()
			var err error
			for _, part := range [][]byte{p[:i], to, p[i+len(from):]} {
				if _, err = w.ResponseWriter.Write(part); err != nil {
					break
				}
			}
			if cap(to) <= maxPooledList {
				to = to[:0]
				pool.Put(&to)
			}
			if err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	if set {
		old := []byte(`"code":` + strconv.Itoa(mcpgo.INTERNAL_ERROR) + `,"message":"` + w.o.token + `"`)
		if i := bytes.Index(p, old); i >= 0 {
			m, _ := json.Marshal(msg)
			q := make([]byte, 0, len(p)+len(m))
			q = append(q, p[:i]...)
			q = append(q, `"code":`+strconv.Itoa(code)+`,"message":`...)
			q = append(q, m...)
			q = append(q, p[i+len(old):]...)
			if _, err := w.ResponseWriter.Write(q); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return w.ResponseWriter.Write(p)
}

func (w *rewriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *rewriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// --- sessions ---

type ownerKey struct{}

func ownerOf(server, subject, client string) string {
	return strconv.Quote(server) + " " + strconv.Quote(subject) + " " + strconv.Quote(client)
}

// resolver gives mcp-go a session ID manager bound to the caller of each
// request: IDs it makes belong to the caller, and it validates only the
// caller's own.
type resolver struct {
	s      *sessions
	server string
}

func (r resolver) ResolveSessionIdManager(req *http.Request) server.SessionIdManager {
	if req == nil {
		return manager{s: r.s, sweeper: true} // mcp-go's idle sweeper
	}
	owner, _ := req.Context().Value(ownerKey{}).(string)
	return manager{s: r.s, owner: owner}
}

type manager struct {
	s       *sessions
	owner   string
	sweeper bool
}

var errNoSession = errors.New("no such session")

func (m manager) Generate() string {
	if m.owner == "" {
		return ""
	}
	return m.s.create(m.owner)
}

func (m manager) Validate(id string) (bool, error) {
	if m.sweeper || !m.s.owns(id, m.owner) {
		return false, errNoSession
	}
	return false, nil
}

func (m manager) Terminate(id string) (bool, error) {
	if m.sweeper || m.s.owns(id, m.owner) {
		m.s.delete(id)
	}
	return false, nil
}

// compile-time checks
var _ server.SessionIdManagerResolver = resolver{}
