package storetest

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/subzero-gateway/subzero/audit"
)

// tamperChain is 20 events appended one by one with a checkpoint every 5,
// the last signed when the log closes.
const tamperChain = 20

func buildTamperChain(t *testing.T, b Backend) ed25519.PublicKey {
	t.Helper()
	signer := newSigner(t)
	cfg := audit.Default()
	cfg.CheckpointEvery = 5
	l := openLog(t, b.Audit, "n1", signer, cfg)
	for i := range tamperChain {
		e := audit.Event{Type: "tool.call", Action: "call", Target: "tool-" + string(rune('a'+i)),
			Decision: audit.Allow, Reason: "policy allowed", Actor: audit.Actor{Subject: "alice", ClientID: "agent"}}
		if _, err := l.Append(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	closeLog(t, l)
	return signer.Public()
}

// AuditTamper edits stored chains behind the store's back and checks that
// [audit.Verify] names the first bad seq and why.
func AuditTamper(t *testing.T, open func(t *testing.T) Backend) {
	forged := func(t *testing.T, b Backend, seq uint64, prev []byte) []byte {
		// A well-formed event at seq that chains to prev, as an attacker
		// who knows the encoding would write it.
		e, err := audit.DecodeEvent(prev)
		if err != nil {
			t.Fatal(err)
		}
		e.Seq, e.PrevHash, e.Target = seq, e.Hash, "forged"
		return e.Seal()
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, b Backend)
		seq    uint64
		kind   audit.ProblemKind
	}{
		{"untouched", func(*testing.T, Backend) {}, 0, ""},
		{"change one byte", func(t *testing.T, b Backend) {
			data := b.Tamper.Get(t, "n1", 7)
			b.Tamper.Put(t, "n1", 7, bytes.Replace(data, []byte("allowed"), []byte("allowex"), 1))
		}, 7, audit.Modified},
		{"change one byte of the seq", func(t *testing.T, b Backend) {
			data := b.Tamper.Get(t, "n1", 7)
			b.Tamper.Put(t, "n1", 7, bytes.Replace(data, []byte(`"seq":7`), []byte(`"seq":8`), 1))
		}, 7, audit.Modified},
		{"truncate a record", func(t *testing.T, b Backend) {
			data := b.Tamper.Get(t, "n1", 7)
			b.Tamper.Put(t, "n1", 7, data[:len(data)/2])
		}, 7, audit.Modified},
		{"rewrite with recomputed hash", func(t *testing.T, b Backend) {
			e, err := audit.DecodeEvent(b.Tamper.Get(t, "n1", 7))
			if err != nil {
				t.Fatal(err)
			}
			e.Decision = audit.Deny
			b.Tamper.Put(t, "n1", 7, e.Seal())
		}, 8, audit.Modified},
		{"delete one", func(t *testing.T, b Backend) { b.Tamper.Delete(t, "n1", 7) }, 7, audit.Missing},
		{"delete the first", func(t *testing.T, b Backend) { b.Tamper.Delete(t, "n1", 1) }, 1, audit.Missing},
		{"swap neighbours", func(t *testing.T, b Backend) { swap(t, b, 7, 8) }, 7, audit.Reordered},
		{"swap two", func(t *testing.T, b Backend) { swap(t, b, 7, 12) }, 7, audit.Reordered},
		{"insert a copy", func(t *testing.T, b Backend) { insert(t, b, 7, b.Tamper.Get(t, "n1", 3)) }, 7, audit.Inserted},
		{"insert a forged event", func(t *testing.T, b Backend) {
			insert(t, b, 7, forged(t, b, 7, b.Tamper.Get(t, "n1", 6)))
		}, 7, audit.Inserted},
		{"truncate the tail past a checkpoint", func(t *testing.T, b Backend) {
			for seq := uint64(13); seq <= tamperChain; seq++ {
				b.Tamper.Delete(t, "n1", seq)
			}
		}, 13, audit.Missing},
		{"delete the last event", func(t *testing.T, b Backend) { b.Tamper.Delete(t, "n1", tamperChain) }, tamperChain, audit.Missing},
		{"bad checkpoint signature", func(t *testing.T, b Backend) {
			cp := b.Tamper.GetCheckpoint(t, "n1", 10)
			i := bytes.Index(cp, []byte(`"sig":"`)) + len(`"sig":"`) + 3
			cp[i] ^= 'A' ^ 'B'
			b.Tamper.PutCheckpoint(t, "n1", 10, cp)
		}, 10, audit.BadSignature},
		{"checkpoint over another hash", func(t *testing.T, b Backend) {
			cp := b.Tamper.GetCheckpoint(t, "n1", 10)
			b.Tamper.PutCheckpoint(t, "n1", 10, bytes.Replace(cp, []byte(`"seq":10`), []byte(`"seq":11`), 1))
		}, 10, audit.BadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := open(t)
			pub := buildTamperChain(t, b)
			tc.tamper(t, b)
			reps, err := audit.Verify(t.Context(), b.Audit, audit.VerifyOptions{Keys: []ed25519.PublicKey{pub}})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if len(reps) != 1 {
				t.Fatalf("Verify returned %d reports, want 1", len(reps))
			}
			rep := reps[0]
			if tc.kind == "" {
				if !rep.OK() || rep.Events != tamperChain || rep.LastCheckpoint != tamperChain {
					t.Fatalf("untouched chain: %+v", rep)
				}
				return
			}
			if rep.OK() {
				t.Fatalf("tampered chain verified: %+v", rep)
			}
			p := rep.Problems[0]
			if p.Seq != tc.seq || p.Kind != tc.kind {
				t.Errorf("first problem = %v; want seq %d %s", p, tc.seq, tc.kind)
			}
		})
	}
	t.Run("untrusted key", func(t *testing.T) {
		b := open(t)
		buildTamperChain(t, b)
		other := newSigner(t).Public()
		reps, err := audit.Verify(t.Context(), b.Audit, audit.VerifyOptions{Keys: []ed25519.PublicKey{other}})
		if err != nil {
			t.Fatal(err)
		}
		if rep := reps[0]; rep.OK() || rep.Problems[0].Kind != audit.BadSignature || !strings.Contains(rep.Problems[0].Detail, "untrusted") {
			t.Errorf("chain signed by another key verified: %+v", rep)
		}
	})
}

func swap(t *testing.T, b Backend, x, y uint64) {
	dx, dy := b.Tamper.Get(t, "n1", x), b.Tamper.Get(t, "n1", y)
	b.Tamper.Put(t, "n1", x, dy)
	b.Tamper.Put(t, "n1", y, dx)
}

// insert shifts seqs at and after at up by one and stores data at at.
func insert(t *testing.T, b Backend, at uint64, data []byte) {
	for seq := uint64(tamperChain); seq >= at; seq-- {
		b.Tamper.Put(t, "n1", seq+1, b.Tamper.Get(t, "n1", seq))
	}
	b.Tamper.Put(t, "n1", at, data)
}
