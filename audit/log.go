package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Config tunes a [Log].
type Config struct {
	// SigningKeyFile is the PEM Ed25519 private key that signs checkpoints.
	// Empty means <data dir>/audit-signing-key.pem, created when missing.
	SigningKeyFile string `yaml:"signing_key_file"`
	// CheckpointEvery signs a checkpoint at least every that many events.
	CheckpointEvery uint64 `yaml:"checkpoint_every"`
	// CheckpointInterval signs a checkpoint over new events at least this
	// often.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// MaxBatch bounds how many events one group commit writes.
	MaxBatch int `yaml:"max_batch"`
}

// Default returns the default configuration.
func Default() Config {
	return Config{CheckpointEvery: 1000, CheckpointInterval: 10 * time.Second, MaxBatch: 1024}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.CheckpointEvery == 0:
		return errors.New("checkpoint_every: must be at least 1")
	case c.CheckpointInterval < 100*time.Millisecond:
		return errors.New("checkpoint_interval: must be at least 100ms")
	case c.MaxBatch < 1 || c.MaxBatch > 65536:
		return errors.New("max_batch: must be between 1 and 65536")
	}
	return nil
}

// ErrClosed is returned by [Log.Append] after [Log.Close].
var ErrClosed = errors.New("audit: log closed")

// Log appends events to one node's hash chain. Appends from many goroutines
// are serialized by one writer that commits them in batches (group commit):
// an append returns only when its batch is durable, and seqs follow the
// order in which the writer received the events.
type Log struct {
	store  Store
	node   string
	owner  string
	signer *Signer
	cfg    Config
	logger *slog.Logger
	now    func() time.Time

	reqs     chan *appendReq
	closing  chan struct{}
	stopped  chan struct{}
	closeOne sync.Once
	appended atomic.Uint64

	// Owned by the writer goroutine.
	seq       uint64
	hash      string
	last      time.Time
	cpSeq     uint64
	cpTime    time.Time
	stale     bool // head unknown after a failed write: reload before the next
	prevBatch int
	sha       hash.Hash
	arena     []byte
	ends      []int
	timer     *time.Timer
	batch     []*appendReq
	recs      []Record
	checkpts  []Record
}

// appendReq is one pending append. enc holds the event's caller-set parts,
// already encoded: enc[:cut[0]] is part 1, then parts 2, 3 and 4.
type appendReq struct {
	enc  []byte
	cut  [3]int
	seq  uint64
	err  error
	done chan struct{}
}

var reqPool = sync.Pool{New: func() any { return &appendReq{done: make(chan struct{}, 1)} }}

// Open resumes node's chain in store and starts its writer. It refuses a
// chain whose last record does not verify, since appending to it would hide
// the damage.
//
// owner names this process's claim on the chain: it must stay the same
// across restarts of one node (so that a node restarting after a crash
// takes its chain back at once) and differ between processes. While one
// owner's lease is live, Open fails for any other with ErrInUse.
func Open(ctx context.Context, store Store, node, owner string, signer *Signer, cfg Config, logger *slog.Logger) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if node == "" {
		return nil, errors.New("audit: empty node ID")
	}
	if err := store.Claim(ctx, node, owner, leaseTTL); errors.Is(err, ErrInUse) {
		return nil, fmt.Errorf("%w: %s (each live process needs its own node.id)", err, node)
	} else if err != nil {
		return nil, fmt.Errorf("audit: claim node %s: %w", node, err)
	}
	l := &Log{
		store: store, node: node, owner: owner, signer: signer, cfg: cfg, logger: logger, now: time.Now,
		reqs:    make(chan *appendReq, cfg.MaxBatch),
		sha:     sha256.New(),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if err := store.PutKey(ctx, node, signer.KeyID(), signer.Public()); err != nil {
		store.Release(ctx, node, owner)
		return nil, fmt.Errorf("audit: register key: %w", err)
	}
	if err := l.reload(ctx); err != nil {
		store.Release(ctx, node, owner)
		return nil, err
	}
	l.cpSeq, l.cpTime = l.seq, l.now()
	cps, err := store.Checkpoints(ctx, node)
	if err != nil {
		store.Release(ctx, node, owner)
		return nil, fmt.Errorf("audit: read checkpoints: %w", err)
	}
	if len(cps) > 0 {
		if last := cps[len(cps)-1].Seq; last > l.seq {
			// Appending would fill the gap and hide the truncation.
			store.Release(ctx, node, owner)
			return nil, fmt.Errorf("audit: chain of node %s ends at seq %d but a checkpoint covers seq %d: it was truncated; run `subzero audit verify`", node, l.seq, last)
		}
		l.cpSeq = cps[len(cps)-1].Seq
	}
	go l.run()
	return l, nil
}

// Node returns the ID of the chain this log writes.
func (l *Log) Node() string { return l.node }

// Appended returns how many events this log has made durable.
func (l *Log) Appended() uint64 { return l.appended.Load() }

func (l *Log) reload(ctx context.Context) error {
	rec, ok, err := l.store.Last(ctx, l.node)
	if err != nil {
		return fmt.Errorf("audit: read chain head: %w", err)
	}
	if !ok {
		l.seq, l.hash, l.last, l.stale = 0, ZeroHash, time.Time{}, false
		return nil
	}
	e, err := DecodeEvent(rec.Data)
	if err != nil || e.Seq != rec.Seq || e.Node != l.node {
		return fmt.Errorf("audit: last event of node %s (seq %d) does not verify; run `subzero audit verify`", l.node, rec.Seq)
	}
	l.seq, l.hash, l.last, l.stale = e.Seq, e.Hash, e.Time, false
	return nil
}

// Append adds e to the chain and returns its seq once it is durable. The
// fields the log owns (seq, time, node, hashes, version) are overwritten;
// the rest is scrubbed of credentials and bounded in size first.
func (l *Log) Append(ctx context.Context, e Event) (uint64, error) {
	r := reqPool.Get().(*appendReq)
	scrub(&e)
	e.V = Version
	r.enc = appendPart1(r.enc[:0], &e)
	r.cut[0] = len(r.enc)
	r.enc = appendPart2(r.enc, &e)
	r.cut[1] = len(r.enc)
	r.enc = appendPart3(r.enc, &e)
	r.cut[2] = len(r.enc)
	r.enc = appendPart4(r.enc, &e)
	select {
	case <-l.closing:
		reqPool.Put(r)
		return 0, ErrClosed
	default:
	}
	select {
	case l.reqs <- r:
	case <-l.closing:
		reqPool.Put(r)
		return 0, ErrClosed
	case <-ctx.Done():
		reqPool.Put(r)
		return 0, ctx.Err()
	}
	select {
	case <-r.done:
	case <-l.stopped:
		select {
		case <-r.done:
		default:
			return 0, ErrClosed // the writer exited before taking r
		}
	}
	seq, err := r.seq, r.err
	r.err = nil
	reqPool.Put(r)
	return seq, err
}

// Close stops accepting events, commits those already accepted, signs a
// final checkpoint and returns when done or when ctx ends.
func (l *Log) Close(ctx context.Context) error {
	l.closeOne.Do(func() { close(l.closing) })
	select {
	case <-l.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit: close: %w", ctx.Err())
	}
}

// The lease on a node's chain lasts leaseTTL and is renewed every
// leaseRenew, so a node that dies frees its ID within leaseTTL.
const (
	leaseTTL   = 15 * time.Second
	leaseRenew = 5 * time.Second
)

func (l *Log) run() {
	defer close(l.stopped)
	defer l.store.Release(context.Background(), l.node, l.owner)
	tick := time.NewTicker(l.cfg.CheckpointInterval / 2)
	defer tick.Stop()
	renew := time.NewTicker(leaseRenew)
	defer renew.Stop()
	for {
		select {
		case <-renew.C:
			if err := l.store.Claim(context.Background(), l.node, l.owner, leaseTTL); err != nil && l.logger != nil {
				l.logger.Error("audit: renew the lease on this node's chain", "node", l.node, "err", err)
			}
		case r := <-l.reqs:
			l.commit(r)
		case <-tick.C:
			if l.seq > l.cpSeq && l.now().Sub(l.cpTime) >= l.cfg.CheckpointInterval {
				l.commit(nil)
			}
		case <-l.closing:
			for {
				select {
				case r := <-l.reqs:
					l.commit(r)
					continue
				default:
				}
				break
			}
			if l.seq > l.cpSeq {
				l.commit(nil)
			}
			return
		}
	}
}

// commit writes first and whatever else is queued, up to MaxBatch, plus a
// checkpoint when one is due; first nil writes only a checkpoint.
func (l *Log) commit(first *appendReq) {
	ctx := context.Background()
	l.batch = l.batch[:0]
	if first != nil {
		l.batch = append(l.batch, first)
		// Writers woken by the previous batch's acks are queuing again:
		// linger briefly until about as many have joined, so that they
		// share this commit instead of each paying for one.
		var linger <-chan time.Time
	fill:
		for len(l.batch) < l.cfg.MaxBatch {
			select {
			case r := <-l.reqs:
				l.batch = append(l.batch, r)
				continue
			default:
			}
			if len(l.batch) >= l.prevBatch || l.prevBatch < minLinger {
				break
			}
			if linger == nil {
				runtime.Gosched()
				linger = l.lingerTimer()
				continue
			}
			select {
			case r := <-l.reqs:
				l.batch = append(l.batch, r)
			case <-linger:
				break fill
			}
		}
		l.prevBatch = len(l.batch)
	}
	if l.stale {
		if err := l.reload(ctx); err != nil {
			l.fail(err)
			return
		}
	}
	prev, seq, hash, last := l.seq, l.seq, l.hash, l.last
	now := l.now().UTC()
	if now.Before(last) {
		now = last // time never goes backwards within a chain
	}
	ts := formatTime(now)
	// Each stored form goes into one arena, reused across batches: the
	// store does not keep records after Append returns.
	arena, ends := l.arena[:0], l.ends[:0]
	var sum [sha256.Size]byte
	for _, r := range l.batch {
		seq++
		start := len(arena)
		arena = append(arena, r.enc[:r.cut[0]]...)
		hashAt := len(arena)
		arena = appendHash(arena, ZeroHash) // placeholder, same length
		rest := len(arena)
		arena = appendNodePrev(arena, l.node, hash)
		arena = append(arena, r.enc[r.cut[0]:r.cut[1]]...)
		arena = appendSeq(arena, seq)
		arena = append(arena, r.enc[r.cut[1]:r.cut[2]]...)
		arena = appendTime(arena, ts)
		arena = append(arena, r.enc[r.cut[2]:]...)
		// hash = SHA-256 of the stored form without the hash member.
		l.sha.Reset()
		l.sha.Write(arena[start:hashAt])
		l.sha.Write(arena[rest:])
		l.sha.Sum(sum[:0])
		hexAt := rest - 1 - 2*sha256.Size
		hex.Encode(arena[hexAt:rest-1], sum[:])
		hash = string(arena[hexAt : rest-1])
		r.seq = seq
		ends = append(ends, len(arena))
	}
	l.arena, l.ends = arena, ends
	l.recs = l.recs[:0]
	start := 0
	for i, end := range ends {
		l.recs = append(l.recs, Record{Seq: prev + uint64(i) + 1, Data: arena[start:end]})
		start = end
	}
	l.checkpts = l.checkpts[:0]
	if seq > l.cpSeq && (first == nil || seq-l.cpSeq >= l.cfg.CheckpointEvery) {
		cp := l.signer.sign(l.node, seq, hash, now)
		l.checkpts = append(l.checkpts, Record{Seq: seq, Data: encodeCheckpoint(cp)})
	}
	if err := l.store.Append(ctx, l.node, prev, l.recs, l.checkpts); err != nil {
		l.stale = true
		l.fail(fmt.Errorf("audit: append: %w", err))
		return
	}
	l.seq, l.hash, l.last = seq, hash, now
	if len(l.checkpts) > 0 {
		l.cpSeq, l.cpTime = seq, l.now()
	}
	l.appended.Add(uint64(len(l.batch)))
	for _, r := range l.batch {
		r.done <- struct{}{}
	}
}

// maxLinger bounds how long a commit waits for writers to rejoin, and
// minLinger is the smallest previous batch that makes it wait at all: a
// timer this short can fire a millisecond late, which a writer coming
// back alone is not worth, while writers coming back together fill a
// commit and share its fdatasync.
const (
	maxLinger = 200 * time.Microsecond
	minLinger = 2
)

func (l *Log) lingerTimer() <-chan time.Time {
	if l.timer == nil {
		l.timer = time.NewTimer(maxLinger)
	} else {
		l.timer.Reset(maxLinger)
	}
	return l.timer.C
}

func (l *Log) fail(err error) {
	if l.logger != nil {
		l.logger.Error("audit append failed", "node", l.node, "events", len(l.batch), "err", err)
	}
	for _, r := range l.batch {
		r.seq, r.err = 0, err
		r.done <- struct{}{}
	}
}
