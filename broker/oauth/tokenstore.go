package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ory/fosite"

	"github.com/subzero-gateway/subzero/broker/token"
)

// Record collections of the token side.
const (
	// collectionRevokedJTI holds revoked access tokens: jti -> expiry
	// (Unix nanoseconds, decimal), each until its token expires.
	collectionRevokedJTI = "revoked_jti"
	// collectionFamilies holds the access token currently issued in each
	// refresh token family: request ID -> familyRecord.
	collectionFamilies = "token_family"
)

// familyRecord is the latest access token of a token family (the grants
// of one authorization: a code's tokens and every refresh after).
type familyRecord struct {
	JTI string `json:"jti"`
	Exp int64  `json:"exp"` // Unix seconds
}

// grantStore is the fosite storage of the [Server]. Access tokens are
// self-contained JWTs, so it keeps no access token sessions: an access
// token is revoked by listing its jti in the [RevocationList], which every
// validator consults. For the tokens of a refresh token family it records
// the latest access token's jti under the family's request ID, so that
// rotating, revoking or reusing a refresh token (which fosite handles by
// request ID) also revokes that access token. Client credentials tokens
// have no family and cost no write.
type grantStore struct {
	*fositeStore
	revoked *RevocationList
	leeway  time.Duration
}

// validSig reports whether sig can name a stored grant: fosite derives
// signatures from client-supplied tokens, and the store refuses empty or
// long keys with an error that fosite would answer with server_error.
func validSig(sig string) bool { return sig != "" && len(sig) <= 512 }

// GetAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (g *grantStore) GetAuthorizeCodeSession(ctx context.Context, sig string, s fosite.Session) (fosite.Requester, error) {
	if !validSig(sig) {
		return nil, fosite.ErrNotFound
	}
	return g.fositeStore.GetAuthorizeCodeSession(ctx, sig, s)
}

// GetPKCERequestSession implements pkce.PKCERequestStorage.
func (g *grantStore) GetPKCERequestSession(ctx context.Context, sig string, s fosite.Session) (fosite.Requester, error) {
	if !validSig(sig) {
		return nil, fosite.ErrNotFound
	}
	return g.fositeStore.GetPKCERequestSession(ctx, sig, s)
}

// GetRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (g *grantStore) GetRefreshTokenSession(ctx context.Context, sig string, s fosite.Session) (fosite.Requester, error) {
	if !validSig(sig) {
		return nil, fosite.ErrNotFound
	}
	return g.fositeStore.GetRefreshTokenSession(ctx, sig, s)
}

// CreateAccessTokenSession implements oauth2.AccessTokenStorage: jti is
// the access token's jti; for a token of a refresh token family it becomes
// the family's latest token.
func (g *grantStore) CreateAccessTokenSession(ctx context.Context, jti string, req fosite.Requester) error {
	if req.GetRequestForm().Get("grant_type") == GrantClientCredentials {
		return nil
	}
	exp := req.GetSession().GetExpiresAt(fosite.AccessToken)
	data, err := json.Marshal(familyRecord{JTI: jti, Exp: exp.Unix()})
	if err != nil {
		return err
	}
	return g.s.PutRecord(ctx, collectionFamilies, req.GetID(), data, exp.Add(g.leeway))
}

// GetAccessTokenSession implements oauth2.AccessTokenStorage; no handler
// this server composes calls it, and no session is kept.
func (g *grantStore) GetAccessTokenSession(context.Context, string, fosite.Session) (fosite.Requester, error) {
	return nil, fosite.ErrNotFound
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage.
func (g *grantStore) DeleteAccessTokenSession(context.Context, string) error { return nil }

// RevokeAccessToken implements oauth2.TokenRevocationStorage: the
// family's latest access token is revoked.
func (g *grantStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	data, err := g.s.GetRecord(ctx, collectionFamilies, requestID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var fr familyRecord
	if err := json.Unmarshal(data, &fr); err != nil {
		return fmt.Errorf("oauth: token family record: %w", err)
	}
	return g.revoked.Revoke(ctx, fr.JTI, time.Unix(fr.Exp, 0))
}

// RotateRefreshToken implements oauth2.RefreshTokenStorage: the presented
// refresh token becomes inactive (kept, so that its reuse is detected)
// and the family's access token is revoked. Of two concurrent refreshes
// with one token, exactly one succeeds.
func (g *grantStore) RotateRefreshToken(ctx context.Context, requestID, sig string) error {
	// Absent counts as used: reuse detection deletes the token it saw
	// reused, and a request that read it before must not rotate it.
	if _, err := g.s.Deactivate(ctx, KindRefresh, sig); errors.Is(err, ErrInactive) || errors.Is(err, ErrNotFound) {
		return fosite.ErrInactiveToken
	} else if err != nil {
		return err
	}
	return g.RevokeAccessToken(ctx, requestID)
}

// RevocationList is the set of revoked access tokens by jti, kept in the
// store's "revoked_jti" records until each token expires (plus leeway)
// and mirrored in memory, where [RevocationList.IsRevoked] reads it
// without locking or allocating. A revocation on this node takes effect
// here at once; revocations by other nodes arrive with
// [RevocationList.Refresh], which the broker calls on a timer and on
// change notifications. It implements token.RevocationList.
type RevocationList struct {
	s      Store
	leeway time.Duration
	now    func() time.Time

	mu   sync.Mutex                       // serializes writers of m
	jtis atomic.Pointer[map[string]int64] // jti -> expiry, Unix nanoseconds; copied on write
}

var _ token.RevocationList = (*RevocationList)(nil)

// NewRevocationList returns an empty list over s; call Refresh to load
// it.
func NewRevocationList(s Store, leeway time.Duration, now func() time.Time) *RevocationList {
	if now == nil {
		now = time.Now
	}
	l := &RevocationList{s: s, leeway: leeway, now: now}
	l.jtis.Store(&map[string]int64{})
	return l
}

// Revoke records that the token with jti, expiring at exp, is revoked.
// A token already expired needs no record.
func (l *RevocationList) Revoke(ctx context.Context, jti string, exp time.Time) error {
	until := exp.Add(l.leeway)
	if jti == "" || !until.After(l.now()) {
		return nil
	}
	n := until.UnixNano()
	if err := l.s.PutRecord(ctx, collectionRevokedJTI, jti, strconv.AppendInt(nil, n, 10), until); err != nil {
		return fmt.Errorf("oauth: record revocation: %w", err)
	}
	l.merge(map[string]int64{jti: n})
	return nil
}

// IsRevoked implements token.RevocationList.
func (l *RevocationList) IsRevoked(_ context.Context, jti string) (bool, error) {
	_, ok := (*l.jtis.Load())[jti]
	return ok, nil
}

// Refresh loads the revocations every node recorded and drops the
// expired ones from memory. Revocations are never withdrawn, so what it
// reads is added to what the list holds.
func (l *RevocationList) Refresh(ctx context.Context) error {
	read := map[string]int64{}
	err := l.s.ListRecords(ctx, collectionRevokedJTI, func(key string, data []byte) error {
		if n, err := strconv.ParseInt(string(data), 10, 64); err == nil {
			read[key] = n
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("oauth: load revocations: %w", err)
	}
	l.merge(read)
	return nil
}

// merge adds entries to the in-memory set, dropping expired ones.
func (l *RevocationList) merge(add map[string]int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now().UnixNano()
	m := make(map[string]int64, len(*l.jtis.Load())+len(add))
	for _, src := range []map[string]int64{*l.jtis.Load(), add} {
		for k, v := range src {
			if v > now {
				m[k] = v
			}
		}
	}
	l.jtis.Store(&m)
}

// Len returns how many revocations the list holds in memory.
func (l *RevocationList) Len() int { return len(*l.jtis.Load()) }
