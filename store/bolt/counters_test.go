package bolt_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/broker/limits"
	"github.com/subzero-gateway/subzero/store/bolt"
	"github.com/subzero-gateway/subzero/store/storetest"
)

// openCounters opens a file at path and its counters, both closed by
// t.Cleanup (the counters first).
func openCounters(t testing.TB, path string) (*bolt.DB, *bolt.Counters) {
	t.Helper()
	db, err := bolt.Open(path, time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := db.Counters()
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		db.Close()
	})
	return db, c
}

func TestCounters(t *testing.T) {
	storetest.Counters(t, func(t *testing.T) limits.Counters {
		_, c := openCounters(t, filepath.Join(t.TempDir(), "subzero.db"))
		return c
	})
}

// TestCountersRestart checks that Close writes the daily windows and the
// next open reads them.
func TestCountersRestart(t *testing.T) {
	storetest.CountersRestart(t, func(t *testing.T) (limits.Counters, func() limits.Counters) {
		path := filepath.Join(t.TempDir(), "subzero.db")
		db, err := bolt.Open(path, time.Second, false)
		if err != nil {
			t.Fatal(err)
		}
		c, err := db.Counters()
		if err != nil {
			t.Fatal(err)
		}
		return c, func() limits.Counters {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			_, c := openCounters(t, path)
			return c
		}
	})
}

func BenchmarkCounters(b *testing.B) {
	_, c := openCounters(b, filepath.Join(b.TempDir(), "subzero.db"))
	storetest.BenchCounters(b, c, nil)
}
