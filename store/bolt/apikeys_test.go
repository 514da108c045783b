package bolt_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/broker/apikey"
	"github.com/subzero-gateway/subzero/store/bolt"
	"github.com/subzero-gateway/subzero/store/storetest"
)

func TestAPIKeys(t *testing.T) {
	storetest.APIKeys(t, func(t *testing.T) apikey.Store {
		db, err := bolt.Open(filepath.Join(t.TempDir(), "subzero.db"), time.Second, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db.APIKeys()
	})
}
