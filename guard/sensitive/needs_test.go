package sensitive

import (
	"testing"
)

// needRules returns the default detector's rules with required sets.
func needRules(tb testing.TB) []*secretRule {
	tb.Helper()
	return defaultRules(tb, "required sets", func(r *secretRule) bool { return r.needs != nil })
}

// checkNeeds holds the required sets of rs to their regexes on text:
// where a regex matches, each of its sets holds on the text's ASCII
// lower-casing.
func checkNeeds(t *testing.T, rs []*secretRule, text string) int {
	t.Helper()
	low := lowerASCII(nil, text)
	matched := 0
	for _, r := range rs {
		if !r.re.MatchString(text) {
			continue
		}
		matched++
		for i := range r.needs {
			if !r.needs[i].holds(low) {
				t.Fatalf("%s: required set %d rejects %q, where the regex matches", r.id, i, text)
			}
		}
	}
	return matched
}

// TestRequiredSets checks the required sets on the development set and
// each rule's examples, and that they reject.
func TestRequiredSets(t *testing.T) {
	rs := needRules(t)
	matched := 0
	for _, text := range devTexts(t) {
		matched += checkNeeds(t, rs, text[:min(len(text), 300)])
	}
	if matched == 0 {
		t.Fatal("no regex with required sets matched on the development set: the check checked nothing")
	}
	for _, c := range []struct {
		expr, yes, no string
	}{
		{`\bcurl\b.*[ \t](?:-u|--user)(?:=|[ \t]{0,5})'([^:']{3,}:[^']{3,})'`, "curl x -u 'ab:cd'", "curl https://example.com"},
		{`\bcurl\b.*[ \t](?:-H|--header)`, "curl -H", "curl -X"},
	} {
		fs := requiredSets(c.expr)
		if len(fs) < 2 {
			t.Fatalf("%s: %d sets", c.expr, len(fs))
		}
		holds := func(s string) bool {
			low := lowerASCII(nil, s)
			for i := range fs {
				if !fs[i].holds(low) {
					return false
				}
			}
			return true
		}
		if !holds(c.yes) {
			t.Errorf("%s rejects %q", c.expr, c.yes)
		}
		if holds(c.no) {
			t.Errorf("%s holds on %q", c.expr, c.no)
		}
	}
	// Folding to non-ASCII runes, and non-ASCII literals: no set, as
	// the text's ASCII lower-casing keeps them.
	for _, e := range []string{`(?i)key=\d+`, `(?i)[k]ey=\d+`, `passé=\d+`, `(?i)pass=\d+`} {
		for _, f := range requiredSets(e) {
			if !f.holds(lowerASCII(nil, "\u212aey=1 pa\u017fs=1 PASSÉ=1")) {
				t.Errorf("%s: a set rejects a text its regex matches", e)
			}
		}
	}
}

// FuzzRequiredSets holds the required sets to their regexes on any text.
func FuzzRequiredSets(f *testing.F) {
	for _, s := range []string{
		"curl -H 'Authorization: Bearer abcdefgh1234'", "curl --user 'admin:hunter22' https://x",
		"curl -u admin:secret123 https://x", "hvs.CAESIabcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu",
		"CURL -h \u212aey:abcdefgh",
	} {
		f.Add(s)
	}
	rs := needRules(f)
	f.Fuzz(func(t *testing.T, text string) {
		checkNeeds(t, rs, text)
	})
}
