package notes

import (
	"strings"
	"testing"

	"github.com/subzero-gateway/subzero/delegation/rebac"
)

// The demo's model and tuples parse, type-check and name every tool,
// prompt and resource the server offers.
func TestAuthzModelAndTuples(t *testing.T) {
	m, err := rebac.ParseModel(AuthzModel)
	if err != nil {
		t.Fatalf("model: %v", err)
	}
	tuples, err := rebac.ParseTuples(AuthzTuples)
	if err != nil {
		t.Fatalf("tuples: %v", err)
	}
	var objects []string
	for _, tp := range tuples {
		if err := m.ValidateTuple(tp); err != nil {
			t.Errorf("tuple %v against the model: %v", tp, err)
		}
		objects = append(objects, tp.Object)
	}
	all := strings.Join(objects, " ")
	for _, name := range []string{ToolSearch, ToolRead, ToolWrite, ToolDelete, ToolFetch} {
		if !strings.Contains(all, "tool:notes."+name) {
			t.Errorf("no tuple for tool %s", name)
		}
	}
	if !strings.Contains(all, "prompt:notes."+PromptSummarize) || !strings.Contains(all, "resource:notes") {
		t.Errorf("no tuple for the prompt or the resource: %s", all)
	}
}
