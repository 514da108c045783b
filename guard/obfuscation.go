package guard

import "strings"

// obfuscation appends the scanner's own findings about how s hides its
// content: invisible characters (zero-width, bidi controls, tag
// characters, variation selectors) and encoded payloads. Their class is
// ClassObfuscation; what they hide is for the other detectors, which
// read the decoded payloads.
func (st *scanState) obfuscation(dst []Finding, s string, dir Direction) []Finding {
	ns := &st.norm.stats
	if ns.invisible > 0 {
		f := Finding{Category: LLM01PromptInjection, Class: ClassObfuscation, Start: ns.first, End: ns.last}
		switch {
		case ns.tags > 0:
			// Tag characters spell text no one sees: nothing else
			// uses them but flag emoji, which the count leaves out.
			f.Detector, f.Score, f.Rule = "obfuscation.tags", 0.95, "unicode tag characters"
		case ns.selectors > 0:
			f.Detector, f.Score, f.Rule = "obfuscation.variation_selectors", 0.8, "variation selectors after letters"
		case ns.bidi > 0:
			// Bidi controls are ordinary in right-to-left text.
			f.Detector, f.Score, f.Rule = "obfuscation.bidi", 0.8, "bidi control characters"
			if ns.rtl {
				f.Score = 0.3
			}
		default:
			f.Detector, f.Rule = "obfuscation.invisible", "zero-width characters"
			f.Score = 0.5 + 0.1*float64(min(ns.invisible-1, 4))
		}
		dst = append(dst, f)
	}
	lastStart, lastEnd := -1, -1
	for _, d := range st.nd.Decoded {
		if d.Start == lastStart && d.End == lastEnd {
			continue // one finding per encoded run
		}
		lastStart, lastEnd = d.Start, d.End
		enc, _, nested := strings.Cut(d.Encoding, "+")
		if enc == "tags" || enc == "variation_selectors" {
			continue // reported above
		}
		f := Finding{
			Detector: "obfuscation." + enc, Category: LLM01PromptInjection, Class: ClassObfuscation,
			Start: d.Start, End: d.End, Rule: "encoded text",
		}
		// Encoded text is common in tool traffic (APIs return base64);
		// in a prompt it is a way to slip past a filter.
		f.Score = 0.4
		if dir == Prompt {
			f.Score = 0.6
		}
		switch {
		case nested:
			f.Score, f.Rule = 0.8, "text encoded more than once"
		case enc == "rot13":
			f.Score = 0.7
		case enc == "url" && needlessEscapes(s[d.Start:d.End]):
			f.Score, f.Rule = 0.7, "letters percent-encoded"
		}
		dst = append(dst, f)
	}
	return dst
}

// needlessEscapes reports whether most %XX escapes in s encode letters
// and digits, which URLs never need to escape.
func needlessEscapes(s string) bool {
	all, alnum := 0, 0
	for i := 0; i+2 < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		hi, ok1 := hexVal(s[i+1])
		lo, ok2 := hexVal(s[i+2])
		if !ok1 || !ok2 {
			continue
		}
		all++
		c := hi<<4 | lo
		if isLetterByte(c) || '0' <= c && c <= '9' {
			alnum++
		}
		i += 2
	}
	return all > 0 && alnum*2 >= all
}
