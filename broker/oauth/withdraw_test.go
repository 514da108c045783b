package oauth_test

import (
	"errors"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/broker/oauth"
)

func TestWithdrawConsent(t *testing.T) {
	h := newHarness(t, nil)
	ctx := t.Context()
	consents := oauth.NewConsents(h.store, time.Now)
	scopes := []string{"mcp"}
	const resource = "https://rs.example/mcp"
	for _, client := range []string{"agent", "other"} {
		if err := consents.Grant(ctx, h.alice.Subject, client, scopes, resource); err != nil {
			t.Fatal(err)
		}
	}
	n, err := h.srv.WithdrawConsent(ctx, "alice", "agent")
	if err != nil || n != 1 {
		t.Fatalf("WithdrawConsent = %d, %v; want 1 consent withdrawn", n, err)
	}
	if consents.Has(ctx, h.alice.Subject, "agent", scopes, resource) {
		t.Error("the withdrawn consent is still remembered")
	}
	if !consents.Has(ctx, h.alice.Subject, "other", scopes, resource) {
		t.Error("the consent to another client was withdrawn too")
	}
	evs := h.audit.find(oauth.ActionConsentWithdrawn)
	if len(evs) != 1 || evs[0].Subject != h.alice.Subject || evs[0].ClientID != "agent" {
		t.Errorf("audit events %+v; want one consent.withdrawn for alice and agent", evs)
	}
	if _, err := h.srv.WithdrawConsent(ctx, "nobody", "agent"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("unknown user: %v, want ErrNotFound", err)
	}
}
