package sensitive

import (
	"regexp"
	"strings"
	"testing"
)

// splitAllowRegexes returns the allowlist regexes of the embedded rules
// that splitAlternation splits, and their compiled allowRegexes.
func splitAllowRegexes(tb testing.TB) (wholes []*regexp.Regexp, xs []allowRegex) {
	tb.Helper()
	f, err := loadGitleaks()
	if err != nil {
		tb.Fatal(err)
	}
	lists := []gitleaksAllowlist{f.Allowlist}
	for _, r := range f.Rules {
		lists = append(lists, r.Allowlists...)
	}
	for _, a := range lists {
		for _, expr := range a.Regexes {
			x, err := compileAllowRegex(expr)
			if err != nil {
				tb.Fatal(err)
			}
			if x.parts == nil {
				continue
			}
			wholes = append(wholes, regexp.MustCompile(expr))
			xs = append(xs, x)
		}
	}
	if len(wholes) == 0 {
		tb.Fatal("no allowlist regex is split: the check checks nothing")
	}
	return wholes, xs
}

// checkSplit holds a split allowlist regex, with its prefilters, to
// the whole regex on s.
func checkSplit(t *testing.T, whole *regexp.Regexp, x *allowRegex, s string) {
	t.Helper()
	if got, want := x.match(s, lowerASCII(nil, s)), whole.MatchString(s); got != want {
		t.Fatalf("%.60s on %q: the split regex says %v, the regex %v", whole, s, got, want)
	}
}

// TestSplitAlternation holds the split allowlist regexes to their
// regexes on every row of the development set, windows of it, and texts
// that hit its alternatives.
func TestSplitAlternation(t *testing.T) {
	wholes, xs := splitAllowRegexes(t)
	texts := devTexts(t)
	texts = append(texts, "api_version=abcdefghij", "ACCESSIBILITY_KEY=x", "Monkey=abc", "monkey=abc", "FOO=\nBAR=\n",
		"foo=\nbar=\n", "io.jsonwebtoken : jjwt-api", "keyVaultToStoreSecrets", "secret_name: x", "x-ms-exchange-organization-auth")
	matched := 0
	for i, whole := range wholes {
		for _, text := range texts {
			checkSplit(t, whole, &xs[i], text)
			if whole.MatchString(text) {
				matched++
			}
			for j := 0; j < len(text) && j < 2000; j += 61 {
				checkSplit(t, whole, &xs[i], text[j:min(len(text), j+80)])
			}
		}
		if len(xs[i].parts) < 2 {
			t.Errorf("%.60s: %d parts", whole, len(xs[i].parts))
		}
		for _, p := range xs[i].parts {
			if p.parts != nil {
				t.Errorf("part %q of %.60s is split again", p.re, whole)
			}
		}
	}
	if matched == 0 {
		t.Fatal("no split regex matched: the check checks nothing")
	}
}

// FuzzSplitAlternation holds the split allowlist regexes to their
// regexes on any text.
func FuzzSplitAlternation(f *testing.F) {
	for _, s := range []string{
		"api_version", "ACCESSIBILITY", "random-access", "Monkey", "MONKEY", "mONKEY", "FOO=\nBAR=\n", "foo.bar=\nbaz=\n",
		"io.jsonwebtoken:jjwt", "KEY_STORE_FILE", "public_token", "turkey", "secretsize", "csrf-token", "x" + strings.Repeat("a", 100),
	} {
		f.Add(s)
	}
	wholes, xs := splitAllowRegexes(f)
	f.Fuzz(func(t *testing.T, s string) {
		for i, whole := range wholes {
			checkSplit(t, whole, &xs[i], s)
		}
	})
}
