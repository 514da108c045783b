package notes_test

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/subzero-gateway/subzero/examples/mcpdemo/notes"
	"github.com/subzero-gateway/subzero/guard"
	"github.com/subzero-gateway/subzero/guard/standard"
)

// TestGuardVerdicts checks that the demo shows what it is for: with the
// default policy the gateway's guard blocks the injected page, redacts the
// personal data and the secret, lets the clean page through, flags the
// poisoned description and none of the server's own descriptions.
func TestGuardVerdicts(t *testing.T) {
	g, err := standard.New(guard.Default())
	if err != nil {
		t.Fatal(err)
	}
	scan := func(dir guard.Direction, tool, text string) guard.Verdict {
		t.Helper()
		v, err := g.Scan(t.Context(), guard.Input{Direction: dir, Text: text, Meta: guard.Meta{Route: "mcp", Tool: tool}})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	detectors := func(v guard.Verdict) []string {
		var ds []string
		for _, f := range v.Findings {
			ds = append(ds, f.Detector)
		}
		return ds
	}

	pages := []struct {
		url    string
		action guard.Action
		want   []string // detectors that must fire; a trailing "." matches a prefix
	}{
		{notes.URLClean, guard.Allow, nil},
		{notes.URLInjection, guard.Block, []string{"injection"}},
		{notes.URLPersonalData, guard.Redact, []string{"pii.email", "pii.phone", "pii.card"}},
		{notes.URLSecret, guard.Redact, []string{"secret."}},
	}
	for _, p := range pages {
		page, _ := notes.Page(p.url)
		v := scan(guard.ToolResult, notes.ToolFetch, page)
		if v.Action != p.action {
			t.Errorf("%s: action %s, want %s; findings %v", p.url, v.Action, p.action, detectors(v))
		}
		for _, w := range p.want {
			if !slices.ContainsFunc(detectors(v), func(d string) bool {
				return d == w || strings.HasSuffix(w, ".") && strings.HasPrefix(d, w)
			}) {
				t.Errorf("%s: no %s finding in %v", p.url, w, detectors(v))
			}
		}
	}

	srv, err := notes.New(notes.Default(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for name, tool := range srv.MCPServer().ListTools() {
		if v := scan(guard.ToolDescription, name, tool.Tool.Description); v.Action != guard.Allow {
			t.Errorf("%s's own description: action %s, findings %v", name, v.Action, detectors(v))
		}
	}
	v := scan(guard.ToolDescription, notes.ToolSearch, notes.PoisonedSearchDescription)
	if v.Action == guard.Allow || !slices.ContainsFunc(v.Findings, func(f guard.Finding) bool { return f.Class == guard.ClassSupplyChain }) {
		t.Errorf("poisoned description: action %s, findings %v; want a supply-chain finding", v.Action, detectors(v))
	}
}
