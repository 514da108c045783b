package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/maypok86/otter/v2"
)

// dynamicClientTTL bounds how long a stored client is reused from memory:
// a deleted client keeps working on a node at most this long.
const dynamicClientTTL = 10 * time.Second

// maxStoredIDBytes is the longest key the store takes.
const maxStoredIDBytes = 512

// clientRegistry is the [ClientResolver] of the server: static clients
// from the config, URL client IDs through their metadata documents, and
// registered clients from the store, cached briefly.
type clientRegistry struct {
	static map[string]*Client
	store  Store
	cimd   *CIMDFetcher // nil when URL client IDs are off
	scopes []string
	cache  *otter.Cache[string, *Client]
}

var _ ClientResolver = (*clientRegistry)(nil)

func newClientRegistry(static map[string]*Client, s Store, cimd *CIMDFetcher, scopes []string) *clientRegistry {
	return &clientRegistry{
		static: static, store: s, cimd: cimd, scopes: scopes,
		cache: otter.Must(&otter.Options[string, *Client]{
			MaximumSize:      10_000,
			ExpiryCalculator: otter.ExpiryWriting[string, *Client](dynamicClientTTL),
		}),
	}
}

// Client implements ClientResolver. Unknown IDs, and URL IDs when
// metadata documents are off, are ErrNotFound; a failed document fetch
// wraps ErrCIMD.
func (r *clientRegistry) Client(ctx context.Context, id string) (*Client, error) {
	if c, ok := r.static[id]; ok {
		return c, nil
	}
	if IsClientIDURL(id) {
		if r.cimd == nil {
			return nil, ErrNotFound
		}
		return r.cimd.Fetch(ctx, id, r.scopes)
	}
	if id == "" || len(id) > maxStoredIDBytes {
		return nil, ErrNotFound
	}
	if c, ok := r.cache.GetIfPresent(id); ok {
		return c, nil
	}
	data, err := r.store.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	var c Client
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("oauth: stored client %q: %w", clip(id), err)
	}
	if c.ID != id {
		return nil, errors.New("oauth: stored client has another client_id")
	}
	r.cache.Set(id, &c)
	return &c, nil
}
