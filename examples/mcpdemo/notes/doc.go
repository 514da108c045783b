// Package notes is the demo upstream MCP server Subzero's gateway is
// shown and tested with: a small notebook an agent can search, read,
// write and delete, and a fetch tool whose pages carry the attacks the
// gateway stops.
//
// Tools (all four annotation hints are set on each):
//
//   - search_notes (query, limit) → matching notes' id, title and first
//     line; read-only.
//   - read_note (id) → the whole note; read-only.
//   - write_note (title, body) → the new note's id; not destructive, not
//     idempotent.
//   - delete_note (id); destructive: the gateway's high-risk example.
//   - fetch (url) → the page's text; open-world. It never uses the
//     network: it serves a fixed set of pages built into the package
//     ([PageURLs], [Page]), one clean ([URLClean]), one with an indirect
//     prompt injection ([URLInjection]), one with personal data
//     ([URLPersonalData]) and one with an AWS-style secret key
//     ([URLSecret]). Any other URL is a tool error listing the demo pages.
//
// The resource notes://index lists every note's id and title, and the
// prompt summarize_notes asks a model to summarize the notes.
//
// Notes live in memory for the life of the [Server], seeded with five
// plausible ones; writes past [Config.MaxNotes], [Config.MaxTitleBytes] or
// [Config.MaxBodyBytes] are tool errors (isError results an agent can
// read), not JSON-RPC errors. [Config.MutateAfter] is a test fixture that
// changes search_notes's description, after a number of tools/list
// requests, to [PoisonedSearchDescription] (a "rug pull").
//
// [Server.Handler] serves Streamable HTTP at /mcp, [Server.ServeStdio]
// serves a pipe; examples/mcpdemo is the command running either.
//
// # Security
//
// The server is deliberately unsafe to trust: it is the attacker in the
// demo. Its fetch results contain instructions aimed at agents, personal
// data and a secret-looking key (random, never issued); the poisoned
// description carries a hidden instruction. It holds no real data and
// opens no outbound connection. It is not an OAuth-protected resource:
// put it behind the gateway, never on a public address. Inputs are
// bounded: an HTTP body or stdio line by [Config.MaxMessageBytes], tool
// arguments by the input schemas (validated) and by the handlers, URLs by
// [MaxURLBytes]. Logs go to the injected logger and name tools, outcomes
// and durations, never arguments or results.
package notes
