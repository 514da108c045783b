package sensitive

import "testing"

// nextDigitRef is nextDigit written plainly: the reference it is held to.
func nextDigitRef(b []byte, i int) int {
	for i < len(b) && !isDigit(b[i]) {
		i++
	}
	return i
}

func checkNextDigit(t *testing.T, b []byte) {
	t.Helper()
	for i := 0; i <= len(b); i++ {
		if got, want := nextDigit(b, i), nextDigitRef(b, i); got != want {
			t.Fatalf("nextDigit(%q, %d) = %d, want %d", b, i, got, want)
		}
	}
}

func TestNextDigit(t *testing.T) {
	for _, s := range []string{
		"", "7", "abcdefgh", "abcdefgh9", "abcdefghijklmno/:0", "\xb0\xb9\xff\x80\x39\x30",
		"/:/:/:/:/:/:/:/:5", "\x00\x01\x7f\x80\xaf\xba\xff\xc0\xd0" + "0123456789",
		"0000000000000000", "\u00b9\u0669\uff10 x 1",
	} {
		checkNextDigit(t, []byte(s))
	}
	b := make([]byte, 256)
	for c := range 256 {
		for j := range b {
			b[j] = 'x'
		}
		for p := range 17 {
			b[p] = byte(c)
			checkNextDigit(t, b[:24])
			b[p] = 'x'
		}
	}
}

func FuzzNextDigit(f *testing.F) {
	f.Add([]byte("Call 044 668 18 00 or write"))
	f.Add([]byte("\xff\xfe\x2f\x3a\x30"))
	f.Fuzz(func(t *testing.T, b []byte) { checkNextDigit(t, b) })
}

// lowerASCIIRef is lowerASCII written plainly: the reference it is held
// to.
func lowerASCIIRef(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

func checkLowerASCII(t *testing.T, s string) {
	t.Helper()
	for _, pre := range []string{"", "Ab"} {
		got := lowerASCII([]byte(pre), s)
		if want := lowerASCIIRef([]byte(pre), s); string(got) != string(want) {
			t.Fatalf("lowerASCII(%q, %q) = %q, want %q", pre, s, got, want)
		}
	}
}

func TestLowerASCII(t *testing.T) {
	for _, s := range []string{"", "A", "HELLO WORLD", "@[`{AZaz", "Stra\u00dfe \u00c4\u00d6 \xc1\xda\xff\x80 ABCDEFGHIJKLMNOPQRSTUVWXYZ"} {
		checkLowerASCII(t, s)
	}
	b := []byte("xxxxxxxxxxxxxxxxxxxxxxxx")
	for c := range 256 {
		for p := range 17 {
			b[p] = byte(c)
			checkLowerASCII(t, string(b))
			b[p] = 'x'
		}
	}
}

func FuzzLowerASCII(f *testing.F) {
	f.Add("Export GITHUB_TOKEN=ghp_X; \u00c4@[`{Z")
	f.Fuzz(checkLowerASCII)
}
