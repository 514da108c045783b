package sensitive

import (
	"regexp/syntax"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/subzero-gateway/subzero/guard"
)

func mustSyntax(t testing.TB, s string) *syntax.Regexp {
	t.Helper()
	re, err := syntax.Parse(s, syntax.Perl)
	if err != nil {
		t.Fatal(err)
	}
	return re.Simplify()
}

// FuzzDetect checks that findings are in range, ordered, not
// overlapping, numbered, and that excerpts are bounded, valid UTF-8 when
// the text is, and never contain a reported value.
func FuzzDetect(f *testing.F) {
	for _, s := range []string{
		"jane@example.com 4111 1111 1111 1111 123-45-6788",
		"IBAN DE89 3704 0044 0532 0130 00 +41 44 668 18 00 192.168.1.1 2001:db8::1",
		"password = 'x' api_key=\"951bc382db9abad29c68634761dd6e19\" 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",
		"-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END",
		"eyJhbGciOiJIUzI1NiJ9.eyJ.x postgres://u:p@h/ $2y$10$",
		"12 Main Street Apt. 4, PSC 1, Box 2 APO AE 12345 Feldstrasse 4",
		"a@b.c@d..e [at] (dot) \xff\xfe 1.2.3.4.5 ::",
	} {
		f.Add(s)
	}
	d, err := New(Default())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		fs := d.Detect(nil, text, nil, guard.ToolResult)
		end := 0
		for _, x := range fs {
			if x.Start < end || x.End <= x.Start || x.End > len(text) {
				t.Fatalf("bad span [%d,%d) after %d in %d bytes", x.Start, x.End, end, len(text))
			}
			end = x.End
			if len(x.Excerpt) > excerptMax || x.Placeholder == "" {
				t.Fatalf("excerpt %q placeholder %q", x.Excerpt, x.Placeholder)
			}
			if utf8.ValidString(text) && !utf8.ValidString(x.Excerpt) {
				t.Fatalf("invalid UTF-8 excerpt %q", x.Excerpt)
			}
			if v := text[x.Start:x.End]; len(v) >= 8 && strings.Contains(x.Excerpt, v) {
				t.Fatalf("excerpt %q holds value %q", x.Excerpt, v)
			}
		}
	})
}

// FuzzValidators runs the hand-written validators on arbitrary input.
func FuzzValidators(f *testing.F) {
	f.Add("4111111111111111")
	f.Add("GB82WEST12345698765432")
	f.Add("eyJhbGciOiJub25lIn0.eyJ.")
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		if len(b) >= 4 {
			_ = mod97(b)
		}
		_ = luhn(digitsOf(nil, s))
		_ = cardNetwork(digitsOf(nil, s))
		_ = entropy(s)
		_ = isUUID(s)
		_ = templated(s)
		_ = placeholderValue(s, "token")
		_ = randomLooking(s)
		_ = validTLD(s)
		ch := scanChunk(s+"1", len(s))
		_ = looksLikeDate(&ch)
	})
}
