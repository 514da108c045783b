package dpop

import (
	"bytes"
	"crypto/rand"
	"encoding/asn1"
	"math/big"
	"testing"
)

func TestASN1Signature(t *testing.T) {
	enc := func(r, s []byte) []byte {
		der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(r), new(big.Int).SetBytes(s)})
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	fixed := func(size int, b ...byte) []byte { return append(make([]byte, size-len(b)), b...) }
	type pair struct{ r, s []byte }
	cases := []pair{
		{fixed(32, 1), fixed(32, 2)},
		{fixed(32), fixed(32)},
		{fixed(32, 0x80), fixed(32, 0x7f)},
		{bytes.Repeat([]byte{0xff}, 32), bytes.Repeat([]byte{0x80}, 32)},
		{append([]byte{0, 0, 0x80}, make([]byte, 29)...), fixed(32, 0xff)},
		{bytes.Repeat([]byte{0xff}, 48), bytes.Repeat([]byte{0xff}, 48)},
		{append([]byte{0x01}, bytes.Repeat([]byte{0xff}, 65)...), append([]byte{0x01}, bytes.Repeat([]byte{0xff}, 65)...)},
	}
	for _, size := range []int{32, 48, 66} {
		for range 200 {
			r, s := make([]byte, size), make([]byte, size)
			rand.Read(r)
			rand.Read(s)
			cases = append(cases, pair{r, s})
		}
	}
	for _, c := range cases {
		want := enc(c.r, c.s)
		if got := asn1Signature(nil, c.r, c.s); !bytes.Equal(got, want) {
			t.Fatalf("asn1Signature(%x, %x) = %x, want %x", c.r, c.s, got, want)
		}
	}
}
