// Command train trains the injection detector's embedded classifier
// (guard/injection/model.bin). Run it from the repository root:
//
//	go run ./guard/injection/internal/train
//
// reads guard/injection/testdata/train.jsonl and benign_multilingual.jsonl,
// writes guard/injection/model.bin and prints the training fit and the
// 5-fold cross-validated figures. With -from DEV.jsonl it first rewrites
// train.jsonl from that development set less its held-out fifth (the rows
// whose id hashes, FNV-1a 32, to 0 mod 5: fold 0/5 of `subzero eval guard
// --fold`). Training is deterministic: the same files give the same
// model.bin. See guard/injection/testdata/TRAINING.md.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"os"

	"github.com/subzero-gateway/subzero/guard/injection"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "guard/injection/testdata/train.jsonl", "training rows")
	benign := fs.String("benign", "guard/injection/testdata/benign_multilingual.jsonl", "hand-written benign rows, trained on after -data")
	out := fs.String("out", "guard/injection/model.bin", "where the weights go")
	from := fs.String("from", "", "first rewrite -data from this development set, less its held-out fifth")
	folds := fs.Int("folds", 5, "cross-validation folds (0: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *from != "" {
		dev, err := readRows(*from)
		if err != nil {
			return err
		}
		n, err := writeTrainSplit(*data, dev)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %d of %d rows to %s\n", n, len(dev), *data)
	}
	rows, err := readRows(*data)
	if err != nil {
		return err
	}
	extra, err := readRows(*benign)
	if err != nil {
		return err
	}
	rows = append(rows, extra...)
	model, rep, err := injection.Train(rows, injection.TrainOptions{Folds: *folds})
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, model, 0o644); err != nil {
		return err
	}
	for _, l := range rep.CrossValidation {
		fmt.Fprintf(stdout, "%d-fold: %-38s recall %v  FP %v  FP +kw %v  FP multilingual %v\n",
			*folds, l.Setting, l.Recall, l.FalsePositives, l.FalsePositivesKW, l.FalsePositivesML)
	}
	fmt.Fprintf(stdout, "trained on %d rows (%d attacks), wrote %s; in-sample at the shipped threshold: recall %v  FP %v\n",
		rep.Rows, rep.Positives, *out, rep.Fit.Recall, rep.Fit.FalsePositives)
	return nil
}

// readRows reads JSON lines of injection.TrainRow.
func readRows(path string) ([]injection.TrainRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w (run from the repository root, or set the paths)", err)
	}
	defer f.Close()
	var rows []injection.TrainRow
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		var r injection.TrainRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rows, nil
}

// writeTrainSplit writes the rows of dev outside the held-out fifth to
// path, one JSON object a line with the fields of injection.TrainRow, and
// returns how many it wrote.
func writeTrainSplit(path string, dev []injection.TrainRow) (n int, err error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, r := range dev {
		if heldOut(r.ID) {
			continue
		}
		if err := enc.Encode(r); err != nil {
			return 0, err
		}
		n++
	}
	return n, w.Flush()
}

// heldOut reports whether the row with this id is in the held-out fifth:
// the same rows as evals.Fold{I: 0, K: 5}.
func heldOut(id string) bool {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32()%5 == 0
}
