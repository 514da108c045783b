package sensitive

import (
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// phoneRegion bounds what libphonenumber can find valid when it parses a
// number written without a "+" for one region, from the region's
// metadata: parsing then keeps the region's calling code unless the
// digits start with the region's international (IDD) prefix or with the
// calling code itself, and the national significant number is the digits
// less a national prefix (and carrier code) at most strip digits long,
// unless the region rewrites that prefix. A valid number's national
// significant number has one of the lengths one of its calling code's
// regions lists, and matches that region's general pattern.
//
// It spares libphonenumber's Parse (about 20 µs: it runs a dozen
// regular expressions) for the digit runs of prose no region could
// find valid: years and ranges ("2012-2015"), quantities, identifiers.
type phoneRegion struct {
	cc    string
	idd   *regexp.Regexp
	strip int
	// the calling code's regions: a valid number's national
	// significant number has one of a region's lengths and matches its
	// general pattern.
	numbers []phoneNumbers
}

// phoneNumbers is what libphonenumber's general description of one
// region's numbers allows.
type phoneNumbers struct {
	lengths [phoneMaxNSN + 1]bool
	pattern *regexp.Regexp
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
	var md *phonenumbers.PhoneMetadata
	for _, m := range coll.GetMetadata() {
		if m.GetId() == region {
			md = m
		}
	}
	if md == nil || md.GetNationalPrefixTransformRule() != "" || md.GetCountryCode() <= 0 {
		return nil
	}
	p := &phoneRegion{cc: strconv.Itoa(int(md.GetCountryCode()))}
	if np := md.GetNationalPrefixForParsing(); np != "" {
		re, err := syntax.Parse(np, syntax.Perl)
		if err != nil {
			return nil
		}
		if p.strip = maxMatchLen(re.Simplify()); p.strip < 0 {
			return nil
		}
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
		ls := m.GetGeneralDesc().GetPossibleLength()
		if len(ls) == 0 {
			return nil
		}
		for _, l := range ls {
			if l < 0 || l > phoneMaxNSN {
				return nil
			}
			n.lengths[l] = true
		}
		if n.pattern, err = regexp.Compile(`^(?:` + m.GetGeneralDesc().GetNationalNumberPattern() + `)$`); err != nil {
			return nil
		}
		p.numbers = append(p.numbers, n)
	}
	return p
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
	if strings.HasPrefix(digits, p.cc) || p.idd.MatchString(digits) {
		return true
	}
	for l := max(len(dg)-p.strip, 0); l <= min(len(dg), phoneMaxNSN); l++ {
		for i := range p.numbers {
			if n := &p.numbers[i]; n.lengths[l] && n.pattern.MatchString(digits[len(dg)-l:]) {
				return true
			}
		}
	}
	return false
}
