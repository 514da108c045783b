package bolt_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/store/bolt"
	"github.com/subzero-gateway/subzero/store/storetest"
)

func open(t *testing.T) storetest.Backend {
	path := filepath.Join(t.TempDir(), "subzero.db")
	db, err := bolt.Open(path, bolt.Default().LockTimeout, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return storetest.Backend{Audit: db.Audit(), Tamper: tamperer{db: db}, Replay: db.Replay(), SigningKeys: db.SigningKeys(), OAuth: db.OAuth(), Tuples: db.Tuples()}
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

// tamperer edits the real database file through bbolt, as an attacker
// with the file would.
type tamperer struct{ db *bolt.DB }

func (tp tamperer) edit(t *testing.T, node, bucket string, fn func(b *bbolt.Bucket) error) {
	t.Helper()
	path := tp.db.Path()
	if err := bolt.DrainAudit(tp.db); err != nil {
		t.Fatal(err)
	}
	raw := bolt.UnsafeRaw(tp.db)
	if err := raw.Update(func(tx *bbolt.Tx) error {
		return fn(tx.Bucket([]byte("audit")).Bucket([]byte(node)).Bucket([]byte(bucket)))
	}); err != nil {
		t.Fatalf("tamper %s: %v", path, err)
	}
}

func key(seq uint64) []byte {
	return []byte{byte(seq >> 56), byte(seq >> 48), byte(seq >> 40), byte(seq >> 32), byte(seq >> 24), byte(seq >> 16), byte(seq >> 8), byte(seq)}
}

func (tp tamperer) get(t *testing.T, node, bucket string, seq uint64) []byte {
	var out []byte
	tp.edit(t, node, bucket, func(b *bbolt.Bucket) error {
		out = append([]byte(nil), b.Get(key(seq))...)
		return nil
	})
	return out
}

func (tp tamperer) Get(t *testing.T, node string, seq uint64) []byte {
	return tp.get(t, node, "events", seq)
}

func (tp tamperer) Put(t *testing.T, node string, seq uint64, data []byte) {
	tp.edit(t, node, "events", func(b *bbolt.Bucket) error { return b.Put(key(seq), data) })
}

func (tp tamperer) Delete(t *testing.T, node string, seq uint64) {
	tp.edit(t, node, "events", func(b *bbolt.Bucket) error { return b.Delete(key(seq)) })
}

func (tp tamperer) GetCheckpoint(t *testing.T, node string, seq uint64) []byte {
	return tp.get(t, node, "checkpoints", seq)
}

func (tp tamperer) PutCheckpoint(t *testing.T, node string, seq uint64, data []byte) {
	tp.edit(t, node, "checkpoints", func(b *bbolt.Bucket) error { return b.Put(key(seq), data) })
}

func TestMain(m *testing.M) {
	if os.Getenv(storetest.CrashEnv) != "" {
		db, err := bolt.Open(os.Getenv("CRASH_DB"), time.Second, false)
		if err == nil {
			err = storetest.CrashChild(db.Audit())
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	os.Exit(m.Run())
}

func TestCrashLosesNoAcknowledgedEvent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subzero.db")
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "CRASH_DB="+path)
	storetest.AuditCrash(t, child, func(t *testing.T) audit.Store {
		db, err := bolt.Open(path, time.Second, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db.Audit()
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) audit.Store {
		db, err := bolt.Open(filepath.Join(b.TempDir(), "subzero.db"), time.Second, false)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		return db.Audit()
	})
	b.Run("OAuth", bolt.BenchOAuth)
}
