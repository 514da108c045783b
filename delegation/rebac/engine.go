package rebac

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/subzero-gateway/subzero/delegation/rebac/tuplestore"
)

// Option defaults.
const (
	DefaultMaxDepth      = 25
	DefaultMaxFanOut     = 1000
	DefaultMaxListResult = 1000
	DefaultMaxBatch      = 100
	DefaultSyncWait      = 2 * time.Second

	// maxMaxDepth bounds Options.MaxDepth.
	maxMaxDepth = 1000
)

// withDefaults fills zero fields with the defaults.
func (o Options) withDefaults() Options {
	if o.MaxDepth == 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxFanOut == 0 {
		o.MaxFanOut = DefaultMaxFanOut
	}
	if o.MaxListResult == 0 {
		o.MaxListResult = DefaultMaxListResult
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.SyncWait == 0 {
		o.SyncWait = DefaultSyncWait
	}
	return o
}

func (o Options) validate() error {
	switch {
	case o.MaxDepth < 1 || o.MaxDepth > maxMaxDepth:
		return fmt.Errorf("rebac: max_depth: must be 1 to %d", maxMaxDepth)
	case o.MaxFanOut < 1:
		return errors.New("rebac: max_fanout: must be positive")
	case o.MaxListResult < 1:
		return errors.New("rebac: max_list_results: must be positive")
	case o.MaxBatch < 1:
		return errors.New("rebac: max_batch: must be positive")
	case o.SyncWait < 0:
		return errors.New("rebac: sync_wait: must not be negative")
	}
	return nil
}

// Engine answers checks and list queries from an in-process index of a
// TupleStore, which it follows through the store's change log.
//
// Readers (Check, BatchCheck, Explain, Expand, ListObjects, ListUsers)
// take no lock: each loads the current immutable version of the index
// and model from an atomic pointer. Writers (Sync, and Write and
// WriteModel through it) are serialized by a mutex, build the next
// version from the current one, copying only what changes, and publish
// it.
//
// # Security
//
// Errors never allow: a check that cannot be decided (a condition without
// its parameters, a resolution past the depth or fan-out bounds, a
// cancelled context) returns an error, not true. A stored tuple the
// current model no longer admits (its user's type, wildcard, userset or
// condition is not among the relation's type restrictions) grants nothing.
type Engine struct {
	store TupleStore
	opts  Options
	log   *slog.Logger

	cur      atomic.Pointer[view]
	checkers sync.Pool

	mu     sync.Mutex // serializes Sync and the publication of versions
	gen    uint64     // under mu
	models map[string]*Model
	closed bool
}

var _ Interface = (*Engine)(nil)

// view is one published state: an index version, the model and the
// store revision they reflect.
type view struct {
	x     *index
	model *cmodel // nil: no model written yet
	rev   uint64
	gen   uint64
	token string
}

// New loads the current model and a snapshot of store's tuples, replays
// the changes written since, and returns an engine that follows store
// when Sync is called. A store without a model is fine: checks then fail
// with CodeNoModel until one is written. logger may be nil.
func New(ctx context.Context, store TupleStore, opts Options, logger *slog.Logger) (*Engine, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{store: store, opts: opts, log: logger, models: map[string]*Model{}}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.rebuildLocked(ctx, newNames()); err != nil {
		return nil, err
	}
	return e, nil
}

// Close stops the engine following its store; later writes and syncs
// fail. Reads go on answering from the last version.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	return nil
}

var errClosed = errors.New("rebac: engine closed")

// Generation returns a number that changes whenever the index or the
// model changes, for caches of decisions.
func (e *Engine) Generation() uint64 { return e.cur.Load().gen }

// Revision returns the token of the revision the index reflects.
func (e *Engine) Revision() string { return e.cur.Load().token }

// Tokens: "1." and the revision in base 36. Opaque to callers.
const tokenPrefix = "1."

func revisionToken(rev uint64) string { return tokenPrefix + strconv.FormatUint(rev, 36) }

func parseToken(tok string) (uint64, error) {
	s, ok := strings.CutPrefix(tok, tokenPrefix)
	if ok {
		if rev, err := strconv.ParseUint(s, 36, 64); err == nil {
			return rev, nil
		}
	}
	return 0, &Error{Code: CodeValidation, Field: "at_least", Msg: "not a revision token of this engine"}
}

func errNoModel() error {
	return &Error{Code: CodeNoModel, Msg: "no authorization model has been written"}
}

// publish makes a version current. Called under mu.
func (e *Engine) publish(x *index, m *cmodel, rev uint64) {
	e.gen++
	e.cur.Store(&view{x: x, model: m, rev: rev, gen: e.gen, token: revisionToken(rev)})
}

// Sync applies the changes written to the store since the index's
// revision, on this node or any other. The broker calls it every few
// hundred milliseconds; Write and WriteModel call it before returning.
// When the store no longer has the changes needed it rebuilds the index
// from a snapshot and swaps it in whole.
func (e *Engine) Sync(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errClosed
	}
	return e.syncLocked(ctx)
}

func (e *Engine) syncLocked(ctx context.Context) error {
	for rebuilds := 0; ; {
		v := e.cur.Load()
		changes, err := e.store.Changes(ctx, v.rev)
		if errors.Is(err, tuplestore.ErrCompacted) {
			if rebuilds++; rebuilds > 3 {
				return fmt.Errorf("rebac: sync: the store compacts faster than the index reloads: %w", err)
			}
			e.log.Info("rebac: change log compacted past the index; reloading", "revision", v.rev)
			if err := e.reloadLocked(ctx, v.x.names); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("rebac: sync: %w", err)
		}
		if len(changes) == 0 {
			return nil
		}
		ed := newEditor(v.x)
		modelChanged := false
		for _, c := range changes {
			if c.Revision <= v.rev {
				continue
			}
			if c.Op == tuplestore.OpModel {
				modelChanged = true
				continue
			}
			if err := ed.apply(c); err != nil {
				e.log.Warn("rebac: skipping a tuple the index cannot hold", "revision", c.Revision, "error", err)
			}
		}
		m := v.model
		if modelChanged {
			if m, err = e.loadModel(ctx, ed); err != nil {
				return err
			}
		}
		e.publish(ed.done(), m, changes[len(changes)-1].Revision)
	}
}

// rebuildLocked loads the index from a snapshot and the current model,
// then replays the changes since.
func (e *Engine) rebuildLocked(ctx context.Context, nm *names) error {
	if err := e.reloadLocked(ctx, nm); err != nil {
		return err
	}
	return e.syncLocked(ctx)
}

func (e *Engine) reloadLocked(ctx context.Context, nm *names) error {
	hint := 1024
	if v := e.cur.Load(); v != nil {
		hint = max(hint, v.x.tuples+v.x.tuples/8)
	}
	b := newBulk(nm, hint)
	rev, err := e.store.Snapshot(ctx, func(t tuplestore.Tuple) error {
		if err := b.add(t); err != nil {
			e.log.Warn("rebac: skipping a tuple the index cannot hold", "error", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rebac: load snapshot: %w", err)
	}
	x := b.build()
	ed := newEditor(x)
	m, err := e.loadModel(ctx, ed)
	if err != nil {
		return err
	}
	e.publish(ed.done(), m, rev)
	return nil
}

// loadModel loads and compiles the store's current model, interning its
// names with ed; nil when none has been written.
func (e *Engine) loadModel(ctx context.Context, ed *editor) (*cmodel, error) {
	sm, err := e.store.Model(ctx)
	if errors.Is(err, tuplestore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rebac: load model: %w", err)
	}
	m := e.models[sm.ID]
	if m == nil {
		if m, err = LoadModel(sm.ID, sm.Data); err != nil {
			// Fail closed: a model this version cannot load answers nothing.
			e.log.Error("rebac: the current model does not load; checks fail until a loadable model is written", "model_id", sm.ID, "error", err)
			return nil, nil
		}
	}
	clear(e.models)
	e.models[sm.ID] = m
	return compileModel(m, ed)
}

// syncTo syncs until the index reflects rev.
func (e *Engine) syncTo(ctx context.Context, rev uint64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errClosed
	}
	if e.cur.Load().rev >= rev {
		return nil
	}
	return e.syncLocked(ctx)
}

// viewAt returns a version at least as new as the token, syncing and
// waiting up to Options.SyncWait for it; "" is the current version.
func (e *Engine) viewAt(ctx context.Context, token string) (*view, error) {
	v := e.cur.Load()
	if token == "" {
		return v, nil
	}
	want, err := parseToken(token)
	if err != nil {
		return nil, err
	}
	if v.rev >= want {
		return v, nil
	}
	deadline := time.Now().Add(e.opts.SyncWait)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		if err := e.syncTo(ctx, want); err != nil {
			return nil, err
		}
		if v = e.cur.Load(); v.rev >= want {
			return v, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, &Error{Code: CodeStale, Field: "at_least", Msg: fmt.Sprintf("the index has not reached the requested revision within %s", e.opts.SyncWait)}
		}
		t := time.NewTimer(min(wait, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// Write validates every tuple to write against the current model, then
// atomically deletes and writes them, and syncs so that the caller's next
// check sees the change. It returns a revision token for AtLeast. Nothing
// is written when any tuple is invalid; the error's Field names it
// ("writes[2].user", "deletes[0]"). A written tuple that exists, or a
// deleted one that does not, is CodeConflict. Deleted tuples are checked
// for form only, so that tuples a newer model no longer admits can still
// be removed.
func (e *Engine) Write(ctx context.Context, writes, deletes []Tuple) (string, error) {
	v := e.cur.Load()
	if v.model == nil {
		return "", errNoModel()
	}
	if n := len(writes) + len(deletes); n > tuplestore.MaxWrite {
		return "", &Error{Code: CodeValidation, Msg: fmt.Sprintf("%d tuples in one write; at most %d", n, tuplestore.MaxWrite)}
	}
	type key struct{ o, r, u string }
	seen := make(map[key]string, len(writes)+len(deletes))
	ws := make([]tuplestore.Tuple, len(writes))
	for i, t := range writes {
		field := fmt.Sprintf("writes[%d]", i)
		if err := v.model.m.ValidateTuple(t); err != nil {
			return "", fieldError(field, err)
		}
		cond, err := EncodeCondition(t.Condition)
		if err != nil {
			return "", fieldError(field, err)
		}
		k := key{t.Object, t.Relation, t.User}
		if prev, dup := seen[k]; dup {
			return "", &Error{Code: CodeValidation, Field: field, Msg: "the same tuple as " + prev}
		}
		seen[k] = field
		ws[i] = tuplestore.Tuple{Object: t.Object, Relation: t.Relation, User: t.User, Condition: cond}
	}
	ds := make([]tuplestore.Tuple, len(deletes))
	for i, t := range deletes {
		field := fmt.Sprintf("deletes[%d]", i)
		if err := checkForm(t); err != nil {
			return "", fieldError(field, err)
		}
		k := key{t.Object, t.Relation, t.User}
		if prev, dup := seen[k]; dup && strings.HasPrefix(prev, "deletes") {
			return "", &Error{Code: CodeValidation, Field: field, Msg: "the same tuple as " + prev}
		}
		seen[k] = field
		ds[i] = tuplestore.Tuple{Object: t.Object, Relation: t.Relation, User: t.User}
	}
	rev, err := e.store.Write(ctx, ws, ds)
	switch {
	case errors.Is(err, tuplestore.ErrExists):
		return "", &Error{Code: CodeConflict, Field: "writes", Msg: "a tuple to write already exists", Err: err}
	case errors.Is(err, tuplestore.ErrMissing):
		return "", &Error{Code: CodeConflict, Field: "deletes", Msg: "a tuple to delete does not exist", Err: err}
	case errors.Is(err, tuplestore.ErrTooLarge):
		return "", &Error{Code: CodeValidation, Msg: "write is too large", Err: err}
	case err != nil:
		return "", fmt.Errorf("rebac: write: %w", err)
	}
	if err := e.syncTo(ctx, rev); err != nil {
		return "", err
	}
	return revisionToken(rev), nil
}

// checkForm checks a tuple's fields for form, not against the model.
func checkForm(t Tuple) error {
	if _, _, err := ParseObject(t.Object); err != nil {
		return err
	}
	if t.Relation == "" || len(t.Relation) > MaxRelationBytes || checkName(t.Relation) != nil {
		return &Error{Code: CodeInvalidTuple, Field: "relation", Msg: "relation is not a valid name"}
	}
	if _, _, _, err := ParseUser(t.User); err != nil {
		return err
	}
	return nil
}

// fieldError prefixes the field of err with field.
func fieldError(field string, err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return &Error{Code: CodeValidation, Field: field, Msg: err.Error(), Err: err}
	}
	f := field
	if e.Field != "" {
		f += "." + e.Field
	}
	return &Error{Code: e.Code, Field: f, Msg: e.Msg, Err: e.Err}
}

// WriteModel parses and type-checks src (DSL or JSON), stores it under a
// new time-ordered ID as the current model, and syncs.
func (e *Engine) WriteModel(ctx context.Context, src []byte) (ModelInfo, error) {
	m, err := ParseModel(src)
	if err != nil {
		return ModelInfo{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return ModelInfo{}, fmt.Errorf("rebac: model id: %w", err)
	}
	m.ID = id.String()
	rev, err := e.store.WriteModel(ctx, tuplestore.Model{ID: m.ID, Data: m.JSON})
	if err != nil {
		return ModelInfo{}, fmt.Errorf("rebac: write model: %w", err)
	}
	e.mu.Lock()
	e.models[m.ID] = m // spares Sync parsing it again
	e.mu.Unlock()
	if err := e.syncTo(ctx, rev); err != nil {
		return ModelInfo{}, err
	}
	return ModelInfo{ID: m.ID, DSL: m.DSL, Revision: revisionToken(rev)}, nil
}

// Model describes the current model, or fails with CodeNoModel.
func (e *Engine) Model() (ModelInfo, error) {
	v := e.cur.Load()
	if v.model == nil {
		return ModelInfo{}, errNoModel()
	}
	return ModelInfo{ID: v.model.m.ID, DSL: v.model.m.DSL, Revision: v.token}, nil
}

// Read returns up to limit stored tuples (100 when limit <= 0) whose
// object, relation and user equal filter's non-empty ones, in key order.
// It reads the store, not the index, and serves management.
func (e *Engine) Read(ctx context.Context, filter Tuple, limit int) ([]Tuple, error) {
	if limit <= 0 {
		limit = 100
	}
	ts, err := e.store.Read(ctx, tuplestore.Tuple{Object: filter.Object, Relation: filter.Relation, User: filter.User}, tuplestore.Tuple{}, limit)
	if err != nil {
		return nil, fmt.Errorf("rebac: read: %w", err)
	}
	out := make([]Tuple, len(ts))
	for i, t := range ts {
		c, err := DecodeCondition(t.Condition)
		if err != nil {
			return nil, fmt.Errorf("rebac: read %s#%s@%s: %w", t.Object, t.Relation, t.User, err)
		}
		out[i] = Tuple{Object: t.Object, Relation: t.Relation, User: t.User, Condition: c}
	}
	return out, nil
}
