package oauth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/subzero-gateway/subzero/broker/oauth"
)

func TestConsentsExactSet(t *testing.T) {
	s, _ := testStore(t)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	c := oauth.NewConsents(s, func() time.Time { return now })
	ctx := t.Context()
	if err := c.Grant(ctx, "alice", "agent", []string{"mcp:tools", "email", "mcp:tools"}, "https://mcp.example/"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name              string
		subject, clientID string
		scopes            []string
		resource          string
		want              bool
	}{
		{"same set", "alice", "agent", []string{"mcp:tools", "email"}, "https://mcp.example/", true},
		{"other order, duplicates", "alice", "agent", []string{"email", "email", "mcp:tools"}, "https://mcp.example/", true},
		{"subset", "alice", "agent", []string{"email"}, "https://mcp.example/", false},
		{"superset", "alice", "agent", []string{"email", "mcp:tools", "admin"}, "https://mcp.example/", false},
		{"other resource", "alice", "agent", []string{"email", "mcp:tools"}, "https://other.example/", false},
		{"no resource", "alice", "agent", []string{"email", "mcp:tools"}, "", false},
		{"other client", "alice", "agent2", []string{"email", "mcp:tools"}, "https://mcp.example/", false},
		{"other user", "bob", "agent", []string{"email", "mcp:tools"}, "https://mcp.example/", false},
		{"scopes joined differently", "alice", "agent", []string{"email mcp:tools"}, "https://mcp.example/", false},
		{"empty subject", "", "agent", []string{"email", "mcp:tools"}, "https://mcp.example/", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.Has(ctx, tc.subject, tc.clientID, tc.scopes, tc.resource); got != tc.want {
				t.Errorf("Has = %v, want %v", got, tc.want)
			}
		})
	}
	if err := c.Grant(ctx, "", "agent", nil, ""); err == nil {
		t.Error("Grant with no subject succeeded")
	}
}

func TestConsentsListAndRevoke(t *testing.T) {
	s, _ := testStore(t)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	c := oauth.NewConsents(s, func() time.Time { now = now.Add(time.Second); return now })
	ctx := t.Context()
	longClient := "https://tools.example/" + strings.Repeat("a", 2000)
	longSubject := "oidc|" + strings.Repeat("s", 300)
	grants := []struct {
		subject, clientID string
		scopes            []string
		resource          string
	}{
		{"alice", "agent", []string{"b", "a"}, ""},
		{"alice", "agent", []string{"a"}, "https://mcp.example/"},
		{"alice", "other", nil, ""},
		{"alice", longClient, []string{strings.Repeat("x", 400)}, ""},
		// Subjects that share a prefix with alice, or need escaping.
		{"alice2", "agent", []string{"a"}, ""},
		{"al", "agent", []string{"a"}, ""},
		{"alice bob", "agent", []string{"a"}, ""},
		{longSubject, "agent", []string{"a"}, ""},
	}
	for _, g := range grants {
		if err := c.Grant(ctx, g.subject, g.clientID, g.scopes, g.resource); err != nil {
			t.Fatalf("Grant(%.20q, %.20q): %v", g.subject, g.clientID, err)
		}
		if !c.Has(ctx, g.subject, g.clientID, g.scopes, g.resource) {
			t.Errorf("Has(%.20q, %.20q) = false after Grant", g.subject, g.clientID)
		}
	}
	list, err := c.List(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Client, Resource string
		Scopes           []string
	}
	var got []row
	for _, cs := range list {
		if cs.Subject != "alice" || cs.Granted.IsZero() {
			t.Errorf("listed %+v", cs)
		}
		got = append(got, row{cs.ClientID, cs.Resource, cs.Scopes})
	}
	want := []row{
		{"agent", "", []string{"a", "b"}},
		{"agent", "https://mcp.example/", []string{"a"}},
		{"https://tools.example/" + strings.Repeat("a", 2000), "", []string{strings.Repeat("x", 400)}},
		{"other", "", nil},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List(alice) (-want +got):\n%s", diff)
	}
	for _, subject := range []string{"alice2", "al", "alice bob", longSubject} {
		if l, err := c.List(ctx, subject); err != nil || len(l) != 1 || l[0].Subject != subject {
			t.Errorf("List(%.20q) = %+v, %v; want its one consent", subject, l, err)
		}
	}

	n, err := c.Revoke(ctx, "alice", "agent")
	if err != nil || n != 2 {
		t.Fatalf("Revoke(alice, agent) = %d, %v; want 2", n, err)
	}
	if c.Has(ctx, "alice", "agent", []string{"a", "b"}, "") || c.Has(ctx, "alice", "agent", []string{"a"}, "https://mcp.example/") {
		t.Error("a revoked consent is still remembered")
	}
	for _, g := range grants[2:] {
		if !c.Has(ctx, g.subject, g.clientID, g.scopes, g.resource) {
			t.Errorf("Revoke(alice, agent) also removed %.20q's consent for %.20q", g.subject, g.clientID)
		}
	}
	if n, err := c.Revoke(ctx, "alice", longClient); err != nil || n != 1 {
		t.Errorf("Revoke(alice, long client) = %d, %v; want 1", n, err)
	}
	if n, err := c.Revoke(ctx, "nobody", "agent"); err != nil || n != 0 {
		t.Errorf("Revoke(nobody) = %d, %v; want 0", n, err)
	}
}
