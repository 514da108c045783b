package dpop

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// ReplayStore remembers the proofs already used, for every node that shares
// it. store/bolt and store/redis implement it; store/storetest checks them.
type ReplayStore interface {
	// Once records key until the time until and reports whether this call
	// recorded it. first is false when key is recorded already and its
	// record has not expired; a record whose until has passed counts as
	// absent and is replaced. Recording is atomic: of concurrent calls with
	// one key, on any node, exactly one sees first true. Keys are non-empty
	// printable ASCII of at most 128 bytes. Once is safe for concurrent
	// use; on error, first is false and the proof is rejected.
	Once(ctx context.Context, key string, until time.Time) (first bool, err error)
}

// LocalReplayStore is a [ReplayStore] kept in one process's memory, for a
// node that is the only one to accept proofs and whose process is the only
// one to use its store (store/bolt's data directory lock ensures both).
// Its memory starts empty with the process, so [Verifier.Verify] refuses
// the proofs made at or before Forgot, which an earlier process may have
// accepted in memory only, and calls OnceLocal, memory only, just for the
// proofs no earlier process can have accepted: those made after Started +
// max_skew and not ahead of the verifier's clock. An earlier process
// accepted a proof before its end, which precedes Started, and with an iat
// at most max_skew ahead of its clock; Once keeps those in a file, which a
// store may load at its start.
type LocalReplayStore interface {
	ReplayStore
	// Started returns when the store began to remember keys, after the
	// process that used the store before it had ended; or the zero time
	// if its memory began with every key that Once recorded before.
	Started() time.Time
	// Forgot returns a time at or after which no earlier process accepted
	// a proof the store has forgotten: Started, or the zero time when no
	// earlier process called OnceLocal.
	Forgot() time.Time
	// OnceLocal is Once in this process's memory only.
	OnceLocal(ctx context.Context, key string, until time.Time) (first bool, err error)
}

// once records the replay key of p, verified at now, until the time until,
// and reports whether this call recorded it; refused is non-empty when the
// store cannot tell whether p was accepted before.
func (v *Verifier) once(ctx context.Context, p *Proof, now, until time.Time) (first bool, refused string, err error) {
	key := replayKey(p.JKT, p.JTI)
	l, ok := v.replay.(LocalReplayStore)
	if !ok {
		first, err = v.replay.Once(ctx, key, until)
		return first, "", err
	}
	start := l.Started()
	switch forgot := l.Forgot(); {
	case !forgot.IsZero() && !p.IAT.After(forgot):
		return false, "DPoP proof was made before the server started", nil
	case p.IAT.After(now) || !p.IAT.After(start.Add(v.cfg.MaxSkew)):
		first, err = l.Once(ctx, key, until)
	default:
		first, err = l.OnceLocal(ctx, key, until)
	}
	return first, "", err
}

// replayKey returns the ReplayStore key of a proof: "dpop:", the key's
// thumbprint, ":", and the base64url SHA-256 of the jti, so that keys are
// bounded (92 bytes) whatever jti the client picked.
func replayKey(jkt, jti string) string {
	sum := sha256.Sum256([]byte(jti))
	const prefix = "dpop:"
	b := make([]byte, 0, len(prefix)+len(jkt)+1+base64.RawURLEncoding.EncodedLen(len(sum)))
	b = append(b, prefix...)
	b = append(b, jkt...)
	b = append(b, ':')
	b = base64.RawURLEncoding.AppendEncode(b, sum[:])
	return string(b)
}
