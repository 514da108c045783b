package bolt

import (
	"encoding/binary"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/subzero-gateway/subzero/broker/dpop"
	"github.com/subzero-gateway/subzero/store/storetest"
)

// The interface guard lives here so that the backend's own code does not
// import broker/dpop.
var _ dpop.ReplayStore = (*ReplayStore)(nil)

func openReplay(t testing.TB) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "subzero.db"), time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// replayOnClock returns db's replay store on a clock the test sets.
func replayOnClock(db *DB) (*ReplayStore, *time.Time) {
	now := new(time.Time)
	*now = time.Unix(1_760_000_000, 0)
	return &ReplayStore{db: db.db, now: func() time.Time { return *now }}, now
}

// replayCounts returns the number of records and of index entries.
func replayCounts(t *testing.T, db *DB) (records, index int) {
	t.Helper()
	err := db.db.View(func(tx *bbolt.Tx) error {
		count := func(name []byte) (n int) {
			if b := tx.Bucket(name); b != nil {
				b.ForEach(func(_, _ []byte) error { n++; return nil })
			}
			return n
		}
		records, index = count(bucketReplay), count(bucketReplayExpiry)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return records, index
}

func nanos(t time.Time) []byte { return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())) }

func once(t *testing.T, s *ReplayStore, key string, until time.Time) bool {
	t.Helper()
	first, err := s.Once(t.Context(), key, until)
	if err != nil {
		t.Fatalf("Once(%q): %v", key, err)
	}
	return first
}

func TestReplayLayout(t *testing.T) {
	db := openReplay(t)
	until := time.Now().Add(time.Minute)
	if !once(t, db.Replay(), "dpop:k", until) {
		t.Fatal("Once(new key) = false")
	}
	err := db.db.View(func(tx *bbolt.Tx) error {
		if got, want := tx.Bucket([]byte("replay")).Get([]byte("dpop:k")), nanos(until); string(got) != string(want) {
			t.Errorf("replay[dpop:k] = %x, want expiry %x", got, want)
		}
		if tx.Bucket([]byte("replay_expiry")).Get(append(nanos(until), "dpop:k"...)) == nil {
			t.Error("replay_expiry has no expiry||key entry")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReplayExpiryBoundary(t *testing.T) {
	s, now := replayOnClock(openReplay(t))
	until := now.Add(time.Second)
	once(t, s, "k", until)
	*now = until.Add(-time.Nanosecond)
	if once(t, s, "k", until) {
		t.Error("Once a nanosecond before expiry = true")
	}
	*now = until
	if !once(t, s, "k", until.Add(time.Second)) {
		t.Error("Once at expiry = false")
	}
}

// TestReplaySweep checks that expired records are deleted, at most 64 per
// call, with their index entries, and that live records stay.
func TestReplaySweep(t *testing.T) {
	db := openReplay(t)
	s, now := replayOnClock(db)
	const n = 150
	for i := range n {
		once(t, s, "old:"+strconv.Itoa(i), now.Add(time.Duration(i+1)*time.Millisecond))
	}
	once(t, s, "live", now.Add(time.Hour))
	if r, i := replayCounts(t, db); r != n+1 || i != n+1 {
		t.Fatalf("before expiry: %d records, %d index entries; want %d", r, i, n+1)
	}
	*now = now.Add(time.Minute)
	// Each call adds one live record and deletes up to 64 expired ones.
	for call, left := 1, n; left > 0; call++ {
		if !once(t, s, "new:"+strconv.Itoa(call), now.Add(time.Hour)) {
			t.Fatal("Once(new key) = false")
		}
		left = max(left-replaySweep, 0)
		want := left + 1 + call
		if r, i := replayCounts(t, db); r != want || i != want {
			t.Fatalf("after call %d: %d records, %d index entries; want %d", call, r, i, want)
		}
	}
	if once(t, s, "live", now.Add(time.Hour)) {
		t.Error("Once(live) = true: the sweep removed a live record")
	}
}

// TestReplaySweepOldestFirst checks that a sweep takes the oldest expired
// records and stops at the first live one.
func TestReplaySweepOldestFirst(t *testing.T) {
	db := openReplay(t)
	s, now := replayOnClock(db)
	t0 := *now
	for i := range 100 {
		once(t, s, "k"+strconv.Itoa(i), t0.Add(time.Duration(100-i)*time.Second)) // k99 expires first
	}
	*now = t0.Add(70 * time.Second) // k30..k99 expired: 70 records
	once(t, s, "trigger", t0.Add(time.Hour))
	for i := range 100 {
		key := "k" + strconv.Itoa(i)
		var gone bool
		if err := db.db.View(func(tx *bbolt.Tx) error {
			gone = tx.Bucket(bucketReplay).Get([]byte(key)) == nil
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// The 64 oldest are k99 down to k36; k30..k35 expired but wait.
		if want := i >= 36; gone != want {
			t.Errorf("%s gone = %v, want %v", key, gone, want)
		}
	}
}

// TestReplayRerecord checks that recording an expired key again replaces
// its index entry, and that a stale index entry does not delete the newer
// record.
func TestReplayRerecord(t *testing.T) {
	db := openReplay(t)
	s, now := replayOnClock(db)
	first := now.Add(time.Second)
	once(t, s, "k", first)
	*now = now.Add(2 * time.Second)
	later := now.Add(time.Hour)
	if !once(t, s, "k", later) {
		t.Fatal("Once(expired key) = false, want true")
	}
	if r, i := replayCounts(t, db); r != 1 || i != 1 {
		t.Errorf("%d records, %d index entries; want 1, 1", r, i)
	}
	// A stale index entry for k, as a crash of an older version might leave.
	err := db.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketReplayExpiry).Put(append(nanos(first), "k"...), nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	once(t, s, "other", later)
	if once(t, s, "k", later) {
		t.Error("Once(k) = true after a stale index entry was swept; want false")
	}
	if r, i := replayCounts(t, db); r != 2 || i != 2 {
		t.Errorf("%d records, %d index entries; want 2, 2", r, i)
	}
}

func TestReplayEmptyKey(t *testing.T) {
	if _, err := openReplay(t).Replay().Once(t.Context(), "", time.Now().Add(time.Minute)); err == nil {
		t.Error("Once(empty key) succeeded")
	}
}

func BenchmarkReplay(b *testing.B) {
	storetest.ReplayBench(b, func(b *testing.B) dpop.ReplayStore { return openReplay(b).Replay() })
}
