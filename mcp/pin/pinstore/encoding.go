package pinstore

import (
	"encoding/json"
	"fmt"
	"time"
)

// stored is the encoding of a record the backends share: JSON, byte
// fields in base64, times as Unix nanoseconds (0: the zero time).
type stored struct {
	Upstream      string `json:"u"`
	Tool          string `json:"t"`
	State         State  `json:"s"`
	Hash          string `json:"h,omitempty"`
	Definition    []byte `json:"d,omitempty"`
	PendingHash   string `json:"ph,omitempty"`
	Pending       []byte `json:"pd,omitempty"`
	ApprovedBy    string `json:"by,omitempty"`
	ApprovedAt    int64  `json:"at,omitempty"`
	FirstSeen     int64  `json:"fs,omitempty"`
	QuarantinedAt int64  `json:"qa,omitempty"`
	Version       uint64 `json:"v"`
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Encode returns the stored form of r, version included. Times keep
// nanoseconds and lose their location (they decode in UTC).
func Encode(r Record) ([]byte, error) {
	return json.Marshal(stored{
		Upstream: r.Upstream, Tool: r.Tool, State: r.State,
		Hash: r.Hash, Definition: r.Definition, PendingHash: r.PendingHash, Pending: r.Pending,
		ApprovedBy: r.ApprovedBy, ApprovedAt: nanos(r.ApprovedAt),
		FirstSeen: nanos(r.FirstSeen), QuarantinedAt: nanos(r.QuarantinedAt), Version: r.Version,
	})
}

// Decode parses what Encode returned.
func Decode(data []byte) (Record, error) {
	var s stored
	if err := json.Unmarshal(data, &s); err != nil {
		return Record{}, fmt.Errorf("pinstore: decode record: %w", err)
	}
	return Record{
		Key: Key{Upstream: s.Upstream, Tool: s.Tool}, State: s.State,
		Hash: s.Hash, Definition: s.Definition, PendingHash: s.PendingHash, Pending: s.Pending,
		ApprovedBy: s.ApprovedBy, ApprovedAt: fromNanos(s.ApprovedAt),
		FirstSeen: fromNanos(s.FirstSeen), QuarantinedAt: fromNanos(s.QuarantinedAt), Version: s.Version,
	}, nil
}
