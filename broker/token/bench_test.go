package token_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/broker/token"
)

// benchPool is how many distinct tokens the miss benchmarks cycle through.
const benchPool = 1024

// rawSig is one token's ES256 signature, split for ecdsa.Verify.
type rawSig struct {
	input []byte
	r, s  *big.Int
}

func rawSigs(b *testing.B, toks []string) []rawSig {
	sigs := make([]rawSig, len(toks))
	for i, tok := range toks {
		dot := strings.LastIndexByte(tok, '.')
		sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
		if err != nil || len(sig) != 64 {
			b.Fatalf("signature: %v", err)
		}
		sigs[i] = rawSig{input: []byte(tok[:dot]), r: new(big.Int).SetBytes(sig[:32]), s: new(big.Int).SetBytes(sig[32:])}
	}
	return sigs
}

// verifyRaw is the bare ES256 check of a token: SHA-256 of the signing
// input and ecdsa.Verify.
func verifyRaw(pub *ecdsa.PublicKey, s *rawSig) bool {
	sum := sha256.Sum256(s.input)
	return ecdsa.Verify(pub, sum[:], s.r, s.s)
}

// BenchmarkValidate measures validation of ES256 tokens on the wall
// clock: hit, a token in the cache; miss, a new token each time with the
// cache off, which reports ratio, its ns/op over the bare signature check
// timed first in the same function; raw-es256, that bare check alone.
func BenchmarkValidate(b *testing.B) {
	ctx := context.Background()
	store := fixedStore(b)
	keys, err := token.NewKeySet(ctx, token.Default(), store, nil)
	if err != nil {
		b.Fatal(err)
	}
	iss, err := token.NewIssuer(token.Default(), issuer, keys)
	if err != nil {
		b.Fatal(err)
	}
	toks := make([]string, benchPool)
	for i := range toks {
		c := claims()
		c.JKT = jkt
		c.Act = &token.Actor{Sub: "agent-1", ClientID: "agent-client"}
		if toks[i], err = iss.Mint(c); err != nil {
			b.Fatal(err)
		}
	}
	pub := store.signer(b, fixedKID).Public().(*ecdsa.PublicKey)
	sigs := rawSigs(b, toks)
	revoked := &revocations{jti: map[string]bool{"other": true}}

	b.Run("hit", func(b *testing.B) {
		v, err := token.NewValidator(token.Default(), issuer, keys, revoked)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Validate(ctx, toks[0], resource); err != nil { // warm-up: the miss
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Validate(ctx, toks[0], resource); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("miss", func(b *testing.B) {
		rawNs := timeRaw(b, pub, sigs)

		cfg := token.Default()
		cfg.CacheBytes = 0
		v, err := token.NewValidator(cfg, issuer, keys, revoked)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := v.Validate(ctx, toks[i%benchPool], resource); err != nil {
				b.Fatal(err)
			}
			i++
		}
		ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(ns/rawNs, "ratio")
		b.ReportMetric(rawNs, "raw-ns/op")
	})

	b.Run("raw-es256", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if !verifyRaw(pub, &sigs[i%benchPool]) {
				b.Fatal("signature does not verify")
			}
			i++
		}
	})
}

// timeRaw returns the ns/op of verifyRaw over sigs: after a warm-up, the
// median of seven batches, which a stray pause of the machine does not
// move.
func timeRaw(b *testing.B, pub *ecdsa.PublicKey, sigs []rawSig) float64 {
	const batches, reps = 7, 300
	var per [batches]float64
	for batch := -1; batch < batches; batch++ { // batch -1 warms up
		start := time.Now()
		for i := range reps {
			if !verifyRaw(pub, &sigs[i%len(sigs)]) {
				b.Fatal("signature does not verify")
			}
		}
		if batch >= 0 {
			per[batch] = float64(time.Since(start).Nanoseconds()) / reps
		}
	}
	slices.Sort(per[:])
	return per[batches/2]
}

// BenchmarkMint measures minting an ES256 token.
func BenchmarkMint(b *testing.B) {
	keys, err := token.NewKeySet(context.Background(), token.Default(), fixedStore(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	iss, err := token.NewIssuer(token.Default(), issuer, keys)
	if err != nil {
		b.Fatal(err)
	}
	c := claims()
	c.JKT = jkt
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Mint(c); err != nil {
			b.Fatal(err)
		}
	}
}
