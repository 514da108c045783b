package storetest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/subzero-gateway/subzero/delegation/rebac/tuplestore"
)

// tupleOf builds a tuple without a condition.
func tupleOf(object, relation, user string) tuplestore.Tuple {
	return tuplestore.Tuple{Object: object, Relation: relation, User: user}
}

// compareTuples orders tuples by key: object, relation, user.
func compareTuples(a, b tuplestore.Tuple) int {
	return cmp.Or(strings.Compare(a.Object, b.Object), strings.Compare(a.Relation, b.Relation), strings.Compare(a.User, b.User))
}

func keyOf(t tuplestore.Tuple) tuplestore.Tuple { return tupleOf(t.Object, t.Relation, t.User) }

func isZero(t tuplestore.Tuple) bool { return t.Object == "" && t.Relation == "" && t.User == "" }

// tupleKey is a tuple's key, comparable.
type tupleKey struct{ object, relation, user string }

func keyFor(t tuplestore.Tuple) tupleKey { return tupleKey{t.Object, t.Relation, t.User} }

// equateTuples compares conditions byte for byte, nil and empty alike.
var equateTuples = cmpopts.EquateEmpty()

func sameTuple(a, b tuplestore.Tuple) bool {
	return keyFor(a) == keyFor(b) && bytes.Equal(a.Condition, b.Condition)
}

// diffTuples returns the diff of two tuple lists, "" when they are equal;
// it compares directly first, which is much faster than go-cmp on long
// lists.
func diffTuples(want, got []tuplestore.Tuple) string {
	if slices.EqualFunc(want, got, sameTuple) {
		return ""
	}
	return gocmp.Diff(want, got, equateTuples)
}

// manyTuples returns n tuples doc:<prefix><i>#viewer@user:<i%7>, some
// with a condition.
func manyTuples(prefix string, from, n int) []tuplestore.Tuple {
	out := make([]tuplestore.Tuple, n)
	for i := range n {
		out[i] = tupleOf(fmt.Sprintf("doc:%s%d", prefix, from+i), "viewer", fmt.Sprintf("user:%d", (from+i)%7))
		if (from+i)%3 == 0 {
			out[i].Condition = fmt.Appendf(nil, `{"name":"in_hours","context":{"n":%d}}`, from+i)
		}
	}
	return out
}

// tupleState is a store's tuples by key, as a replay builds it.
type tupleState map[tupleKey][]byte

func (st tupleState) put(t tuplestore.Tuple) { st[keyFor(t)] = t.Condition }

func (st tupleState) apply(changes []tuplestore.Change) {
	for _, c := range changes {
		switch c.Op {
		case tuplestore.OpWrite:
			st.put(c.Tuple)
		case tuplestore.OpDelete:
			delete(st, keyFor(c.Tuple))
		}
	}
}

func (st tupleState) sorted() []tuplestore.Tuple {
	out := make([]tuplestore.Tuple, 0, len(st))
	for k, c := range st {
		out = append(out, tuplestore.Tuple{Object: k.object, Relation: k.relation, User: k.user, Condition: c})
	}
	slices.SortFunc(out, compareTuples)
	return out
}

// tupleStore wraps a store with helpers that fail the test on errors.
type tupleStore struct {
	tuplestore.Store
	t *testing.T
}

func (s tupleStore) write(writes, deletes []tuplestore.Tuple) uint64 {
	s.t.Helper()
	rev, err := s.Write(s.t.Context(), writes, deletes)
	if err != nil {
		s.t.Fatalf("Write(%d writes, %d deletes): %v", len(writes), len(deletes), err)
	}
	return rev
}

func (s tupleStore) revision() uint64 {
	s.t.Helper()
	rev, err := s.Revision(s.t.Context())
	if err != nil {
		s.t.Fatalf("Revision: %v", err)
	}
	return rev
}

func (s tupleStore) changes(after uint64) []tuplestore.Change {
	s.t.Helper()
	cs, err := s.Changes(s.t.Context(), after)
	if err != nil {
		s.t.Fatalf("Changes(%d): %v", after, err)
	}
	return cs
}

// allChanges pages through Changes from after to the end.
func (s tupleStore) allChanges(after uint64) []tuplestore.Change {
	s.t.Helper()
	var out []tuplestore.Change
	for {
		cs := s.changes(after)
		if len(cs) == 0 {
			return out
		}
		out = append(out, cs...)
		after = cs[len(cs)-1].Revision
	}
}

func (s tupleStore) read(filter, after tuplestore.Tuple, limit int) []tuplestore.Tuple {
	s.t.Helper()
	got, err := s.Read(s.t.Context(), filter, after, limit)
	if err != nil {
		s.t.Fatalf("Read(%+v, after %+v, %d): %v", filter, after, limit, err)
	}
	return got
}

// readAll pages through Read with the given page size.
func (s tupleStore) readAll(filter tuplestore.Tuple, page int) []tuplestore.Tuple {
	s.t.Helper()
	var out []tuplestore.Tuple
	var after tuplestore.Tuple
	for {
		got := s.read(filter, after, page)
		if len(got) > page {
			s.t.Fatalf("Read(%+v, limit %d) returned %d tuples", filter, page, len(got))
		}
		out = append(out, got...)
		if len(got) < page {
			return out
		}
		after = keyOf(got[len(got)-1])
	}
}

func (s tupleStore) snapshot() ([]tuplestore.Tuple, uint64) {
	s.t.Helper()
	var out []tuplestore.Tuple
	rev, err := s.Snapshot(s.t.Context(), func(tp tuplestore.Tuple) error { out = append(out, tp); return nil })
	if err != nil {
		s.t.Fatalf("Snapshot: %v", err)
	}
	slices.SortFunc(out, compareTuples)
	return out, rev
}

// unchanged checks that the store still holds want at revision rev.
func (s tupleStore) unchanged(what string, want []tuplestore.Tuple, rev uint64) {
	s.t.Helper()
	if got := s.revision(); got != rev {
		s.t.Errorf("after %s: revision %d, want %d", what, got, rev)
	}
	if diff := diffTuples(want, s.readAll(tuplestore.Tuple{}, 1000)); diff != "" {
		s.t.Errorf("after %s: tuples (-want +got):\n%s", what, diff)
	}
	if cs := s.changes(rev); len(cs) != 0 {
		s.t.Errorf("after %s: %d changes after revision %d, want none", what, len(cs), rev)
	}
}

// Tuples checks the contract of [tuplestore.Store]: revisions, atomic
// writes and their errors, the change log and its compaction, snapshots
// under concurrent writes, reads, models and concurrent writers.
//
// Compaction is checked with the real limits: a store must keep the
// KeepChanges most recent changes, and must have discarded a revision
// once KeepChanges + MaxWrite changes follow it.
func Tuples(t *testing.T, open func(t *testing.T) tuplestore.Store) {
	store := func(t *testing.T) tupleStore { return tupleStore{open(t), t} }

	t.Run("Empty", func(t *testing.T) {
		s, ctx := store(t), t.Context()
		if rev := s.revision(); rev != 0 {
			t.Errorf("Revision = %d, want 0", rev)
		}
		if m, err := s.Model(ctx); !errors.Is(err, tuplestore.ErrNotFound) {
			t.Errorf("Model = %+v, %v; want ErrNotFound", m, err)
		}
		if rev := s.write(nil, nil); rev != 0 {
			t.Errorf("Write(nothing) = %d, want 0", rev)
		}
		if got, rev := s.snapshot(); len(got) != 0 || rev != 0 {
			t.Errorf("Snapshot = %v at %d, want nothing at 0", got, rev)
		}
		if cs := s.changes(0); len(cs) != 0 {
			t.Errorf("Changes(0) = %v, want none", cs)
		}
		if got := s.read(tuplestore.Tuple{}, tuplestore.Tuple{}, 10); len(got) != 0 {
			t.Errorf("Read = %v, want none", got)
		}
	})

	t.Run("WriteRead", func(t *testing.T) {
		s := store(t)
		long := func(c byte) string { return strings.Repeat(string(c), tuplestore.MaxKeyField) }
		want := []tuplestore.Tuple{
			tupleOf("doc:1", "viewer", "user:anne"),
			{Object: "doc:1", Relation: "viewer", User: "user:bob", Condition: []byte(`{"name":"in_hours","context":{"tz":"UTC"}}`)},
			{Object: "doc:2", Relation: "owner", User: "group:eng#member", Condition: allBytes},
			{Object: "doc:3", Relation: "viewer", User: "user:*", Condition: bytes.Repeat([]byte{'c'}, tuplestore.MaxCondition)},
			{Object: long('o'), Relation: long('r'), User: long('u'), Condition: []byte("{}")},
		}
		if rev := s.write(want, nil); rev != 1 {
			t.Fatalf("first Write = revision %d, want 1", rev)
		}
		if diff := diffTuples(want, s.readAll(tuplestore.Tuple{}, 2)); diff != "" {
			t.Errorf("Read (-want +got):\n%s", diff)
		}
		got, rev := s.snapshot()
		if diff := diffTuples(want, got); diff != "" || rev != 1 {
			t.Errorf("Snapshot at %d, want 1; tuples (-want +got):\n%s", rev, diff)
		}
	})

	t.Run("Revisions", func(t *testing.T) {
		s, ctx := store(t), t.Context()
		for i := range uint64(5) {
			if rev := s.write(manyTuples("r", int(i)*3, 3), nil); rev != i+1 {
				t.Fatalf("Write %d = revision %d, want %d", i+1, rev, i+1)
			}
		}
		if rev := s.write(nil, nil); rev != 5 {
			t.Errorf("Write(nothing) = %d, want 5", rev)
		}
		if rev, err := s.WriteModel(ctx, tuplestore.Model{ID: "m1", Data: []byte("model")}); err != nil || rev != 6 {
			t.Errorf("WriteModel = %d, %v; want 6", rev, err)
		}
		if rev := s.write(nil, manyTuples("r", 0, 1)); rev != 7 {
			t.Errorf("Write(delete) = %d, want 7", rev)
		}
		if rev := s.revision(); rev != 7 {
			t.Errorf("Revision = %d, want 7", rev)
		}
	})

	t.Run("Refused", func(t *testing.T) {
		s, ctx := store(t), t.Context()
		a, b := tupleOf("doc:a", "viewer", "user:1"), tupleOf("doc:b", "viewer", "user:1")
		stored := []tuplestore.Tuple{a, b}
		rev := s.write(stored, nil)
		fresh := tupleOf("doc:new", "viewer", "user:1")
		over := strings.Repeat("x", tuplestore.MaxKeyField+1)
		const planted = "s3cr3t-condition-value"
		secret := []byte(`{"name":"c","context":{"k":"` + planted + `"}}`)
		for _, tc := range []struct {
			name            string
			writes, deletes []tuplestore.Tuple
			want            error
		}{
			{"write stored", []tuplestore.Tuple{{Object: a.Object, Relation: a.Relation, User: a.User, Condition: secret}}, nil, tuplestore.ErrExists},
			{"write stored after fresh", []tuplestore.Tuple{fresh, b}, nil, tuplestore.ErrExists},
			{"write twice", []tuplestore.Tuple{fresh, fresh}, nil, tuplestore.ErrExists},
			{"delete absent", nil, []tuplestore.Tuple{fresh}, tuplestore.ErrMissing},
			{"delete twice", nil, []tuplestore.Tuple{a, a}, tuplestore.ErrMissing},
			{"delete absent, write", []tuplestore.Tuple{fresh}, []tuplestore.Tuple{a, fresh}, tuplestore.ErrMissing},
			{"delete, write stored", []tuplestore.Tuple{fresh, b}, []tuplestore.Tuple{a}, tuplestore.ErrExists},
			{"write then delete is not delete then write", []tuplestore.Tuple{fresh}, []tuplestore.Tuple{fresh}, tuplestore.ErrMissing},
			{"too many", manyTuples("big", 0, tuplestore.MaxWrite), []tuplestore.Tuple{a}, tuplestore.ErrTooLarge},
			{"long object", []tuplestore.Tuple{fresh, tupleOf(over, "viewer", "user:1")}, nil, tuplestore.ErrTooLarge},
			{"long relation", nil, []tuplestore.Tuple{a, tupleOf("doc:a", over, "user:1")}, tuplestore.ErrTooLarge},
			{"long user", []tuplestore.Tuple{tupleOf("doc:a", "viewer", over)}, []tuplestore.Tuple{a}, tuplestore.ErrTooLarge},
			{"long condition", []tuplestore.Tuple{fresh, {Object: "doc:c", Relation: "viewer", User: "user:1",
				Condition: append(bytes.Repeat([]byte(" "), tuplestore.MaxCondition-len(secret)+1), secret...)}}, []tuplestore.Tuple{a}, tuplestore.ErrTooLarge},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.Write(ctx, tc.writes, tc.deletes)
				if !errors.Is(err, tc.want) {
					t.Fatalf("Write = %d, %v; want %v", got, err, tc.want)
				}
				if strings.Contains(err.Error(), planted) {
					t.Errorf("error reveals a condition: %v", err)
				}
				s := tupleStore{s.Store, t}
				s.unchanged("a refused Write", stored, rev)
			})
		}
		// A write of exactly MaxWrite tuples is not too large.
		if got := s.write(manyTuples("max", 0, tuplestore.MaxWrite-1), []tuplestore.Tuple{a}); got != rev+1 {
			t.Errorf("Write(MaxWrite tuples) = %d, want %d", got, rev+1)
		}
	})

	t.Run("DeleteRewrite", func(t *testing.T) {
		s := store(t)
		a := tuplestore.Tuple{Object: "doc:a", Relation: "viewer", User: "user:1", Condition: []byte(`{"name":"old"}`)}
		s.write([]tuplestore.Tuple{a}, nil)
		a2 := a
		a2.Condition = []byte(`{"name":"new"}`)
		rev := s.write([]tuplestore.Tuple{a2}, []tuplestore.Tuple{keyOf(a)})
		if diff := diffTuples([]tuplestore.Tuple{a2}, s.readAll(tuplestore.Tuple{}, 10)); diff != "" {
			t.Errorf("Read after delete and rewrite (-want +got):\n%s", diff)
		}
		want := []tuplestore.Change{{Revision: rev, Op: tuplestore.OpDelete, Tuple: keyOf(a)}, {Revision: rev, Op: tuplestore.OpWrite, Tuple: a2}}
		if diff := gocmp.Diff(want, s.changes(rev-1), equateTuples); diff != "" {
			t.Errorf("Changes (-want +got):\n%s", diff)
		}
		// Deleting with a condition names the key only.
		rev = s.write(nil, []tuplestore.Tuple{a})
		if got := s.readAll(tuplestore.Tuple{}, 10); len(got) != 0 {
			t.Errorf("Read after delete = %v, want none", got)
		}
		if diff := gocmp.Diff([]tuplestore.Change{{Revision: rev, Op: tuplestore.OpDelete, Tuple: keyOf(a)}}, s.changes(rev-1), equateTuples); diff != "" {
			t.Errorf("Changes of a delete (-want +got):\n%s", diff)
		}
	})

	t.Run("ChangesOrder", func(t *testing.T) {
		s, ctx := store(t), t.Context()
		c, d := tupleOf("doc:c", "viewer", "user:1"), tupleOf("doc:d", "viewer", "user:1")
		r1 := s.write([]tuplestore.Tuple{d, c}, nil)
		a := tuplestore.Tuple{Object: "doc:z", Relation: "viewer", User: "user:1", Condition: allBytes}
		b := tupleOf("doc:a", "viewer", "user:1")
		r2 := s.write([]tuplestore.Tuple{a, b}, []tuplestore.Tuple{d, c})
		r3, err := s.WriteModel(ctx, tuplestore.Model{ID: "m1", Data: []byte("m")})
		if err != nil {
			t.Fatal(err)
		}
		want := []tuplestore.Change{
			{Revision: r1, Op: tuplestore.OpWrite, Tuple: d},
			{Revision: r1, Op: tuplestore.OpWrite, Tuple: c},
			{Revision: r2, Op: tuplestore.OpDelete, Tuple: d},
			{Revision: r2, Op: tuplestore.OpDelete, Tuple: c},
			{Revision: r2, Op: tuplestore.OpWrite, Tuple: a},
			{Revision: r2, Op: tuplestore.OpWrite, Tuple: b},
			{Revision: r3, Op: tuplestore.OpModel, ModelID: "m1"},
		}
		if diff := gocmp.Diff(want, s.changes(0), equateTuples); diff != "" {
			t.Errorf("Changes(0) (-want +got):\n%s", diff)
		}
		if diff := gocmp.Diff(want[2:], s.changes(r1), equateTuples); diff != "" {
			t.Errorf("Changes(%d) (-want +got):\n%s", r1, diff)
		}
		for _, after := range []uint64{r3, r3 + 1, 1 << 62, ^uint64(0)} {
			if cs := s.changes(after); len(cs) != 0 {
				t.Errorf("Changes(%d) = %v, want none", after, cs)
			}
		}
	})

	t.Run("ChangesPaging", func(t *testing.T) {
		s := store(t)
		// Revisions of 400, 400, 400, 1500, 999, 1, 5 changes.
		sizes := []int{400, 400, 400, 1500, 999, 1, 5}
		n := 0
		for _, size := range sizes {
			s.write(manyTuples("p", n, size), nil)
			n += size
		}
		// Each call ends at a revision's end, holds at most ChangesMaxHop
		// changes unless one revision alone is larger, and then holds
		// only it.
		for _, tc := range []struct {
			after uint64
			revs  []uint64
		}{{0, []uint64{1, 2}}, {1, []uint64{2, 3}}, {2, []uint64{3}}, {3, []uint64{4}}, {4, []uint64{5, 6}}, {5, []uint64{6, 7}}, {6, []uint64{7}}, {7, nil}} {
			cs := s.changes(tc.after)
			var revs []uint64
			perRev := map[uint64]int{}
			for _, c := range cs {
				if len(revs) == 0 || revs[len(revs)-1] != c.Revision {
					revs = append(revs, c.Revision)
				}
				perRev[c.Revision]++
			}
			if !slices.Equal(revs, tc.revs) {
				t.Errorf("Changes(%d) holds revisions %v, want %v", tc.after, revs, tc.revs)
			}
			for r, got := range perRev {
				if want := sizes[r-1]; got != want {
					t.Errorf("Changes(%d) holds %d changes of revision %d, want all %d", tc.after, got, r, want)
				}
			}
		}
		// Paging to the end replays every write in order.
		all := s.allChanges(0)
		if len(all) != n {
			t.Fatalf("all changes: %d, want %d", len(all), n)
		}
		want := manyTuples("p", 0, n)
		for i, c := range all {
			if c.Op != tuplestore.OpWrite || !sameTuple(c.Tuple, want[i]) {
				t.Fatalf("change %d = %+v, want write of %+v", i, c, want[i])
			}
		}
	})

	t.Run("SnapshotWhileWriting", func(t *testing.T) {
		s := store(t)
		truth := tupleState{}
		initial := manyTuples("s", 0, 5000)
		for _, tp := range initial {
			truth.put(tp)
		}
		s.write(initial, nil)

		stop := make(chan struct{})
		var writes atomic.Int64
		done := make(chan error, 1)
		go func() {
			rng := rand.New(rand.NewPCG(1, 2))
			next := len(initial)
			live := make([]tuplestore.Tuple, len(initial))
			for i, tp := range initial {
				live[i] = keyOf(tp)
			}
			for {
				select {
				case <-stop:
					done <- nil
					return
				default:
				}
				var ws, ds []tuplestore.Tuple
				for range 1 + rng.IntN(4) {
					switch op := rng.IntN(3); {
					case op == 0 || len(live) < 100: // a new tuple
						tp := tuplestore.Tuple{Object: fmt.Sprintf("doc:s%d", next), Relation: "viewer", User: "user:w", Condition: fmt.Appendf(nil, "%d", next)}
						next++
						ws = append(ws, tp)
					case op == 1: // delete
						i := rng.IntN(len(live))
						ds = append(ds, live[i])
						live = slices.Delete(live, i, i+1)
					default: // rewrite with another condition
						i := rng.IntN(len(live))
						tp := live[i]
						live = slices.Delete(live, i, i+1)
						ds = append(ds, tp)
						tp.Condition = fmt.Appendf(nil, `{"v":%d}`, next)
						next++
						ws = append(ws, tp)
					}
				}
				if _, err := s.Write(context.Background(), ws, ds); err != nil {
					done <- err
					return
				}
				for _, tp := range ds {
					delete(truth, keyFor(tp))
				}
				for _, tp := range ws {
					truth.put(tp)
					live = append(live, keyOf(tp))
				}
				writes.Add(1)
			}
		}()

		for writes.Load() < 10 && len(done) == 0 { // the writer is going
			runtime.Gosched()
		}
		seen := tupleState{}
		before := writes.Load()
		rev, err := s.Snapshot(t.Context(), func(tp tuplestore.Tuple) error {
			seen.put(tp)
			return nil
		})
		during := writes.Load()
		for writes.Load() < during+20 { // some writes after the snapshot too
			if len(done) > 0 {
				break
			}
			runtime.Gosched()
		}
		close(stop)
		if err := <-done; err != nil {
			t.Fatalf("concurrent Write: %v", err)
		}
		if err != nil {
			t.Fatalf("Snapshot: %v", err)
		}
		seen.apply(s.allChanges(rev))
		if diff := diffTuples(truth.sorted(), seen.sorted()); diff != "" {
			t.Errorf("Snapshot at %d replayed with Changes (-want +got):\n%s", rev, diff)
		}
		if diff := diffTuples(truth.sorted(), s.readAll(tuplestore.Tuple{}, 777)); diff != "" {
			t.Errorf("Read (-want +got):\n%s", diff)
		}
		t.Logf("%d writes, %d of them while the snapshot ran", writes.Load(), during-before)
	})

	t.Run("SnapshotError", func(t *testing.T) {
		s := store(t)
		s.write(manyTuples("e", 0, 10), nil)
		stopErr := errors.New("stop here")
		calls := 0
		_, err := s.Snapshot(t.Context(), func(tuplestore.Tuple) error { calls++; return stopErr })
		if !errors.Is(err, stopErr) || calls != 1 {
			t.Errorf("Snapshot with a failing fn = %v after %d calls; want its error after 1", err, calls)
		}
	})

	t.Run("Compaction", func(t *testing.T) {
		s := store(t)
		s.write([]tuplestore.Tuple{tupleOf("doc:first", "viewer", "user:1")}, nil)
		// Revisions 2 to 12 of MaxWrite changes each: revision 2 writes
		// MaxWrite tuples, each later one deletes the older half and
		// writes as many new ones.
		half := tuplestore.MaxWrite / 2
		s.write(manyTuples("c", 0, tuplestore.MaxWrite), nil)
		const revs = (tuplestore.KeepChanges + tuplestore.MaxWrite) / tuplestore.MaxWrite
		for r := 1; r < revs; r++ {
			s.write(manyTuples("c", (r+1)*half, half), manyTuples("c", (r-1)*half, half))
		}
		last := s.revision()
		if last != 1+revs {
			t.Fatalf("revision %d, want %d", last, 1+revs)
		}
		if cs, err := s.Changes(t.Context(), 0); !errors.Is(err, tuplestore.ErrCompacted) {
			t.Errorf("Changes(0) after %d more changes = %d changes, %v; want ErrCompacted", revs*tuplestore.MaxWrite, len(cs), err)
		}
		// The KeepChanges most recent changes are kept, and come one
		// revision (larger than a hop) per call.
		after := last - tuplestore.KeepChanges/tuplestore.MaxWrite
		n := 0
		for r := after + 1; r <= last; r++ {
			cs := s.changes(r - 1)
			if len(cs) != tuplestore.MaxWrite || cs[0].Revision != r || cs[len(cs)-1].Revision != r {
				t.Fatalf("Changes(%d): %d changes of revisions %d to %d, want revision %d's %d", r-1, len(cs), cs[0].Revision, cs[len(cs)-1].Revision, r, tuplestore.MaxWrite)
			}
			n += len(cs)
		}
		if n < tuplestore.KeepChanges {
			t.Errorf("kept %d changes, want at least %d", n, tuplestore.KeepChanges)
		}
		// A snapshot still replays.
		got, rev := s.snapshot()
		st := tupleState{}
		for _, tp := range got {
			st.put(tp)
		}
		st.apply(s.allChanges(rev))
		if len(st) != tuplestore.MaxWrite+1 {
			t.Errorf("snapshot at %d holds %d tuples, want %d", rev, len(st), tuplestore.MaxWrite+1)
		}
	})

	t.Run("Read", func(t *testing.T) {
		s := store(t)
		// Objects that share prefixes or hold glob and regexp syntax.
		objects := []string{"doc:1", "doc:10", "doc:1*", "doc:[1]", "doc:1?", "doc:\\1", "doc:1\x01", "folder:1"}
		relations := []string{"viewer", "viewer2", "editor"}
		users := []string{"user:a", "user:a*", "user:b", "group:x#member", "user:*"}
		var all []tuplestore.Tuple
		for i, o := range objects {
			for j, r := range relations {
				for k, u := range users {
					if (i+j+k)%3 == 2 {
						continue
					}
					tp := tupleOf(o, r, u)
					if (i+k)%2 == 0 {
						tp.Condition = fmt.Appendf(nil, `{"name":"c","context":{"o":%q}}`, o)
					}
					all = append(all, tp)
				}
			}
		}
		rng := rand.New(rand.NewPCG(3, 4))
		shuffled := slices.Clone(all)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		s.write(shuffled[:len(shuffled)/2], nil)
		s.write(shuffled[len(shuffled)/2:], nil)
		slices.SortFunc(all, compareTuples)

		match := func(f, tp tuplestore.Tuple) bool {
			return (f.Object == "" || f.Object == tp.Object) && (f.Relation == "" || f.Relation == tp.Relation) && (f.User == "" || f.User == tp.User)
		}
		want := func(f, after tuplestore.Tuple, limit int) []tuplestore.Tuple {
			var out []tuplestore.Tuple
			for _, tp := range all {
				if match(f, tp) && (isZero(after) || compareTuples(tp, after) > 0) && len(out) < limit {
					out = append(out, tp)
				}
			}
			return out
		}
		var filters []tuplestore.Tuple
		for _, o := range []string{"", "doc:1", "doc:1*", "doc:[1]", "folder:1", "doc:nope"} {
			for _, r := range []string{"", "viewer", "editor", "nope"} {
				for _, u := range []string{"", "user:a", "user:*", "group:x#member", "nope"} {
					filters = append(filters, tupleOf(o, r, u))
				}
			}
		}
		afters := []tuplestore.Tuple{{}, all[0], all[len(all)/2], all[len(all)-1], tupleOf("doc:1", "viewer", "user:b"),
			tupleOf("doc:1", "", ""), tupleOf("doc:1*", "viewer2", "zzz"), tupleOf("a", "b", "c"), tupleOf("zzz", "", "")}
		for _, f := range filters {
			for _, after := range afters {
				for _, limit := range []int{1, 3, 1000} {
					if diff := diffTuples(want(f, after, limit), s.read(f, after, limit)); diff != "" {
						t.Fatalf("Read(%q, after %q, %d) (-want +got):\n%s", f, after, limit, diff)
					}
				}
			}
			// Paging by the last tuple returned reads each match once.
			for _, page := range []int{1, 2, 7} {
				if diff := diffTuples(want(f, tuplestore.Tuple{}, len(all)), s.readAll(f, page)); diff != "" {
					t.Fatalf("Read(%q) in pages of %d (-want +got):\n%s", f, page, diff)
				}
			}
		}
		// The filter's condition is ignored.
		f := tuplestore.Tuple{Object: "doc:1", Condition: []byte("ignored")}
		if diff := diffTuples(want(tupleOf("doc:1", "", ""), tuplestore.Tuple{}, 100), s.read(f, tuplestore.Tuple{}, 100)); diff != "" {
			t.Errorf("Read with a condition in the filter (-want +got):\n%s", diff)
		}
	})

	t.Run("Models", func(t *testing.T) {
		s, ctx := store(t), t.Context()
		m1 := tuplestore.Model{ID: "01JZ0000000000000000000001", Data: allBytes}
		m2 := tuplestore.Model{ID: strings.Repeat("m", tuplestore.MaxModelID), Data: bytes.Repeat([]byte("d"), tuplestore.MaxModel)}
		r1, err := s.WriteModel(ctx, m1)
		if err != nil || r1 != 1 {
			t.Fatalf("WriteModel(m1) = %d, %v; want 1", r1, err)
		}
		model := func() tuplestore.Model {
			t.Helper()
			m, err := s.Model(ctx)
			if err != nil {
				t.Fatalf("Model: %v", err)
			}
			return m
		}
		if m := model(); m.ID != m1.ID || !bytes.Equal(m.Data, m1.Data) {
			t.Errorf("Model = %q, %q; want m1 %q, %q", m.ID, m.Data, m1.ID, m1.Data)
		}
		s.write(manyTuples("m", 0, 2), nil)
		r2, err := s.WriteModel(ctx, m2)
		if err != nil || r2 != 3 {
			t.Fatalf("WriteModel(m2) = %d, %v; want 3", r2, err)
		}
		if m := model(); m.ID != m2.ID || !bytes.Equal(m.Data, m2.Data) {
			t.Errorf("Model after m2: ID %.10q, %d bytes; want m2", m.ID, len(m.Data))
		}
		for _, m := range []tuplestore.Model{m1, {ID: m2.ID, Data: []byte("other")}} {
			if rev, err := s.WriteModel(ctx, m); !errors.Is(err, tuplestore.ErrExists) {
				t.Errorf("WriteModel(stored ID %.10q) = %d, %v; want ErrExists", m.ID, rev, err)
			}
		}
		for _, m := range []tuplestore.Model{
			{ID: strings.Repeat("m", tuplestore.MaxModelID+1), Data: []byte("x")},
			{ID: "big", Data: make([]byte, tuplestore.MaxModel+1)},
		} {
			if rev, err := s.WriteModel(ctx, m); !errors.Is(err, tuplestore.ErrTooLarge) {
				t.Errorf("WriteModel(ID %d bytes, data %d bytes) = %d, %v; want ErrTooLarge", len(m.ID), len(m.Data), rev, err)
			}
		}
		if m := model(); m.ID != m2.ID || !bytes.Equal(m.Data, m2.Data) {
			t.Errorf("Model after refused writes: ID %.10q, %d bytes; want m2", m.ID, len(m.Data))
		}
		if rev := s.revision(); rev != r2 {
			t.Errorf("Revision after refused WriteModel = %d, want %d", rev, r2)
		}
		var got []tuplestore.Change
		for _, c := range s.changes(0) {
			if c.Op == tuplestore.OpModel {
				got = append(got, c)
			}
		}
		want := []tuplestore.Change{{Revision: r1, Op: tuplestore.OpModel, ModelID: m1.ID}, {Revision: r2, Op: tuplestore.OpModel, ModelID: m2.ID}}
		if diff := gocmp.Diff(want, got, equateTuples); diff != "" {
			t.Errorf("model changes (-want +got):\n%s", diff)
		}
	})

	t.Run("ConcurrentWrites", func(t *testing.T) {
		s := open(t)
		TuplesConcurrent(t, s, s)
	})

	t.Run("ConcurrentConflict", func(t *testing.T) {
		s := store(t)
		tp := tupleOf("doc:race", "viewer", "user:1")
		const callers = 16
		var wins atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		start := make(chan struct{})
		for range callers {
			wg.Go(func() {
				<-start
				_, err := s.Write(context.Background(), []tuplestore.Tuple{tp}, nil)
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.Is(err, tuplestore.ErrExists):
					errs <- err
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("Write: %v", err)
		}
		if n := wins.Load(); n != 1 {
			t.Errorf("%d of %d concurrent writes of one tuple succeeded, want exactly 1", n, callers)
		}
		if rev := s.revision(); rev != 1 {
			t.Errorf("Revision = %d, want 1", rev)
		}
	})

	t.Run("Cancelled", func(t *testing.T) {
		s := store(t)
		s.write(manyTuples("x", 0, 3), nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := s.Write(ctx, manyTuples("y", 0, 1), nil); err == nil {
			t.Error("Write(cancelled) succeeded")
		}
		if _, err := s.Snapshot(ctx, func(tuplestore.Tuple) error { return nil }); err == nil {
			t.Error("Snapshot(cancelled) succeeded")
		}
		if _, err := s.Changes(ctx, 0); err == nil {
			t.Error("Changes(cancelled) succeeded")
		}
		if _, err := s.Revision(ctx); err == nil {
			t.Error("Revision(cancelled) succeeded")
		}
		if _, err := s.Read(ctx, tuplestore.Tuple{}, tuplestore.Tuple{}, 10); err == nil {
			t.Error("Read(cancelled) succeeded")
		}
		if _, err := s.WriteModel(ctx, tuplestore.Model{ID: "m", Data: []byte("m")}); err == nil {
			t.Error("WriteModel(cancelled) succeeded")
		}
		if _, err := s.Model(ctx); err == nil {
			t.Error("Model(cancelled) succeeded")
		}
		if rev := s.revision(); rev != 1 {
			t.Errorf("Revision after cancelled writes = %d, want 1", rev)
		}
	})
}

// TuplesConcurrent writes from 8 goroutines per handle, all handles on
// one empty store (for a networked backend, several connections as
// several nodes would hold), and checks that every Write got its own
// revision, that they are consecutive and that the change log holds each
// call's tuples under its revision.
func TuplesConcurrent(t *testing.T, handles ...tuplestore.Store) {
	const perHandle, calls = 8, 25
	type result struct {
		rev    uint64
		tuples []tuplestore.Tuple
	}
	var mu sync.Mutex
	var results []result
	var wg sync.WaitGroup
	start := make(chan struct{})
	for h, s := range handles {
		for g := range perHandle {
			wg.Go(func() {
				<-start
				for i := range calls {
					ts := []tuplestore.Tuple{tupleOf(fmt.Sprintf("doc:%d-%d-%d", h, g, i), "viewer", "user:1")}
					if i%5 == 0 {
						ts = append(ts, tupleOf(fmt.Sprintf("doc:%d-%d-%d", h, g, i), "editor", "user:1"))
					}
					rev, err := s.Write(context.Background(), ts, nil)
					if err != nil {
						t.Errorf("Write: %v", err)
						return
					}
					mu.Lock()
					results = append(results, result{rev, ts})
					mu.Unlock()
				}
			})
		}
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	s := tupleStore{handles[0], t}
	n := uint64(len(handles) * perHandle * calls)
	if rev := s.revision(); rev != n {
		t.Errorf("Revision = %d after %d writes, want %d", rev, n, n)
	}
	slices.SortFunc(results, func(a, b result) int { return cmp.Compare(a.rev, b.rev) })
	byRev := map[uint64][]tuplestore.Tuple{}
	for i, r := range results {
		if r.rev != uint64(i)+1 {
			t.Fatalf("revisions returned: %d at position %d, want %d (lost or duplicated)", r.rev, i, i+1)
		}
		byRev[r.rev] = r.tuples
	}
	got := map[uint64][]tuplestore.Tuple{}
	for _, c := range s.allChanges(0) {
		got[c.Revision] = append(got[c.Revision], c.Tuple)
	}
	if diff := gocmp.Diff(byRev, got, equateTuples); diff != "" {
		t.Errorf("changes by revision (-want +got):\n%s", diff)
	}
}

// TuplesBench measures Write of 1 and of 100 new tuples per call, and
// Snapshot of 100,000 tuples, each store from open.
func TuplesBench(b *testing.B, open func(b *testing.B) tuplestore.Store) {
	for _, size := range []int{1, 100} {
		b.Run(fmt.Sprintf("Write%d", size), func(b *testing.B) {
			s := open(b)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if _, err := s.Write(b.Context(), manyTuples("b", n, size), nil); err != nil {
					b.Fatal(err)
				}
				n += size
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tuples/s")
		})
	}
	b.Run("Snapshot100k", func(b *testing.B) {
		const total = 100_000
		s := open(b)
		for i := 0; i < total; i += tuplestore.MaxWrite {
			if _, err := s.Write(b.Context(), manyTuples("b", i, tuplestore.MaxWrite), nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			n := 0
			if _, err := s.Snapshot(b.Context(), func(tuplestore.Tuple) error { n++; return nil }); err != nil || n != total {
				b.Fatalf("Snapshot = %d tuples, %v; want %d", n, err, total)
			}
		}
		b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "tuples/s")
	})
}

// TuplesKeep checks the compaction both backends implement, on a store
// that keeps keep changes instead of KeepChanges: after every write the
// oldest revisions are discarded, whole, exactly while at least keep
// changes remain, and Changes answers ErrCompacted for the discarded
// ones only.
func TuplesKeep(t *testing.T, s tuplestore.Store, keep int) {
	ts := tupleStore{s, t}
	type revision struct {
		rev  uint64
		size int
	}
	var kept []revision // what the store must keep, oldest first
	var floor uint64
	rng := rand.New(rand.NewPCG(5, 6))
	n := 0
	for op := range 40 {
		var rev uint64
		size := 1
		if op%7 == 3 {
			var err error
			if rev, err = s.WriteModel(t.Context(), tuplestore.Model{ID: fmt.Sprintf("m%d", op), Data: []byte("m")}); err != nil {
				t.Fatal(err)
			}
		} else {
			size = 1 + rng.IntN(2*keep+5) // some revisions larger than keep
			rev = ts.write(manyTuples("k", n, size), nil)
			n += size
		}
		kept = append(kept, revision{rev, size})
		total := 0
		for _, r := range kept {
			total += r.size
		}
		for len(kept) > 0 && total-kept[0].size >= keep {
			total -= kept[0].size
			floor, kept = kept[0].rev, kept[1:]
		}
		if floor > 0 {
			if cs, err := s.Changes(t.Context(), floor-1); !errors.Is(err, tuplestore.ErrCompacted) {
				t.Fatalf("after revision %d: Changes(%d) = %d changes, %v; want ErrCompacted", rev, floor-1, len(cs), err)
			}
		}
		var got []revision
		for _, c := range ts.allChanges(floor) {
			if len(got) == 0 || got[len(got)-1].rev != c.Revision {
				got = append(got, revision{c.Revision, 0})
			}
			got[len(got)-1].size++
		}
		if !slices.Equal(kept, got) {
			t.Fatalf("after revision %d: kept revisions and sizes %v, want %v (keep %d)", rev, got, kept, keep)
		}
	}
}

// TuplesInvalid checks the rules both backends add to the contract:
// tuple fields must be non-empty and hold no 0x00, model IDs must be
// non-empty and Read's limit positive. A refused Write applies nothing
// and is none of the contract's errors.
func TuplesInvalid(t *testing.T, s tuplestore.Store) {
	ts, ctx := tupleStore{s, t}, t.Context()
	ok := tupleOf("doc:1", "viewer", "user:1")
	rev := ts.write([]tuplestore.Tuple{ok}, nil)
	for _, bad := range []tuplestore.Tuple{
		tupleOf("", "viewer", "user:1"), tupleOf("doc:2", "", "user:1"), tupleOf("doc:2", "viewer", ""),
		tupleOf("doc:\x002", "viewer", "user:1"), tupleOf("doc:2", "vie\x00wer", "user:1"), tupleOf("doc:2", "viewer", "user:1\x00"),
	} {
		for _, call := range []struct{ writes, deletes []tuplestore.Tuple }{
			{[]tuplestore.Tuple{tupleOf("doc:3", "viewer", "user:1"), bad}, nil},
			{nil, []tuplestore.Tuple{ok, bad}},
		} {
			_, err := s.Write(ctx, call.writes, call.deletes)
			if err == nil || errors.Is(err, tuplestore.ErrExists) || errors.Is(err, tuplestore.ErrMissing) || errors.Is(err, tuplestore.ErrTooLarge) {
				t.Errorf("Write(%q, %q) = %v, want an invalid-tuple error", call.writes, call.deletes, err)
			}
		}
	}
	ts.unchanged("invalid writes", []tuplestore.Tuple{ok}, rev)
	if _, err := s.WriteModel(ctx, tuplestore.Model{Data: []byte("m")}); err == nil {
		t.Error("WriteModel(empty ID) succeeded")
	}
	for _, limit := range []int{0, -1} {
		if got, err := s.Read(ctx, tuplestore.Tuple{}, tuplestore.Tuple{}, limit); err == nil {
			t.Errorf("Read(limit %d) = %v, nil; want an error", limit, got)
		}
	}
}
