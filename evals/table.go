package evals

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable writes the report as text tables: a summary, the targets
// given (none when nil), then a line per class, label, family and
// category.
func WriteTable(w io.Writer, r *Report, targets []TargetResult) error {
	ew := &errWriter{w: w}
	o := r.Overall
	fmt.Fprintf(ew, "guard evaluation: %d rows, %.2f MB scanned as %s, one row at a time\n", o.Rows, float64(o.Bytes)/1e6, r.Direction)
	fmt.Fprintf(ew, "scan time %s, %.2f MB/s; latency per row p50 %s, p99 %s, max %s; ~%.0f allocations (%s) per row\n",
		round(o.Latency.Total), o.Latency.MBPerSec, round(o.Latency.P50), round(o.Latency.P99), round(o.Latency.Max),
		r.AllocsPerRow, size(r.AllocBytesPerRow))
	if o.Errors > 0 {
		fmt.Fprintf(ew, "scan errors: %d rows (counted as misses, or as false positives on benign rows)\n", o.Errors)
	}
	if len(targets) > 0 {
		fmt.Fprintln(ew, "\ntargets:")
		for _, t := range targets {
			fmt.Fprintf(ew, "  %s\n", t)
		}
	}
	fmt.Fprintln(ew, "\nclasses and labels (precision against every benign row, for findings of the line's class):")
	lines := append(append([]Group{}, r.Classes...), r.Labels...)
	lines = append(lines, r.HardNegatives)
	table(ew, "CLASS/LABEL", lines, false)
	fmt.Fprintln(ew, "\nfamilies (part of the category before '/'; precision within the family):")
	table(ew, "FAMILY", r.Families, true)
	fmt.Fprintln(ew, "\ncategories:")
	table(ew, "CATEGORY", r.Categories, true)
	return ew.err
}

func table(w io.Writer, first string, gs []Group, withLabels bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := first + "\t"
	if withLabels {
		head += "LABELS\t"
	}
	fmt.Fprintln(tw, head+"ROWS\tDETECTED\tRECALL\tFP/BENIGN\tFP RATE\tFP ATTACK\tFP SENSITIVE\tPRECISION\tF1\tP50\tP99\tMB/S\tERRORS")
	for _, g := range gs {
		line := g.Name + "\t"
		if withLabels {
			line += labelSet(g) + "\t"
		}
		fpA, fpS := "", ""
		if g.Labels[Benign] > 0 { // the group's own benign rows
			fpA, fpS = count(g.FPPromptAttack), count(g.FPSensitive)
		}
		fmt.Fprintf(tw, "%s%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\n", line, g.Rows,
			frac(g.Recall), num(g.Recall), frac(g.FPRate), pct(g.FPRate), fpA, fpS,
			num(g.Precision), num(g.F1), round(g.Latency.P50), round(g.Latency.P99), g.Latency.MBPerSec, count(g.Errors))
	}
	tw.Flush()
}

// labelSet names the group's labels in report order.
func labelSet(g Group) string {
	var ls []string
	for _, l := range labels {
		if g.Labels[l] > 0 {
			ls = append(ls, string(l))
		}
	}
	return strings.Join(ls, "+")
}

func frac(r Ratio) string {
	if !r.Defined() {
		return "-"
	}
	return fmt.Sprintf("%d/%d", r.Num, r.Den)
}

func num(r Ratio) string {
	if !r.Defined() {
		return "-"
	}
	return fmt.Sprintf("%.3f", r.Value())
}

func pct(r Ratio) string {
	if !r.Defined() {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*r.Value())
}

func count(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(100 * time.Nanosecond)
}

func size(b float64) string {
	if b >= 1<<10 {
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

// errWriter keeps the first write error and drops later writes.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
