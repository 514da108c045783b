package evals

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"runtime/metrics"
	"slices"
	"time"

	"github.com/subzero-gateway/subzero/guard"
)

// Options tune [Guard].
type Options struct {
	// Rows, when not nil, receives one JSON line per row (a [RowResult]),
	// in input order, so that every metric of the report can be
	// recomputed without this package.
	Rows io.Writer
}

// RowResult is the outcome of one row, as written to [Options.Rows].
type RowResult struct {
	Line     int    `json:"line"`
	ID       string `json:"id"`
	Label    Label  `json:"label"`
	Category string `json:"category"`
	Bytes    int    `json:"bytes"`
	// Classes are the distinct classes of the verdict's findings, sorted.
	Classes []guard.Class `json:"classes"`
	// Detectors are the distinct detectors that fired, sorted.
	Detectors []string     `json:"detectors,omitempty"`
	Action    guard.Action `json:"action,omitempty"`
	// LatencyUS is the time Scan took, in microseconds.
	LatencyUS float64 `json:"latency_us"`
	// Error is the scan's error, if any; see [Guard] for how it counts.
	Error string `json:"error,omitempty"`
}

// Guard scans every row as a prompt with s, one row at a time on the
// calling goroutine, and measures the outcome against the labels.
//
// A row of label injection or jailbreak is detected when the verdict has
// a finding of class [guard.ClassPromptAttack]; a row of label pii or
// secret when it has one of class [guard.ClassSensitive]. A benign row is
// a false positive when any finding of either class fires. A scan that
// fails counts against the guard: a miss on a labelled row, a false
// positive on a benign row; the report counts the errors. docs/GUARD.md
// defines every metric of the [Report].
//
// The first error of rows ends the run with that error (wrapping
// [ErrBadData] for bad content); so do ctx's cancellation and a failure to
// write opts.Rows. Latency is the wall time of each Scan call alone;
// throughput is the bytes scanned over the sum of those times.
func Guard(ctx context.Context, s guard.Scanner, rows iter.Seq2[Row, error], opts Options) (Report, error) {
	var (
		enc *json.Encoder
		bw  *bufio.Writer
		acc = newAccumulator()
		mem = allocMeter{samples: []metrics.Sample{{Name: allocsMetric}, {Name: tinyAllocsMetric}, {Name: allocBytesMetric}}}
	)
	if opts.Rows != nil {
		bw = bufio.NewWriterSize(opts.Rows, 64<<10)
		enc = json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
	}
	for row, err := range rows {
		if err != nil {
			return Report{}, err
		}
		if err := ctx.Err(); err != nil {
			return Report{}, err
		}
		in := guard.Input{Direction: guard.Prompt, Text: row.Text}
		mem.start()
		t0 := time.Now()
		v, err := s.Scan(ctx, in)
		lat := time.Since(t0)
		mem.stop()
		if err != nil && ctx.Err() != nil {
			return Report{}, ctx.Err()
		}
		res := result(row, v, err, lat)
		acc.add(row, &res, lat)
		if enc != nil {
			if err := enc.Encode(&res); err != nil {
				return Report{}, fmt.Errorf("evals: write rows: %w", err)
			}
		}
	}
	if bw != nil {
		if err := bw.Flush(); err != nil {
			return Report{}, fmt.Errorf("evals: write rows: %w", err)
		}
	}
	rep := acc.report()
	if rep.Overall.Rows > 0 {
		rep.AllocsPerRow = float64(mem.objects) / float64(rep.Overall.Rows)
		rep.AllocBytesPerRow = float64(mem.bytes) / float64(rep.Overall.Rows)
	}
	return rep, nil
}

// result is the row's outcome.
func result(row Row, v guard.Verdict, err error, lat time.Duration) RowResult {
	res := RowResult{
		Line:      row.Line,
		ID:        row.ID,
		Label:     row.Label,
		Category:  row.Category,
		Bytes:     len(row.Text),
		Classes:   []guard.Class{},
		Action:    v.Action,
		LatencyUS: float64(lat.Nanoseconds()) / 1e3,
	}
	if err != nil {
		res.Error = err.Error()
		res.Action = ""
		return res
	}
	for _, f := range v.Findings {
		if !slices.Contains(res.Classes, f.Class) {
			res.Classes = append(res.Classes, f.Class)
		}
		if !slices.Contains(res.Detectors, f.Detector) {
			res.Detectors = append(res.Detectors, f.Detector)
		}
	}
	slices.Sort(res.Classes)
	slices.Sort(res.Detectors)
	return res
}

// The runtime/metrics counters allocMeter reads. Together they count what
// runtime.MemStats.Mallocs and TotalAlloc count.
const (
	allocsMetric     = "/gc/heap/allocs:objects"
	tinyAllocsMetric = "/gc/heap/tiny/allocs:objects"
	allocBytesMetric = "/gc/heap/allocs:bytes"
)

// allocMeter sums the heap allocations made between start and stop. The
// runtime counts small allocations per span as it hands a span to a
// goroutine's cache (and takes back the unused part when the cache is
// flushed, so a counter may even step back), not per object: one
// interval's count is coarse, but summed over many rows it is close to the
// scanner's allocations per row.
type allocMeter struct {
	samples        []metrics.Sample
	base           [3]uint64
	objects, bytes int64
}

func (m *allocMeter) read() (v [3]uint64) {
	metrics.Read(m.samples)
	for i, s := range m.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	return v
}

func (m *allocMeter) start() { m.base = m.read() }

func (m *allocMeter) stop() {
	v := m.read()
	m.objects += int64(v[0]-m.base[0]) + int64(v[1]-m.base[1])
	m.bytes += int64(v[2] - m.base[2])
}
