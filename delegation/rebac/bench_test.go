package rebac

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/delegation/rebac/tuplestore"
)

// The benchmark model: GitHub-like, org -> team -> repo, with repo
// permissions from direct grants, team membership (nested teams) and org
// roles through three levels of tuple to userset.
const benchModel = `model
  schema 1.1
type user
type org
  relations
    define admin: [user]
    define member: [user] or admin
type team
  relations
    define org: [org]
    define maintainer: [user] or admin from org
    define member: [user, team#member] or maintainer
type repo
  relations
    define org: [org]
    define team: [team]
    define admin: [user, team#member] or admin from org or maintainer from team
    define writer: [user, team#member] or admin or member from team
    define reader: [user, team#member] or writer or member from org
`

// benchData is a generated data set and the engine loaded with it.
type benchData struct {
	e       *Engine
	tuples  int
	bytes   float64 // index heap bytes per tuple
	checks  []CheckRequest
	lister  string // a user with reader on listN repos out of all
	listN   int
	nRepos  int
	buildMS float64
}

var (
	benchMu    sync.Mutex
	benchCache = map[int]*benchData{}
)

// genTuples generates about n tuples of the benchmark model.
func genTuples(n int, rng *rand.Rand) (tuples []tuplestore.Tuple, users, repos, teams int) {
	users = max(n/10, 10)
	orgs := max(n/50_000, 1)
	teams = max(n/50, 5)
	repos = max(n/10, 10)
	tuples = make([]tuplestore.Tuple, 0, n+n/8)
	add := func(obj, rel, user string) {
		tuples = append(tuples, tuplestore.Tuple{Object: obj, Relation: rel, User: user})
	}
	u := func(i int) string { return "user:u" + strconv.Itoa(i) }
	org := func(i int) string { return "org:o" + strconv.Itoa(i) }
	team := func(i int) string { return "team:t" + strconv.Itoa(i) }
	repo := func(i int) string { return "repo:r" + strconv.Itoa(i) }
	for i := range users { // every user in one org
		add(org(i%orgs), "member", u(i))
	}
	for o := range orgs {
		for a := range 3 {
			add(org(o), "admin", u(rng.IntN(users)+a*0))
		}
	}
	for t := range teams {
		add(team(t), "org", org(t%orgs))
		if t%10 == 9 { // nested teams
			add(team(t), "member", team(rng.IntN(teams))+"#member")
		}
		add(team(t), "maintainer", u(rng.IntN(users)))
	}
	for r := range repos {
		add(repo(r), "org", org(r%orgs))
		add(repo(r), "team", team(rng.IntN(teams)))
		if r%2 == 0 {
			add(repo(r), "writer", team(rng.IntN(teams))+"#member")
		}
	}
	// The rest: team members and direct repo grants, 3:1.
	rels := []string{"reader", "writer", "admin"}
	for len(tuples) < n {
		if rng.IntN(4) < 3 {
			add(team(rng.IntN(teams)), "member", u(rng.IntN(users)))
		} else {
			add(repo(rng.IntN(repos)), rels[rng.IntN(3)], u(rng.IntN(users)))
		}
	}
	return tuples, users, repos, teams
}

// loadIndex replaces e's index with one built from tuples, keeping the
// model's name IDs, as New does from a snapshot.
func loadIndex(e *Engine, tuples []tuplestore.Tuple) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.cur.Load()
	b := newBulk(v.x.names, len(tuples))
	for _, t := range tuples {
		if err := b.add(t); err != nil {
			panic(err)
		}
	}
	e.publish(b.build(), v.model, v.rev)
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// benchEngine returns the engine with about n tuples, built once per
// size and process.
func benchEngine(b *testing.B, n int) *benchData {
	benchMu.Lock()
	defer benchMu.Unlock()
	if d := benchCache[n]; d != nil {
		return d
	}
	ctx := context.Background()
	e, err := New(ctx, openBoltTuples(b), Options{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.WriteModel(ctx, []byte(benchModel)); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(42, uint64(n)))
	start := time.Now()
	before := heapInUse()
	tuples, users, repos, teams := genTuples(n, rng)
	// A user who reads listN repos, through one team, and nothing else.
	listN := min(1000, repos/2)
	lister := "user:lister"
	tuples = append(tuples, tuplestore.Tuple{Object: "team:lists", Relation: "member", User: lister})
	for i := range listN {
		tuples = append(tuples, tuplestore.Tuple{Object: "repo:r" + strconv.Itoa(i*(repos/listN)), Relation: "team", User: "team:lists"})
	}
	// Drop the rare duplicate keys the generator made.
	slices.SortFunc(tuples, func(a, b tuplestore.Tuple) int {
		if c := cmpStr(a.Object, b.Object); c != 0 {
			return c
		}
		if c := cmpStr(a.Relation, b.Relation); c != 0 {
			return c
		}
		return cmpStr(a.User, b.User)
	})
	tuples = slices.CompactFunc(tuples, func(a, b tuplestore.Tuple) bool {
		return a.Object == b.Object && a.Relation == b.Relation && a.User == b.User
	})
	rng.Shuffle(len(tuples), func(i, j int) { tuples[i], tuples[j] = tuples[j], tuples[i] })
	count := len(tuples)
	loadIndex(e, tuples)
	build := time.Since(start)
	tuples = nil
	after := heapInUse()
	_ = teams

	d := &benchData{e: e, tuples: count, lister: lister, listN: listN, nRepos: repos, buildMS: float64(build.Milliseconds())}
	d.bytes = float64(int64(after)-int64(before)) / float64(count)
	relsC := []string{"reader", "writer", "admin"}
	for range 4096 {
		d.checks = append(d.checks, CheckRequest{
			User:     "user:u" + strconv.Itoa(rng.IntN(users)),
			Relation: relsC[rng.IntN(3)],
			Object:   "repo:r" + strconv.Itoa(rng.IntN(repos)),
		})
	}
	benchCache[n] = d
	return d
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var benchSizes = []int{10_000, 100_000, 1_000_000}

func sizeName(n int) string {
	switch {
	case n >= 1_000_000:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// BenchmarkIndexMemory reports the index's heap bytes per stored tuple
// and the time to generate and load the data.
func BenchmarkIndexMemory(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			d := benchEngine(b, n)
			for b.Loop() {
			}
			b.ReportMetric(d.bytes, "B/tuple")
			b.ReportMetric(d.buildMS, "build-ms")
			b.ReportMetric(float64(d.tuples), "tuples")
		})
	}
}

// BenchmarkCheck runs checks on both cores against a warm index and
// reports throughput, the allowed share and the 99th percentile latency
// of a sample of the calls.
func BenchmarkCheck(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			d := benchEngine(b, n)
			ctx := context.Background()
			allowed := 0
			for _, r := range d.checks {
				res, err := d.e.Check(ctx, r)
				if err != nil {
					b.Fatal(err)
				}
				if res.Allowed {
					allowed++
				}
			}
			var mu sync.Mutex
			var samples []time.Duration
			var next sync.Mutex
			seed := uint64(0)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				next.Lock()
				seed++
				i := int(seed * 977)
				next.Unlock()
				local := make([]time.Duration, 0, 4096)
				for k := 0; pb.Next(); k++ {
					r := d.checks[i%len(d.checks)]
					i++
					if k%16 == 0 {
						t0 := time.Now()
						if _, err := d.e.Check(ctx, r); err != nil {
							b.Error(err)
						}
						local = append(local, time.Since(t0))
						continue
					}
					if _, err := d.e.Check(ctx, r); err != nil {
						b.Error(err)
					}
				}
				mu.Lock()
				samples = append(samples, local...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "checks/s")
			b.ReportMetric(percentile(samples, 0.99), "p99-µs")
			b.ReportMetric(percentile(samples, 0.50), "p50-µs")
			b.ReportMetric(100*float64(allowed)/float64(len(d.checks)), "%allowed")
		})
	}
}

// BenchmarkCheckSerial runs the same checks on one goroutine: the cost of
// one check on a core, less sensitive than BenchmarkCheck to what else
// runs on the machine.
func BenchmarkCheckSerial(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			d := benchEngine(b, n)
			ctx := context.Background()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.e.Check(ctx, d.checks[i%len(d.checks)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func percentile(s []time.Duration, p float64) float64 {
	if len(s) == 0 {
		return 0
	}
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(float64(len(s))*p))].Nanoseconds()) / 1000
}

// BenchmarkBatchCheck runs batches of 100 checks.
func BenchmarkBatchCheck(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			d := benchEngine(b, n)
			ctx := context.Background()
			i := 0
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				batch := d.checks[i%(len(d.checks)-100):][:100]
				i += 100
				if _, _, err := d.e.BatchCheck(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/batch")
		})
	}
}

// BenchmarkListObjects lists the repos one user reads: listN (1,000
// from 100k tuples up) out of all repos.
func BenchmarkListObjects(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			d := benchEngine(b, n)
			ctx := context.Background()
			req := ListObjectsRequest{User: d.lister, Relation: "reader", Type: "repo"}
			got, err := d.e.ListObjects(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			if len(got) != d.listN {
				b.Fatalf("listed %d repos, want %d", len(got), d.listN)
			}
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				if _, err := d.e.ListObjects(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/list")
			b.ReportMetric(float64(len(got)), "objects")
			b.ReportMetric(float64(d.nRepos), "of")
		})
	}
}

// BenchmarkListUsers lists the readers of a repo.
func BenchmarkListUsers(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			d := benchEngine(b, n)
			ctx := context.Background()
			req := ListUsersRequest{Object: "repo:r1", Relation: "reader", Filters: []string{"user"}}
			got, err := d.e.ListUsers(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.e.ListUsers(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(got)), "users")
		})
	}
}

// BenchmarkWriteSync measures one-tuple writes through the store (bolt,
// one fsync each) and the sync that applies them to the index.
func BenchmarkWriteSync(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			d := benchEngine(b, n)
			ctx := context.Background()
			for b.Loop() {
				i := writeSeq.Add(1)
				t := Tuple{Object: fmt.Sprintf("repo:w%d", i), Relation: "reader", User: "user:u" + strconv.Itoa(int(i%1000))}
				if _, err := d.e.Write(ctx, []Tuple{t}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var writeSeq atomic.Int64

// BenchmarkApply measures applying batches of 100 changes to the index,
// without the store: the editor's copies and the merges they cause.
func BenchmarkApply(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			d := benchEngine(b, n)
			x := d.e.cur.Load().x
			i := 0
			var worst time.Duration
			for b.Loop() {
				t0 := time.Now()
				ed := newEditor(x)
				for range 100 {
					if err := ed.write(tuplestore.Tuple{Object: "repo:a" + strconv.Itoa(i), Relation: "reader", User: "user:u" + strconv.Itoa(i%5000)}); err != nil {
						b.Fatal(err)
					}
					i++
				}
				x = ed.done()
				worst = max(worst, time.Since(t0))
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
		})
	}
}
