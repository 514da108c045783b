package broker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/broker/oauth"
	"github.com/subzero-gateway/subzero/broker/token"
	"github.com/subzero-gateway/subzero/store/bolt"
)

// The local admin socket lets `subzero audit ...`, `user add`, `keys
// rotate` and `consent withdraw` reach a running node: the embedded store
// while `subzero serve` holds its file lock, and the node's audit chain. It
// listens on a Unix socket in the data directory with mode 0600: whoever
// may open it may also open the database file, so the socket grants
// nothing new.
type adminServer struct {
	path    string
	store   audit.Reader
	users   *oauth.Users
	signing *token.KeySet
	// withdraw forgets a user's consents to a client and audits it.
	withdraw func(ctx context.Context, user, clientID string) (int, error)
	authz    AuthzAdmin
	logger   *slog.Logger
	srv      *http.Server
	ln       net.Listener
}

func newAdminServer(path string, store audit.Reader, users *oauth.Users, keys *token.KeySet,
	withdraw func(ctx context.Context, user, clientID string) (int, error), authz AuthzAdmin, tools ToolsAdmin, keysAdmin APIKeysAdmin, logger *slog.Logger) *adminServer {
	a := &adminServer{path: path, store: store, users: users, signing: keys, withdraw: withdraw, authz: authz, logger: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /audit/nodes", a.nodes)
	mux.HandleFunc("GET /audit/last", a.last)
	mux.HandleFunc("GET /audit/scan", a.scan)
	mux.HandleFunc("GET /audit/checkpoints", a.checkpoints)
	mux.HandleFunc("GET /audit/keys", a.keys)
	mux.HandleFunc("POST /users", a.addUser)
	mux.HandleFunc("POST /keys/rotate", a.rotateKeys)
	mux.HandleFunc("POST /consents/withdraw", a.withdrawConsent)
	mux.Handle("/authz/", authzHandler(authz))
	mux.Handle("/mcp/", mcpAdminHandler(tools))
	mux.Handle("/apikeys", apiKeysHandler(keysAdmin))
	mux.Handle("/apikeys/", apiKeysHandler(keysAdmin))
	a.srv = &http.Server{Handler: mux, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	return a
}

func (a *adminServer) listen() error {
	// A socket left by a process that crashed is stale: the database lock
	// (bolt) or the node ID (redis) already keeps two servers apart.
	if err := os.Remove(a.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("admin socket: %w", err)
	}
	ln, err := net.Listen("unix", a.path)
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(a.path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("admin socket: %w", err)
	}
	a.ln = ln
	return nil
}

func (a *adminServer) serve() {
	if err := a.srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.logger.Error("admin socket", "err", err)
	}
}

// close stops accepting and lets requests in flight (an `audit tail -f`
// reading the last events) finish, for up to two seconds.
func (a *adminServer) close() {
	os.Remove(a.path) // new clients read the file instead
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		a.srv.Close()
	}
}

// newUser is the body of POST /users.
type newUser struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

func (a *adminServer) addUser(w http.ResponseWriter, r *http.Request) {
	var nu newUser
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<10)).Decode(&nu); err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_request", "body: want {\"name\", \"password\"}")
		return
	}
	u, err := a.users.Add(r.Context(), nu.Name, nu.Password)
	switch {
	case errors.Is(err, oauth.ErrExists):
		writeError(w, r, http.StatusConflict, "exists", err.Error())
	case err != nil:
		writeError(w, r, http.StatusBadRequest, "invalid_request", err.Error())
	default:
		writeJSON(w, http.StatusCreated, map[string]string{"name": u.Name, "sub": u.Subject})
	}
}

// withdrawal is the body of POST /consents/withdraw.
type withdrawal struct {
	User     string `json:"user"`
	ClientID string `json:"client_id"`
}

func (a *adminServer) withdrawConsent(w http.ResponseWriter, r *http.Request) {
	var wd withdrawal
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<10)).Decode(&wd); err != nil || wd.User == "" || wd.ClientID == "" {
		writeError(w, r, http.StatusBadRequest, "invalid_request", "body: want {\"user\", \"client_id\"}")
		return
	}
	n, err := a.withdraw(r.Context(), wd.User, wd.ClientID)
	switch {
	case errors.Is(err, oauth.ErrNotFound):
		writeError(w, r, http.StatusNotFound, "not_found", "no such user")
	case err != nil:
		writeError(w, r, http.StatusInternalServerError, "internal", err.Error())
	default:
		writeJSON(w, http.StatusOK, map[string]int{"withdrawn": n})
	}
}

func (a *adminServer) rotateKeys(w http.ResponseWriter, r *http.Request) {
	k, err := a.signing.Rotate(r.Context())
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, rotatedKey{ID: k.ID, Alg: k.Alg, Generation: k.Generation, Activate: k.Activate})
}

// rotatedKey is the answer of POST /keys/rotate.
type rotatedKey struct {
	ID         string    `json:"kid"`
	Alg        string    `json:"alg"`
	Generation uint64    `json:"generation"`
	Activate   time.Time `json:"activate"`
}

// errNoNode is a request to the admin socket that got no answer at all:
// no node listens, or it stopped while the request was on its way.
var errNoNode = errors.New("admin socket: no node answered")

type wireRecord struct {
	Seq  uint64 `json:"seq"`
	Data []byte `json:"data"`
}

func (a *adminServer) nodes(w http.ResponseWriter, r *http.Request) {
	nodes, err := a.store.Nodes(r.Context())
	a.reply(w, r, nodes, err)
}

func (a *adminServer) last(w http.ResponseWriter, r *http.Request) {
	rec, ok, err := a.store.Last(r.Context(), r.URL.Query().Get("node"))
	var out *wireRecord
	if ok {
		out = &wireRecord{Seq: rec.Seq, Data: rec.Data}
	}
	a.reply(w, r, out, err)
}

func (a *adminServer) checkpoints(w http.ResponseWriter, r *http.Request) {
	recs, err := a.store.Checkpoints(r.Context(), r.URL.Query().Get("node"))
	out := make([]wireRecord, 0, len(recs))
	for _, rec := range recs {
		out = append(out, wireRecord{Seq: rec.Seq, Data: rec.Data})
	}
	a.reply(w, r, out, err)
}

func (a *adminServer) keys(w http.ResponseWriter, r *http.Request) {
	keys, err := a.store.Keys(r.Context(), r.URL.Query().Get("node"))
	a.reply(w, r, keys, err)
}

// scan streams records as JSON lines; a last line {"error": ...} reports a
// failure after the first record.
func (a *adminServer) scan(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err := strconv.ParseUint(q.Get("from"), 10, 64)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_request", "from: want an unsigned integer")
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	err = a.store.Scan(r.Context(), q.Get("node"), from, func(rec audit.Record) error {
		return enc.Encode(wireRecord{Seq: rec.Seq, Data: rec.Data})
	})
	if err != nil {
		enc.Encode(map[string]string{"error": err.Error()})
	}
	bw.Flush()
}

func (a *adminServer) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		a.logger.ErrorContext(r.Context(), "admin socket", "path", r.URL.Path, "err", err)
		writeError(w, r, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// adminClient reads audit chains through a running node's admin socket.
type adminClient struct {
	http *http.Client
}

var _ audit.Reader = adminClient{}

func dialAdmin(path string) adminClient {
	// One connection a request: a node that stops closes its socket, and a
	// kept-alive connection would then fail a request instead of dialling.
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return adminClient{http: &http.Client{Transport: tr}}
}

// send makes one request to the node; a request no node answered is
// errNoNode.
func (c adminClient) send(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://admin"+path, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoNode, err)
	}
	return resp, nil
}

func (c adminClient) get(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	resp, err := c.send(ctx, http.MethodGet, path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e struct{ Message string }
		json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
		return nil, fmt.Errorf("admin socket: %s: %s", resp.Status, e.Message)
	}
	return resp, nil
}

func (c adminClient) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	resp, err := c.get(ctx, path, q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("admin socket: %s: %w", path, err)
	}
	return nil
}

func (c adminClient) Nodes(ctx context.Context) ([]string, error) {
	var nodes []string
	err := c.getJSON(ctx, "/audit/nodes", nil, &nodes)
	return nodes, err
}

func (c adminClient) Last(ctx context.Context, node string) (audit.Record, bool, error) {
	var rec *wireRecord
	if err := c.getJSON(ctx, "/audit/last", url.Values{"node": {node}}, &rec); err != nil || rec == nil {
		return audit.Record{}, false, err
	}
	return audit.Record{Seq: rec.Seq, Data: rec.Data}, true, nil
}

func (c adminClient) Checkpoints(ctx context.Context, node string) ([]audit.Record, error) {
	var recs []wireRecord
	if err := c.getJSON(ctx, "/audit/checkpoints", url.Values{"node": {node}}, &recs); err != nil {
		return nil, err
	}
	out := make([]audit.Record, 0, len(recs))
	for _, r := range recs {
		out = append(out, audit.Record{Seq: r.Seq, Data: r.Data})
	}
	return out, nil
}

func (c adminClient) Keys(ctx context.Context, node string) (map[string][]byte, error) {
	var keys map[string][]byte
	err := c.getJSON(ctx, "/audit/keys", url.Values{"node": {node}}, &keys)
	return keys, err
}

func (c adminClient) Scan(ctx context.Context, node string, from uint64, fn func(audit.Record) error) error {
	resp, err := c.get(ctx, "/audit/scan", url.Values{"node": {node}, "from": {strconv.FormatUint(from, 10)}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var line struct {
			wireRecord
			Error *string `json:"error"`
		}
		if err := dec.Decode(&line); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("admin socket: scan: %w", err)
		}
		if line.Error != nil {
			return fmt.Errorf("admin socket: scan: %s", *line.Error)
		}
		if err := fn(audit.Record{Seq: line.Seq, Data: line.Data}); err != nil {
			return err
		}
	}
}

// OpenAuditReader opens the configured store for reading audit chains. For
// the embedded store it opens the file read-only, or, while a server holds
// it, goes through that server's admin socket.
func OpenAuditReader(ctx context.Context, cfg *Config, getenv func(string) string) (audit.Reader, func() error, error) {
	switch cfg.Store.Kind {
	case "redis":
		db, err := openRedis(ctx, cfg, getenv)
		if err != nil {
			return nil, nil, err
		}
		return db.Audit(), db.Close, nil
	default:
		if _, err := os.Stat(cfg.BoltPath()); err != nil {
			return nil, nil, fmt.Errorf("store.bolt: %w", err)
		}
		return boltReader{cfg}, func() error { return nil }, nil
	}
}

// boltReader reads the embedded store afresh for each call: through the
// admin socket while a node serves, else from the file, opened read-only
// for the call only. So `audit tail -f` neither keeps a node from starting
// nor loses the events of a node that stops or starts while it follows.
type boltReader struct{ cfg *Config }

var _ audit.Reader = boltReader{}

func (b boltReader) with(fn func(audit.Reader) error) error {
	deadline := time.Now().Add(b.cfg.Store.Bolt.LockTimeout)
	for {
		if _, err := os.Stat(b.cfg.AdminSocket()); err == nil {
			c := dialAdmin(b.cfg.AdminSocket())
			err := fn(c)
			c.http.CloseIdleConnections()
			if !errors.Is(err, errNoNode) {
				return err
			}
			// No node answered (it stopped, or crashed): read the file,
			// which a stopping node holds a moment longer than its
			// socket; the wait for it starts now, however long the call
			// through the socket took.
			deadline = time.Now().Add(b.cfg.Store.Bolt.LockTimeout)
		}
		db, err := bolt.Open(b.cfg.BoltPath(), 50*time.Millisecond, true)
		if err == nil {
			defer db.Close()
			return fn(db.Audit())
		}
		// A node starting holds the file before its socket is up.
		if !errors.Is(err, bolt.ErrLocked) || time.Now().After(deadline) {
			return fmt.Errorf("store.bolt: %w", err)
		}
	}
}

func (b boltReader) Nodes(ctx context.Context) (nodes []string, err error) {
	err = b.with(func(r audit.Reader) error { nodes, err = r.Nodes(ctx); return err })
	return nodes, err
}

func (b boltReader) Scan(ctx context.Context, node string, from uint64, fn func(audit.Record) error) error {
	return b.with(func(r audit.Reader) error { return r.Scan(ctx, node, from, fn) })
}

func (b boltReader) Checkpoints(ctx context.Context, node string) (recs []audit.Record, err error) {
	err = b.with(func(r audit.Reader) error { recs, err = r.Checkpoints(ctx, node); return err })
	return recs, err
}

func (b boltReader) Keys(ctx context.Context, node string) (keys map[string][]byte, err error) {
	err = b.with(func(r audit.Reader) error { keys, err = r.Keys(ctx, node); return err })
	return keys, err
}

func (b boltReader) Last(ctx context.Context, node string) (rec audit.Record, ok bool, err error) {
	err = b.with(func(r audit.Reader) error { rec, ok, err = r.Last(ctx, node); return err })
	return rec, ok, err
}

// AddUser adds a user to the embedded identity store of the configured
// store: directly, or through the admin socket while a node holds the
// bbolt file.
func AddUser(ctx context.Context, cfg *Config, getenv func(string) string, name, password string) (*oauth.User, error) {
	var st oauth.Store
	switch cfg.Store.Kind {
	case "redis":
		db, err := openRedis(ctx, cfg, getenv)
		if err != nil {
			return nil, err
		}
		defer db.Close()
		st = db.OAuth()
	default:
		db, err := bolt.Open(cfg.BoltPath(), 200*time.Millisecond, false)
		if errors.Is(err, bolt.ErrLocked) {
			return addUserViaSocket(ctx, cfg.AdminSocket(), name, password)
		}
		if err != nil {
			return nil, fmt.Errorf("store.bolt: %w", err)
		}
		defer db.Close()
		st = db.OAuth()
	}
	return oauth.NewUsers(st, oauth.DefaultArgon2).Add(ctx, name, password)
}

// RotateKeys adds a new token signing key: it is published at once and
// signs after oauth.token.activation_delay; the old key verifies until
// retire_after past that. While a node holds the bbolt file it goes through
// its admin socket.
func RotateKeys(ctx context.Context, cfg *Config, getenv func(string) string) (token.KeyInfo, error) {
	var ks token.KeyStore
	switch cfg.Store.Kind {
	case "redis":
		db, err := openRedis(ctx, cfg, getenv)
		if err != nil {
			return token.KeyInfo{}, err
		}
		defer db.Close()
		ks = db.SigningKeys()
	default:
		db, err := bolt.Open(cfg.BoltPath(), 200*time.Millisecond, false)
		if errors.Is(err, bolt.ErrLocked) {
			return rotateViaSocket(ctx, cfg.AdminSocket())
		}
		if err != nil {
			return token.KeyInfo{}, fmt.Errorf("store.bolt: %w", err)
		}
		defer db.Close()
		ks = db.SigningKeys()
	}
	set, err := token.NewKeySet(ctx, cfg.OAuth.Token, ks, time.Now)
	if err != nil {
		return token.KeyInfo{}, err
	}
	return set.Rotate(ctx)
}

// exchange sends body to the node at path and decodes a 2xx answer into
// out. An error answer, {"error": code, "message": msg}, comes back as
// codes[code] wrapped with msg when codes names it, else with its status.
func (c adminClient) exchange(ctx context.Context, method, path, body string, out any, codes map[string]error) error {
	resp, err := c.send(ctx, method, path, strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
		if known, ok := codes[e.Error]; ok {
			return fmt.Errorf("%w: %s", known, e.Message)
		}
		return fmt.Errorf("admin socket: %s: %s", resp.Status, e.Message)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out)
}

// post sends a JSON body (nil for none) to the admin socket at path and
// decodes the JSON answer into out; it returns the status. A body of an
// error answer carries "message", which a non-nil out may read.
func (c adminClient) post(ctx context.Context, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://admin"+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("admin socket: %w", err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(out)
	}
	return resp.StatusCode, nil
}

// WithdrawConsent forgets a user's consents to a client through the
// running node's admin socket, which records it in the node's audit chain.
func WithdrawConsent(ctx context.Context, cfg *Config, user, clientID string) (int, error) {
	if _, err := os.Stat(cfg.AdminSocket()); err != nil {
		return 0, fmt.Errorf("no running node at %s: start it; the withdrawal is recorded in its audit chain", cfg.DataDir)
	}
	c := dialAdmin(cfg.AdminSocket())
	var out struct {
		Withdrawn int
		Message   string
	}
	status, err := c.post(ctx, "/consents/withdraw", withdrawal{User: user, ClientID: clientID}, &out)
	switch {
	case err != nil:
		return 0, err
	case status == http.StatusOK:
		return out.Withdrawn, nil
	case status == http.StatusNotFound:
		return 0, fmt.Errorf("%w: user %q", oauth.ErrNotFound, user)
	default:
		return 0, fmt.Errorf("admin socket: %s", out.Message)
	}
}

func addUserViaSocket(ctx context.Context, socket, name, password string) (*oauth.User, error) {
	var out struct{ Name, Sub, Message string }
	status, err := dialAdmin(socket).post(ctx, "/users", newUser{Name: name, Password: password}, &out)
	switch {
	case err != nil:
		return nil, err
	case status == http.StatusCreated:
		return &oauth.User{Name: out.Name, Subject: out.Sub}, nil
	case status == http.StatusConflict:
		return nil, fmt.Errorf("%w: user %q", oauth.ErrExists, name)
	default:
		return nil, errors.New(out.Message)
	}
}

func rotateViaSocket(ctx context.Context, socket string) (token.KeyInfo, error) {
	var out struct {
		rotatedKey
		Message string
	}
	status, err := dialAdmin(socket).post(ctx, "/keys/rotate", nil, &out)
	switch {
	case err != nil:
		return token.KeyInfo{}, err
	case status != http.StatusOK:
		return token.KeyInfo{}, fmt.Errorf("admin socket: %s", out.Message)
	}
	k := out.rotatedKey
	return token.KeyInfo{ID: k.ID, Alg: k.Alg, Generation: k.Generation, Activate: k.Activate}, nil
}
