package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func sample() Event {
	return Event{
		V: Version, Seq: 42, Time: time.Date(2026, 11, 27, 10, 0, 0, 123456000, time.UTC), Node: "node-a",
		Type: "tool.call", Actor: Actor{Subject: "alice@example.com", ClientID: "https://agent.example/cimd", Chain: []string{"agent-1", "agent-2"}},
		Action: "tools/call", Target: "github/create_issue", Decision: Deny, Reason: "policy \"no-writes\" denied <write> & more",
		Findings:  []Finding{{Rule: "prompt-injection", Category: "LLM01", Severity: "high"}},
		RequestID: "req-1", PrevHash: ZeroHash,
	}
}

// independentHash hashes the stored form the way docs/AUDIT.md tells a
// third party to: parse as JSON, drop "hash", serialize with sorted keys
// and no whitespace, SHA-256.
func independentHash(t *testing.T, stored []byte) string {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(stored))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	delete(m, "hash")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return hex.EncodeToString(sum[:])
}

func TestCanonicalEncoding(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Event)
	}{
		{"sample", func(*Event) {}},
		{"empty fields", func(e *Event) { *e = Event{V: Version, Seq: 1, Time: time.Unix(0, 0), PrevHash: ZeroHash} }},
		{"control characters", func(e *Event) { e.Reason = "a\x00b\x01\x1f\t\n\r\b\f\"\\/\x7f" }},
		{"unicode", func(e *Event) { e.Target = "résumé ✓ 日本語 😀 \u00e9" }},
		{"whole seconds", func(e *Event) { e.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }},
		{"big seq", func(e *Event) { e.Seq = 1<<53 - 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := sample()
			tc.edit(&e)
			stored := e.Seal()
			if !json.Valid(stored) {
				t.Fatalf("stored form is not JSON: %s", stored)
			}
			if got := independentHash(t, stored); got != e.Hash {
				t.Errorf("independent hash = %s, Seal = %s\nstored: %s", got, e.Hash, stored)
			}
			got, err := DecodeEvent(stored)
			if err != nil {
				t.Fatalf("DecodeEvent(own output): %v", err)
			}
			if !bytes.Equal(got.Encode(), stored) {
				t.Errorf("round trip changed the stored form:\n%s\n%s", stored, got.Encode())
			}
		})
	}
}

func TestCanonicalGolden(t *testing.T) {
	e := sample()
	stored := e.Seal()
	want := `{"action":"tools/call","actor":{"chain":["agent-1","agent-2"],"client_id":"https://agent.example/cimd","subject":"alice@example.com"},"decision":"deny","findings":[{"category":"LLM01","rule":"prompt-injection","severity":"high"}],"hash":"` + e.Hash + `","node":"node-a","prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","reason":"policy \"no-writes\" denied <write> & more","request_id":"req-1","seq":42,"target":"github/create_issue","time":"2026-11-27T10:00:00.123456Z","type":"tool.call","v":1}`
	if string(stored) != want {
		t.Errorf("stored form:\n got %s\nwant %s", stored, want)
	}
}

func TestDecodeRejects(t *testing.T) {
	e := sample()
	stored := e.Seal()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"whitespace", bytes.Replace(stored, []byte(`,"node"`), []byte(`, "node"`), 1)},
		{"unknown field", bytes.Replace(stored, []byte(`{"action"`), []byte(`{"extra":1,"action"`), 1)},
		{"key order", bytes.Replace(stored, []byte(`"action":"tools/call","actor"`), []byte(`"actor"`), 1)},
		{"offset time", bytes.Replace(stored, []byte(`10:00:00.123456Z`), []byte(`11:00:00.123456+01:00`), 1)},
		{"escaped char", bytes.Replace(stored, []byte(`node-a`), []byte(`node\u002da`), 1)},
		{"trailing data", append(bytes.Clone(stored), ` {}`...)},
		{"wrong version", bytes.Replace(stored, []byte(`"v":1`), []byte(`"v":2`), 1)},
		{"not json", []byte("garbage")},
		{"too big", bytes.Repeat([]byte("x"), MaxEventBytes+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeEvent(tc.data); err == nil {
				t.Errorf("DecodeEvent accepted %s", tc.data)
			}
		})
	}
}

func TestScrub(t *testing.T) {
	jwt := "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJhbGljZSJ9.MEUCIQDsig"
	e := Event{
		Reason:   "upstream said: Authorization: Bearer abcdefghijklmnop and DPoP " + jwt,
		Target:   "https://x/?access_token=" + jwt + "&k=sk-abcdefghijklmnopqrstuvwx",
		Actor:    Actor{Subject: strings.Repeat("é", 400), Chain: make([]string, 40)},
		Type:     "t\xff\xfe",
		Findings: make([]Finding, 100),
	}
	scrub(&e)
	all := e.Reason + e.Target
	for _, secret := range []string{"abcdefghijklmnop", "eyJhbGci", "sk-abcdef"} {
		if strings.Contains(all, secret) {
			t.Errorf("secret %q survived scrub: %q", secret, all)
		}
	}
	if len(e.Actor.Subject) > maxID || !strings.HasSuffix(e.Actor.Subject, "…") || !utf8Valid(e.Actor.Subject) {
		t.Errorf("subject not cut on a rune boundary: %d bytes", len(e.Actor.Subject))
	}
	if len(e.Actor.Chain) != maxChain || len(e.Findings) != maxFindings {
		t.Errorf("chain %d findings %d; want %d and %d", len(e.Actor.Chain), len(e.Findings), maxChain, maxFindings)
	}
	if e.Type != "t\uFFFD" {
		t.Errorf("invalid UTF-8 kept: %q", e.Type)
	}
	plain := "tools/call github create_issue for alice high severity"
	if got := clean(plain, maxReason); got != plain {
		t.Errorf("clean changed an innocent string: %q", got)
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "") == s }

// TestThirdPartyVerifier runs the Python verifier printed in docs/AUDIT.md
// against a chain this package wrote, so that the document stays true.
func TestThirdPartyVerifier(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed to check docs/AUDIT.md's verifier: apt-get install -y python3")
	}
	doc, err := os.ReadFile("../docs/AUDIT.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```python\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/AUDIT.md has no ```python block")
	}
	script := filepath.Join(t.TempDir(), "verify.py")
	if err := os.WriteFile(script, m[1], 0o600); err != nil {
		t.Fatal(err)
	}
	var chain bytes.Buffer
	prev := ZeroHash
	for i := uint64(1); i <= 50; i++ {
		e := sample()
		e.Seq, e.PrevHash = i, prev
		e.Reason = string(rune(0x20+i)) + "\u2028 ünï \x01"
		chain.Write(e.Seal())
		chain.WriteByte('\n')
		prev = e.Hash
	}
	run := func(input []byte) (string, error) {
		cmd := exec.Command(py, script)
		cmd.Stdin = bytes.NewReader(input)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(chain.Bytes()); err != nil {
		t.Fatalf("verifier rejected a good chain: %v\n%s", err, out)
	}
	bad := bytes.Replace(chain.Bytes(), []byte(`"seq":17,`), []byte(`"seq":71,`), 1)
	if out, err := run(bad); err == nil || !strings.Contains(out, "17") {
		t.Fatalf("verifier accepted a modified chain or did not name seq 17: %v\n%s", err, out)
	}
}
