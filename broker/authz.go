package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"time"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/delegation"
	"github.com/subzero-gateway/subzero/delegation/abac"
	"github.com/subzero-gateway/subzero/delegation/rebac"
	"github.com/subzero-gateway/subzero/delegation/rego"
)

// AuthzConfig configures authorization: the ReBAC engine, the attribute
// rules, the Rego policies and the decision point that asks them.
type AuthzConfig struct {
	// ModelFile, when set, is an OpenFGA model (DSL or JSON) a node writes
	// at start when it differs from the current model.
	ModelFile string `yaml:"model_file"`
	// ReBAC bounds the relationship engine.
	ReBAC rebac.Options `yaml:"rebac"`
	// ABAC holds attribute rules in CEL; no rules: ABAC is off.
	ABAC abac.Config `yaml:"abac"`
	// Rego names a directory of Rego policies; no dir: Rego is off.
	Rego rego.Config `yaml:"rego"`
	// Decision configures the decision point: the agent rule and the cache.
	Decision delegation.Config `yaml:"decision"`
	// AdminSubjects are the token subjects that may use the HTTP admin API
	// (/admin/authz/...) with a token of scope subzero:admin. Empty: the
	// HTTP admin API refuses everyone; the local admin socket and the CLI
	// still work.
	AdminSubjects []string `yaml:"admin_subjects"`
}

// AdminScope is the OAuth scope the HTTP admin API requires.
const AdminScope = "subzero:admin"

func defaultAuthz() AuthzConfig {
	return AuthzConfig{
		ReBAC: rebac.Options{
			MaxDepth: 25, MaxFanOut: 1000, MaxListResult: 1000, MaxBatch: 100, SyncWait: 2 * time.Second,
		},
		ABAC:     abac.Default(),
		Rego:     rego.Default(),
		Decision: delegation.Default(),
	}
}

func (c *AuthzConfig) validate() error {
	o := c.ReBAC
	switch {
	case o.MaxDepth < 1 || o.MaxDepth > 100:
		return errors.New("rebac.max_depth: must be between 1 and 100")
	case o.MaxFanOut < 1:
		return errors.New("rebac.max_fanout: must be positive")
	case o.MaxListResult < 1 || o.MaxListResult > 100_000:
		return errors.New("rebac.max_list_results: must be between 1 and 100000")
	case o.MaxBatch < 1 || o.MaxBatch > 1000:
		return errors.New("rebac.max_batch: must be between 1 and 1000")
	case o.SyncWait < 0 || o.SyncWait > time.Minute:
		return errors.New("rebac.sync_wait: must be between 0s and 1m")
	}
	if err := c.ABAC.Validate(); err != nil {
		return fmt.Errorf("abac.%w", err)
	}
	if c.Rego.Dir != "" {
		if err := c.Rego.Validate(); err != nil {
			return err // rego's errors name rego.<key>
		}
	}
	if err := c.Decision.Validate(); err != nil {
		return fmt.Errorf("decision.%w", err)
	}
	if c.ModelFile != "" {
		if _, err := os.Stat(c.ModelFile); err != nil {
			return fmt.Errorf("model_file: %w", err)
		}
	}
	for i, s := range c.AdminSubjects {
		if s == "" {
			return fmt.Errorf("admin_subjects[%d]: must not be empty", i)
		}
	}
	return nil
}

// AuthzAdmin is what the admin API and `subzero authz` do with
// authorization. A node's *Authz implements it, and so does the admin
// socket client; every write is recorded in the audit trail.
type AuthzAdmin interface {
	WriteModel(ctx context.Context, src []byte) (rebac.ModelInfo, error)
	Model(ctx context.Context) (rebac.ModelInfo, error)
	WriteTuples(ctx context.Context, writes, deletes []rebac.Tuple) (revision string, err error)
	ReadTuples(ctx context.Context, filter rebac.Tuple, limit int) ([]rebac.Tuple, error)
	Check(ctx context.Context, req rebac.CheckRequest) (rebac.CheckResult, error)
	ListObjects(ctx context.Context, req rebac.ListObjectsRequest) ([]string, error)
	ListUsers(ctx context.Context, req rebac.ListUsersRequest) ([]string, error)
	Expand(ctx context.Context, req rebac.ExpandRequest) (*rebac.Tree, error)
	Explain(ctx context.Context, req delegation.Request) (delegation.Decision, error)
}

// Authz is a node's authorization service.
type Authz struct {
	engine *rebac.Engine
	point  *delegation.Point
	rego   *rego.Engine // nil when off
	audit  *audit.Log
	logger *slog.Logger
}

var _ AuthzAdmin = (*Authz)(nil)

// newAuthz loads the ReBAC index from tuples and, when cfg names a model
// file that differs from the current model, writes it.
func newAuthz(ctx context.Context, cfg AuthzConfig, tuples rebac.TupleStore, log *audit.Log, logger *slog.Logger) (*Authz, error) {
	engine, err := rebac.New(ctx, tuples, cfg.ReBAC, logger)
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	a := &Authz{engine: engine, audit: log, logger: logger}
	var (
		attrs delegation.Attributes
		pol   delegation.Policies
	)
	if len(cfg.ABAC.Rules) > 0 {
		e, err := abac.New(cfg.ABAC)
		if err != nil {
			return nil, fmt.Errorf("authz.abac.%w", err)
		}
		attrs = e
	}
	if cfg.Rego.Dir != "" {
		if a.rego, err = rego.New(ctx, cfg.Rego, logger); err != nil {
			return nil, fmt.Errorf("authz.rego: %w", err)
		}
		pol = a.rego
	}
	var rel delegation.Relations
	if cfg.Decision.ReBAC.Enabled {
		rel = engine
	}
	if a.point, err = delegation.New(cfg.Decision, rel, attrs, pol, logger); err != nil {
		a.Close()
		return nil, fmt.Errorf("authz.decision.%w", err)
	}
	if cfg.ModelFile != "" {
		if err := a.ensureModel(ctx, cfg.ModelFile); err != nil {
			a.Close()
			return nil, err
		}
	}
	return a, nil
}

// Close stops watching the Rego policy directory.
func (a *Authz) Close() {
	if a.rego != nil {
		a.rego.Close()
	}
}

// Decide answers whether an agent, acting for a user, may do an action on
// a resource now: the decision point over ReBAC, ABAC and Rego, deny wins,
// cached.
func (a *Authz) Decide(ctx context.Context, req delegation.Request) (delegation.Decision, error) {
	return a.point.Decide(ctx, req)
}

// Explain decides like Decide, uncached, with every granting path.
func (a *Authz) Explain(ctx context.Context, req delegation.Request) (delegation.Decision, error) {
	return a.point.Explain(ctx, req)
}

// ensureModel writes the model in file unless it is the current one.
func (a *Authz) ensureModel(ctx context.Context, file string) error {
	src, err := readLimitedFile(file, 1<<20)
	if err != nil {
		return fmt.Errorf("authz.model_file: %w", err)
	}
	want, err := rebac.ParseModel(src)
	if err != nil {
		return fmt.Errorf("authz.model_file: %s: %w", file, err)
	}
	if cur, err := a.engine.Model(); err == nil && cur.DSL == want.DSL {
		return nil
	}
	ctx = withActor(ctx, audit.Actor{Subject: "subzero"})
	if _, err := a.WriteModel(ctx, src); err != nil {
		return fmt.Errorf("authz.model_file: %s: %w", file, err)
	}
	return nil
}

// Engine returns the ReBAC engine.
func (a *Authz) Engine() *rebac.Engine { return a.engine }

// Sync brings the index up to date with writes made on other nodes.
func (a *Authz) Sync(ctx context.Context) error { return a.engine.Sync(ctx) }

type actorKey struct{}

// withActor names who asks for an authorization write, for the audit
// trail.
func withActor(ctx context.Context, a audit.Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

func actorOf(ctx context.Context) audit.Actor {
	if a, ok := ctx.Value(actorKey{}).(audit.Actor); ok {
		return a
	}
	return audit.Actor{Subject: "local-admin"}
}

// record appends one authorization change to the audit trail.
func (a *Authz) record(ctx context.Context, action, target, reason string, d audit.Decision) error {
	_, err := a.audit.Append(context.WithoutCancel(ctx), audit.Event{
		Type: "authz", Action: action, Target: target, Decision: d, Reason: reason,
		Actor: actorOf(ctx), RequestID: RequestID(ctx),
	})
	if err != nil {
		a.logger.ErrorContext(ctx, "audit", "action", action, "err", err)
	}
	return err
}

// WriteModel parses, type-checks and stores a model (OpenFGA DSL or JSON)
// and makes it current. The write is audited; a model that is refused is
// audited as a denial.
func (a *Authz) WriteModel(ctx context.Context, src []byte) (rebac.ModelInfo, error) {
	info, err := a.engine.WriteModel(ctx, src)
	if err != nil {
		a.record(ctx, "model.write", "model", errorReason(err), audit.Deny)
		return info, err
	}
	return info, a.record(ctx, "model.write", "model/"+info.ID, "revision "+info.Revision, audit.Allow)
}

// Model returns the current model.
func (a *Authz) Model(context.Context) (rebac.ModelInfo, error) { return a.engine.Model() }

// WriteTuples deletes then writes tuples, all or nothing, and audits each
// tuple written or deleted; a refused write is audited as one denial.
func (a *Authz) WriteTuples(ctx context.Context, writes, deletes []rebac.Tuple) (string, error) {
	rev, err := a.engine.Write(ctx, writes, deletes)
	if err != nil {
		a.record(ctx, "tuples.write", "tuples", fmt.Sprintf("%d writes, %d deletes refused: %s", len(writes), len(deletes), errorReason(err)), audit.Deny)
		return "", err
	}
	var errs []error
	for _, t := range deletes {
		errs = append(errs, a.record(ctx, "tuple.delete", t.String(), "revision "+rev, audit.Allow))
	}
	for _, t := range writes {
		errs = append(errs, a.record(ctx, "tuple.write", t.String(), "revision "+rev, audit.Allow))
	}
	return rev, errors.Join(errs...)
}

// ReadTuples returns stored tuples matching filter's non-empty fields.
func (a *Authz) ReadTuples(ctx context.Context, filter rebac.Tuple, limit int) ([]rebac.Tuple, error) {
	return a.engine.Read(ctx, filter, limit)
}

// Check answers one relationship question, with its granting path.
func (a *Authz) Check(ctx context.Context, req rebac.CheckRequest) (rebac.CheckResult, error) {
	return a.engine.Explain(ctx, req)
}

// ListObjects lists the objects of a type a user has a relation on.
func (a *Authz) ListObjects(ctx context.Context, req rebac.ListObjectsRequest) ([]string, error) {
	objs, err := a.engine.ListObjects(ctx, req)
	slices.Sort(objs)
	return objs, err
}

// ListUsers lists the users that have a relation on an object.
func (a *Authz) ListUsers(ctx context.Context, req rebac.ListUsersRequest) ([]string, error) {
	users, err := a.engine.ListUsers(ctx, req)
	slices.Sort(users)
	return users, err
}

// Expand returns the userset tree of an object's relation.
func (a *Authz) Expand(ctx context.Context, req rebac.ExpandRequest) (*rebac.Tree, error) {
	return a.engine.Expand(ctx, req)
}

// errorReason is an error as the audit trail records it: the engine's
// message, which names the field and never holds condition values.
func errorReason(err error) string {
	var re *rebac.Error
	if errors.As(err, &re) {
		return re.Error()
	}
	return "internal error"
}

func readLimitedFile(path string, max int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return os.ReadFile(path)
}

// OpenAuthz reaches the configured node's authorization service for
// `subzero authz`: through the running node's admin socket, or, when no
// node runs on this data directory, in process: it takes the data
// directory's lock, opens the store and the node's audit chain (so that
// writes are audited as the node would) and loads the engine. close
// releases all of it.
func OpenAuthz(ctx context.Context, cfg *Config, getenv func(string) string, logger *slog.Logger) (_ AuthzAdmin, close func() error, err error) {
	if c, ok := dialRunning(ctx, cfg.AdminSocket()); ok {
		return authzClient{c: c}, func() error { c.http.CloseIdleConnections(); return nil }, nil
	}
	off, err := openOffline(ctx, cfg, getenv, logger)
	if err != nil {
		return nil, nil, err
	}
	acfg := cfg.Authz
	acfg.ModelFile = "" // a node applies it at start; the CLI changes only what it is asked to
	a, err := newAuthz(ctx, acfg, off.st.tuples, off.log, logger)
	if err != nil {
		off.close()
		return nil, nil, err
	}
	return a, func() error {
		a.Close()
		return off.close()
	}, nil
}

// offline is a stopped node's state, opened by an admin command: the data
// directory's lock, the store and the node's audit chain (so that what
// the command writes is audited as the node would).
type offline struct {
	st  stores
	log *audit.Log
	// close flushes the audit chain, closes the store and releases the
	// lock.
	close func() error
}

// openOffline takes the data directory's lock and opens the store and
// the node's audit chain; on error nothing stays open.
func openOffline(ctx context.Context, cfg *Config, getenv func(string) string, logger *slog.Logger) (_ *offline, err error) {
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	o := &offline{}
	defer func() {
		if err == nil {
			return
		}
		if o.log != nil {
			o.log.Close(context.WithoutCancel(ctx))
		}
		if o.st.db != nil {
			o.st.db.Close()
		}
		lock.Close()
	}()
	if o.st, err = openStores(ctx, cfg, getenv); err != nil {
		return nil, err
	}
	if _, o.log, err = openAuditLog(ctx, cfg, o.st.audit, logger); err != nil {
		return nil, err
	}
	o.close = func() error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err := o.log.Close(cctx)
		if cerr := o.st.db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("store: close: %w", cerr)
		}
		lock.Close()
		return err
	}
	return o, nil
}

// dialRunning returns a client of the node listening on the admin socket,
// if one answers.
func dialRunning(ctx context.Context, socket string) (adminClient, bool) {
	if _, err := os.Stat(socket); err != nil {
		return adminClient{}, false
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "unix", socket)
	if err != nil {
		return adminClient{}, false
	}
	conn.Close()
	return dialAdmin(socket), true
}
