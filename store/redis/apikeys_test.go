package redis_test

import (
	"testing"

	"github.com/subzero-gateway/subzero/broker/apikey"
	"github.com/subzero-gateway/subzero/store/storetest"
)

func TestAPIKeys(t *testing.T) {
	storetest.APIKeys(t, func(t *testing.T) apikey.Store { return openDB(t, config(t, srv), noEnv).APIKeys() })
}

// TestAPIKeysTwoNodes creates, verifies and revokes through two
// connection pools to one store, as two nodes would.
func TestAPIKeysTwoNodes(t *testing.T) {
	cfg := config(t, srv)
	storetest.APIKeysShared(t, openDB(t, cfg, noEnv).APIKeys(), openDB(t, cfg, noEnv).APIKeys())
}
