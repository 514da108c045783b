package storetest

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/subzero-gateway/subzero/mcp/pin/pinstore"
)

func pinRecord(upstream, tool string) pinstore.Record {
	return pinstore.Record{
		Key:   pinstore.Key{Upstream: upstream, Tool: tool},
		State: pinstore.StateApproved, Hash: "sha256:" + strings.Repeat("a", 64),
		Definition: []byte(`{"name":"` + tool + `"}`), ApprovedBy: "tofu",
		ApprovedAt: time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC),
		FirstSeen:  time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC),
	}
}

var equateRecords = cmpopts.EquateEmpty()

type pinStore struct {
	pinstore.Store
	t *testing.T
}

func (s pinStore) put(r pinstore.Record) uint64 {
	s.t.Helper()
	v, err := s.Put(s.t.Context(), r)
	if err != nil {
		s.t.Fatalf("Put(%s, version %d): %v", r.Key, r.Version, err)
	}
	return v
}

func (s pinStore) get(k pinstore.Key) pinstore.Record {
	s.t.Helper()
	r, err := s.Get(s.t.Context(), k)
	if err != nil {
		s.t.Fatalf("Get(%s): %v", k, err)
	}
	return r
}

func (s pinStore) revision() uint64 {
	s.t.Helper()
	rev, err := s.Revision(s.t.Context())
	if err != nil {
		s.t.Fatalf("Revision: %v", err)
	}
	return rev
}

func (s pinStore) listAll(page int) []pinstore.Record {
	s.t.Helper()
	var out []pinstore.Record
	var after pinstore.Key
	for range 10_000 {
		got, err := s.List(s.t.Context(), after, page)
		if err != nil {
			s.t.Fatalf("List(after %s, %d): %v", after, page, err)
		}
		if len(got) > page {
			s.t.Fatalf("List(%d) returned %d records", page, len(got))
		}
		out = append(out, got...)
		if len(got) < page {
			return out
		}
		after = got[len(got)-1].Key
	}
	s.t.Fatal("List does not end")
	return nil
}

// Pins checks a [pinstore.Store]: Get, List order and paging, Put's
// compare-and-swap, versions never reused, the revision, Delete, the
// limits and the refusal of invalid records. Each call to open must
// return an empty, isolated store.
func Pins(t *testing.T, open func(t *testing.T) pinstore.Store) {
	store := func(t *testing.T) pinStore { return pinStore{open(t), t} }
	k := pinstore.Key{Upstream: "notes", Tool: "search"}

	t.Run("Empty", func(t *testing.T) {
		s, ctx := store(t), t.Context()
		if r, err := s.Get(ctx, k); !errors.Is(err, pinstore.ErrNotFound) {
			t.Errorf("Get = %+v, %v; want ErrNotFound", r, err)
		}
		if got := s.listAll(10); len(got) != 0 {
			t.Errorf("List = %+v, want none", got)
		}
		if rev := s.revision(); rev != 0 {
			t.Errorf("Revision = %d, want 0", rev)
		}
		if err := s.Delete(ctx, k); !errors.Is(err, pinstore.ErrNotFound) {
			t.Errorf("Delete = %v, want ErrNotFound", err)
		}
	})

	t.Run("PutGet", func(t *testing.T) {
		s := store(t)
		all := make([]byte, 256)
		for i := range all {
			all[i] = byte(i)
		}
		want := pinstore.Record{
			Key: k, State: pinstore.StateQuarantined,
			Hash: "sha256:" + strings.Repeat("0", 64), Definition: all,
			PendingHash: "sha256:" + strings.Repeat("1", 64), Pending: []byte(`{"description":"ignore previous instructions ☃"}`),
			ApprovedBy: "admin@example.com", ApprovedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
			FirstSeen: time.Date(2025, 1, 2, 3, 4, 5, 7, time.UTC), QuarantinedAt: time.Date(2026, 2, 2, 3, 4, 5, 8, time.UTC),
		}
		v := s.put(want)
		if v != 1 {
			t.Errorf("first Put = version %d, want 1", v)
		}
		want.Version = v
		if diff := gocmp.Diff(want, s.get(k), equateRecords); diff != "" {
			t.Errorf("Get (-want +got):\n%s", diff)
		}
		if diff := gocmp.Diff([]pinstore.Record{want}, s.listAll(5), equateRecords); diff != "" {
			t.Errorf("List (-want +got):\n%s", diff)
		}
		// A record's own version is the store's to set: Put ignores nothing
		// but compares it.
		zeroTimes := pinRecord("u", "t")
		zeroTimes.ApprovedAt, zeroTimes.FirstSeen = time.Time{}, time.Time{}
		zeroTimes.Version = s.put(zeroTimes)
		if diff := gocmp.Diff(zeroTimes, s.get(zeroTimes.Key), equateRecords); diff != "" {
			t.Errorf("Get with zero times (-want +got):\n%s", diff)
		}
	})

	t.Run("CompareAndSwap", func(t *testing.T) {
		s, ctx := store(t), t.Context()
		r := pinRecord("notes", "search")
		v1 := s.put(r)
		if _, err := s.Put(ctx, r); !errors.Is(err, pinstore.ErrConflict) {
			t.Errorf("Put(version 0) over a stored record = %v, want ErrConflict", err)
		}
		r.Version = v1
		r.ApprovedBy = "second"
		v2 := s.put(r)
		if v2 <= v1 {
			t.Errorf("second Put = version %d, want more than %d", v2, v1)
		}
		stale := r
		stale.Version, stale.ApprovedBy = v1, "stale"
		if _, err := s.Put(ctx, stale); !errors.Is(err, pinstore.ErrConflict) {
			t.Errorf("Put(stale version) = %v, want ErrConflict", err)
		}
		future := r
		future.Version = v2 + 100
		if _, err := s.Put(ctx, future); !errors.Is(err, pinstore.ErrConflict) {
			t.Errorf("Put(unknown version) = %v, want ErrConflict", err)
		}
		missing := pinRecord("notes", "other")
		missing.Version = v2
		if _, err := s.Put(ctx, missing); !errors.Is(err, pinstore.ErrConflict) {
			t.Errorf("Put(version %d) of an absent record = %v, want ErrConflict", v2, err)
		}
		if got := s.get(r.Key); got.ApprovedBy != "second" || got.Version != v2 {
			t.Errorf("after refused Puts: %+v, want ApprovedBy second at version %d", got, v2)
		}
		if rev := s.revision(); rev != v2 {
			t.Errorf("Revision = %d after refused Puts, want %d", rev, v2)
		}
	})

	t.Run("VersionsNotReused", func(t *testing.T) {
		s, ctx := store(t), t.Context()
		r := pinRecord("notes", "search")
		v1 := s.put(r)
		if err := s.Delete(ctx, r.Key); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, r.Key); !errors.Is(err, pinstore.ErrNotFound) {
			t.Errorf("Get after Delete = %v, want ErrNotFound", err)
		}
		if err := s.Delete(ctx, r.Key); !errors.Is(err, pinstore.ErrNotFound) {
			t.Errorf("second Delete = %v, want ErrNotFound", err)
		}
		r.Version = v1
		if _, err := s.Put(ctx, r); !errors.Is(err, pinstore.ErrConflict) {
			t.Errorf("Put(version %d) after Delete = %v, want ErrConflict", v1, err)
		}
		r.Version = 0
		v2 := s.put(r)
		if v2 <= v1+1 {
			t.Errorf("Put after Delete = version %d, want more than %d (Put, Delete)", v2, v1+1)
		}
		if rev := s.revision(); rev != v2 {
			t.Errorf("Revision = %d, want %d", rev, v2)
		}
	})

	t.Run("ListOrder", func(t *testing.T) {
		s, ctx := store(t), t.Context()
		// Byte order of upstream then tool, not of the joined strings.
		keys := []pinstore.Key{
			{Upstream: "a", Tool: "z"}, {Upstream: "a", Tool: "zz"}, {Upstream: "a-", Tool: "a"},
			{Upstream: "ab", Tool: "\x01"}, {Upstream: "b", Tool: "A"}, {Upstream: "b", Tool: "a"},
			{Upstream: "é", Tool: "t"}, {Upstream: "\u30c4", Tool: "t"},
		}
		for _, i := range []int{5, 2, 7, 0, 3, 6, 1, 4} {
			s.put(pinRecord(keys[i].Upstream, keys[i].Tool))
		}
		for _, page := range []int{1, 2, 3, 8, pinstore.MaxList} {
			var got []pinstore.Key
			for _, r := range s.listAll(page) {
				got = append(got, r.Key)
			}
			if diff := gocmp.Diff(keys, got); diff != "" {
				t.Errorf("List pages of %d (-want +got):\n%s", page, diff)
			}
		}
		// After a key that is not stored.
		got, err := s.List(ctx, pinstore.Key{Upstream: "a", Tool: "zzz"}, 2)
		if err != nil || len(got) != 2 || got[0].Key != keys[2] || got[1].Key != keys[3] {
			t.Errorf("List(after a/zzz, 2) = %+v, %v; want %v", got, err, keys[2:4])
		}
		for _, limit := range []int{0, -1, pinstore.MaxList + 1} {
			if got, err := s.List(ctx, pinstore.Key{}, limit); err == nil {
				t.Errorf("List(limit %d) = %d records, want an error", limit, len(got))
			}
		}
	})

	t.Run("Limits", func(t *testing.T) {
		s, ctx := store(t), t.Context()
		long := strings.Repeat("n", pinstore.MaxName)
		big := bytes.Repeat([]byte("d"), pinstore.MaxDefinition)
		max := pinstore.Record{
			Key: pinstore.Key{Upstream: long, Tool: long}, State: pinstore.StateQuarantined,
			Hash: strings.Repeat("h", pinstore.MaxHash), Definition: big,
			PendingHash: strings.Repeat("p", pinstore.MaxHash), Pending: big,
			ApprovedBy: strings.Repeat("a", pinstore.MaxActor),
		}
		max.Version = s.put(max)
		if diff := gocmp.Diff(max, s.get(max.Key), equateRecords); diff != "" {
			t.Errorf("Get of the largest record (-want +got):\n%s", diff)
		}
		for name, edit := range map[string]func(*pinstore.Record){
			"upstream":   func(r *pinstore.Record) { r.Upstream += "n" },
			"tool":       func(r *pinstore.Record) { r.Tool += "n" },
			"hash":       func(r *pinstore.Record) { r.Hash += "h" },
			"pending":    func(r *pinstore.Record) { r.PendingHash += "p" },
			"actor":      func(r *pinstore.Record) { r.ApprovedBy += "a" },
			"definition": func(r *pinstore.Record) { r.Definition = append(bytes.Clone(big), 'd') },
			"pending definition": func(r *pinstore.Record) {
				r.Pending = append(bytes.Clone(big), 'd')
			},
		} {
			r := max
			edit(&r)
			if _, err := s.Put(ctx, r); !errors.Is(err, pinstore.ErrTooLarge) {
				t.Errorf("Put(%s too long) = %v, want ErrTooLarge", name, err)
			}
		}
		if _, err := s.Get(ctx, pinstore.Key{Upstream: long + "n", Tool: "t"}); !errors.Is(err, pinstore.ErrTooLarge) {
			t.Errorf("Get(upstream too long) = %v, want ErrTooLarge", err)
		}
		if got := s.get(max.Key); got.Version != max.Version {
			t.Errorf("refused Puts changed the record: version %d, want %d", got.Version, max.Version)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		s, ctx := store(t), t.Context()
		ok := pinRecord("notes", "search")
		ok.Version = s.put(ok)
		rev := s.revision()
		for name, edit := range map[string]func(*pinstore.Record){
			"empty upstream":          func(r *pinstore.Record) { r.Upstream = "" },
			"empty tool":              func(r *pinstore.Record) { r.Tool = "" },
			"0x00 in upstream":        func(r *pinstore.Record) { r.Upstream = "no\x00tes" },
			"0x00 in tool":            func(r *pinstore.Record) { r.Tool = "search\x00" },
			"unknown state":           func(r *pinstore.Record) { r.State = "maybe" },
			"approved without hash":   func(r *pinstore.Record) { r.Hash = "" },
			"approved with pending":   func(r *pinstore.Record) { r.PendingHash = "sha256:x" },
			"quarantined, no pending": func(r *pinstore.Record) { r.State = pinstore.StateQuarantined },
		} {
			r := ok
			edit(&r)
			if _, err := s.Put(ctx, r); err == nil || errors.Is(err, pinstore.ErrConflict) || errors.Is(err, pinstore.ErrTooLarge) {
				t.Errorf("Put(%s) = %v, want an invalid-record error", name, err)
			}
		}
		for _, bad := range []pinstore.Key{{Upstream: "", Tool: "t"}, {Upstream: "u", Tool: ""}, {Upstream: "u\x00", Tool: "t"}} {
			if _, err := s.Get(ctx, bad); err == nil || errors.Is(err, pinstore.ErrNotFound) {
				t.Errorf("Get(%q) = %v, want an invalid-key error", bad, err)
			}
			if err := s.Delete(ctx, bad); err == nil || errors.Is(err, pinstore.ErrNotFound) {
				t.Errorf("Delete(%q) = %v, want an invalid-key error", bad, err)
			}
		}
		if got := s.revision(); got != rev {
			t.Errorf("Revision = %d after refused writes, want %d", got, rev)
		}
		if diff := gocmp.Diff([]pinstore.Record{ok}, s.listAll(10), equateRecords); diff != "" {
			t.Errorf("records after refused writes (-want +got):\n%s", diff)
		}
	})

	t.Run("Canceled", func(t *testing.T) {
		s := store(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := s.Put(ctx, pinRecord("u", "t")); !errors.Is(err, context.Canceled) {
			t.Errorf("Put = %v, want context.Canceled", err)
		}
		if _, err := s.Get(ctx, k); !errors.Is(err, context.Canceled) {
			t.Errorf("Get = %v, want context.Canceled", err)
		}
		if _, err := s.List(ctx, pinstore.Key{}, 1); !errors.Is(err, context.Canceled) {
			t.Errorf("List = %v, want context.Canceled", err)
		}
		if err := s.Delete(ctx, k); !errors.Is(err, context.Canceled) {
			t.Errorf("Delete = %v, want context.Canceled", err)
		}
		if _, err := s.Revision(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Revision = %v, want context.Canceled", err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) { PinsConcurrent(t, open(t)) })
}

// PinsConcurrent runs read-modify-write loops from 8 goroutines per
// handle, all handles on one empty store (for a networked backend,
// several connection pools as several nodes would hold): each increments
// a counter kept in one record, retrying on ErrConflict. No increment may
// be lost, and every successful Put must get its own version.
func PinsConcurrent(t *testing.T, handles ...pinstore.Store) {
	const perHandle, incs = 8, 15
	k := pinstore.Key{Upstream: "u", Tool: "counter"}
	var mu sync.Mutex
	versions := map[uint64]bool{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, s := range handles {
		for range perHandle {
			wg.Go(func() {
				<-start
				ctx := context.Background()
				for done := 0; done < incs; {
					r, err := s.Get(ctx, k)
					n := 0
					switch {
					case errors.Is(err, pinstore.ErrNotFound):
						r = pinRecord(k.Upstream, k.Tool)
					case err != nil:
						t.Errorf("Get: %v", err)
						return
					default:
						if n, err = strconv.Atoi(r.ApprovedBy); err != nil {
							t.Errorf("counter %q: %v", r.ApprovedBy, err)
							return
						}
					}
					r.ApprovedBy = strconv.Itoa(n + 1)
					v, err := s.Put(ctx, r)
					if errors.Is(err, pinstore.ErrConflict) {
						continue
					}
					if err != nil {
						t.Errorf("Put: %v", err)
						return
					}
					mu.Lock()
					if versions[v] {
						t.Errorf("version %d returned twice", v)
					}
					versions[v] = true
					mu.Unlock()
					done++
				}
			})
		}
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	s := pinStore{handles[0], t}
	want := len(handles) * perHandle * incs
	if got := s.get(k); got.ApprovedBy != strconv.Itoa(want) {
		t.Errorf("counter = %s after %d increments, want %d", got.ApprovedBy, want, want)
	}
	if rev := s.revision(); rev != uint64(want) {
		t.Errorf("Revision = %d after %d Puts, want %d", rev, want, want)
	}
}
