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
