// Package guard scans the content that flows through the broker —
// prompts, completions, tool arguments, tool results and tool
// descriptions — for the OWASP Top 10 for LLM Applications (2025), and
// applies a policy to what it finds.
//
// A [Guard] runs a set of [Detector]s over every string of an [Input]:
// the text, or every key and value of a JSON document (findings carry
// the JSON path, "$.messages[2].content"). Each string is normalized
// once ([Normalizer]): NFKC, lower case, Latin look-alikes from other
// scripts mapped to ASCII (a table generated from Unicode's
// confusables.txt), zero-width, bidi and tag characters removed and
// counted, leetspeak and letter spacing folded, whitespace collapsed; and
// base64, hex, URL-encoded and rot13 runs are decoded, recursively and
// within a budget, so that detectors read what a model would read. The
// scanner reports obfuscation itself (class obfuscation): invisible
// characters, text smuggled in tag characters or variation selectors,
// and encoded payloads.
//
// The policy ([Config]) gives each finding an action by detector and
// direction, with per-route and per-tool overrides and an allowlist;
// the verdict's action is the most severe. Redaction replaces the spans
// of redacted findings with typed placeholders ("[EMAIL_1]", numbered
// per value across the whole input) and, for JSON, re-encodes the same
// document with the redacted strings.
//
// The package also holds the policies other components enforce: token
// budgets ([TokenPolicy], [CountTokens], [EstimateTokens]) for LLM10 and
// tool risk levels ([ToolRisk]) for LLM06.
//
// The detectors live in guard/injection (prompt injection, jailbreaks),
// guard/sensitive (PII, secrets) and guard/output (unsafe output, system
// prompt leaks, tool poisoning); guard/standard assembles them.
//
// # Security
//
//   - Work is bounded per input byte: inputs past Config.MaxBytes fail
//     with [ErrTooLarge] before anything else, JSON deeper than
//     Config.MaxDepth fails with [ErrTooDeep], decoding stops at depth 3
//     and at twice the input's size, and every parser is a linear scan
//     (no backtracking regular expressions). Invalid UTF-8 is read as
//     U+FFFD; nothing panics on any input (fuzzed).
//   - Excerpts are at most 120 bytes and never show a sensitive value:
//     the span of every sensitive finding in the string is replaced by
//     its placeholder, whatever the policy did with the finding.
//   - Scan is deterministic: the same input and configuration give the
//     same verdict, findings in the same order.
//   - To keep the clean path free of allocations, the strings a detector
//     receives (the text of a JSON string, Normalized.Folded, decoded
//     payloads) may point into pooled buffers that the next scan
//     overwrites: detectors must not retain them, nor anything sliced
//     from them, beyond the Detect call. The scanner copies findings'
//     strings into the verdict.
package guard
