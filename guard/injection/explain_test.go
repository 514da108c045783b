package injection

import (
	"flag"
	"fmt"
	"strings"
	"testing"
)

var explainFlag = flag.String("explain", "", "print the concepts and rules that fire on this text")

// TestExplain prints what fires on -explain TEXT, for tuning.
func TestExplain(t *testing.T) {
	if *explainFlag == "" {
		t.Skip("run with -explain TEXT")
	}
	d, err := New(Default())
	if err != nil {
		t.Fatal(err)
	}
	nz := normalize(*explainFlag)
	s := new(scratch)
	d.scan(s, nz.Folded, 0)
	var b strings.Builder
	for c, spans := range s.byC {
		for _, sp := range spans {
			fmt.Fprintf(&b, "concept %d %q\n", c, nz.Folded[sp.start:sp.end])
		}
	}
	for f, ev := range s.ev {
		if ev.n > 0 {
			fmt.Fprintf(&b, "family %s w=%.1f n=%d %q\n", familyInfo[f].name, ev.w, ev.n, nz.Folded[ev.span.start:ev.span.end])
		}
	}
	t.Log("\n" + b.String())
}
