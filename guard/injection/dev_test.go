package injection

import (
	"bufio"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/subzero-gateway/subzero/guard"
)

// The development set helper. It is not a gate (the evals harness owns
// that); it prints recall per label and category family and false
// positives per benign family, on the tuning split and on a held-out
// fifth of the rows chosen by hashing their ids:
//
//	go test ./guard/injection -run TestDevSet -dev -v
var (
	devFlag   = flag.Bool("dev", false, "report figures on the guard development set")
	devPath   = flag.String("dev.data", filepath.Join("..", "..", "..", "shared", "guard-eval", "dev.jsonl"), "development set")
	devMisses = flag.String("dev.misses", "", "write missed attacks and false positives to this file")
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

// heldOut reports whether a row belongs to the held-out fifth.
func heldOut(id string) bool {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32()%5 == 0
}

// devFamily names the category family a row is reported under.
func devFamily(r devRow) string {
	parts := strings.Split(r.Category, "/")
	fam := parts[0]
	switch fam {
	case "cse2", "cse2-multilingual", "bipia", "sysprompt_extraction":
		if len(parts) > 1 {
			fam += "/" + parts[1]
		}
	}
	fam = strings.TrimSuffix(strings.TrimSpace(fam), "+kw")
	if r.Label == "benign" && strings.Contains(r.Category, "+kw") {
		fam += " +kw"
	}
	return fam
}

type tally struct{ n, hit int }

func (t tally) String() string {
	if t.n == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d %.3f", t.hit, t.n, float64(t.hit)/float64(t.n))
}

func TestDevSet(t *testing.T) {
	if !*devFlag {
		t.Skip("development set figures: run with -dev")
	}
	rows := readDev(t, *devPath)
	d, err := New(Default())
	if err != nil {
		t.Fatal(err)
	}
	var misses strings.Builder
	type key struct {
		split, label, fam string
	}
	tallies := map[key]*tally{}
	bump := func(k key, hit bool) {
		tl := tallies[k]
		if tl == nil {
			tl = new(tally)
			tallies[k] = tl
		}
		tl.n++
		if hit {
			tl.hit++
		}
	}
	for _, r := range rows {
		if r.Label != "benign" && r.Label != "injection" && r.Label != "jailbreak" {
			continue
		}
		split := "tune"
		if heldOut(r.ID) {
			split = "held"
		}
		nz := normalize(r.Text)
		fs := d.Detect(nil, r.Text, nz, guard.Prompt)
		hit := len(fs) > 0
		fam := devFamily(r)
		label := r.Label
		if label != "benign" {
			label = "attack"
		}
		for _, sp := range []string{split, "all"} {
			bump(key{sp, label, fam}, hit)
			bump(key{sp, label, "(all)"}, hit)
			if label == "benign" && strings.HasSuffix(fam, "+kw") {
				bump(key{sp, label, "(+kw)"}, hit)
			}
			if label == "attack" {
				bump(key{sp, r.Label, "(all)"}, hit)
			}
		}
		if (label == "attack") != hit {
			var rule string
			for _, f := range fs {
				rule += fmt.Sprintf(" %s:%.2f:%s", f.Detector, f.Score, f.Rule)
			}
			fmt.Fprintf(&misses, "%s\t%s\t%s\t%s\t%q\n", map[bool]string{true: "FP", false: "MISS"}[hit], r.ID, r.Category, rule, r.Text[:min(len(r.Text), 300)])
		}
	}
	ks := slices.SortedFunc(maps.Keys(tallies), func(a, b key) int {
		return cmp.Or(cmp.Compare(a.label, b.label), cmp.Compare(a.fam, b.fam), cmp.Compare(a.split, b.split))
	})
	var out strings.Builder
	fmt.Fprintf(&out, "%-10s %-36s %-18s %-18s %-18s\n", "label", "family", "all", "tune", "held-out")
	for _, k := range ks {
		if k.split != "all" {
			continue
		}
		what := "recall"
		if k.label == "benign" {
			what = "FP"
		}
		fmt.Fprintf(&out, "%-10s %-36s %-18s %-18s %-18s\n", k.label+" "+what, k.fam, tallies[k], tallies[key{"tune", k.label, k.fam}], tallies[key{"held", k.label, k.fam}])
	}
	t.Log("\n" + out.String())
	if *devMisses != "" {
		if err := os.WriteFile(*devMisses, []byte(misses.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
