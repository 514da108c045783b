package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sort"
)

// ProblemKind says what is wrong with a chain.
type ProblemKind string

// The problems [Verify] names.
const (
	Modified     ProblemKind = "modified"      // an event's bytes changed, or it no longer chains
	Missing      ProblemKind = "missing"       // seqs absent, or the chain ends before a checkpoint
	Reordered    ProblemKind = "reordered"     // an event stored at another event's seq
	Inserted     ProblemKind = "inserted"      // an event the chain does not link through
	BadSignature ProblemKind = "bad signature" // a checkpoint whose signature fails or whose key is not trusted
)

// Problem is one finding of [Verify], at the seq it names.
type Problem struct {
	Node   string      `json:"node"`
	Seq    uint64      `json:"seq"`
	Kind   ProblemKind `json:"kind"`
	Detail string      `json:"detail"`
}

func (p Problem) String() string {
	return fmt.Sprintf("node %s: seq %d: %s: %s", p.Node, p.Seq, p.Kind, p.Detail)
}

// ChainReport is the result of verifying one node's chain.
type ChainReport struct {
	Node           string    `json:"node"`
	Events         uint64    `json:"events"`
	LastSeq        uint64    `json:"last_seq"`
	LastHash       string    `json:"last_hash"`
	Checkpoints    int       `json:"checkpoints"`
	LastCheckpoint uint64    `json:"last_checkpoint"`
	KeysFromStore  bool      `json:"keys_from_store"`
	Problems       []Problem `json:"problems"`
}

// OK reports whether the chain verified.
func (r *ChainReport) OK() bool { return len(r.Problems) == 0 }

// VerifyOptions selects what [Verify] checks.
type VerifyOptions struct {
	// Nodes restricts verification to these nodes; empty means all.
	Nodes []string
	// Keys are the trusted checkpoint public keys. When empty, the keys
	// registered in the store are used, and each report says so: whoever
	// can rewrite the store can then also replace the keys.
	Keys []ed25519.PublicKey
}

// errStop ends a scan once the first chain problem is classified.
var errStop = errors.New("stop")

// Verify checks every event's hash and canonical form, the links and seqs
// of each chain, and every checkpoint's signature and hash. Each report
// names the first chain problem (with one record of lookahead to tell a
// modified event from an inserted one) and every checkpoint problem, sorted
// by seq. The error is only for failures to read.
func Verify(ctx context.Context, r Reader, opts VerifyOptions) ([]ChainReport, error) {
	nodes := opts.Nodes
	if len(nodes) == 0 {
		var err error
		if nodes, err = r.Nodes(ctx); err != nil {
			return nil, fmt.Errorf("audit: list nodes: %w", err)
		}
	}
	reports := make([]ChainReport, 0, len(nodes))
	for _, node := range nodes {
		rep, err := verifyChain(ctx, r, node, opts.Keys)
		if err != nil {
			return nil, err
		}
		reports = append(reports, rep)
	}
	return reports, nil
}

type trustedKeys map[string]ed25519.PublicKey

func verifyChain(ctx context.Context, r Reader, node string, keys []ed25519.PublicKey) (ChainReport, error) {
	rep := ChainReport{Node: node}
	trusted := trustedKeys{}
	for _, k := range keys {
		trusted[KeyID(k)] = k
	}
	if len(keys) == 0 {
		rep.KeysFromStore = true
		stored, err := r.Keys(ctx, node)
		if err != nil {
			return rep, fmt.Errorf("audit: keys of node %s: %w", node, err)
		}
		for id, pub := range stored {
			if len(pub) == ed25519.PublicKeySize && KeyID(pub) == id {
				trusted[id] = pub
			}
		}
	}
	cpRecs, err := r.Checkpoints(ctx, node)
	if err != nil {
		return rep, fmt.Errorf("audit: checkpoints of node %s: %w", node, err)
	}
	cps := map[uint64]string{} // seq -> hash, signed checkpoints only
	for _, rec := range cpRecs {
		c, err := decodeCheckpoint(rec.Data)
		switch {
		case err != nil:
			rep.addProblem(rec.Seq, BadSignature, "checkpoint record does not decode")
		case c.Node != node || c.Seq != rec.Seq:
			rep.addProblem(rec.Seq, BadSignature, fmt.Sprintf("checkpoint is for node %q seq %d", c.Node, c.Seq))
		case trusted[c.KeyID] == nil:
			rep.addProblem(rec.Seq, BadSignature, fmt.Sprintf("checkpoint signed by untrusted key %q", c.KeyID))
		case !c.verify(trusted[c.KeyID]):
			rep.addProblem(rec.Seq, BadSignature, "checkpoint signature does not verify")
		default:
			cps[c.Seq] = c.Hash
			rep.Checkpoints++
			rep.LastCheckpoint = max(rep.LastCheckpoint, c.Seq)
		}
	}

	w := chainWalker{node: node, rep: &rep, cps: cps, prevHash: ZeroHash}
	err = r.Scan(ctx, node, 0, w.step)
	if err != nil && !errors.Is(err, errStop) {
		return rep, fmt.Errorf("audit: scan node %s: %w", node, err)
	}
	w.finish()
	sort.SliceStable(rep.Problems, func(i, j int) bool { return rep.Problems[i].Seq < rep.Problems[j].Seq })
	return rep, nil
}

func (r *ChainReport) addProblem(seq uint64, kind ProblemKind, detail string) {
	r.Problems = append(r.Problems, Problem{Node: r.Node, Seq: seq, Kind: kind, Detail: detail})
}

// chainWalker checks records one at a time. The first record that does not
// continue the chain becomes the suspect, and the record after it decides
// what kind of problem it is.
type chainWalker struct {
	node     string
	rep      *ChainReport
	cps      map[uint64]string
	prevSeq  uint64 // seq of the last good event, 0 before the first
	prevHash string
	prevPos  uint64
	seen     bool
	failed   bool
	suspect  *suspect
}

type suspect struct {
	pos  uint64
	ev   *Event // nil when it does not decode
	why  string // empty when its own content is sound
	kind ProblemKind
}

func (w *chainWalker) step(rec Record) error {
	if w.suspect != nil {
		w.classify(rec)
		return errStop
	}
	w.suspect = w.check(rec)
	return nil
}

// check validates rec as the next event and advances the chain, or returns
// why it is not the next event.
func (w *chainWalker) check(rec Record) *suspect {
	defer func() { w.prevPos, w.seen = rec.Seq, true }()
	expected := w.prevSeq + 1
	if w.seen && rec.Seq == w.prevPos {
		return &suspect{pos: rec.Seq, kind: Inserted, why: "two records stored at the same seq"}
	}
	if rec.Seq < expected {
		return &suspect{pos: rec.Seq, kind: Inserted, why: fmt.Sprintf("record stored at seq %d before the chain's next seq %d", rec.Seq, expected)}
	}
	var p parsed
	if err := parseStored(rec.Data, &p); err != nil {
		return &suspect{pos: rec.Seq, kind: Modified, why: err.Error()}
	}
	e := &p.Event
	if err := checkHash(rec.Data, &p); err != nil {
		return &suspect{pos: rec.Seq, ev: e, kind: Modified, why: err.Error()}
	}
	switch {
	case rec.Seq > expected && e.Seq == rec.Seq:
		return &suspect{pos: expected, ev: e, kind: Missing, why: missingDetail(expected, rec.Seq-1)}
	case e.Seq != rec.Seq && w.prevSeq > 0 && e.Seq == w.prevSeq:
		return &suspect{pos: e.Seq, ev: e, kind: Inserted, why: fmt.Sprintf("two events claim seq %d", e.Seq)}
	case e.Seq != rec.Seq:
		return &suspect{pos: rec.Seq, ev: e, kind: Reordered, why: fmt.Sprintf("seq %d holds the event of seq %d", rec.Seq, e.Seq)}
	case e.Node != w.node:
		return &suspect{pos: rec.Seq, ev: e, kind: Modified, why: fmt.Sprintf("event belongs to node %q", e.Node)}
	case e.PrevHash != w.prevHash:
		return &suspect{pos: rec.Seq, ev: e, kind: Modified, why: fmt.Sprintf("prev_hash does not match the hash of seq %d", w.prevSeq)}
	}
	if want, ok := w.cps[e.Seq]; ok && want != e.Hash {
		return &suspect{pos: rec.Seq, ev: e, kind: Modified, why: "hash differs from the signed checkpoint"}
	}
	w.prevSeq, w.prevHash = e.Seq, e.Hash
	w.rep.Events++
	w.rep.LastSeq, w.rep.LastHash = e.Seq, e.Hash
	return nil
}

// classify names the suspect's problem, given the record after it.
func (w *chainWalker) classify(rec Record) {
	s := w.suspect
	w.suspect = nil
	if s.kind != Missing && s.kind != Inserted {
		// If the record after the suspect links to the event before it, the
		// chain runs around the suspect: the suspect was inserted, unless the
		// two are neighbours that swapped places.
		var n parsed
		if parseStored(rec.Data, &n) == nil && checkHash(rec.Data, &n) == nil &&
			n.PrevHash == w.prevHash && n.Seq == w.prevSeq+1 {
			swapped := s.ev != nil && s.ev.Seq == n.Seq+1 && s.ev.PrevHash == n.Hash
			if !swapped {
				s.kind, s.why = Inserted, fmt.Sprintf("the chain links seq %d to the record after it", w.prevSeq)
			}
		}
	}
	w.fail(s)
}

func (w *chainWalker) fail(s *suspect) {
	w.failed = true
	w.rep.addProblem(s.pos, s.kind, s.why)
}

func (w *chainWalker) finish() {
	if s := w.suspect; s != nil {
		w.suspect = nil
		w.fail(s)
	}
	if !w.failed && w.rep.LastCheckpoint > w.prevSeq {
		w.rep.addProblem(w.prevSeq+1, Missing, fmt.Sprintf("chain ends at seq %d but a signed checkpoint covers seq %d: the tail was truncated", w.prevSeq, w.rep.LastCheckpoint))
	}
}

func missingDetail(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("seq %d is absent", from)
	}
	return fmt.Sprintf("seqs %d to %d are absent", from, to)
}
