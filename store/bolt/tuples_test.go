package bolt

import (
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/subzero-gateway/subzero/delegation/rebac/tuplestore"
	"github.com/subzero-gateway/subzero/store/storetest"
)

func TestTuplesKeep(t *testing.T) {
	db := openReplay(t)
	storetest.TuplesKeep(t, &TupleStore{db: db.db, keep: 10}, 10)
	// The stored count matches the log.
	err := db.db.View(func(tx *bbolt.Tx) error {
		tt := viewTuples(tx)
		if got, want := tt.meta64(metaChanges), uint64(tt.changes.Stats().KeyN); got != want {
			t.Errorf("meta changes = %d, log holds %d", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTuplesInvalid(t *testing.T) { storetest.TuplesInvalid(t, openReplay(t).Tuples()) }

// TestTuplesReopen checks that tuples, the revision, the change log and
// the model survive closing the file.
func TestTuplesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subzero.db")
	db, err := Open(path, time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	s := db.Tuples()
	want := []tuplestore.Tuple{{Object: "doc:1", Relation: "viewer", User: "user:1", Condition: []byte(`{"name":"c"}`)}}
	if _, err := s.Write(ctx, want, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteModel(ctx, tuplestore.Model{ID: "m1", Data: []byte("model")}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s = db.Tuples()
	if rev, err := s.Revision(ctx); err != nil || rev != 2 {
		t.Errorf("Revision = %d, %v; want 2", rev, err)
	}
	if m, err := s.Model(ctx); err != nil || m.ID != "m1" || string(m.Data) != "model" {
		t.Errorf("Model = %+v, %v; want m1", m, err)
	}
	if got, err := s.Read(ctx, tuplestore.Tuple{}, tuplestore.Tuple{}, 10); err != nil || len(got) != 1 || string(got[0].Condition) != `{"name":"c"}` {
		t.Errorf("Read = %+v, %v; want %+v", got, err, want)
	}
	if cs, err := s.Changes(ctx, 0); err != nil || len(cs) != 2 {
		t.Errorf("Changes(0) = %+v, %v; want 2 changes", cs, err)
	}
}

func BenchmarkTuples(b *testing.B) {
	storetest.TuplesBench(b, func(b *testing.B) tuplestore.Store { return openReplay(b).Tuples() })
}
