// Package audit is Subzero's append-only, hash-chained and signed audit
// trail.
//
// Each node writes its own chain: every [Event] carries the SHA-256 of the
// one before it, and every so often the node signs a [Checkpoint] over
// (node, seq, hash) with its Ed25519 key. [Log] appends with group commit;
// [Verify] re-checks chains and checkpoints and names the first bad seq;
// [Query] and [Tail] read them back. The encoding is specified in
// docs/AUDIT.md so that anyone can re-verify a chain without this code.
//
// # Security
//
// Events never hold credentials or payloads: [Log.Append] bounds every
// field and replaces anything that looks like a token or key with
// "[REDACTED]". A chain proves its own integrity up to its last checkpoint;
// keep exported public keys apart from the store, and pass them to
// [Verify], or whoever can rewrite the store can replace the keys too.
package audit
