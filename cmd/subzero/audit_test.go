package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bbolt "go.etcd.io/bbolt"

	"github.com/subzero-gateway/subzero/audit"
)

// ranNode runs a node on a fresh data dir, sends it a request and stops it.
// It returns the data dir and the node ID.
func ranNode(t *testing.T) (data, id string) {
	t.Helper()
	data = t.TempDir()
	n := serveNode(t, data, "", nil)
	_, body := getJSON(t, n.base+"/healthz")
	id, _ = body["node"].(string)
	if err := n.stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	return data, id
}

// jsonEvents decodes `--format json` output, checking that each line is an
// event in its canonical stored form.
func jsonEvents(t *testing.T, out string) []audit.Event {
	t.Helper()
	var events []audit.Event
	for line := range strings.Lines(out) {
		raw := []byte(strings.TrimSuffix(line, "\n"))
		e, err := audit.DecodeEvent(raw)
		if err != nil {
			t.Fatalf("not an event: %v: %s", err, raw)
		}
		sealed := *e
		if got := sealed.Seal(); !bytes.Equal(got, raw) {
			t.Errorf("line is not the canonical, hashed form of its event:\n got %s\nwant %s", raw, got)
		}
		events = append(events, *e)
	}
	return events
}

func summary(events []audit.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, fmt.Sprintf("%s %d %s %s", e.Node, e.Seq, e.Type, e.Action))
	}
	return out
}

func TestAuditAfterStop(t *testing.T) {
	data, id := ranNode(t)
	ctx := t.Context()

	t.Run("verify", func(t *testing.T) {
		res := runMain(t, ctx, nil, "audit", "verify", "--data", data)
		if res.code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
		}
		want := fmt.Sprintf("node %s: ok: 2 events, last seq 2, 1 signed checkpoints (last at seq 2)", id)
		if !strings.Contains(res.stdout, want) {
			t.Errorf("stdout does not contain %q:\n%s", want, res.stdout)
		}
		if !strings.Contains(res.stdout, "warning: checkpoint keys were read from the store") {
			t.Errorf("no warning about keys from the store:\n%s", res.stdout)
		}
	})

	t.Run("verify json", func(t *testing.T) {
		res := runMain(t, ctx, nil, "audit", "verify", "--data", data, "--format", "json")
		var got struct {
			OK     bool
			Chains []audit.ChainReport
		}
		if err := json.Unmarshal([]byte(res.stdout), &got); err != nil || res.code != 0 {
			t.Fatalf("exit %d, %v:\n%s", res.code, err, res.stdout)
		}
		if !got.OK || len(got.Chains) != 1 || got.Chains[0].Node != id || got.Chains[0].LastSeq != 2 {
			t.Errorf("verify --format json = %+v", got)
		}
	})

	t.Run("key", func(t *testing.T) {
		res := runMain(t, ctx, nil, "audit", "key", "--data", data)
		if res.code != 0 || !strings.HasPrefix(res.stdout, "-----BEGIN PUBLIC KEY-----\n") {
			t.Fatalf("audit key: exit %d, stdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
		}
		keys, err := audit.ParsePublicKeys([]byte(res.stdout))
		if err != nil || len(keys) != 1 {
			t.Fatalf("audit key output: %d keys, %v", len(keys), err)
		}
		dir := t.TempDir()
		that := filepath.Join(dir, "that.pem")
		other := filepath.Join(dir, "other.pem")
		otherKey, _, _ := ed25519.GenerateKey(rand.Reader)
		os.WriteFile(that, []byte(res.stdout), 0o600)
		os.WriteFile(other, audit.EncodePublicKey(otherKey), 0o600)

		res = runMain(t, ctx, nil, "audit", "verify", "--data", data, "--key", that)
		if res.code != 0 || !strings.Contains(res.stdout, "node "+id+": ok") {
			t.Errorf("verify --key that.pem: exit %d, stdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
		}
		if strings.Contains(res.stdout, "warning") {
			t.Errorf("verify --key warns about keys from the store:\n%s", res.stdout)
		}
		res = runMain(t, ctx, nil, "audit", "verify", "--data", data, "--key", other)
		if res.code != 1 || !strings.Contains(res.stdout, "bad signature") {
			t.Errorf("verify --key other.pem: exit %d, want 1 naming a bad signature; stdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
		}
		// Either of two keys will do.
		res = runMain(t, ctx, nil, "audit", "verify", "--data", data, "--key", other, "--key", that)
		if res.code != 0 {
			t.Errorf("verify --key other.pem --key that.pem: exit %d, stdout:\n%s", res.code, res.stdout)
		}
	})

	t.Run("query", func(t *testing.T) {
		tests := []struct {
			args []string
			want []string
		}{
			{nil, []string{id + " 1 system start", id + " 2 system stop"}},
			{[]string{"--limit", "0"}, []string{id + " 1 system start", id + " 2 system stop"}},
			{[]string{"--type", "system", "--decision", "allow", "--limit", "1"}, []string{id + " 1 system start"}},
			{[]string{"--decision", "deny"}, nil},
			{[]string{"--type", "tool.call"}, nil},
			{[]string{"--actor", "subzero", "--node", id}, []string{id + " 1 system start", id + " 2 system stop"}},
			{[]string{"--actor", "someone"}, nil},
			{[]string{"--since", "1h"}, []string{id + " 1 system start", id + " 2 system stop"}},
			{[]string{"--until", "2000-01-01T00:00:00Z"}, nil},
			{[]string{"--node", "node-other"}, nil},
		}
		for _, tt := range tests {
			t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
				args := append([]string{"audit", "query", "--data", data, "--format", "json"}, tt.args...)
				res := runMain(t, ctx, nil, args...)
				if res.code != 0 {
					t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
				}
				if diff := cmp.Diff(tt.want, summary(jsonEvents(t, res.stdout))); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			})
		}
		res := runMain(t, ctx, nil, "audit", "query", "--data", data)
		if res.code != 0 || !strings.HasPrefix(res.stdout, "TIME") || strings.Count(res.stdout, "\n") != 3 {
			t.Errorf("query (table): exit %d, want a header and two rows:\n%s", res.code, res.stdout)
		}
	})

	t.Run("tail", func(t *testing.T) {
		res := runMain(t, ctx, nil, "audit", "tail", "--data", data, "-n", "1")
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		if res.code != 0 || len(lines) != 2 || !strings.Contains(lines[1], "stop") || !strings.Contains(lines[1], "graceful shutdown") {
			t.Errorf("tail -n 1: exit %d, want a header and the stop event:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
		}
		res = runMain(t, ctx, nil, "audit", "tail", "--data", data, "-n", "1", "--format", "json")
		if diff := cmp.Diff([]string{id + " 2 system stop"}, summary(jsonEvents(t, res.stdout))); diff != "" {
			t.Errorf("tail -n 1 --format json (-want +got):\n%s", diff)
		}
		res = runMain(t, ctx, nil, "audit", "tail", "--data", data, "-n", "10", "--format", "json")
		if diff := cmp.Diff([]string{id + " 1 system start", id + " 2 system stop"}, summary(jsonEvents(t, res.stdout))); diff != "" {
			t.Errorf("tail -n 10 --format json (-want +got):\n%s", diff)
		}
	})
}

// tamper edits node's chain in the stopped node's bbolt file, as someone
// with the file could.
func tamper(t *testing.T, data, node string, fn func(events *bbolt.Bucket) error) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(data, "subzero.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		root := tx.Bucket([]byte("audit"))
		if root == nil || root.Bucket([]byte(node)) == nil {
			return fmt.Errorf("no bucket audit/%s", node)
		}
		return fn(root.Bucket([]byte(node)).Bucket([]byte("events")))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// flipByte changes the first occurrence of old in the event at seq to new.
func flipByte(seq uint64, within string, old, new byte) func(*bbolt.Bucket) error {
	return func(b *bbolt.Bucket) error {
		rec := bytes.Clone(b.Get(seqKey(seq)))
		i := bytes.Index(rec, []byte(within))
		if i < 0 {
			return fmt.Errorf("seq %d has no %q: %s", seq, within, rec)
		}
		j := bytes.IndexByte(rec[i:], old)
		if j < 0 {
			return fmt.Errorf("seq %d: no %q after %q", seq, old, within)
		}
		rec[i+j] = new
		return b.Put(seqKey(seq), rec)
	}
}

// flipHashDigit changes the first hex digit of the stored hash of the event
// at seq.
func flipHashDigit(seq uint64) func(*bbolt.Bucket) error {
	return func(b *bbolt.Bucket) error {
		rec := bytes.Clone(b.Get(seqKey(seq)))
		i := bytes.Index(rec, []byte(`"hash":"`))
		if i < 0 {
			return fmt.Errorf("seq %d has no hash: %s", seq, rec)
		}
		i += len(`"hash":"`)
		if rec[i] == '0' {
			rec[i] = '1'
		} else {
			rec[i] = '0'
		}
		return b.Put(seqKey(seq), rec)
	}
}

func TestAuditVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name        string
		edit        func(*bbolt.Bucket) error
		wantIn      []string
		headDamaged bool // the last event does not verify
	}{
		{"one byte of the first event's reason", flipByte(1, `"reason":"version`, 'v', 'V'), []string{"seq 1", "modified"}, false},
		{"one byte of the last event's reason", flipByte(2, `"reason":"graceful`, 'g', 'G'), []string{"seq 2", "modified"}, true},
		{"one byte of the first event's action", flipByte(1, `"action":"start`, 's', 'S'), []string{"seq 1", "modified"}, false},
		{"one hex digit of the first event's hash", flipHashDigit(1), []string{"seq 1", "modified"}, false},
		{"the last event deleted", func(b *bbolt.Bucket) error { return b.Delete(seqKey(2)) }, []string{"seq 2", "missing"}, false},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, id := ranNode(t)
			tamper(t, data, id, tt.edit)
			res := runMain(t, t.Context(), nil, "audit", "verify", "--data", data)
			if res.code != 1 {
				t.Errorf("verify of a tampered chain: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
			}
			if !strings.Contains(res.stdout, "node "+id+": FAILED") {
				t.Errorf("verify output does not say node %s FAILED:\n%s", id, res.stdout)
			}
			for _, want := range tt.wantIn {
				if !strings.Contains(res.stdout, want) {
					t.Errorf("verify output does not contain %q:\n%s", want, res.stdout)
				}
			}
			// A node refuses to resume a chain whose head does not verify;
			// one whose damage lies further back starts, and the damage
			// stays visible.
			served, code, stderr := serveBriefly(t, data)
			if tt.headDamaged && (served || code != 1 || !strings.Contains(stderr, "does not verify")) {
				t.Errorf("serve on a chain with a damaged head: served %v, exit %d, want exit 1 saying it does not verify:\n%s", served, code, stderr)
			}
			res = runMain(t, t.Context(), nil, "audit", "verify", "--data", data)
			if res.code != 1 || !strings.Contains(res.stdout, tt.wantIn[0]) {
				t.Errorf("verify after a restart on the tampered chain: exit %d, want 1 naming %s:\n%s", res.code, tt.wantIn[0], res.stdout)
			}
		})
	}
}

// serveBriefly starts a node on data and stops it once it serves. It
// reports whether it served, its exit code (-1 for a panic) and stderr.
func serveBriefly(t *testing.T, data string) (served bool, code int, stderr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				fmt.Fprintf(&out, "PANIC: %v\n", v)
				done <- -1
			}
		}()
		err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--demo=false"}, nil, nil, io.Discard, &out)
		done <- exitCode(err, &out)
	}()
	for {
		select {
		case code := <-done:
			return served, code, out.String()
		case <-time.After(5 * time.Millisecond):
		}
		if !served && strings.Contains(out.String(), `"msg":"serving"`) {
			served = true
			cancel()
		}
	}
}

// While a node runs on bbolt it holds the file; the audit commands read
// through its admin socket.
func TestAuditWhileRunning(t *testing.T) {
	data := t.TempDir()
	n := serveNode(t, data, "", nil)
	_, body := getJSON(t, n.base+"/healthz")
	id := body["node"].(string)
	if _, err := os.Stat(filepath.Join(data, "admin.sock")); err != nil {
		t.Fatalf("no admin socket while serving: %v", err)
	}
	ctx := t.Context()

	res := runMain(t, ctx, nil, "audit", "verify", "--data", data)
	if res.code != 0 || !strings.Contains(res.stdout, "node "+id+": ok: 1 events") {
		t.Errorf("verify while running: exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	res = runMain(t, ctx, nil, "audit", "tail", "--data", data, "--format", "json")
	if diff := cmp.Diff([]string{id + " 1 system start"}, summary(jsonEvents(t, res.stdout))); res.code != 0 || diff != "" {
		t.Errorf("tail while running: exit %d, events (-want +got):\n%s\nstderr:\n%s", res.code, diff, res.stderr)
	}
	res = runMain(t, ctx, nil, "audit", "query", "--data", data, "--format", "json", "--type", "system")
	if diff := cmp.Diff([]string{id + " 1 system start"}, summary(jsonEvents(t, res.stdout))); res.code != 0 || diff != "" {
		t.Errorf("query while running: exit %d, events (-want +got):\n%s\nstderr:\n%s", res.code, diff, res.stderr)
	}
	res = runMain(t, ctx, nil, "audit", "key", "--data", data)
	if res.code != 0 || !strings.Contains(res.stdout, "PUBLIC KEY") {
		t.Errorf("key while running: exit %d\n%s", res.code, res.stderr)
	}
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
}

// `audit tail -f` prints events as they are appended: the stop event of
// the node it follows, then the events of the next start.
func TestAuditTailFollow(t *testing.T) {
	data := t.TempDir()
	n := serveNode(t, data, "", nil)
	_, body := getJSON(t, n.base+"/healthz")
	id := body["node"].(string)

	tail := followAudit(t, "--data", data)
	tail.waitEvents(t, id+" 1 start")
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	tail.waitEvents(t, id+" 2 stop")

	// The node starts again, and stops, while tail -f follows.
	n = serveNode(t, data, "", nil)
	tail.waitEvents(t, id+" 3 start")
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	tail.waitEvents(t, id+" 4 stop")

	if err := tail.stop(); err != nil {
		t.Errorf("tail -f after its context ended: %v", err)
	}
	want := []string{id + " 1 system start", id + " 2 system stop", id + " 3 system start", id + " 4 system stop"}
	if diff := cmp.Diff(want, summary(jsonEvents(t, tail.stdout.String()))); diff != "" {
		t.Errorf("tail -f printed (-want +got):\n%s", diff)
	}
}

// `audit tail -f` on a stopped node's data dir must not keep the node from
// starting again: it may not hold the database file between polls.
func TestAuditTailFollowLetsNodeStart(t *testing.T) {
	data, id := ranNode(t)
	tail := followAudit(t, "--data", data)
	tail.waitEvents(t, id+" 2 stop")

	served, code, stderr := serveBriefly(t, data)
	if !served {
		t.Fatalf("serve while tail -f follows the data dir: exit %d, want it to serve:\n%s", code, stderr)
	}
	tail.waitEvents(t, id+" 3 start", id+" 4 stop")
}
