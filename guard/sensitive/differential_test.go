package sensitive

import (
	"slices"
	"testing"

	"github.com/coregx/ahocorasick"
	"github.com/google/go-cmp/cmp"

	"github.com/subzero-gateway/subzero/guard"
)

// referenceDetectors returns the default detector and a reference copy
// whose rules run their regexes with no prefilter and no shortened
// program; both without the per-text work bound, which prefilters
// change the use of.
func referenceDetectors(tb testing.TB) (d, ref *Detector) {
	tb.Helper()
	var err error
	if d, err = New(Default()); err != nil {
		tb.Fatal(err)
	}
	if ref, err = New(Default()); err != nil {
		tb.Fatal(err)
	}
	n := 0
	for i := range ref.rules {
		r := &ref.rules[i]
		if r.pre != nil || r.short != nil || r.needs != nil {
			n++
		}
		r.pre, r.short, r.needs = nil, nil, nil
	}
	if n == 0 {
		tb.Fatal("no rule has a prefilter: the reference is the detector")
	}
	d.npWork, ref.npWork = 1<<30, 1<<30
	return d, ref
}

// TestDetectMatchesReference holds the detector to its reference on
// every row of the development set, with the work bound lifted and
// with it in place.
func TestDetectMatchesReference(t *testing.T) {
	d, ref := referenceDetectors(t)
	plain, err := New(Default())
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, text := range devTexts(t) {
		want := ref.Detect(nil, text, nil, guard.Prompt)
		found += len(want)
		if got := d.Detect(nil, text, nil, guard.Prompt); !cmp.Equal(got, want) {
			t.Fatalf("findings differ from the reference's on %.80q:\n%s", text, cmp.Diff(want, got))
		}
		if got := plain.Detect(nil, text, nil, guard.Prompt); !cmp.Equal(got, want) {
			t.Fatalf("findings differ from the reference's on %.80q:\n%s", text, cmp.Diff(want, got))
		}
	}
	if found == 0 {
		t.Fatal("the reference found nothing on the development set")
	}
}

// FuzzDetectMatchesReference holds the detector to its reference on any
// text.
func FuzzDetectMatchesReference(f *testing.F) {
	for _, s := range []string{
		"Server=x;User Id=sa;Password=hunter22; abcdef.0123456789abcdef",
		"api_key = \"951bc382db9abad29c68634761dd6e19\" Feldstrasse 42, 12 Main Street",
		"user = 'admin'\npassword = 'hunter22' <add key=\"DbPassword\" value=\"hunter22\" />",
		"+41 44 668 18 00 DE89 3704 0044 0532 0130 00 4111 1111 1111 1111",
	} {
		f.Add(s)
	}
	d, ref := referenceDetectors(f)
	f.Fuzz(func(t *testing.T, text string) {
		want := ref.Detect(nil, text, nil, guard.ToolResult)
		if got := d.Detect(nil, text, nil, guard.ToolResult); !cmp.Equal(got, want) {
			t.Fatalf("findings differ from the reference's:\n%s", cmp.Diff(want, got))
		}
	})
}

// hitsRef runs one automaton per detector family, as the detector did
// before sharing one: the reference for the shared automaton's hits.
type hitsRef struct {
	secret, addr *ahocorasick.Automaton
}

func newHitsRef(tb testing.TB, d *Detector) hitsRef {
	tb.Helper()
	var sw, aw []string
	for i, w := range d.kw.words {
		if len(d.kw.targets[i]) > 0 {
			sw = append(sw, w)
		}
		if len(d.kw.addr[i]) > 0 {
			aw = append(aw, w)
		}
	}
	if len(sw) == 0 || len(aw) == 0 {
		tb.Fatalf("%d secret and %d address words", len(sw), len(aw))
	}
	var h hitsRef
	var err error
	if h.secret, err = ahocorasick.NewBuilder().AddStrings(sw).Build(); err != nil {
		tb.Fatal(err)
	}
	if h.addr, err = ahocorasick.NewBuilder().AddStrings(aw).Build(); err != nil {
		tb.Fatal(err)
	}
	return h
}

// hit is an automaton hit by word rather than pattern ID.
type hit struct {
	word       string
	start, end int
}

// checkHits holds the shared automaton's hits, as each family reads
// them, to the family's own automaton's, in order, less the street
// words' hits that keywordSet.wordStart leaves out.
func checkHits(t *testing.T, d *Detector, h hitsRef, text string) {
	t.Helper()
	low := lowerASCII(nil, text)
	var gotS, gotA, wantS, wantA []hit
	for _, m := range d.ac.FindAllOverlapping(low) {
		x := hit{d.kw.words[m.PatternID], m.Start, m.End}
		if len(d.kw.targets[m.PatternID]) > 0 {
			gotS = append(gotS, x)
		}
		if len(d.kw.addr[m.PatternID]) > 0 {
			gotA = append(gotA, x)
		}
	}
	for _, m := range h.secret.FindAllOverlapping(low) {
		wantS = append(wantS, hit{string(h.secret.Pattern(m.PatternID)), m.Start, m.End})
	}
	for _, m := range h.addr.FindAllOverlapping(low) {
		w := string(h.addr.Pattern(m.PatternID))
		if d.kw.wordStart(d.kw.index[w]) && m.Start > 0 && isAlpha(low[m.Start-1]) {
			continue // a word-start pattern inside a word
		}
		wantA = append(wantA, hit{w, m.Start, m.End})
	}
	if !slices.Equal(gotS, wantS) {
		t.Fatalf("secret keyword hits on %.80q:\n%s", text, cmp.Diff(wantS, gotS, cmp.AllowUnexported(hit{})))
	}
	if !slices.Equal(gotA, wantA) {
		t.Fatalf("street word hits on %.80q:\n%s", text, cmp.Diff(wantA, gotA, cmp.AllowUnexported(hit{})))
	}
}

func TestSharedAutomatonHits(t *testing.T) {
	d, err := New(Default())
	if err != nil {
		t.Fatal(err)
	}
	h := newHitsRef(t, d)
	for _, text := range devTexts(t) {
		checkHits(t, d, h, text)
	}
}

func FuzzSharedAutomatonHits(f *testing.F) {
	f.Add("export API_KEY=x; lives at 12 Main Street, Feldstrasse 42 password pass")
	f.Add("Rákóczi út 13, улица 5, P.O. Box 12 token=s.abc")
	d, err := New(Default())
	if err != nil {
		f.Fatal(err)
	}
	h := newHitsRef(f, d)
	f.Fuzz(func(t *testing.T, text string) { checkHits(t, d, h, text) })
}
