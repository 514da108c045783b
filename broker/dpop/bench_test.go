package dpop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/subzero-gateway/subzero/broker/dpop"
)

// syncMapReplay is the benchmarks' ReplayStore: a sync.Map without expiry.
type syncMapReplay struct{ m sync.Map }

func (s *syncMapReplay) Once(_ context.Context, key string, until time.Time) (bool, error) {
	_, loaded := s.m.LoadOrStore(key, until)
	return !loaded, nil
}

// BenchmarkVerify measures proof verification at a resource (ath and a
// required nonce) against the bare signature check of the same
// signatures: SHA-256 and ecdsa.Verify for ES256, ed25519.Verify for
// EdDSA. The proof benchmark reports ratio, its ns/op over the raw one.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []jwa.SignatureAlgorithm{jwa.ES256, jwa.EdDSA} {
		b.Run(alg.String(), func(b *testing.B) { benchVerify(b, alg) })
	}
}

func benchVerify(b *testing.B, alg jwa.SignatureAlgorithm) {
	const n = 1024 // distinct proofs, cycled; the replay store is reset on each cycle
	a := newAgent(b, alg)
	nonce := nonceAt(&testing.T{}, t0)
	proofs := make([]string, n)
	for i := range proofs {
		c := with(claims("jti-"+strconv.Itoa(i)), "htm", "GET", "htu", resourceURL, "ath", ath(accessToken), "nonce", nonce)
		proofs[i] = a.sign(b, c, nil)
	}

	// The raw signature checks.
	type sig struct {
		input, sig []byte
		r, s       *big.Int
	}
	sigs := make([]sig, n)
	for i, p := range proofs {
		dot := strings.LastIndexByte(p, '.')
		s, err := base64.RawURLEncoding.DecodeString(p[dot+1:])
		if err != nil {
			b.Fatal(err)
		}
		sigs[i] = sig{input: []byte(p[:dot]), sig: s}
		if alg == jwa.ES256 {
			sigs[i].r, sigs[i].s = new(big.Int).SetBytes(s[:32]), new(big.Int).SetBytes(s[32:])
		}
	}
	var verifyRaw func(s *sig) bool
	switch k := a.priv.Public().(type) {
	case *ecdsa.PublicKey:
		verifyRaw = func(s *sig) bool {
			sum := sha256.Sum256(s.input)
			return ecdsa.Verify(k, sum[:], s.r, s.s)
		}
	case ed25519.PublicKey:
		verifyRaw = func(s *sig) bool { return ed25519.Verify(k, s.input, s.sig) }
	}
	var rawNs float64
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if !verifyRaw(&sigs[i%n]) {
				b.Fatal("signature does not verify")
			}
			i++
		}
		rawNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})

	b.Run("proof", func(b *testing.B) {
		if rawNs == 0 { // raw was filtered out: time it here, untimed by b
			const reps = 2000
			start := time.Now()
			for i := range reps {
				verifyRaw(&sigs[i%n])
			}
			rawNs = float64(time.Since(start).Nanoseconds()) / reps
		}
		cfg := dpop.Default()
		cfg.Nonce = dpop.NonceRequired
		store := &syncMapReplay{}
		v, err := dpop.New(cfg, secret, store, func() time.Time { return t0 })
		if err != nil {
			b.Fatal(err)
		}
		target := mustURL(b, resourceURL)
		ctx := b.Context()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if i%n == 0 {
				store.m.Clear()
			}
			if _, err := v.Verify(ctx, proofs[i%n], "GET", target, accessToken); err != nil {
				b.Fatal(err)
			}
			i++
		}
		ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(ns/rawNs, "ratio")
	})
}
