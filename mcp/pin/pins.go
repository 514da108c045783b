package pin

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/subzero-gateway/subzero/mcp/pin/pinstore"
)

// Store is where records are kept: see [pinstore.Store].
type Store = pinstore.Store

// Errors of [Pins].
var (
	// ErrNotFound: no record of the tool.
	ErrNotFound = pinstore.ErrNotFound
	// ErrStale: Approve's hash is neither the pending definition's nor
	// the approved one's: the definition changed since it was reviewed.
	ErrStale = errors.New("pin: hash is not the pending definition's")
	// ErrPinned: the tool is pinned in the configuration to another hash,
	// which an approval cannot override.
	ErrPinned = errors.New("pin: tool is pinned to another hash in the configuration")
)

// Actors recorded as approvers by Pins itself.
const (
	ActorTOFU   = "tofu"   // trust on first use
	ActorConfig = "config" // a configured pin
)

// Config configures tool pinning.
type Config struct {
	// TOFU records an unknown tool as approved (trust on first use);
	// false quarantines it until an admin approves it.
	TOFU bool `yaml:"tofu"`
	// Pins fixes the hash of tools, keyed upstream__tool; a tool whose
	// definition hashes otherwise is quarantined, TOFU or not.
	Pins map[string]string `yaml:"pins"`
	// Refresh is how often a node asks the store whether another node
	// changed a record; changes made elsewhere are seen within it.
	Refresh time.Duration `yaml:"refresh"`
}

// Default returns the default configuration: TOFU on, no pins, refresh
// every 500ms.
func Default() Config { return Config{TOFU: true, Refresh: 500 * time.Millisecond} }

var hashPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Validate reports the first invalid field, named by its key.
func (c Config) Validate() error {
	if c.Refresh <= 0 || c.Refresh > time.Minute {
		return errors.New("refresh: must be positive and at most 1m")
	}
	for k, h := range c.Pins {
		up, tool, ok := strings.Cut(k, "__")
		if !ok || up == "" || tool == "" {
			return fmt.Errorf("pins.%s: key must be upstream__tool", k)
		}
		if err := pinstore.CheckKey(pinstore.Key{Upstream: up, Tool: tool}); err != nil {
			return fmt.Errorf("pins.%s: %w", truncate(k, 64), err)
		}
		if !hashPattern.MatchString(h) {
			return fmt.Errorf("pins.%s: must be sha256: and 64 lowercase hex digits", k)
		}
	}
	return nil
}

// Reason says why a [Verdict] is what it is.
type Reason string

// The reasons of a verdict.
const (
	ReasonApproved    Reason = "approved"     // the definition is the approved one
	ReasonPinned      Reason = "pinned"       // the definition matches its configured pin
	ReasonLearned     Reason = "learned"      // unknown: approved on first use
	ReasonNew         Reason = "new"          // unknown, TOFU off: quarantined until approved
	ReasonChanged     Reason = "changed"      // differs from the approved definition
	ReasonPinMismatch Reason = "pin_mismatch" // differs from its configured pin
)

// Verdict is what [Pins.Check] says of a definition.
type Verdict struct {
	// Allowed reports whether the tool may be listed and called.
	Allowed bool
	Reason  Reason
	// Hash is the definition's hash; Approved the approved one's, "" when
	// none was.
	Hash, Approved string
	// Quarantined reports that this call quarantined the tool, and
	// Learned that it recorded an unknown tool as approved: exactly one
	// Check sees either for one change, across nodes, so the caller that
	// sees it writes the audit event.
	Quarantined, Learned bool
	// Changes is, when this call quarantined a changed tool, what changed
	// from the approved definition (nil when that is unknown).
	Changes []Change
}

// cached is what a node remembers of a record: enough to decide the
// common cases without the store.
type cached struct {
	found       bool
	state       pinstore.State
	hash        string
	pendingHash string
	epoch       uint64
}

// maxAttempts bounds compare-and-swap retries of one call.
const maxAttempts = 16

// Pins decides whether tools may be used, keeping their pinned
// definitions in a [Store] shared by all nodes and an in-process cache.
// It is safe for concurrent use.
type Pins struct {
	store Store
	cfg   Config
	now   func() time.Time

	cache *otter.Cache[pinstore.Key, cached]
	// epoch is bumped whenever cached entries may be stale: an entry of
	// an older epoch is reloaded. Loads record the epoch they started in.
	epoch    atomic.Uint64
	syncMu   sync.Mutex
	nextSync atomic.Int64 // Unix nanoseconds
	seenRev  uint64       // guarded by syncMu
}

// New returns pins over store; now is the clock (nil: time.Now).
func New(store Store, cfg Config, now func() time.Time) (*Pins, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pin: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Pins{
		store: store, cfg: cfg, now: now,
		cache: otter.Must(&otter.Options[pinstore.Key, cached]{MaximumSize: 100_000}),
	}, nil
}

// sync bumps the epoch when the store's revision moved since it last
// looked, at most once per Refresh; one caller looks while the others go
// on with the cache.
func (p *Pins) sync(ctx context.Context) error {
	now := p.now().UnixNano()
	if now < p.nextSync.Load() || !p.syncMu.TryLock() {
		return nil
	}
	defer p.syncMu.Unlock()
	if now < p.nextSync.Load() {
		return nil
	}
	p.nextSync.Store(now + int64(p.cfg.Refresh))
	rev, err := p.store.Revision(ctx)
	if err != nil {
		return fmt.Errorf("pin: %w", err)
	}
	if rev != p.seenRev {
		p.seenRev = rev
		p.epoch.Add(1)
	}
	return nil
}

// remember caches r (found or not) as loaded in epoch ep.
func (p *Pins) remember(k pinstore.Key, r pinstore.Record, found bool, ep uint64) {
	p.cache.Set(k, cached{found: found, state: r.State, hash: r.Hash, pendingHash: r.PendingHash, epoch: ep})
}

// wrote caches r after this node wrote it: entries loaded before the
// write become stale, r is current.
func (p *Pins) wrote(r pinstore.Record) {
	ep := p.epoch.Add(1)
	p.remember(r.Key, r, true, ep)
}

// get reads k from the store and caches what it found.
func (p *Pins) get(ctx context.Context, k pinstore.Key) (pinstore.Record, bool, error) {
	ep := p.epoch.Load()
	r, err := p.store.Get(ctx, k)
	switch {
	case errors.Is(err, pinstore.ErrNotFound):
		p.remember(k, pinstore.Record{}, false, ep)
		return pinstore.Record{}, false, nil
	case err != nil:
		return pinstore.Record{}, false, fmt.Errorf("pin: %w", err)
	}
	p.remember(k, r, true, ep)
	return r, true, nil
}

// Check decides whether the tool def describes may be listed and called,
// recording what it learns: an unknown tool is approved on first use
// (or quarantined when TOFU is off); a definition whose hash differs from
// the approved one, or from its configured pin, quarantines the tool. A
// quarantined tool stays denied, whatever definition it shows, until
// [Pins.Approve]. Errors (store unreachable) leave the decision to the
// caller, who denies.
func (p *Pins) Check(ctx context.Context, def Definition) (Verdict, error) {
	if def.IsZero() {
		return Verdict{}, errZero
	}
	if err := p.sync(ctx); err != nil {
		return Verdict{}, err
	}
	h, k := def.Hash(), def.Key()
	pinned, hasPin := p.cfg.Pins[k.String()]
	if e, ok := p.cache.GetIfPresent(k); ok && e.found && e.epoch == p.epoch.Load() {
		switch {
		case hasPin && h == pinned && e.state == pinstore.StateApproved && e.hash == h:
			return Verdict{Allowed: true, Reason: ReasonPinned, Hash: h, Approved: h}, nil
		case hasPin && h != pinned && e.state == pinstore.StateQuarantined:
			return Verdict{Reason: ReasonPinMismatch, Hash: h, Approved: e.hash}, nil
		case !hasPin && e.state == pinstore.StateApproved && e.hash == h:
			return Verdict{Allowed: true, Reason: ReasonApproved, Hash: h, Approved: h}, nil
		case !hasPin && e.state == pinstore.StateQuarantined:
			return Verdict{Reason: quarantineReason(e.hash), Hash: h, Approved: e.hash}, nil
		}
	}
	for range maxAttempts {
		v, next, err := p.decide(ctx, def, h, pinned, hasPin)
		if err != nil || next == nil {
			return v, err
		}
		ver, err := p.store.Put(ctx, *next)
		if errors.Is(err, pinstore.ErrConflict) {
			continue // another node wrote first: decide again on what it wrote
		}
		if err != nil {
			return Verdict{}, fmt.Errorf("pin: %w", err)
		}
		next.Version = ver
		p.wrote(*next)
		return v, nil
	}
	return Verdict{}, fmt.Errorf("pin: %s: record keeps changing, gave up after %d attempts", k, maxAttempts)
}

func quarantineReason(approved string) Reason {
	if approved == "" {
		return ReasonNew
	}
	return ReasonChanged
}

// decide reads the record of def and returns the verdict, and the record
// to write for it (nil: nothing to write).
func (p *Pins) decide(ctx context.Context, def Definition, h, pinned string, hasPin bool) (Verdict, *pinstore.Record, error) {
	r, found, err := p.get(ctx, def.Key())
	if err != nil {
		return Verdict{}, nil, err
	}
	now := p.now().UTC()
	v := Verdict{Hash: h, Approved: r.Hash}
	approve := func(by string) *pinstore.Record {
		first := r.FirstSeen
		if !found {
			first = now
		}
		return &pinstore.Record{
			Key: def.Key(), State: pinstore.StateApproved, Hash: h, Definition: def.canon,
			ApprovedBy: by, ApprovedAt: now, FirstSeen: first, Version: r.Version,
		}
	}
	quarantine := func() *pinstore.Record {
		q := &pinstore.Record{
			Key: def.Key(), State: pinstore.StateQuarantined, PendingHash: h, Pending: def.canon,
			FirstSeen: now, QuarantinedAt: now,
		}
		if found {
			q.Hash, q.Definition, q.ApprovedBy, q.ApprovedAt = r.Hash, r.Definition, r.ApprovedBy, r.ApprovedAt
			q.FirstSeen, q.Version = r.FirstSeen, r.Version
		}
		return q
	}
	switch {
	case hasPin && h == pinned:
		v.Allowed, v.Reason, v.Approved = true, ReasonPinned, h
		if found && r.State == pinstore.StateApproved && r.Hash == h {
			return v, nil, nil
		}
		return v, approve(ActorConfig), nil
	case hasPin:
		v.Reason = ReasonPinMismatch
		if found && r.State == pinstore.StateQuarantined {
			return v, nil, nil // quarantined already: the pending definition is set once
		}
		v.Quarantined = true
		if found && r.Hash == pinned {
			v.Changes = p.changes(def, r)
		}
		return v, quarantine(), nil
	case !found && p.cfg.TOFU:
		v.Allowed, v.Reason, v.Learned, v.Approved = true, ReasonLearned, true, h
		return v, approve(ActorTOFU), nil
	case !found:
		v.Reason, v.Quarantined = ReasonNew, true
		return v, quarantine(), nil
	case r.State == pinstore.StateApproved && r.Hash == h:
		v.Allowed, v.Reason = true, ReasonApproved
		return v, nil, nil
	case r.State == pinstore.StateApproved:
		v.Reason, v.Quarantined, v.Changes = ReasonChanged, true, p.changes(def, r)
		return v, quarantine(), nil
	}
	v.Reason = quarantineReason(r.Hash)
	return v, nil, nil
}

// changes diffs def against the approved definition of r; nil when that
// does not parse.
func (p *Pins) changes(def Definition, r pinstore.Record) []Change {
	old, err := ParseDefinition(r.Upstream, r.Definition)
	if err != nil {
		return nil
	}
	return Diff(old, def)
}

// Approve approves the tool's pending definition if hash is its hash,
// or dismisses the pending definition if hash is the approved one's; an
// admin approves what they reviewed, so any other hash fails with
// ErrStale. Approving the approved hash of an approved tool changes
// nothing. A tool pinned in the configuration to another hash fails with
// ErrPinned. It returns the record as stored.
func (p *Pins) Approve(ctx context.Context, upstream, tool, hash, actor string) (pinstore.Record, error) {
	k := pinstore.Key{Upstream: upstream, Tool: tool}
	switch {
	case actor == "":
		return pinstore.Record{}, errors.New("pin: approve: empty actor")
	case len(actor) > pinstore.MaxActor:
		return pinstore.Record{}, fmt.Errorf("pin: approve: actor: %w", pinstore.ErrTooLarge)
	case !hashPattern.MatchString(hash):
		return pinstore.Record{}, errors.New("pin: approve: hash must be sha256: and 64 lowercase hex digits")
	}
	if err := pinstore.CheckKey(k); err != nil {
		return pinstore.Record{}, fmt.Errorf("pin: approve: %w", err)
	}
	if pinned, ok := p.cfg.Pins[k.String()]; ok && pinned != hash {
		return pinstore.Record{}, fmt.Errorf("%w: %s is pinned to %s", ErrPinned, k, pinned)
	}
	for range maxAttempts {
		r, found, err := p.get(ctx, k)
		if err != nil {
			return pinstore.Record{}, err
		}
		if !found {
			return pinstore.Record{}, fmt.Errorf("pin: approve %s: %w", k, ErrNotFound)
		}
		next := pinstore.Record{
			Key: k, State: pinstore.StateApproved, Hash: hash,
			ApprovedBy: actor, ApprovedAt: p.now().UTC(), FirstSeen: r.FirstSeen, Version: r.Version,
		}
		switch {
		case r.State == pinstore.StateApproved && r.Hash == hash:
			return r, nil
		case r.State == pinstore.StateQuarantined && r.PendingHash == hash:
			next.Definition = r.Pending
		case r.State == pinstore.StateQuarantined && r.Hash == hash:
			next.Definition = r.Definition
		default:
			cur := r.PendingHash
			if r.State == pinstore.StateApproved {
				cur = r.Hash
			}
			return pinstore.Record{}, fmt.Errorf("%w: %s is %s at %s", ErrStale, k, r.State, cur)
		}
		ver, err := p.store.Put(ctx, next)
		if errors.Is(err, pinstore.ErrConflict) {
			continue
		}
		if err != nil {
			return pinstore.Record{}, fmt.Errorf("pin: approve: %w", err)
		}
		next.Version = ver
		p.wrote(next)
		return next, nil
	}
	return pinstore.Record{}, fmt.Errorf("pin: approve %s: record keeps changing, gave up after %d attempts", k, maxAttempts)
}

// Revoke forgets the tool's record, so that its next Check learns it
// anew (approved on first use, or quarantined when TOFU is off).
func (p *Pins) Revoke(ctx context.Context, upstream, tool string) error {
	k := pinstore.Key{Upstream: upstream, Tool: tool}
	if err := p.store.Delete(ctx, k); err != nil {
		return fmt.Errorf("pin: revoke: %w", err)
	}
	p.remember(k, pinstore.Record{}, false, p.epoch.Add(1))
	return nil
}

// Get returns the tool's record, read from the store, for review.
func (p *Pins) Get(ctx context.Context, upstream, tool string) (pinstore.Record, error) {
	r, found, err := p.get(ctx, pinstore.Key{Upstream: upstream, Tool: tool})
	if err == nil && !found {
		err = fmt.Errorf("pin: %s__%s: %w", upstream, tool, ErrNotFound)
	}
	return r, err
}

// Quarantined lists the quarantined tools' records in key order, read
// from the store.
func (p *Pins) Quarantined(ctx context.Context) ([]pinstore.Record, error) {
	var out []pinstore.Record
	var after pinstore.Key
	for {
		page, err := p.store.List(ctx, after, pinstore.MaxList)
		if err != nil {
			return nil, fmt.Errorf("pin: %w", err)
		}
		for _, r := range page {
			if r.State == pinstore.StateQuarantined {
				out = append(out, r)
			}
		}
		if len(page) < pinstore.MaxList {
			return out, nil
		}
		after = page[len(page)-1].Key
	}
}
