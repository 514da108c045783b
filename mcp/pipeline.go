package mcp

import (
	"context"
	"encoding/json"
	"hash/maphash"
	"net/http"
)

// The methods a Call carries: the client requests that reach an upstream.
const (
	MethodToolsCall     = "tools/call"
	MethodResourcesRead = "resources/read"
	MethodPromptsGet    = "prompts/get"
)

// Call is one client request bound for an upstream. The gateway builds it
// and hands it to the Pipeline, which authenticates, limits, authorizes
// and scans it, then calls Forward at its place in the order, scans the
// result and records the audit event.
type Call struct {
	// Method is MethodToolsCall, MethodResourcesRead or MethodPromptsGet.
	Method string
	// Server is the virtual server the client addressed ("" for /mcp,
	// "notes" for /mcp/notes); Route is the path ("/mcp", "/mcp/notes").
	Server, Route string
	// Name is what the client named: the namespaced tool or prompt name,
	// or the resource URI.
	Name string
	// Upstream is the upstream that serves the call, and UpstreamName the
	// tool or prompt name (or resource URI) there.
	Upstream, UpstreamName string
	// Object is the ReBAC object the call acts on, named after the
	// upstream and the name there, whatever prefix clients see:
	// "tool:<upstream>.<tool>", "prompt:<upstream>.<prompt>" or
	// "resource:<upstream>".
	Object string
	// Risk is the tool's risk level ("low", "medium", "high",
	// "critical"); "" for resources and prompts.
	Risk string
	// Args are the arguments, a JSON object (tools/call, prompts/get); nil
	// for resources/read.
	Args json.RawMessage
	// Session is the MCP session ID, "" on the stateless protocol.
	Session string
	// Approve asks the user, through MCP elicitation, to approve the call
	// with message; nil when the client cannot be asked.
	Approve func(ctx context.Context, message string) (bool, error)
	// Forward sends the call upstream with args (the arguments as the
	// inbound guard left them) and per-call credentials, and returns the
	// upstream's result as JSON: a CallToolResult, ReadResourceResult or
	// GetPromptResult.
	Forward func(ctx context.Context, args json.RawMessage, creds Credentials) (json.RawMessage, error)
}

// Credentials are what the credentials step adds to one upstream request
// (the user's provider token from the vault, later); upstreams' static
// headers are configured on the upstream itself.
type Credentials struct {
	Headers http.Header
}

// Pipeline runs calls. Do returns the result JSON to send the client (as
// the outbound guard left it), or an error: a *Denied is a refusal the
// client is told of as a JSON-RPC error; a *Blocked means the result was
// withheld (a tools/call then answers with an error result the agent
// reads); anything else is an internal error, reported without detail.
// Do records exactly one audit event per call, whatever it returns.
type Pipeline interface {
	Do(ctx context.Context, c *Call) (json.RawMessage, error)
}

// Denied is a call refused before it reached the upstream.
type Denied struct {
	// Code is the JSON-RPC error code; Message says why, for the agent
	// and its user.
	Code    int
	Message string
}

func (d *Denied) Error() string { return d.Message }

// JSON-RPC error codes the gateway uses beyond the standard ones.
const (
	// CodeForbidden: the decision point denied the call, or it needed an
	// approval the user did not give.
	CodeForbidden = -32003
	// CodeRateLimited: a limit or budget was reached.
	CodeRateLimited = -32029
	// CodeUnavailable: the upstream is down or its circuit is open.
	CodeUnavailable = -32010
	// CodeBlocked: the guard blocked the request's arguments.
	CodeBlocked = -32011
)

// Blocked is a result the outbound guard withheld.
type Blocked struct {
	// Message says what was found, never quoting it.
	Message string
}

func (b *Blocked) Error() string { return b.Message }

// Item is one entry of a list the client asks for, for Visibility.
type Item struct {
	// Kind is "tool", "prompt" or "resource".
	Kind string
	// Name is the namespaced name (resource: its URI), Upstream its
	// upstream, Object its ReBAC object as in Call.Object.
	Name, Upstream, Object string
	// Key is a hash of the fields above, computed once when the item is
	// registered (equal items have equal keys within a process), so that
	// Visibility can key a list without hashing its items; 0 when unknown.
	Key uint64
}

// itemSeed seeds the keys of items.
var itemSeed = maphash.MakeSeed()

// withKey returns it with its Key.
func (it Item) withKey() Item {
	var h maphash.Hash
	h.SetSeed(itemSeed)
	for _, s := range [...]string{it.Kind, it.Name, it.Upstream, it.Object} {
		h.WriteString(s)
		h.WriteByte(0)
	}
	it.Key = h.Sum64() | 1 // never 0
	return it
}

// Visibility filters lists to what the caller may use: the same decision
// the pipeline's authorize step takes for a call, asked in one batch. It
// reads the caller from ctx. allowed[i] answers items[i].
type Visibility interface {
	Visible(ctx context.Context, server string, items []Item) (allowed []bool, err error)
}

// Identity names the authenticated caller of a request, from ctx: the
// user (token subject) and the client. ok is false for an
// unauthenticated context, which the gateway refuses.
type Identity func(ctx context.Context) (subject, client string, ok bool)

// Event is a gateway event that is not a call: a tool quarantined, a
// quarantine approved, a tool learned on first use.
type Event struct {
	// Action is "mcp.tool.learned", "mcp.tool.quarantined" or
	// "mcp.tool.approved"; Target the namespaced tool name.
	Action, Target string
	// Actor is who caused it ("" for the gateway itself).
	Actor string
	// Reason is a short human sentence; Detail a JSON object (the diff of
	// a changed definition, the hashes).
	Reason string
	Detail json.RawMessage
}

// Recorder writes gateway events to the audit trail.
type Recorder interface {
	Record(ctx context.Context, e Event)
}
