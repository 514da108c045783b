package rego

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
)

// Log keys.
const (
	keyDir   = "policy_dir"
	keyError = "error"
	keyFiles = "files"
)

// Sentinel errors returned by [Engine.Evaluate]. Each comes with a denied
// [Decision].
var (
	// ErrUndefined means the query produced no result, usually because no
	// loaded module declares the queried package.
	ErrUndefined = errors.New("rego: policy result undefined")
	// ErrBadResult means the result is not an object, allow is not a
	// boolean, or deny is not a set or array of strings.
	ErrBadResult = errors.New("rego: malformed policy result")
	// ErrTimeout means evaluation did not finish within [Config.Timeout].
	ErrTimeout = errors.New("rego: evaluation timed out")
)

// ReasonNotAllowed is the reason given when allow is false or undefined and
// the policy states no deny reason.
const ReasonNotAllowed = "rego: allow is not true"

// Decision is the outcome of one evaluation.
type Decision struct {
	// Allowed is true only when the policy's allow is true and deny is empty.
	Allowed bool
	// Reasons are the policy's deny reasons, sorted; [ReasonNotAllowed]
	// when the call is denied without one. Empty when Allowed.
	Reasons []string
}

// policy is one compiled, prepared generation of the policy directory.
type policy struct {
	query      rego.PreparedEvalQuery
	generation uint64
}

// Engine evaluates the policy of one directory. It is safe for concurrent
// use; evaluation never blocks on a reload.
type Engine struct {
	cfg    Config
	logger *slog.Logger

	cur atomic.Pointer[policy]

	mu   sync.Mutex // serializes reloads; guards snap
	snap string     // directory fingerprint of the active policy

	cancel context.CancelFunc
	done   chan struct{}
}

// New loads and compiles every *.rego file of cfg.Dir, prepares cfg.Query and
// starts a watcher that reloads the policy when the directory changes. cfg
// must pass [Config.Validate]. A policy that does not compile is returned as
// a [*CompileError]; an empty directory as [ErrNoPolicies]. The watcher runs
// until [Engine.Close] is called or ctx is done.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: cfg, logger: logger.With(keyDir, cfg.Dir)}
	if err := e.Reload(ctx); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	e.cancel = cancel
	e.done = make(chan struct{})
	go e.watch(wctx)
	return e, nil
}

// Close stops the watcher and waits for it to exit. The engine keeps
// evaluating its last policy.
func (e *Engine) Close() error {
	e.cancel()
	<-e.done
	return nil
}

// Generation counts successful policy loads, starting at 1. Decision caches
// key on it to drop entries when the policy changes.
func (e *Engine) Generation() uint64 {
	return e.cur.Load().generation
}

// Reload reads the directory now and installs the policy if it compiles. On
// error the previous policy stays active. Unchanged directories are not
// recompiled.
func (e *Engine) Reload(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	snap, err := fingerprint(e.cfg.Dir)
	if err != nil {
		return err
	}
	if e.cur.Load() != nil && snap == e.snap {
		return nil
	}
	files, err := readDir(e.cfg.Dir)
	if err != nil {
		return err
	}
	c, err := compile(files)
	if err != nil {
		// Remember the snapshot so a broken policy is reported once, not on
		// every poll; the next change is tried again.
		e.snap = snap
		return err
	}
	pq, err := rego.New(
		rego.Compiler(c),
		rego.Query(e.cfg.Query),
		rego.Capabilities(capabilities()),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(ctx)
	if err != nil {
		e.snap = snap
		return fmt.Errorf("rego: prepare %s: %w", e.cfg.Query, err)
	}
	var gen uint64 = 1
	if old := e.cur.Load(); old != nil {
		gen = old.generation + 1
	}
	e.cur.Store(&policy{query: pq, generation: gen})
	e.snap = snap
	return nil
}

func (e *Engine) watch(ctx context.Context) {
	defer close(e.done)
	t := time.NewTicker(e.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		before := e.Generation()
		if err := e.Reload(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			e.logger.LogAttrs(ctx, slog.LevelError, "rego: policy rejected, previous policy stays active",
				slog.String(keyError, err.Error()))
			continue
		}
		if g := e.Generation(); g != before {
			e.logger.LogAttrs(ctx, slog.LevelInfo, "rego: policy reloaded", slog.Uint64("generation", g))
		}
	}
}

// Evaluate evaluates the policy for input within [Config.Timeout].
//
// Outcomes:
//   - allow is true and deny is empty: Allowed, nil error.
//   - allow is false or undefined, or deny is non-empty: denied with
//     Reasons, nil error.
//   - the query is undefined: denied, [ErrUndefined].
//   - allow is not a boolean, deny is not strings, the result is not an
//     object: denied, [ErrBadResult].
//   - the timeout expires: denied, [ErrTimeout].
//   - any other evaluation error (including builtin errors) or ctx
//     cancellation: denied, a wrapped error.
//
// The returned Decision is never Allowed when the error is non-nil.
func (e *Engine) Evaluate(ctx context.Context, input any) (Decision, error) {
	p := e.cur.Load()
	ctx, cancel := context.WithTimeoutCause(ctx, e.cfg.Timeout, ErrTimeout)
	defer cancel()
	rs, err := p.query.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		if errors.Is(context.Cause(ctx), ErrTimeout) {
			return denied(), ErrTimeout
		}
		if ctx.Err() != nil {
			return denied(), fmt.Errorf("rego: evaluate: %w", ctx.Err())
		}
		return denied(), fmt.Errorf("rego: evaluate: %w", err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return denied(), ErrUndefined
	}
	if len(rs) > 1 || len(rs[0].Expressions) > 1 {
		return denied(), fmt.Errorf("%w: more than one result", ErrBadResult)
	}
	return decide(rs[0].Expressions[0].Value)
}

func denied() Decision {
	return Decision{Reasons: []string{ReasonNotAllowed}}
}

// decide turns the query's result document into a Decision.
func decide(v any) (Decision, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return denied(), fmt.Errorf("%w: result is %T, want object", ErrBadResult, v)
	}
	allow := false
	if a, ok := obj["allow"]; ok {
		b, ok := a.(bool)
		if !ok {
			return denied(), fmt.Errorf("%w: allow is %T, want bool", ErrBadResult, a)
		}
		allow = b
	}
	var reasons []string
	if d, ok := obj["deny"]; ok {
		list, ok := d.([]any)
		if !ok {
			return denied(), fmt.Errorf("%w: deny is %T, want set of strings", ErrBadResult, d)
		}
		for _, r := range list {
			s, ok := r.(string)
			if !ok {
				return denied(), fmt.Errorf("%w: deny holds %T, want string", ErrBadResult, r)
			}
			reasons = append(reasons, s)
		}
	}
	if len(reasons) > 0 {
		slices.Sort(reasons)
		return Decision{Reasons: slices.Compact(reasons)}, nil
	}
	if !allow {
		return denied(), nil
	}
	return Decision{Allowed: true}, nil
}

// fingerprint summarizes the *.rego files of dir by name, size and mtime.
func fingerprint(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("rego: read %s: %w", dir, err)
	}
	var b strings.Builder
	for _, de := range entries {
		if !isPolicy(de) {
			continue
		}
		info, err := os.Stat(filepath.Join(dir, de.Name()))
		if err == nil && !info.Mode().IsRegular() {
			continue
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed between ReadDir and Info
			}
			return "", fmt.Errorf("rego: stat %s: %w", de.Name(), err)
		}
		fmt.Fprintf(&b, "%s\x00%d\x00%d\n", de.Name(), info.Size(), info.ModTime().UnixNano())
	}
	return b.String(), nil
}

// readDir reads the *.rego files of dir, keyed by base name.
func readDir(dir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("rego: read %s: %w", dir, err)
	}
	files := make(map[string][]byte)
	for _, de := range entries {
		if !isPolicy(de) {
			continue
		}
		path := filepath.Join(dir, de.Name())
		if info, err := os.Stat(path); err != nil || !info.Mode().IsRegular() {
			continue // removed since listing, dangling link, or not a file
		}
		src, err := readLimited(path)
		if err != nil {
			return nil, fmt.Errorf("rego: read %s: %w", de.Name(), err)
		}
		files[de.Name()] = src
	}
	return files, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxFileSize+1)) // compile reports oversize
}

// isPolicy reports whether de names a policy file: *.rego, not hidden, and
// not a directory. Symlinks are followed later (Kubernetes ConfigMap mounts
// are symlinks).
func isPolicy(de fs.DirEntry) bool {
	return !de.IsDir() && strings.HasSuffix(de.Name(), ".rego") && !strings.HasPrefix(de.Name(), ".")
}
