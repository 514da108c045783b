package sensitive

import (
	"testing"
)

// phoneCandidates returns the digit runs the number scan hands to phone
// validation in text (the chunks), as written.
func phoneCandidates(text string) []string {
	var out []string
	for i := 0; i < len(text); {
		if i = nextDigitRef([]byte(text), i); i == len(text) {
			break
		}
		start := i
		if start > 0 && text[start-1] == '(' {
			start--
		}
		ch := scanChunk(text, start)
		out = append(out, text[ch.start:ch.end])
		i = max(ch.end, i+1)
	}
	return out
}

// checkPhoneBounds holds each region's bound to libphonenumber: where
// it says a number cannot be valid, Parse and IsValidNumber agree.
func checkPhoneBounds(t *testing.T, d *Detector, raw string) (rejected int) {
	t.Helper()
	for r, p := range d.phoneRegions {
		if !p.mayBeValid(raw) {
			rejected++
			if validPhone(raw, r) {
				t.Fatalf("%s: %q is valid, but the region's bound rejects it", r, raw)
			}
		}
	}
	return rejected
}

func TestPhoneRegionBounds(t *testing.T) {
	d, err := New(Default())
	if err != nil {
		t.Fatal(err)
	}
	if len(d.phoneRegions) == 0 {
		t.Fatal("no region is bounded")
	}
	checked, rejected := 0, 0
	for _, text := range devTexts(t) {
		for _, raw := range phoneCandidates(text) {
			checked++
			rejected += checkPhoneBounds(t, d, raw)
		}
	}
	for _, raw := range []string{
		"2012-2015", "(212) 555-0123", "212 555 0123", "1 212 555 0123", "011 44 20 7946 0958",
		"020 7946 0958", "030 901820", "0176 12345678", "06 12 34 56 78", "91 123 45 67",
		"0049 30 901820", "44 20 7946 0958", "(0)30 901820", "090-1234-5678", "138 0013 8000",
		"98765 43210", "0412 345 678", "+41 44 668 18 00", "1234567", "123456789012345",
	} {
		checked++
		rejected += checkPhoneBounds(t, d, raw)
	}
	if rejected == 0 {
		t.Fatalf("the bounds rejected nothing in %d candidates", checked)
	}
	t.Logf("%d candidates, %d region parses spared", checked, rejected)
}

func FuzzPhoneRegionBounds(f *testing.F) {
	for _, s := range []string{"2012-2015", "(212) 555-0123", "011 44 20 7946 0958", "0176 12345678", "1.800.555.0199"} {
		f.Add(s)
	}
	d, err := New(Default())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if len(raw) > 40 {
			return
		}
		checkPhoneBounds(t, d, raw)
	})
}
