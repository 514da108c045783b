package rebac

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/subzero-gateway/subzero/delegation/rebac/tuplestore"
)

func check(t *testing.T, e *Engine, req CheckRequest) bool {
	t.Helper()
	got, err := e.Check(t.Context(), req)
	if err != nil {
		t.Fatalf("check %s %s %s: %v", req.User, req.Relation, req.Object, err)
	}
	return got.Allowed
}

func TestSyncFollowsAnotherEngine(t *testing.T) {
	ctx := t.Context()
	store := openBoltTuples(t)
	a, err := New(ctx, store, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(ctx, store, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.WriteModel(ctx, []byte(docModel)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write(ctx, tups("user:anne owner document:1"), nil); err != nil {
		t.Fatal(err)
	}
	req := CheckRequest{User: "user:anne", Relation: "viewer", Object: "document:1"}
	if _, err := b.Check(ctx, req); !isCode(err, CodeNoModel) {
		t.Fatalf("before sync: %v, want CodeNoModel", err)
	}
	gen := b.Generation()
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if b.Generation() == gen {
		t.Error("generation unchanged by sync")
	}
	if !check(t, b, req) {
		t.Error("b does not see a's write after Sync")
	}
	am, _ := a.Model()
	bm, _ := b.Model()
	if am.ID != bm.ID || am.Revision != bm.Revision {
		t.Errorf("models differ: %+v, %+v", am, bm)
	}
	// A delete reaches b too.
	if _, err := a.Write(ctx, nil, tups("user:anne owner document:1")); err != nil {
		t.Fatal(err)
	}
	gen = b.Generation()
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if check(t, b, req) {
		t.Error("b still allows after a deleted the tuple")
	}
	if b.Generation() == gen {
		t.Error("generation unchanged by sync")
	}
	// Nothing new: the generation stays.
	gen = b.Generation()
	if err := b.Sync(ctx); err != nil || b.Generation() != gen {
		t.Errorf("idle sync: %v, generation %d -> %d", err, gen, b.Generation())
	}
}

func isCode(err error, code ErrorCode) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

func TestAtLeast(t *testing.T) {
	ctx := t.Context()
	store := openBoltTuples(t)
	a := newTestEngineOn(t, store, Options{})
	b := newTestEngineOn(t, store, Options{SyncWait: 20 * time.Millisecond})
	if _, err := a.WriteModel(ctx, []byte(docModel)); err != nil {
		t.Fatal(err)
	}
	tok, err := a.Write(ctx, tups("user:anne owner document:1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req := CheckRequest{User: "user:anne", Relation: "viewer", Object: "document:1", AtLeast: tok}
	// b has not synced; the token makes it.
	got, err := b.Check(ctx, req)
	if err != nil || !got.Allowed {
		t.Fatalf("check at %s: %v, %v; want allowed", tok, got.Allowed, err)
	}
	if got.Revision != tok {
		t.Errorf("revision %q, want %q", got.Revision, tok)
	}
	// A revision the store has not reached: stale after SyncWait.
	rev, _ := parseToken(tok)
	start := time.Now()
	_, err = b.Check(ctx, CheckRequest{User: "user:anne", Relation: "viewer", Object: "document:1", AtLeast: revisionToken(rev + 100)})
	wantCode(t, err, CodeStale)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stale after %s", d)
	}
	_, err = b.Check(ctx, CheckRequest{User: "user:anne", Relation: "viewer", Object: "document:1", AtLeast: "not-a-token"})
	wantCode(t, err, CodeValidation)
	_, err = b.ListObjects(ctx, ListObjectsRequest{User: "user:anne", Relation: "viewer", Type: "document", AtLeast: revisionToken(rev + 100)})
	wantCode(t, err, CodeStale)
}

func newTestEngineOn(t *testing.T, store TupleStore, opts Options) *Engine {
	t.Helper()
	e, err := New(t.Context(), store, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestWriteIsAtomic(t *testing.T) {
	e := newTestEngine(t, Options{}, docModel, tups("user:anne owner document:1")...)
	ctx := t.Context()
	before := e.Revision()
	tests := []struct {
		name    string
		writes  []Tuple
		deletes []Tuple
		code    ErrorCode
		field   string
	}{
		{"bad type", tups("user:bob viewer document:2", "user:bob viewer file:1"), nil, CodeInvalidTuple, "writes[1]"},
		{"not allowed", tups("user:bob viewer document:2", "user:* owner document:2"), nil, CodeInvalidTuple, "writes[1]"},
		{"malformed delete", tups("user:bob viewer document:2"), []Tuple{{User: "bob", Relation: "viewer", Object: "document:1"}}, CodeValidation, "deletes[0]"},
		{"exists", tups("user:bob viewer document:2", "user:anne owner document:1"), nil, CodeConflict, "writes"},
		{"missing delete", tups("user:bob viewer document:2"), tups("user:zed owner document:1"), CodeConflict, "deletes"},
		{"twice", tups("user:bob viewer document:2", "user:bob viewer document:2"), nil, CodeValidation, "writes[1]"},
		{"condition not in the model", []Tuple{{User: "user:bob", Relation: "viewer", Object: "document:2", Condition: &TupleCondition{Name: "nope"}}}, nil, CodeValidation, "writes[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Write(ctx, tt.writes, tt.deletes)
			wantCode(t, err, tt.code)
			var ee *Error
			errors.As(err, &ee)
			if !strings.HasPrefix(ee.Field, tt.field) {
				t.Errorf("field %q, want prefix %q", ee.Field, tt.field)
			}
			if check(t, e, CheckRequest{User: "user:bob", Relation: "viewer", Object: "document:2"}) {
				t.Error("a tuple of the failed write was applied")
			}
			if got, err := e.Read(ctx, Tuple{User: "user:bob"}, 10); err != nil || len(got) != 0 {
				t.Errorf("store holds %v, %v after a failed write", got, err)
			}
			if e.Revision() != before {
				t.Errorf("revision %s -> %s", before, e.Revision())
			}
		})
	}
}

func TestWriteDeleteRead(t *testing.T) {
	e := newTestEngine(t, Options{}, officeModel)
	ctx := t.Context()
	office := &TupleCondition{Name: "in_office", Context: map[string]any{"cidr": "10.0.0.0/8"}}
	w := []Tuple{ // in key order: object, relation, user
		{User: "user:bob", Relation: "editor", Object: "document:1"},
		{User: "user:anne", Relation: "viewer", Object: "document:1", Condition: office},
	}
	tok1, err := e.Write(ctx, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Read(ctx, Tuple{Object: "document:1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(w, got); diff != "" {
		t.Errorf("read (-want +got):\n%s", diff)
	}
	if !check(t, e, CheckRequest{User: "user:anne", Relation: "viewer", Object: "document:1", Context: map[string]any{"ip": "10.0.0.1"}}) {
		t.Error("anne not allowed")
	}
	tok2, err := e.Write(ctx, nil, tups("user:bob editor document:1"))
	if err != nil {
		t.Fatal(err)
	}
	if tok1 == tok2 {
		t.Error("one token for two writes")
	}
	if check(t, e, CheckRequest{User: "user:bob", Relation: "viewer", Object: "document:1"}) {
		t.Error("bob allowed after delete")
	}
	// Replace a tuple's condition: delete and write in one call.
	_, err = e.Write(ctx, []Tuple{{User: "user:anne", Relation: "viewer", Object: "document:1"}}, tups("user:anne viewer document:1"))
	wantCode(t, err, CodeValidation) // the model requires the condition
}

func TestDeleteAfterModelChange(t *testing.T) {
	e := newTestEngine(t, Options{}, docModel, tups("user:anne blocked document:1")...)
	ctx := t.Context()
	if _, err := e.WriteModel(ctx, []byte("model\n  schema 1.1\ntype user\ntype document\n  relations\n    define viewer: [user]\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Write(ctx, nil, tups("user:anne blocked document:1")); err != nil {
		t.Fatalf("deleting a tuple the new model does not admit: %v", err)
	}
}

func TestWriteModel(t *testing.T) {
	e := newTestEngine(t, Options{}, docModel)
	ctx := t.Context()
	m1, _ := e.Model()
	m2, err := e.WriteModel(ctx, []byte(officeModel))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []ModelInfo{m1, m2} {
		id, err := uuid.Parse(m.ID)
		if err != nil || id.Version() != 7 {
			t.Errorf("model ID %q is not a UUIDv7 (%v)", m.ID, err)
		}
	}
	if m1.ID >= m2.ID {
		t.Errorf("model IDs not time-ordered: %s, %s", m1.ID, m2.ID)
	}
	cur, err := e.Model()
	if err != nil || cur.ID != m2.ID || !strings.Contains(cur.DSL, "condition in_office") {
		t.Errorf("Model() = %+v, %v", cur, err)
	}
	_, err = e.WriteModel(ctx, []byte("model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define viewer: [nope]\n"))
	if err == nil {
		t.Fatal("bad model accepted")
	}
	if cur2, _ := e.Model(); cur2.ID != m2.ID {
		t.Error("a rejected model replaced the current one")
	}
}

func TestNewLoadsSnapshot(t *testing.T) {
	ctx := t.Context()
	store := openBoltTuples(t)
	a := newTestEngineOn(t, store, Options{})
	if _, err := a.WriteModel(ctx, []byte(docModel)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write(ctx, tups("user:anne owner document:1", "group:eng#member viewer document:2", "user:bob member group:eng"), nil); err != nil {
		t.Fatal(err)
	}
	b := newTestEngineOn(t, store, Options{})
	if !check(t, b, CheckRequest{User: "user:anne", Relation: "viewer", Object: "document:1"}) ||
		!check(t, b, CheckRequest{User: "user:bob", Relation: "viewer", Object: "document:2"}) {
		t.Error("a new engine does not see the stored tuples")
	}
	if a.Revision() != b.Revision() {
		t.Errorf("revisions %s, %s", a.Revision(), b.Revision())
	}
}

// compactingStore is a TupleStore whose Changes reports ErrCompacted
// while compacted is set.
type compactingStore struct {
	TupleStore
	compacted bool
}

func (s *compactingStore) Changes(ctx context.Context, after uint64) ([]tuplestore.Change, error) {
	if s.compacted {
		s.compacted = false
		return nil, tuplestore.ErrCompacted
	}
	return s.TupleStore.Changes(ctx, after)
}

func TestSyncReloadsWhenCompacted(t *testing.T) {
	ctx := t.Context()
	store := openBoltTuples(t)
	a := newTestEngineOn(t, store, Options{})
	if _, err := a.WriteModel(ctx, []byte(docModel)); err != nil {
		t.Fatal(err)
	}
	cs := &compactingStore{TupleStore: store}
	b := newTestEngineOn(t, cs, Options{})
	if _, err := a.Write(ctx, tups("user:anne owner document:1"), nil); err != nil {
		t.Fatal(err)
	}
	cs.compacted = true
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if cs.compacted {
		t.Fatal("Changes not called")
	}
	if !check(t, b, CheckRequest{User: "user:anne", Relation: "viewer", Object: "document:1"}) {
		t.Error("the reloaded index misses the write")
	}
	if a.Revision() != b.Revision() {
		t.Errorf("revisions %s, %s", a.Revision(), b.Revision())
	}
}

func TestClose(t *testing.T) {
	e := newTestEngine(t, Options{}, docModel)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(t.Context()); !errors.Is(err, errClosed) {
		t.Errorf("sync after close: %v", err)
	}
	if _, err := e.Write(t.Context(), tups("user:anne owner document:1"), nil); err == nil {
		t.Error("write after close succeeded")
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{{MaxDepth: -1}, {MaxDepth: maxMaxDepth + 1}, {MaxFanOut: -1}, {MaxListResult: -1}, {MaxBatch: -1}, {SyncWait: -1}} {
		if _, err := New(t.Context(), openBoltTuples(t), o, nil); err == nil {
			t.Errorf("New accepted %+v", o)
		}
	}
}

// TestIndexEdits applies random writes and deletes through editors, with
// enough distinct keys to merge the deltas into new bases several times,
// and compares every lookup with a plain map.
func TestIndexEdits(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	type key struct{ o, r, u string }
	want := map[key][]byte{}
	x := newIndex(nil)
	users := func() string {
		switch rng.IntN(10) {
		case 0:
			return "user:*"
		case 1:
			return fmt.Sprintf("group:g%d#member", rng.IntN(50))
		}
		return fmt.Sprintf("user:u%d", rng.IntN(6000))
	}
	cond := []byte(`{"name":"c","context":{"x":1}}`)
	for round := range 40 {
		ed := newEditor(x)
		for range 500 {
			k := key{fmt.Sprintf("doc:d%d", rng.IntN(2000)), []string{"viewer", "editor", "owner"}[rng.IntN(3)], users()}
			t := tuplestore.Tuple{Object: k.o, Relation: k.r, User: k.u}
			if rng.IntN(3) == 0 {
				ed.remove(t)
				delete(want, k)
				continue
			}
			if rng.IntN(4) == 0 {
				t.Condition = cond
			}
			if err := ed.write(t); err != nil {
				panic(err)
			}
			want[k] = t.Condition
		}
		x = ed.done()
		if round%10 != 9 {
			continue
		}
		// Compare both directions and the conditions.
		if x.tuples != len(want) {
			t.Fatalf("round %d: %d tuples, want %d", round, x.tuples, len(want))
		}
		got := map[key][]byte{}
		x.fwd.each(func(or uint64, l []uint64) {
			for _, s := range l {
				k := key{x.objString(objrelObj(or)), x.names.str(objrelRel(or)), x.objString(subjObj(s))}
				if r := subjRel(s); r != 0 {
					k.u += "#" + x.names.str(r)
				}
				var c []byte
				if s&flagCond != 0 {
					ce := x.cond(or, s)
					if ce == nil {
						t.Fatalf("round %d: %v flagged conditioned without a condition", round, k)
					}
					c = cond
				}
				got[k] = c
				e, ok := x.fwd.member(or, s&^flagMask)
				if !ok || e != s {
					t.Fatalf("round %d: member(%v) = %x, %v; want %x", round, k, e, ok, s)
				}
				if !slices.Contains(x.rev.get(s&^flagMask), or) {
					t.Fatalf("round %d: %v missing from the reverse map", round, k)
				}
			}
		})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("round %d: index (-want +got):\n%s", round, diff)
		}
		n := 0
		x.rev.each(func(_ uint64, l []uint64) { n += len(l) })
		if n != len(want) {
			t.Fatalf("round %d: %d reverse entries, want %d", round, n, len(want))
		}
	}
	if x.fwd.base == nil || x.rev.base == nil || x.strs.base == nil {
		t.Error("no delta was merged into a base: the test covers less than it should")
	}
}

// member answers membership through the list or the member set, as the
// checker does.
func (m *mmap) member(k, subj uint64) (uint64, bool) {
	l, _, big := m.lookup(k)
	if big {
		return m.members.get(k, subj)
	}
	return findSubject(l, subj)
}

// TestReadersDuringWrites runs checks and lists while writes add and
// remove tuples, enough of them to merge the deltas into new bases, so
// that the race detector sees readers and the writer share versions. A
// user granted before the readers start stays granted throughout.
func TestReadersDuringWrites(t *testing.T) {
	e := newTestEngine(t, Options{}, docModel, tups("user:anne owner document:0", "group:eng#member viewer document:0", "user:bob member group:eng")...)
	ctx := t.Context()
	done := make(chan struct{})
	errs := make(chan error, 3)
	for range 2 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				for _, u := range []string{"user:anne", "user:bob"} {
					got, err := e.Check(ctx, CheckRequest{User: u, Relation: "viewer", Object: "document:0"})
					if err != nil || !got.Allowed {
						errs <- fmt.Errorf("check %s: %v, %v", u, got.Allowed, err)
						return
					}
				}
				objs, err := e.ListObjects(ctx, ListObjectsRequest{User: "user:anne", Relation: "viewer", Type: "document"})
				if err != nil || !slices.Contains(objs, "document:0") {
					errs <- fmt.Errorf("list objects: %v, %v", len(objs), err)
					return
				}
				if _, err := e.ListUsers(ctx, ListUsersRequest{Object: "document:0", Relation: "viewer", Filters: []string{"user"}}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	n := 60
	if testing.Short() {
		n = 10
	}
	for i := range n {
		var w, d []Tuple
		for j := range 100 {
			w = append(w, tup(fmt.Sprintf("user:u%d viewer document:%d", j, i*100+j+1)))
			if i > 0 && j%2 == 0 {
				d = append(d, tup(fmt.Sprintf("user:u%d viewer document:%d", j, (i-1)*100+j+1)))
			}
		}
		if _, err := e.Write(ctx, w, d); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	objs, err := e.ListObjects(ctx, ListObjectsRequest{User: "user:u1", Relation: "viewer", Type: "document"})
	if err != nil || len(objs) != n {
		t.Errorf("user:u1 lists %d documents (%v), want %d", len(objs), err, n)
	}
}
