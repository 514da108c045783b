// Package mcp is Subzero's MCP gateway: one MCP endpoint, /mcp, over the
// upstream MCP servers of the configuration, with every call run through
// the broker's [Pipeline].
//
// The gateway lists the tools, prompts, resources and resource templates
// of every upstream (package mcp/upstream) and merges them into an index,
// an immutable snapshot swapped atomically. Tool and prompt names are
// namespaced with the upstream's prefix ("notes__search" by default; a
// prefix may be empty); a name that two upstreams produce is served by
// neither, whichever answered first, and is logged and counted. An
// upstream's lists are read again when it reports a change and when it
// reconnects (one that was down at start is tried with backoff until it
// answers); clients are then sent notifications/*/list_changed.
// Virtual servers at /mcp/<name> serve the subset their name patterns
// select ('*' any run of characters, [Match]).
//
// Every tool's definition is scanned by the guard (direction
// tool_description) and checked against its pin (package mcp/pin): a
// definition the guard blocks, or one that changed since it was approved,
// is hidden from tools/list and its calls are refused, with one audit
// event ([Recorder]) naming what changed, until an admin approves it
// ([Gateway.Approve]).
//
// The server side is mcp-go's Streamable HTTP server, one per virtual
// server, serving protocol 2026-07-28 (stateless; mcp-go checks the
// Mcp-Method and Mcp-Name headers against the body) and 2025-11-25 and
// 2025-06-18 (sessions). Lists are filtered to what the caller may use,
// asked of [Visibility] in one batch per list; tools/call, prompts/get
// and resources/read become a [Call] for the [Pipeline], whose refusals
// reach the client as JSON-RPC errors with the gateway's codes. A
// high-risk call's approval is asked of the user through MCP elicitation
// when the client's session declared it ([Call.Approve]).
//
// # Security
//
//   - Every request needs an identity ([Identity]); without one it is
//     refused with 401. A request with an Origin header that is neither
//     the broker's public origin nor configured is refused with 403.
//   - Session IDs are 130 random bits, bound to the virtual server,
//     subject and client that initialized them: another caller presenting
//     one (to use or DELETE it) gets 404, as for an unknown ID. Sessions
//     end on DELETE or after session_idle_ttl, and at most [MaxSessions]
//     are live.
//   - Request bodies are bounded by max_request_bytes; an unsupported
//     MCP-Protocol-Version is refused with 400.
//   - The caller's Authorization header, and anything else of the client
//     request but the method's parameters, never reaches an upstream:
//     upstreams get their own configured credentials only.
//   - Lists never show a tool that is quarantined, blocked by the guard,
//     outside the virtual server, or that Visibility does not allow; when
//     Visibility fails, the list is empty. Calls are decided by the
//     Pipeline, not by the list.
//   - A tool definition the guard blocks is never learned by trust on
//     first use. A pin that cannot be checked (the store is down) hides
//     the tool.
//   - Errors other than the pipeline's refusals reach the client as
//     "internal error", without detail; the log has it.
package mcp
