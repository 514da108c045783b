package sensitive

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/subzero-gateway/subzero/guard"
)

// The development set helper. It is not a gate (the evals harness owns
// that): it logs recall on the pii and secret rows (a row counts when it
// yields at least one finding), the false-positive rate on benign rows
// (any finding), per category, and optionally every miss and false
// positive:
//
//	go test ./guard/sensitive -run TestDevSet -dev -v [-dev.misses /tmp/misses.txt]
var (
	devFlag   = flag.Bool("dev", false, "report figures on the guard development set")
	devPath   = flag.String("dev.data", filepath.Join("..", "..", "..", "shared", "guard-eval", "dev.jsonl"), "development set")
	devMisses = flag.String("dev.misses", "", "write misses and false positives to this file")
)

type devRow struct {
	ID       string `json:"id"`
	Text     string `json:"text"`
	Label    string `json:"label"`
	Category string `json:"category"`
}

func readDev(t testing.TB, path string) []devRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("dev set: %v", err)
	}
	defer f.Close()
	var rows []devRow
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var r devRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("dev set: %v", err)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("dev set: %v", err)
	}
	return rows
}

// devFigures is what the helper computes.
type devFigures struct {
	pii, secret, benign tally
	perCat              map[string]*tally
	misses, fps         []string
}

type tally struct{ n, hit int }

func (t tally) rate() float64 {
	if t.n == 0 {
		return 0
	}
	return float64(t.hit) / float64(t.n)
}

func (t tally) String() string { return fmt.Sprintf("%d/%d = %.4f", t.hit, t.n, t.rate()) }

// computeDev scans every row with d.
func computeDev(d *Detector, rows []devRow) devFigures {
	f := devFigures{perCat: map[string]*tally{}}
	for _, r := range rows {
		fs := d.Detect(nil, r.Text, nil, guard.Prompt)
		hit := len(fs) > 0
		var tl *tally
		switch r.Label {
		case "pii":
			tl = &f.pii
		case "secret":
			tl = &f.secret
		case "benign":
			tl = &f.benign
		default:
			continue
		}
		tl.n++
		if hit {
			tl.hit++
		}
		cat := r.Label + " " + strings.SplitN(r.Category, "/", 3)[0]
		if r.Label != "benign" {
			cat = r.Label + " " + r.Category
		}
		ct := f.perCat[cat]
		if ct == nil {
			ct = new(tally)
			f.perCat[cat] = ct
		}
		ct.n++
		if hit {
			ct.hit++
		}
		switch {
		case r.Label != "benign" && !hit:
			f.misses = append(f.misses, fmt.Sprintf("MISS %s %s\n%s\n", r.ID, r.Category, r.Text))
		case r.Label == "benign" && hit:
			var b strings.Builder
			fmt.Fprintf(&b, "FP %s %s\n", r.ID, r.Category)
			for _, x := range fs {
				fmt.Fprintf(&b, "  %s %s %.2f %q value=%q\n", x.Detector, x.Rule, x.Score, x.Excerpt, r.Text[x.Start:x.End])
			}
			f.fps = append(f.fps, b.String())
		}
	}
	return f
}

func TestDevSet(t *testing.T) {
	if !*devFlag {
		t.Skip("development set figures: run with -dev")
	}
	d, err := New(Default())
	if err != nil {
		t.Fatal(err)
	}
	f := computeDev(d, readDev(t, *devPath))
	t.Logf("recall pii    %v", f.pii)
	t.Logf("recall secret %v", f.secret)
	t.Logf("FP benign     %v", f.benign)
	cats := slices.Sorted(func(yield func(string) bool) {
		for k := range f.perCat {
			if !yield(k) {
				return
			}
		}
	})
	for _, c := range cats {
		t.Logf("  %-60s %v", c, *f.perCat[c])
	}
	if *devMisses != "" {
		out := strings.Join(f.misses, "\n") + "\n" + strings.Join(f.fps, "\n")
		if err := os.WriteFile(*devMisses, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
