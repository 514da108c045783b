// Package upstream connects the MCP gateway to the upstream MCP servers it
// aggregates: Streamable HTTP servers and stdio children, each configured by
// name ([Config]) and held in a [Registry].
//
// An [Upstream] connects with mcp-go's client, which speaks the newest
// protocol version the server does: server/discover on 2026-07-28, else the
// initialize handshake at 2025-11-25 or what the server answers. It keeps
// the server's capabilities, follows list cursors within bounds, and reports
// list_changed notifications to [Upstream.OnListChanged] (through a
// subscriptions/listen stream on 2026-07-28, the standalone GET stream
// before it, or stdout for stdio).
//
// Every request runs under call_timeout and a circuit breaker per upstream
// (gobreaker): after breaker.failures consecutive failed attempts, requests
// fail with [ErrCircuitOpen] without reaching the upstream until open_for
// has passed and a probe succeeds. Requests that are safe to repeat (lists,
// reads, prompts, and tools annotated readOnlyHint or idempotentHint; see
// [Repeatable]) are retried with exponential backoff and jitter on
// transport failures, timeouts and HTTP 5xx, never on a JSON-RPC error the
// server returned. A tool call that may write is sent at most once, except
// when the server refused it for a session it no longer knows, which it did
// without running it. A connection that breaks (a child that exits, a
// session that expires, a notification stream that ends) is remade on the
// next request, with backoff between failed attempts; [Health] says down
// meanwhile. An upstream that is down when the [Registry] starts keeps
// reconnecting in the background without holding up the others.
//
// # Security
//
//   - Header values and secret_env values are read at start from secret
//     references and never appear in errors, [Health], logs or metrics:
//     error text that holds one is redacted.
//   - A stdio child's environment is PATH plus what env and secret_env
//     configure, never the broker's own environment, which holds the
//     broker's secrets. Its stderr is discarded. It runs in a process group
//     of its own, which [Upstream.Close] kills and reaps.
//   - HTTP upstreams need https, except on loopback or with
//     unsafe_allow_http; URLs may not hold credentials; redirects are not
//     followed, so headers never reach another host.
//   - A result larger than max_result_bytes is an error, never forwarded in
//     part. Responses are read through a limit of max_result_bytes plus
//     64 KiB on the wire, so an upstream cannot make the broker buffer more;
//     a stdio child that writes a longer message loses its connection.
//   - Lists are bounded to [MaxListPages] pages and [MaxListItems] items.
package upstream
