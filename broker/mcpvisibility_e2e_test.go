package broker_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/subzero-gateway/subzero/delegation/rebac"
)

// longDecisionCache keeps decisions for a minute, so that a list kept
// past a change would be seen.
const longDecisionCache = "authz:\n  decision:\n    cache:\n      ttl: 1m\n"

// A tuple deleted hides the tool from the next list, through the real
// broker, and two callers listing in turn each see their own list.
func TestMCPVisibilityFollowsTuples(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secret, []byte(strings.Repeat("s", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	n, _ := gatewayNode(t, "", fmt.Sprintf(botClients, secret)+longDecisionCache)
	bobFetch := rebac.Tuple{User: "user:bob-bot", Relation: "invoker", Object: "tool:notes.fetch"}
	tuples := append(demoTuples(t, "alice-bot", "notes"), bobFetch)
	if _, err := n.srv.Authz().WriteTuples(t.Context(), tuples, nil); err != nil {
		t.Fatalf("tuples: %v", err)
	}
	mcpURL := n.base + "/mcp"
	alice := mcpClient(t, mcpURL, clientToken(t, n, "alice-bot", strings.Repeat("s", 40), mcpURL))
	bob := mcpClient(t, mcpURL, clientToken(t, n, "bob-bot", strings.Repeat("s", 40), mcpURL))

	aliceWant := []string{"notes__delete_note", "notes__fetch", "notes__read_note", "notes__search_notes", "notes__write_note"}
	waitFor(t, "alice's list once the notes tools are learned", func() bool { return slices.Equal(toolNames(t, alice), aliceWant) })
	for i := range 3 {
		if got := toolNames(t, bob); !slices.Equal(got, []string{"notes__fetch"}) {
			t.Fatalf("bob's list #%d = %v, want [notes__fetch]", i, got)
		}
		if got := toolNames(t, alice); !slices.Equal(got, aliceWant) {
			t.Fatalf("alice's list #%d = %v, want %v", i, got, aliceWant)
		}
	}

	if _, err := n.srv.Authz().WriteTuples(t.Context(), nil, []rebac.Tuple{bobFetch}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got := toolNames(t, bob); len(got) != 0 {
		t.Errorf("bob's list after the tuple's deletion = %v, want none", got)
	}
	if got := toolNames(t, alice); !slices.Equal(got, aliceWant) {
		t.Errorf("alice's list after bob's tuple's deletion = %v, want %v", got, aliceWant)
	}
	if _, err := n.srv.Authz().WriteTuples(t.Context(), []rebac.Tuple{bobFetch}, nil); err != nil {
		t.Fatalf("write: %v", err)
	}
	if got := toolNames(t, bob); !slices.Equal(got, []string{"notes__fetch"}) {
		t.Errorf("bob's list after the tuple's return = %v, want [notes__fetch]", got)
	}
}
