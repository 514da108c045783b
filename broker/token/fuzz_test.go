package token_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/subzero-gateway/subzero/broker/token"
)

// FuzzValidate feeds arbitrary token strings to the validator: it never
// panics, rejects with invalid_token and a description that does not echo
// the input, and what it accepts carries every required claim and
// validates again to the same claims. The seeds in testdata were signed
// with fixedJWK at t0, the fuzzing clock, so valid ones verify.
func FuzzValidate(f *testing.F) {
	fx := newFixture(f, fixedStore(f), nil)
	fx.revoked.revoke("revoked-jti")
	f.Add(fx.mint(f, claims()))
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := fx.val.Validate(t.Context(), tok, resource)
		if err != nil {
			e, ok := errors.AsType[*token.Error](err)
			if !ok {
				t.Fatalf("Validate = %v (%T), want a *token.Error", err, err)
			}
			if e.Code != token.CodeInvalidToken || e.Description == "" {
				t.Fatalf("Validate = %q: %q", e.Code, e.Description)
			}
			if len(tok) >= 8 && strings.Contains(e.Description, tok) {
				t.Fatalf("description %q echoes the token", e.Description)
			}
			return
		}
		if c.Issuer != issuer || c.Subject == "" || c.ClientID == "" || c.JTI == "" || !c.HasAudience(resource) ||
			c.IssuedAt.IsZero() || c.Expiry.IsZero() || c.JTI == "revoked-jti" {
			t.Fatalf("accepted incomplete claims: %+v", c)
		}
		again, err := fx.val.Validate(t.Context(), tok, resource)
		if err != nil || again != c {
			t.Fatalf("second Validate = %p, %v; want the cached %p", again, err, c)
		}
	})
}
