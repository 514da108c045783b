package oauth

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// collectionConsents is the record collection consents live in.
const collectionConsents = "consents"

// Consent is a user's remembered approval of one client for one exact set
// of scopes and one resource.
type Consent struct {
	Subject  string    `json:"sub"`
	ClientID string    `json:"client_id"`
	Scopes   []string  `json:"scopes"` // sorted, without duplicates
	Resource string    `json:"resource,omitempty"`
	Granted  time.Time `json:"granted"`
}

// Consents remembers which clients users approved, in the [Store]'s
// "consents" records: one record per user, client, exact scope set and
// resource, kept until revoked.
//
// A record's key is the escaped subject, a space, then the escaped client
// ID, sorted scopes and resource; either part is replaced by ":" and its
// SHA-256 when long, so keys stay under the store's 512 bytes. Escaping
// leaves no space or colon in a part, so distinct consents never share a
// key, and one user's records sort together: [Consents.List] and
// [Consents.Revoke] stop reading past them.
type Consents struct {
	s   Store
	now func() time.Time
}

// NewConsents returns the consents kept in s; now stamps grants (nil:
// time.Now).
func NewConsents(s Store, now func() time.Time) *Consents {
	if now == nil {
		now = time.Now
	}
	return &Consents{s: s, now: now}
}

// Key part limits before hashing.
const (
	maxSubjectKey = 128
	maxConsentKey = 256
)

// normScopes returns scopes sorted, without duplicates or empty strings.
func normScopes(scopes []string) []string {
	out := slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return s == "" })
	slices.Sort(out)
	return slices.Compact(out)
}

func hashedPart(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	h := sha256.Sum256([]byte(s))
	return ":" + hex.EncodeToString(h[:])
}

// subjectPrefix is the start of every key of subject's consents.
func subjectPrefix(subject string) string {
	return hashedPart(url.QueryEscape(subject), maxSubjectKey) + " "
}

func consentKey(subject, clientID string, scopes []string, resource string) string {
	esc := make([]string, len(scopes))
	for i, s := range scopes {
		esc[i] = url.QueryEscape(s)
	}
	rest := url.QueryEscape(clientID) + " " + strings.Join(esc, ",") + " " + url.QueryEscape(resource)
	return subjectPrefix(subject) + hashedPart(rest, maxConsentKey)
}

// Grant remembers that subject approved clientID for exactly scopes and
// resource (empty: none).
func (c *Consents) Grant(ctx context.Context, subject, clientID string, scopes []string, resource string) error {
	if subject == "" || clientID == "" {
		return errors.New("oauth: consent needs a subject and a client ID")
	}
	scopes = normScopes(scopes)
	data, err := json.Marshal(Consent{Subject: subject, ClientID: clientID, Scopes: scopes, Resource: resource, Granted: c.now().UTC()})
	if err != nil {
		return err
	}
	if err := c.s.PutRecord(ctx, collectionConsents, consentKey(subject, clientID, scopes, resource), data, time.Time{}); err != nil {
		return fmt.Errorf("oauth: store consent: %w", err)
	}
	return nil
}

// Has reports whether subject approved clientID for exactly this scope set
// (in any order) and resource, and has not revoked it since. A store
// failure reads as "not remembered": the user is asked again.
func (c *Consents) Has(ctx context.Context, subject, clientID string, scopes []string, resource string) bool {
	if subject == "" || clientID == "" {
		return false
	}
	scopes = normScopes(scopes)
	data, err := c.s.GetRecord(ctx, collectionConsents, consentKey(subject, clientID, scopes, resource))
	if err != nil {
		return false
	}
	var got Consent
	if json.Unmarshal(data, &got) != nil {
		return false
	}
	// The key may be a hash: compare what it stands for.
	return got.Subject == subject && got.ClientID == clientID && slices.Equal(got.Scopes, scopes) && got.Resource == resource
}

// errStopListing ends a listing early.
var errStopListing = errors.New("stop listing")

// each calls fn with every consent of subject, in key order.
func (c *Consents) each(ctx context.Context, subject string, fn func(key string, cs Consent) error) error {
	prefix := subjectPrefix(subject)
	err := c.s.ListRecords(ctx, collectionConsents, func(key string, data []byte) error {
		if !strings.HasPrefix(key, prefix) {
			if key > prefix {
				return errStopListing // past this subject's keys
			}
			return nil
		}
		var cs Consent
		if err := json.Unmarshal(data, &cs); err != nil {
			return fmt.Errorf("oauth: stored consent: %w", err)
		}
		if cs.Subject != subject { // a hashed subject part shared by chance
			return nil
		}
		return fn(key, cs)
	})
	if errors.Is(err, errStopListing) {
		return nil
	}
	return err
}

// List returns subject's consents, ordered by client ID, then by when they
// were granted.
func (c *Consents) List(ctx context.Context, subject string) ([]Consent, error) {
	var out []Consent
	err := c.each(ctx, subject, func(_ string, cs Consent) error {
		out = append(out, cs)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("oauth: list consents: %w", err)
	}
	slices.SortStableFunc(out, func(a, b Consent) int {
		return cmp.Or(strings.Compare(a.ClientID, b.ClientID), a.Granted.Compare(b.Granted))
	})
	return out, nil
}

// Revoke forgets every consent subject gave clientID, whatever the scopes
// and resource, and returns how many it removed.
func (c *Consents) Revoke(ctx context.Context, subject, clientID string) (int, error) {
	var keys []string
	err := c.each(ctx, subject, func(key string, cs Consent) error {
		if cs.ClientID == clientID {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("oauth: revoke consents: %w", err)
	}
	for i, k := range keys {
		if err := c.s.DeleteRecord(ctx, collectionConsents, k); err != nil {
			return i, fmt.Errorf("oauth: revoke consents: %w", err)
		}
	}
	return len(keys), nil
}
