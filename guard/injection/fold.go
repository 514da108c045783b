package injection

import "github.com/subzero-gateway/subzero/guard"

// fold puts a lexicon term (or, when Detect gets no normalized form, a
// text) in the form of guard.Normalized.Folded, with the guard's own
// normalizer, so that a term and the text it should match go through the
// same steps.
func fold(s string) string { return guard.Fold(s) }
