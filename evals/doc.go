// Package evals measures the broker's defences on labelled data. [Guard]
// runs a [guard.Scanner] over the rows of a JSONL file ([ReadRows]) and
// reports, per class, label, category family and category, how much the
// guard catches (recall), how often it fires on benign text
// (false-positive rate, also on the keyword hard negatives), precision,
// F1, latency and throughput. `subzero eval guard` prints the [Report];
// TestDevSetTargets holds the guard to [DefaultTargets] on the
// development set. docs/GUARD.md defines every figure.
//
// Only the eval subcommand imports this package.
//
// # Security
//
// Evaluation rows hold attacks, personal data and secrets (fake ones, but
// shaped like real ones). Nothing this package writes quotes a row's text:
// errors name the line and the field, and the rows file ([Options.Rows])
// carries ids, labels, finding classes and detector names only.
package evals
