package sensitive

import (
	"slices"
	"strings"
	"testing"
)

// defaultRules returns the default detector's rules that keep holds, of
// which there must be one, what.
func defaultRules(tb testing.TB, what string, keep func(*secretRule) bool) []*secretRule {
	tb.Helper()
	d, err := New(Default())
	if err != nil {
		tb.Fatal(err)
	}
	var rs []*secretRule
	for i := range d.rules {
		if r := &d.rules[i]; keep(r) {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		tb.Fatalf("no rule has %s", what)
	}
	return rs
}

// prefilterRules returns the default detector's rules with a prefilter
// or a short regex.
func prefilterRules(tb testing.TB) []*secretRule {
	tb.Helper()
	return defaultRules(tb, "a prefilter", func(r *secretRule) bool { return r.pre != nil || r.short != nil })
}

// checkPrefilters holds the prefilters of rs to their reference, the
// rule's anchored regex, at every position of text (up to limit
// positions): the position filter never rejects where the regex
// matches, and the short regex returns what the regex returns.
func checkPrefilters(t *testing.T, rs []*secretRule, text string, limit int) {
	t.Helper()
	for _, r := range rs {
		for i := 0; i < len(text) && i < limit; i++ {
			sub := text[i:min(len(text), i+npAnchorMax)]
			want := r.anchor.FindStringSubmatchIndex(sub)
			if r.pre != nil && want != nil && !preHolds(r, sub) {
				t.Fatalf("%s: position filter rejects %q, which the regex matches at %v", r.id, sub, want)
			}
			checkPrefilterDFA(t, r, sub)
			if r.short != nil {
				for _, n := range []int{len(sub), r.shortMax, r.shortMax / 2} {
					s := sub[:min(n, len(sub))]
					if len(s) > r.shortMax {
						continue
					}
					want := r.anchor.FindStringSubmatchIndex(s)
					if got := r.short.FindStringSubmatchIndex(s); !slices.Equal(got, want) {
						t.Fatalf("%s: short regex on %q: %v, want %v", r.id, s, got, want)
					}
				}
			}
		}
	}
}

// checkPrefilterDFA holds a prefilter's DFA to the state sets it is
// built from, run one character at a time from the start.
func checkPrefilterDFA(t *testing.T, r *secretRule, sub string) {
	t.Helper()
	if r.pre == nil {
		return
	}
	want := r.pre.match
	if !want {
		want, _ = r.pre.run(sub, 0, 0, r.pre.start, nil)
	}
	if got := preHolds(r, sub); got != want {
		t.Fatalf("%s: the position filter's DFA says %v on %q, its state sets %v", r.id, got, sub, want)
	}
}

func preHolds(r *secretRule, sub string) bool {
	ok, _ := r.pre.holds(sub, nil)
	return ok
}

// TestPrefiltersDevSet checks the prefilters at every keyword hit of
// the development set, and on each rule's own examples.
func TestPrefiltersDevSet(t *testing.T) {
	d, err := New(Default())
	if err != nil {
		t.Fatal(err)
	}
	rs := prefilterRules(t)
	byID := map[string]*secretRule{}
	for _, r := range rs {
		byID[r.id] = r
	}
	matched := 0
	for _, text := range devTexts(t) {
		low := lowerASCII(nil, text)
		for _, m := range d.ac.FindAllOverlapping(low) {
			for _, tg := range d.kw.targets[m.PatternID] {
				if tg.rule < 0 {
					continue
				}
				r := byID[d.rules[tg.rule].id]
				if r == nil {
					continue
				}
				for _, a := range []int{m.Start - r.offset, max(0, m.Start-8), m.Start} {
					if a < 0 || a >= len(text) {
						continue
					}
					sub := text[a:min(len(text), a+npAnchorMax)]
					want := r.anchor.FindStringSubmatchIndex(sub)
					if want != nil {
						matched++
					}
					if r.pre != nil && want != nil && !preHolds(r, sub) {
						t.Fatalf("%s: position filter rejects %q, which the regex matches", r.id, sub)
					}
					checkPrefilterDFA(t, r, sub)
					if r.short != nil {
						s := sub[:min(len(sub), r.shortMax)]
						if got, want := r.short.FindStringSubmatchIndex(s), r.anchor.FindStringSubmatchIndex(s); !slices.Equal(got, want) {
							t.Fatalf("%s: short regex on %q: %v, want %v", r.id, s, got, want)
						}
					}
				}
			}
		}
	}
	if matched == 0 {
		t.Fatal("no anchored regex matched on the development set: the check checked nothing")
	}
	nps, err := loadNoseyParker()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nps {
		if r := byID[n.ID]; r != nil {
			for _, ex := range n.Examples {
				checkPrefilters(t, []*secretRule{r}, ex, len(ex))
			}
		}
	}
}

// TestPrefilterRejects checks that the filters do filter.
func TestPrefilterRejects(t *testing.T) {
	for _, c := range []struct {
		expr, yes, no string
	}{
		{`^(?:\b([a-z0-9]{6}\.[a-z0-9]{16})\b)`, "abcdef.0123456789abcdef", "abcdef. The end"},
		{`^(?:(?i)user\s*=\s*(\S+))`, "USER = x", "users"},
		{`^(?:(?i)(?:User|User\ Id|UserId|Uid)\s*=\s*([^\s;]{3,100})\s*;)`, "User Id = sa1;", "user interface"},
		{`^(?:\d{3,})`, "123", "12"},
		{`^(?:(?i)k\d)`, "\u212a1", "\u212ax"},
		{`^(?:a.b)`, "a\u00e9b", "a\u00e9c"},
	} {
		f := newPrefixFilter(c.expr)
		if f == nil {
			t.Fatalf("%s: no filter", c.expr)
		}
		if ok, _ := f.holds(c.yes, nil); !ok {
			t.Errorf("%s rejects %q", c.expr, c.yes)
		}
		if ok, _ := f.holds(c.no, nil); ok {
			t.Errorf("%s holds on %q", c.expr, c.no)
		}
	}
	if re, n := shorten(`^(?:x{10,150}|y{0,3})`); re == nil || n != 150 || !strings.Contains(re.String(), "x{10,}|y{0,3}") {
		t.Errorf("shorten: %v %d", re, n)
	}
	if re, _ := shorten(`^(?:(?:x?){0,100})`); re != nil {
		t.Errorf("shorten loosened a repetition of something empty: %v", re)
	}
}

// FuzzPrefilters holds the prefilters to their regexes on any text.
func FuzzPrefilters(f *testing.F) {
	for _, s := range []string{
		"abcdef.0123456789abcdef ",
		"Server=x;User Id=sa;Password=hunter22;",
		"api_key = \"951bc382db9abad29c68634761dd6e19\"\n",
		"user = 'admin'\npassword = 'hunter22'",
		"<add key=\"DbPassword\" value=\"hunter22\" />",
		"\u212aey=0123456789abcdef0123 s.abcdefghijklmnopqrstuvwx",
	} {
		f.Add(s)
	}
	rs := prefilterRules(f)
	f.Fuzz(func(t *testing.T, text string) {
		checkPrefilters(t, rs, text, 64)
	})
}
