package sensitive

import (
	"maps"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/subzero-gateway/subzero/guard"
)

// npSkippedByDesign are the Nosey Parker rules whose patterns Go's RE2
// cannot compile, with the reason. They are left out; a rule that
// starts or stops compiling fails this list.
var npSkippedByDesign = map[string]string{
	// RE2 bounds counted repetition at 1000; Hyperscan does not.
	"np.google.4": "repeat count {20,1024} is over RE2's limit of 1000",
}

func TestNoseyParkerSkipped(t *testing.T) {
	_, skipped, err := compileNoseyParker(Default())
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(maps.Keys(skipped))
	want := slices.Sorted(maps.Keys(npSkippedByDesign))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("skipped rules (-want +got):\n%s\nreasons: %v", diff, skipped)
	}
	nps, _ := loadNoseyParker()
	if len(nps) < 180 {
		t.Errorf("loaded %d Nosey Parker rules, want the whole set", len(nps))
	}
}

// TestNoseyParkerExamples runs every ported rule over its own examples,
// which must match, and its negative examples, which must not: the
// translation to RE2 keeps each rule's meaning.
func TestNoseyParkerExamples(t *testing.T) {
	rules, _, err := compileNoseyParker(Default())
	if err != nil {
		t.Fatal(err)
	}
	nps, _ := loadNoseyParker()
	byID := map[string]*secretRule{}
	for i := range rules {
		byID[rules[i].id] = &rules[i]
	}
	for _, n := range nps {
		r := byID[n.ID]
		if r == nil {
			continue
		}
		t.Run(n.ID, func(t *testing.T) {
			for _, ex := range n.Examples {
				if !r.re.MatchString(ex) {
					t.Errorf("example not matched: %q\npattern: %s", ex, r.re)
				}
			}
			for _, ex := range n.NegativeExamples {
				if r.re.MatchString(ex) {
					t.Errorf("negative example matched: %q\npattern: %s", ex, r.re)
				}
			}
		})
	}
}

// TestNoseyParkerDetect scans every ported rule's examples with the
// detector: each must yield a finding, unless the rule's value in it is
// a placeholder, which the detector never reports; its negative
// examples must not yield a finding of the rule.
func TestNoseyParkerDetect(t *testing.T) {
	d, err := New(Default())
	if err != nil {
		t.Fatal(err)
	}
	rules, _, _ := compileNoseyParker(Default())
	nps, _ := loadNoseyParker()
	byID := map[string]*secretRule{}
	for i := range rules {
		byID[rules[i].id] = &rules[i]
	}
	for _, n := range nps {
		r := byID[n.ID]
		if r == nil {
			continue
		}
		for i, ex := range n.Examples {
			m := r.re.FindStringSubmatchIndex(ex)
			if m == nil {
				continue // TestNoseyParkerExamples reports it
			}
			gs, ge := npValue(r, m)
			if placeholderSecret(ex[gs:ge]) {
				continue
			}
			if fs := d.Detect(nil, ex, nil, guard.Prompt); len(fs) == 0 {
				t.Errorf("%s example %d: no finding in %q", n.ID, i, ex)
			}
		}
		// Other detectors may report a negative example; this rule
		// must not, even when run from its keywords.
		for i, ex := range n.NegativeExamples {
			for _, f := range d.Detect(nil, ex, nil, guard.Prompt) {
				if f.Detector == r.detector {
					t.Errorf("%s negative example %d reported: %q", n.ID, i, ex)
				}
			}
		}
	}
}

func TestNoseyParkerPlaceholders(t *testing.T) {
	d, err := New(Default())
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{
		`TAVILY_API_KEY = "tvly-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"`,
		`export SLACK_TOKEN="xoxb-0000000000-0000000000000-xxxxxxxxxxxxxxxxxxxxxxxx"`,
		`aws_secret_access_key = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`,
		`"password": "YOUR_PASSWORD"`,
		`password = "${SECRET}"`,
		`Authorization: Bearer <token>`,
		`curl -H "Authorization: Bearer YOUR_API_KEY" https://api.example.com`,
	} {
		if fs := d.Detect(nil, text, nil, guard.Prompt); len(fs) > 0 {
			t.Errorf("placeholder reported in %q: %s %s", text, fs[0].Detector, text[fs[0].Start:fs[0].End])
		}
	}
}

func TestNPTranslate(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"(?x)\n\\b\n(ghp_[a-z]{36})  (?# token )\n\\b\n", `\b(ghp_[a-z]{36})\b`},
		{"(?xi)\na b # comment\nc", "(?i)abc"},
		{"(?x)(?i) [\\ \\t] [ #] x", `(?i)[\ \t][ #]x`},
		{"(?x) (?i: vault | key ) .{1, 5}", "(?i:vault|key).{1,5}"},
		{"no (?# c)spaces kept", "no spaces kept"},
		{`a\#b`, `a\#b`},
	} {
		if got := npTranslate(c.in); got != c.want {
			t.Errorf("npTranslate(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestNoseyParkerDisabled(t *testing.T) {
	cfg := Default()
	cfg.Disabled = []string{"secret.np.tavily.1"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range d.Detect(nil, "key 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", nil, guard.Prompt) {
		if strings.Contains(f.Detector, "tavily") {
			t.Errorf("disabled rule fired: %+v", f)
		}
	}
}

// FuzzNPTranslate feeds patterns through the translation and the
// keyword derivation: no panic, and an anchored rule's keywords start
// every match it finds in the pattern's own text.
func FuzzNPTranslate(f *testing.F) {
	f.Fuzz(func(t *testing.T, pattern, text string) {
		expr := npTranslate(pattern)
		re, err := syntax.Parse(expr, syntax.Perl)
		if err != nil {
			return
		}
		re = re.Simplify()
		npLits.required(re)
		a, ok := anchorOf(re)
		if !ok || len(text) > 256 {
			return
		}
		rx, err := regexp.Compile(expr)
		if err != nil {
			return
		}
		low := strings.ToLower(text)
		for _, m := range rx.FindAllStringIndex(text, -1) {
			at := m[0] + a.offset
			if m[1] == m[0] || at > len(low) {
				continue
			}
			found := false
			for _, l := range a.lits {
				if strings.HasPrefix(low[at:], l) {
					found = true
				}
			}
			if !found && a.offset >= 0 && !strings.ContainsFunc(text, func(r rune) bool { return r >= 0x80 }) {
				t.Errorf("pattern %q: match %q at %d does not start with %q at offset %d", expr, text[m[0]:m[1]], m[0], a.lits, a.offset)
			}
		}
	})
}
