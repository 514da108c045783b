package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/subzero-gateway/subzero/broker/dpop"
	"github.com/subzero-gateway/subzero/store/storetest"
)

// The interface guard lives here so that the backend's own code does not
// import broker/dpop.
var (
	_ dpop.ReplayStore      = (*ReplayStore)(nil)
	_ dpop.LocalReplayStore = (*LocalReplay)(nil)
)

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

// TestLocalReplayContract runs the ReplayStore suite on LocalReplay's Once,
// memory and file, and on OnceLocal, memory only.
func TestLocalReplayContract(t *testing.T) {
	t.Run("Once", func(t *testing.T) {
		storetest.Replay(t, func(t *testing.T) dpop.ReplayStore { return openReplay(t).LocalReplay(time.Now) })
	})
	t.Run("OnceLocal", func(t *testing.T) {
		storetest.Replay(t, func(t *testing.T) dpop.ReplayStore { return onlyLocal{openReplay(t).LocalReplay(time.Now)} })
	})
}

// onlyLocal is a ReplayStore whose Once is LocalReplay's OnceLocal.
type onlyLocal struct{ *LocalReplay }

func (s onlyLocal) Once(ctx context.Context, key string, until time.Time) (bool, error) {
	return s.OnceLocal(ctx, key, until)
}

// testClock is a clock the test sets, which the cache's goroutine may read.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) Now() time.Time  { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// localOnClock returns a LocalReplay of db holding at most limit keys, on a
// clock the test sets.
func localOnClock(db *DB, limit int) (*LocalReplay, *testClock) {
	c := new(testClock)
	c.Set(time.Unix(1_760_000_000, 0))
	return newLocalReplay(&ReplayStore{db: db.db, now: c.Now}, limit, c.Now), c
}

func onceLocal(t *testing.T, s *LocalReplay, key string, until time.Time) bool {
	t.Helper()
	first, err := s.OnceLocal(t.Context(), key, until)
	if err != nil {
		t.Fatalf("OnceLocal(%q): %v", key, err)
	}
	return first
}

// TestLocalReplayWindow checks that a key is refused until its expiry, on
// the store's clock, and accepted again from then on; and that distinct
// keys are independent.
func TestLocalReplayWindow(t *testing.T) {
	db := openReplay(t)
	s, now := localOnClock(db, 100)
	if got := s.Started(); !got.IsZero() {
		t.Errorf("Started() = %v, want zero: the file has no keys to load", got)
	}
	until := now.Now().Add(65 * time.Second)
	for i := range 10 {
		if !onceLocal(t, s, "jti:"+strconv.Itoa(i), until) {
			t.Fatalf("OnceLocal(jti:%d) = false, want true", i)
		}
	}
	now.Set(until.Add(-time.Nanosecond))
	for i := range 10 {
		if onceLocal(t, s, "jti:"+strconv.Itoa(i), until.Add(time.Hour)) {
			t.Errorf("OnceLocal(jti:%d) a nanosecond before expiry = true", i)
		}
	}
	now.Set(until)
	if !onceLocal(t, s, "jti:0", until.Add(time.Minute)) {
		t.Error("OnceLocal at expiry = false")
	}
	if onceLocal(t, s, "jti:0", until.Add(time.Minute)) {
		t.Error("OnceLocal of the key recorded again = true")
	}
	if r, _ := replayCounts(t, db); r != 0 {
		t.Errorf("OnceLocal wrote %d records to the file, want 0", r)
	}
}

// TestLocalReplayOnceWritesFile checks that Once records the key in the
// file too, that a key in the file only (as an earlier process leaves it)
// is refused, and that a key in memory is refused without a write.
func TestLocalReplayOnceWritesFile(t *testing.T) {
	db := openReplay(t)
	s, now := localOnClock(db, 100)
	until := now.Now().Add(time.Minute)
	first, err := s.Once(t.Context(), "k", until)
	if err != nil || !first {
		t.Fatalf("Once(k) = %v, %v; want true", first, err)
	}
	if r, _ := replayCounts(t, db); r != 1 {
		t.Fatalf("%d records in the file after Once, want 1", r)
	}
	if first, err := s.Once(t.Context(), "k", until); err != nil || first {
		t.Errorf("Once(k) again = %v, %v; want false", first, err)
	}
	if first, err := s.Once(t.Context(), "k2", until); err != nil || !first {
		t.Fatalf("Once(k2) = %v, %v; want true", first, err)
	}
	// The next process: an empty memory over the same file.
	next, _ := localOnClock(db, 100)
	if first, err := next.Once(t.Context(), "k", until); err != nil || first {
		t.Errorf("next process: Once(k) = %v, %v; want false", first, err)
	}
	if onceLocal(t, next, "k", until) {
		t.Error("next process: OnceLocal(k) after Once(k) = true, want false")
	}
	if onceLocal(t, next, "k2", until) {
		t.Error("next process: OnceLocal(k2) = true, want false: loaded from the file")
	}
	if !onceLocal(t, next, "k3", until) {
		t.Error("next process: OnceLocal(k3) = false, want true")
	}
}

// TestLocalReplayLoad checks that a store loads the file's live keys and
// reports a zero Started, and that with more live keys than half its
// bound it loads none and reports its start.
func TestLocalReplayLoad(t *testing.T) {
	db := openReplay(t)
	s, now := localOnClock(db, 4)
	for _, k := range []string{"a", "b", "c"} {
		if first, err := s.Once(t.Context(), k, now.Now().Add(time.Minute)); err != nil || !first {
			t.Fatalf("Once(%s) = %v, %v; want true", k, first, err)
		}
	}
	next, _ := localOnClock(db, 4)
	if got := next.Started(); !got.Equal(now.Now()) {
		t.Errorf("3 live keys, bound 4: Started() = %v, want the start %v", got, now.Now())
	}
	if !onceLocal(t, next, "a", now.Now().Add(time.Hour)) {
		t.Error("3 live keys, bound 4: OnceLocal(a) = false, want true: nothing loaded")
	}
	next, _ = localOnClock(db, 6)
	if got := next.Started(); !got.IsZero() {
		t.Errorf("3 live keys, bound 6: Started() = %v, want zero", got)
	}
	for _, k := range []string{"a", "b", "c"} {
		if onceLocal(t, next, k, now.Now().Add(time.Hour)) {
			t.Errorf("3 live keys, bound 6: OnceLocal(%s) = true, want false: loaded", k)
		}
	}
}

// TestLocalReplayFull checks that a full store refuses new keys with
// ErrReplayFull rather than forget the keys it holds, and accepts new ones
// once expired keys make room.
func TestLocalReplayFull(t *testing.T) {
	s, now := localOnClock(openReplay(t), 8)
	t1 := now.Now().Add(time.Minute)
	for i := range 8 {
		if !onceLocal(t, s, "k"+strconv.Itoa(i), t1) {
			t.Fatalf("OnceLocal(k%d) = false", i)
		}
	}
	for _, call := range []func(context.Context, string, time.Time) (bool, error){s.OnceLocal, s.Once} {
		if first, err := call(t.Context(), "new", t1); first || !errors.Is(err, ErrReplayFull) {
			t.Errorf("full store: Once(new) = %v, %v; want false, ErrReplayFull", first, err)
		}
	}
	for i := range 8 {
		if onceLocal(t, s, "k"+strconv.Itoa(i), t1) {
			t.Errorf("full store forgot k%d", i)
		}
	}
	// Once the keys expire, the clean-up the full store runs removes them.
	now.Set(t1)
	if !onceLocal(t, s, "new", t1.Add(time.Minute)) {
		t.Error("OnceLocal(new) after expiry = false")
	}
}

// TestLocalReplayConcurrent checks that of concurrent callers with one key
// exactly one is first.
func TestLocalReplayConcurrent(t *testing.T) {
	s, now := localOnClock(openReplay(t), 100)
	until := now.Now().Add(time.Minute)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			first, err := s.OnceLocal(context.Background(), "k", until)
			if err != nil {
				t.Error(err)
			}
			if first {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Errorf("%d callers were first, want 1", n)
	}
}

func BenchmarkLocalReplay(b *testing.B) {
	storetest.ReplayBench(b, func(b *testing.B) dpop.ReplayStore { return onlyLocal{openReplay(b).LocalReplay(time.Now)} })
}

// TestLocalReplayForgot checks that a store forgets nothing over a file
// no process kept keys of in memory only, and that it reports its start
// over a file one did.
func TestLocalReplayForgot(t *testing.T) {
	db := openReplay(t)
	s, now := localOnClock(db, 100)
	if !s.Forgot().IsZero() {
		t.Errorf("new file: Forgot() = %v, want zero", s.Forgot())
	}
	if first, err := s.Once(t.Context(), "k", now.Now().Add(time.Minute)); err != nil || !first {
		t.Fatalf("Once(k) = %v, %v; want true", first, err)
	}
	if next, _ := localOnClock(db, 100); !next.Forgot().IsZero() {
		t.Errorf("after Once only: Forgot() = %v, want zero", next.Forgot())
	}
	onceLocal(t, s, "k2", now.Now().Add(time.Minute))
	next, _ := localOnClock(db, 100)
	if got := next.Forgot(); !got.Equal(now.Now()) {
		t.Errorf("after OnceLocal: Forgot() = %v, want the start %v", got, now.Now())
	}
}
