package bolt_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	bbolt "go.etcd.io/bbolt"

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

// TestCountersWriteBehind checks, on a fake clock, that the daily windows
// reach the file within a second and without Close (what a crash then
// keeps), and that minute windows never do.
func TestCountersWriteBehind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, c := openCounters(t, filepath.Join(t.TempDir(), "subzero.db"))
		raw := bolt.UnsafeRaw(db)
		now := time.Now()
		keys := []string{"user:u:tpd", "user:u:tpm"}
		lengths := []time.Duration{24 * time.Hour, time.Minute}
		if d, _, err := c.Charge(t.Context(), now, keys, lengths, []int64{100, 100}, []int64{42, 42}, nil, nil, "", 0); err != nil || d != -1 {
			t.Fatalf("Charge = %d, %v", d, err)
		}
		stored := func() map[string]string {
			got := map[string]string{}
			if err := raw.View(func(tx *bbolt.Tx) error {
				if b := tx.Bucket([]byte("limits_windows")); b != nil {
					return b.ForEach(func(k, v []byte) error { got[string(k)] = fmt.Sprintf("%x", v); return nil })
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return got
		}
		if got := stored(); len(got) != 0 {
			t.Fatalf("stored at once: %v (the hot path writes the file)", got)
		}
		time.Sleep(1100 * time.Millisecond)
		synctest.Wait()
		day := int64(24 * time.Hour / time.Millisecond)
		want := fmt.Sprintf("%016x%016x%016x%016x", day, now.UnixMilli()/day, 42, 0)
		if got := stored(); len(got) != 1 || got["user:u:tpd"] != want {
			t.Errorf("stored after a second = %v, want only user:u:tpd = %s", got, want)
		}
	})
}
