// Package rego evaluates optional authorization policies written in Rego (v1
// syntax) with the embedded OPA Go library.
//
// An [Engine] loads every *.rego file of a directory, compiles them together,
// prepares the configured query once and evaluates it per call with a
// timeout. A background watcher polls the directory and swaps in a recompiled
// policy atomically when a file is added, removed or changed; a policy that
// does not compile is rejected and the previous one stays active. [Check]
// validates policy sources without installing them, for write-time
// validation in the CLI and the admin API.
//
// The query (default "data.subzero.authz") must yield an object such as
//
//	package subzero.authz
//
//	default allow := false
//
//	allow if input.user.role == "admin"
//
//	deny contains "tool is disabled" if input.tool.disabled
//
// A call is allowed only when allow is exactly true and deny is empty. See
// [Engine.Evaluate] for how every other outcome is reported.
//
// # Security
//
//   - Fail closed: an undefined result, a non-boolean allow, a malformed deny,
//     an evaluation error and a timeout never produce an allowed [Decision].
//   - Deny wins over allow inside a policy.
//   - Builtin errors are strict (rego.StrictBuiltinErrors): a deny rule whose
//     builtin fails on hostile input becomes an evaluation error, not a
//     silently undefined (and therefore missing) deny.
//   - Policies run without network or host access: http.send,
//     net.lookup_ip_addr and opa.runtime are removed from the capabilities,
//     so a policy that calls them does not compile.
//   - Evaluation is bounded by [Config.Timeout]; policy files are bounded by
//     [MaxFileSize].
//   - Input and policy text never appear in error strings or logs; compile
//     errors name only the file, line, column and OPA's message.
package rego
