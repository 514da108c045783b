package sensitive

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/coregx/ahocorasick"
	"github.com/google/go-cmp/cmp"

	"github.com/subzero-gateway/subzero/guard"
	"github.com/subzero-gateway/subzero/guard/internal/termscan"
)

// keywordRef is the keyword pass termscan replaced: one
// github.com/coregx/ahocorasick automaton over the keywords, searched
// with FindAllOverlapping over the lower-cased text.
type keywordRef struct{ ac *ahocorasick.Automaton }

func newKeywordRef(tb testing.TB, d *Detector) keywordRef {
	tb.Helper()
	ac, err := ahocorasick.NewBuilder().AddStrings(d.kw.words).Build()
	if err != nil {
		tb.Fatal(err)
	}
	return keywordRef{ac}
}

// sameHits reports the first difference between the detector's keyword
// hits on text and the reference's: the same (pattern, start, end) list,
// in the same order.
func sameHits(d *Detector, ref keywordRef, s *scratch, text string) error {
	d.keywordHits(s, text)
	want := ref.ac.FindAllOverlapping(lowerASCII(nil, text))
	// Less the word-start patterns' hits after an ASCII letter.
	want = slices.DeleteFunc(want, func(m ahocorasick.Match) bool {
		return d.kw.wordStart(m.PatternID) && m.Start > 0 && isAlpha(text[m.Start-1])
	})
	got := s.hits
	show := func(id, start, end int) string { return fmt.Sprintf("%q [%d:%d]", d.kw.words[id], start, end) }
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			w := want[i]
			return fmt.Errorf("hit %d: missing %s (%d found, want %d)", i, show(w.PatternID, w.Start, w.End), len(got), len(want))
		case i >= len(want):
			g := got[i]
			return fmt.Errorf("hit %d: extra %s (%d found, want %d)", i, show(g.PatternID, g.Start, g.End), len(got), len(want))
		case got[i].PatternID != want[i].PatternID || got[i].Start != want[i].Start || got[i].End != want[i].End:
			g, w := got[i], want[i]
			return fmt.Errorf("hit %d: %s, want %s", i, show(g.PatternID, g.Start, g.End), show(w.PatternID, w.Start, w.End))
		}
	}
	return nil
}

// TestKeywordHitsMatchReference checks the keyword pass against coregx's
// on every development-set row.
func TestKeywordHitsMatchReference(t *testing.T) {
	d, err := New(Default())
	if err != nil {
		t.Fatal(err)
	}
	ref := newKeywordRef(t, d)
	s := new(scratch)
	hits := 0
	for i, text := range devTexts(t) {
		if err := sameHits(d, ref, s, text); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		hits += len(s.hits)
	}
	if hits < 1000 {
		t.Errorf("%d hits on the development set: the test checks little", hits)
	}
}

// allHits returns a detector whose keyword automaton reports every hit,
// as it did before street words were looked for at word starts only.
func allHits(tb testing.TB) *Detector {
	tb.Helper()
	d, err := New(Default())
	if err != nil {
		tb.Fatal(err)
	}
	if d.ac, err = termscan.New(d.kw.words); err != nil {
		tb.Fatal(err)
	}
	return d
}

// sameFindings reports the first difference between the findings of d
// and ref on text.
func sameFindings(d, ref *Detector, text string) error {
	got := d.Detect(nil, text, nil, guard.Prompt)
	want := ref.Detect(nil, text, nil, guard.Prompt)
	if diff := cmp.Diff(want, got); diff != "" {
		return fmt.Errorf("findings (-all hits +word starts):\n%s", diff)
	}
	return nil
}

// TestWordStartFindings checks that leaving out the street words' hits
// inside words changes no finding on the development set, and that it
// leaves out many.
func TestWordStartFindings(t *testing.T) {
	d, err := New(Default())
	if err != nil {
		t.Fatal(err)
	}
	ref := allHits(t)
	s, sr := new(scratch), new(scratch)
	left, addrs := 0, 0
	for i, text := range devTexts(t) {
		if err := sameFindings(d, ref, text); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		d.keywordHits(s, text)
		ref.keywordHits(sr, text)
		left += len(sr.hits) - len(s.hits)
		for _, f := range d.Detect(nil, text, nil, guard.Prompt) {
			if f.Detector == "pii.address" {
				addrs++
			}
		}
	}
	if left < 5000 || addrs == 0 {
		t.Errorf("%d hits left out, %d addresses found: the test checks little", left, addrs)
	}
}

// TestKeywordHitsAllocs checks that the keyword pass does not allocate
// once the scratch has grown.
func TestKeywordHitsAllocs(t *testing.T) {
	d, err := New(Default())
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat(dirtyPara+cleanPara, 8)
	s := new(scratch)
	d.keywordHits(s, text)
	if len(s.hits) == 0 {
		t.Fatal("no hits")
	}
	if n := testing.AllocsPerRun(20, func() { d.keywordHits(s, text) }); n != 0 {
		t.Errorf("the keyword pass allocates %v times", n)
	}
}

// keywordSoup builds a text from the fuzzer's bytes: each byte picks a
// keyword, written in upper or lower case, and the next a separator.
func keywordSoup(words []string, data string) string {
	var b strings.Builder
	seps := []string{"", " ", "=", "x", "é", "\n", "\x00", "_"}
	for i := 0; i+1 < len(data); i += 2 {
		w := words[(int(data[i])*131+i*7)%len(words)]
		if data[i+1]&0x80 != 0 {
			w = strings.ToUpper(w)
		}
		b.WriteString(w)
		b.WriteString(seps[int(data[i+1])%len(seps)])
	}
	return b.String()
}

func FuzzKeywordHits(f *testing.F) {
	f.Add(dirtyPara)
	f.Add(cleanPara)
	f.Add("export AWS_SECRET_ACCESS_KEY=abc; Bearer eyJhbGciOi -----BEGIN RSA PRIVATE KEY----- 12 Main Street")
	f.Add("\xff\xfe Straße 12 Rákóczi út 13")
	f.Add("12 Main St, first street; 4 Elm Ave, always; PO Box 12; Apt. 5, 12 Way Rd; XSt 12")
	d, err := New(Default())
	if err != nil {
		f.Fatal(err)
	}
	ref := newKeywordRef(f, d)
	all := allHits(f)
	s := new(scratch)
	f.Fuzz(func(t *testing.T, data string) {
		soup := keywordSoup(d.kw.words, data)
		if err := sameHits(d, ref, s, data); err != nil {
			t.Errorf("text: %v", err)
		}
		if err := sameHits(d, ref, s, soup); err != nil {
			t.Errorf("soup: %v", err)
		}
		if err := sameFindings(d, all, data); err != nil {
			t.Errorf("text: %v", err)
		}
		if err := sameFindings(d, all, soup); err != nil {
			t.Errorf("soup: %v", err)
		}
		for _, x := range []string{data, soup, "driver license " + data} {
			if _, err := sameLicenses(d, s, x); err != nil {
				t.Errorf("%q: %v", x, err)
			}
		}
	})
}

// BenchmarkKeywordHitsDevSet runs the keyword pass alone over every
// development-set row; "reference" is coregx's FindAllOverlapping.
func BenchmarkKeywordHitsDevSet(b *testing.B) {
	d, err := New(Default())
	if err != nil {
		b.Fatal(err)
	}
	texts := devTexts(b)
	var n int64
	for _, t := range texts {
		n += int64(len(t))
	}
	b.Run("termscan", func(b *testing.B) {
		s := new(scratch)
		b.SetBytes(n)
		b.ReportAllocs()
		hits := 0
		for b.Loop() {
			hits = 0
			for _, t := range texts {
				d.keywordHits(s, t)
				hits += len(s.hits)
			}
		}
		b.ReportMetric(float64(hits), "hits/pass")
	})
	b.Run("reference", func(b *testing.B) {
		ref := newKeywordRef(b, d)
		var low []byte
		b.SetBytes(n)
		b.ReportAllocs()
		for b.Loop() {
			for _, t := range texts {
				low = lowerASCII(low[:0], t)
				ref.ac.FindAllOverlapping(low)
			}
		}
	})
}

// licensesRef is licenses as it was before the keyword automaton found
// "licen": a search of the lower-cased text, the reference for the
// automaton's hits.
func (d *Detector) licensesRef(s *scratch, text string) {
	for i := 0; i < len(s.low); {
		k := bytes.Index(s.low[i:], []byte("licen"))
		if k < 0 {
			return
		}
		p := i + k
		i = p + 5
		if !contextBefore(s.low, p+5, 24, licenseWords) {
			continue
		}
		j := p + 5
		for j < len(text) && isAlpha(text[j]) {
			j++
		}
		for words := 0; j < len(text) && j-p < 60; {
			for j < len(text) && (text[j] == ' ' || text[j] == ':' || text[j] == '#' || text[j] == '\'' || text[j] == '.') {
				j++
			}
			a := j
			dg := 0
			for j < len(text) && (isAlnum(text[j]) || text[j] == '-') {
				if isDigit(text[j]) {
					dg++
				}
				j++
			}
			if a == j {
				break
			}
			if dg >= 4 && j-a >= 5 && j-a <= 20 && isAlnum(text[j-1]) {
				s.cands = append(s.cands, cand{start: a, end: j, kind: kindLicense, score: 0.8, detector: "pii.driver_license", rule: "license-context"})
				i = j
				break
			}
			if dg > 0 {
				break
			}
			words++
			if words > 3 {
				break
			}
		}
	}
}

// sameLicenses reports whether licenses, from the automaton's hits,
// finds what licensesRef finds in text, and how many.
func sameLicenses(d *Detector, s *scratch, text string) (int, error) {
	d.keywordHits(s, text)
	s.cands = s.cands[:0]
	d.licenses(s, text)
	got := slices.Clone(s.cands)
	s.cands = s.cands[:0]
	d.licensesRef(s, text)
	if !slices.Equal(got, s.cands) {
		return 0, fmt.Errorf("licences %v, want %v", got, s.cands)
	}
	return len(got), nil
}

// TestLicensesMatchReference holds licenses to licensesRef on every
// development-set row and on texts made to find one.
func TestLicensesMatchReference(t *testing.T) {
	d, err := New(Default())
	if err != nil {
		t.Fatal(err)
	}
	s := new(scratch)
	found := 0
	texts := append(devTexts(t),
		"Driver's License: D1234567, licence 12345; driving licence no. AB-12345-CD license license 99999x",
		"DL# licensed licence licencia de conducir 12345678 Licence LICENSE 1234 5678",
		"DL# license 1234-licen 56789") // a hit inside a licence number
	for i, text := range texts {
		n, err := sameLicenses(d, s, text)
		if err != nil {
			t.Fatalf("text %d: %v", i, err)
		}
		found += n
	}
	if found < 3 {
		t.Errorf("%d licences found: the test checks little", found)
	}
}
