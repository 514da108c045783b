package oauth

import (
	"context"
	"errors"
	"fmt"
)

// ActionConsentWithdrawn is the audit action of [Server.WithdrawConsent].
const ActionConsentWithdrawn = "consent.withdrawn"

// ErrNoPages is returned by [Server.WithdrawConsent] on a server without
// users (and so without consents).
var ErrNoPages = errors.New("oauth: this server has no users or consents")

// WithdrawConsent forgets every consent the user named username gave the
// client, so that its next authorization request asks again, and records
// that in the audit trail. Tokens already issued stay valid until they
// expire or are revoked. It returns how many consents it forgot; an
// unknown user is ErrNotFound.
func (s *Server) WithdrawConsent(ctx context.Context, username, clientID string) (int, error) {
	if s.pages == nil {
		return 0, ErrNoPages
	}
	u, err := s.pages.users.Get(ctx, username)
	if err != nil {
		return 0, err
	}
	n, err := s.pages.consents.Revoke(ctx, u.Subject, clientID)
	if err != nil {
		return 0, err
	}
	s.auditor.Record(ctx, AuditEvent{Type: "oauth", Action: ActionConsentWithdrawn, ClientID: clientID, Subject: u.Subject,
		Decision: DecisionAllow, Reason: fmt.Sprintf("%d consents withdrawn by an administrator", n)})
	return n, nil
}
