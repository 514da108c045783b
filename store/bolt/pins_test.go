package bolt_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/mcp/pin/pinstore"
	"github.com/subzero-gateway/subzero/store/bolt"
	"github.com/subzero-gateway/subzero/store/storetest"
)

func openPins(t *testing.T) pinstore.Store {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "subzero.db"), time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.Pins()
}

func TestPins(t *testing.T) { storetest.Pins(t, openPins) }

// TestPinsReopen checks that records and the revision survive closing
// the file.
func TestPinsReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subzero.db")
	db, err := bolt.Open(path, time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	r := pinstore.Record{Key: pinstore.Key{Upstream: "u", Tool: "t"}, State: pinstore.StateApproved, Hash: "sha256:1", Definition: []byte(`{"name":"t"}`)}
	if _, err := db.Pins().Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := db.Pins().Delete(ctx, r.Key); err != nil {
		t.Fatal(err)
	}
	v, err := db.Pins().Put(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = bolt.Open(path, time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got, err := db.Pins().Get(ctx, r.Key); err != nil || got.Version != v || string(got.Definition) != `{"name":"t"}` {
		t.Errorf("Get after reopen = %+v, %v; want version %d", got, err, v)
	}
	if rev, err := db.Pins().Revision(ctx); err != nil || rev != 3 {
		t.Errorf("Revision after reopen = %d, %v; want 3", rev, err)
	}
}
