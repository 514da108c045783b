package evals

import (
	"fmt"
	"hash/fnv"
	"iter"
	"strconv"
	"strings"
)

// Fold is a deterministic share of a data set: the rows whose id hashes
// (FNV-1a, 32 bits) to I modulo K. The folds 0/K … K-1/K split a set into
// K disjoint parts of about equal size, whatever the order of its rows.
// guard/injection trains its classifier on every row of the development
// set outside fold 0/5, so that fold measures it on rows it never saw.
type Fold struct{ I, K int }

// ParseFold parses "I/K", with 0 ≤ I < K.
func ParseFold(s string) (Fold, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	k, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || k < 1 || i < 0 || i >= k {
		return Fold{}, fmt.Errorf("evals: fold %q: want I/K with 0 ≤ I < K", s)
	}
	return Fold{i, k}, nil
}

func (f Fold) String() string { return fmt.Sprintf("%d/%d", f.I, f.K) }

// Contains reports whether the row with this id is in the fold.
func (f Fold) Contains(id string) bool {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32()%uint32(f.K)) == f.I
}

// Filter returns the rows of the fold, and every error of rows.
func (f Fold) Filter(rows iter.Seq2[Row, error]) iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		for row, err := range rows {
			if err == nil && !f.Contains(row.ID) {
				continue
			}
			if !yield(row, err) {
				return
			}
		}
	}
}
