package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// jwksKids returns the key IDs a node publishes.
func jwksKids(t *testing.T, base string) []string {
	t.Helper()
	resp, err := http.Get(base + "/oauth2/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

func TestKeysRotate(t *testing.T) {
	data := t.TempDir()
	res := runMain(t, t.Context(), nil, "keys", "rotate", "--data", data)
	if res.code != 0 || !strings.Contains(res.stdout, "generation 2") {
		t.Fatalf("keys rotate on a stopped node: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	n := serveNode(t, data, "", nil)
	before := jwksKids(t, n.base)
	if len(before) != 2 {
		t.Fatalf("JWKS has %d keys, want the first and the rotated one", len(before))
	}
	// While the node runs, through its admin socket; the node publishes the
	// new key within its refresh interval.
	res = runMain(t, t.Context(), nil, "keys", "rotate", "--data", data)
	if res.code != 0 || !strings.Contains(res.stdout, "generation 3") {
		t.Fatalf("keys rotate while running: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if kids := jwksKids(t, n.base); len(kids) != 3 {
		t.Errorf("JWKS after a rotation through the socket has %d keys, want 3", len(kids))
	}
	if res := runMain(t, t.Context(), nil, "keys", "spin"); res.code != 2 {
		t.Errorf("keys spin: exit %d, want 2", res.code)
	}
}
