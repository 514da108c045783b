package injection

import "strings"

// fold puts a lexicon term (or, when no normalized form is given, a text)
// in the form of guard.Normalized.Folded.
//
// TODO(injection): call the guard's normalizer once it lands; until then
// lower case with collapsed white space stands in for it.
func fold(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}
