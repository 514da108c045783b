// Package pin defends against rug pulls: an MCP upstream that changes a
// tool's description or schema after it was approved, for example to plant
// instructions for the agent. Each tool's [Definition] (name, title,
// description, input and output schemas, annotations) is hashed over a
// canonical JSON encoding ([Canonical]), so that key order and white space
// do not count and any change of text or schema does. [Pins.Check] trusts
// a tool on first use (or quarantines it, with tofu: false), or checks it
// against a hash pinned in the configuration; a later change quarantines
// the tool, with a [Diff] for the audit event, until an admin approves
// the definition they reviewed ([Pins.Approve]).
//
// Records live in a [pinstore.Store] shared by all nodes (store/bolt,
// store/redis); writes are compare-and-swap on the record's version, so
// two nodes that see the same change at once quarantine it once. Each node
// caches what it read and polls the store's revision every Refresh, so an
// approval on one node is seen by the others within it.
//
// # Security
//
//   - A quarantined tool stays denied whatever definition it shows next,
//     until approved; the pending definition is the first changed one seen
//     and is not replaced, so an approval names exactly what was reviewed
//     (a later change makes the approved tool quarantine again).
//   - A configured pin wins over trust on first use and over approvals.
//   - Duplicate JSON keys are refused, since readers disagree on which one
//     counts, and so is invalid UTF-8.
//   - Diffs show invisible and control characters as \u{XXXX} and are
//     bounded ([MaxTextDiff], [MaxPaths]); every input is bounded
//     ([MaxJSON], [MaxDepth], the limits of [pinstore]).
//   - Scanning descriptions for hidden instructions is the guard's job;
//     this package only notices that they changed.
package pin
