package sensitive

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// phoneRegion bounds what libphonenumber can find valid when it parses a
// number written without a "+" for one region, from the region's
// metadata: parsing then keeps the region's calling code unless the
// digits start with the region's international (IDD) prefix, and the
// national significant number is the digits less a national prefix (and
// carrier code) at most strip digits long, unless the region rewrites
// that prefix. Digits that start with the calling code itself may be
// parsed that way too, or with the code taken off and the national
// prefix stripped for the region, then for the calling code's main
// region (at most ccStrip digits). A valid number's national significant
// number is, for one of its calling code's regions, of the general
// description (one of its lengths, its pattern) and of one of the number
// types (fixed line, mobile, toll free, ...): libphonenumber's
// getNumberTypeHelper, which IsValidNumber runs.
//
// It spares libphonenumber's Parse (about 20 µs: it runs a dozen
// regular expressions) for the digit runs of prose no region could
// find valid: years and ranges ("2012-2015"), quantities, identifiers,
// numbers of a valid length in no range of numbers in use
// ("555-123-4567").
type phoneRegion struct {
	cc    string
	idd   *regexp.Regexp
	strip int
	// ccStrip bounds the national prefix of the calling code's main
	// region; -1 when it cannot be bounded (a number that starts with
	// the calling code is then always parsed).
	ccStrip int
	// the calling code's regions: a valid number's national
	// significant number is of one of a region's number types.
	numbers []phoneNumbers
}

// phoneNumbers is what libphonenumber's descriptions of one region's
// numbers allow: a valid number has one of the general description's
// lengths and matches its pattern, and matches one of the number
// types' (fixed line, mobile, toll free, ...) with one of their lengths.
type phoneNumbers struct {
	general phoneDesc
	types   []phoneDesc
}

// phoneDesc is one of libphonenumber's number descriptions: lengths
// (any, when the description lists none) and a pattern.
type phoneDesc struct {
	lengths [phoneMaxNSN + 1]bool
	pattern *regexp.Regexp
}

// newPhoneDesc compiles d; ok is false when it cannot be bounded.
func newPhoneDesc(d *phonenumbers.PhoneNumberDesc) (pd phoneDesc, ok bool) {
	ls := d.GetPossibleLength()
	for _, l := range ls {
		if l > phoneMaxNSN {
			return pd, false
		}
		if l >= 0 {
			pd.lengths[l] = true
		}
	}
	if len(ls) == 0 {
		for l := range pd.lengths {
			pd.lengths[l] = true
		}
	}
	re, err := regexp.Compile(`^(?:` + d.GetNationalNumberPattern() + `)$`)
	if err != nil {
		return pd, false
	}
	pd.pattern = re
	return pd, true
}

// matches reports whether nsn has one of d's lengths and matches its
// pattern: libphonenumber's isNumberMatchingDesc.
func (d *phoneDesc) matches(nsn string) bool {
	return d.lengths[len(nsn)] && d.pattern.MatchString(nsn)
}

// phoneMaxNSN is the longest national significant number libphonenumber
// parses.
const phoneMaxNSN = 17

// newPhoneRegions bounds each region it can; a region left out is always
// parsed.
func newPhoneRegions(regions []string) map[string]*phoneRegion {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return nil
	}
	out := map[string]*phoneRegion{}
	for _, r := range regions {
		if p := newPhoneRegion(coll, r); p != nil {
			out[r] = p
		}
	}
	return out
}

func newPhoneRegion(coll *phonenumbers.PhoneMetadataCollection, region string) *phoneRegion {
	md := phoneMetadata(coll, region)
	if md == nil || md.GetNationalPrefixTransformRule() != "" || md.GetCountryCode() <= 0 {
		return nil
	}
	p := &phoneRegion{cc: strconv.Itoa(int(md.GetCountryCode()))}
	if p.strip = prefixBound(md); p.strip < 0 {
		return nil
	}
	p.ccStrip = -1
	if main := phoneMetadata(coll, phonenumbers.GetRegionCodeForCountryCode(int(md.GetCountryCode()))); main != nil && main.GetNationalPrefixTransformRule() == "" {
		p.ccStrip = prefixBound(main)
	}
	idd, err := regexp.Compile(`^(?:` + md.GetInternationalPrefix() + `)`)
	if err != nil || md.GetInternationalPrefix() == "" {
		return nil
	}
	p.idd = idd
	for _, m := range coll.GetMetadata() {
		if m.GetCountryCode() != md.GetCountryCode() {
			continue
		}
		var n phoneNumbers
		if ls := m.GetGeneralDesc().GetPossibleLength(); len(ls) == 0 || slices.Min(ls) < 0 {
			return nil
		}
		var ok bool
		if n.general, ok = newPhoneDesc(m.GetGeneralDesc()); !ok {
			return nil
		}
		for _, d := range []*phonenumbers.PhoneNumberDesc{
			m.GetPremiumRate(), m.GetTollFree(), m.GetSharedCost(), m.GetVoip(), m.GetPersonalNumber(),
			m.GetPager(), m.GetUan(), m.GetVoicemail(), m.GetFixedLine(), m.GetMobile(),
		} {
			if d == nil || d.GetNationalNumberPattern() == "" {
				continue // matches no number
			}
			t, ok := newPhoneDesc(d)
			if !ok {
				return nil
			}
			n.types = append(n.types, t)
		}
		p.numbers = append(p.numbers, n)
	}
	return p
}

// phoneMetadata returns the metadata of region, or nil.
func phoneMetadata(coll *phonenumbers.PhoneMetadataCollection, region string) *phonenumbers.PhoneMetadata {
	var md *phonenumbers.PhoneMetadata
	for _, m := range coll.GetMetadata() {
		if m.GetId() == region {
			md = m
		}
	}
	return md
}

// prefixBound returns the most digits the region's national prefix for
// parsing (with a carrier code) takes off, or -1 when it cannot be
// bounded.
func prefixBound(md *phonenumbers.PhoneMetadata) int {
	np := md.GetNationalPrefixForParsing()
	if np == "" {
		return 0
	}
	re, err := syntax.Parse(np, syntax.Perl)
	if err != nil {
		return -1
	}
	return maxMatchLen(re.Simplify())
}

// mayBeValid reports whether libphonenumber could find raw, a run of
// digits and the separators " -./()", valid when parsed for the region;
// false only when it cannot.
func (p *phoneRegion) mayBeValid(raw string) bool {
	var buf [32]byte
	dg := buf[:0]
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case isDigit(c):
			if len(dg) == len(buf) {
				return true
			}
			dg = append(dg, c)
		case strings.IndexByte(" -./()", c) < 0:
			return true
		}
	}
	digits := string(dg) // does not escape
	if p.idd.MatchString(digits) {
		return true
	}
	shortest := len(dg) - p.strip
	if strings.HasPrefix(digits, p.cc) {
		if p.ccStrip < 0 {
			return true
		}
		shortest -= len(p.cc) + p.ccStrip
	}
	for l := max(shortest, 0); l <= min(len(dg), phoneMaxNSN); l++ {
		for i := range p.numbers {
			if p.numbers[i].valid(digits[len(dg)-l:]) {
				return true
			}
		}
	}
	return false
}

// valid reports whether libphonenumber finds nsn, a national
// significant number, of one of the region's number types: its
// getNumberTypeHelper.
func (n *phoneNumbers) valid(nsn string) bool {
	if !n.general.matches(nsn) {
		return false
	}
	for i := range n.types {
		if n.types[i].matches(nsn) {
			return true
		}
	}
	return false
}
