package dpop_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/subzero-gateway/subzero/broker/dpop"
)

// FuzzVerify feeds arbitrary DPoP header values to the verifier: it never
// panics, rejects with one of the two codes and a description that does
// not echo the input, and what it accepts is a complete proof that cannot
// be replayed.
func FuzzVerify(f *testing.F) {
	es, ed := newAgent(f, jwa.ES256), newAgent(f, jwa.EdDSA)
	f.Add(es.sign(f, claims("seed-es"), nil))
	f.Add(ed.sign(f, with(claims("seed-ed"), "nonce", nonceAt(&testing.T{}, t0)), nil))
	v, _, _ := newVerifier(f, func(c *dpop.Config) { c.Nonce = dpop.NonceOptional })
	target := mustURL(f, tokenURL)
	f.Fuzz(func(t *testing.T, proof string) {
		for _, token := range []string{"", accessToken} {
			p, err := v.Verify(t.Context(), proof, "POST", target, token)
			if err == nil {
				if p.JKT == "" || p.JTI == "" || p.HTM != "POST" || p.Alg == "" || p.IAT.IsZero() {
					t.Fatalf("accepted an incomplete proof: %+v", p)
				}
				if _, err := v.Verify(t.Context(), proof, "POST", target, token); err == nil {
					t.Fatal("accepted a proof twice")
				}
				continue
			}
			e, ok := errors.AsType[*dpop.Error](err)
			if !ok {
				t.Fatalf("Verify = %v (%T), want a *dpop.Error", err, err)
			}
			if e.Code != dpop.CodeInvalidProof && e.Code != dpop.CodeUseNonce || e.Description == "" {
				t.Fatalf("Verify = %q: %q", e.Code, e.Description)
			}
			if len(proof) >= 8 && strings.Contains(e.Description, proof) {
				t.Fatalf("description %q echoes the proof", e.Description)
			}
		}
	})
}
