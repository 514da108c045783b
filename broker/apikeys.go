package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/broker/apikey"
)

// APIKey describes an API key of the LLM proxy; never the key itself.
type APIKey struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Models    []string   `json:"models"` // empty: any model
	Created   time.Time  `json:"created"`
	Revoked   bool       `json:"revoked"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func apiKeyOf(k apikey.Key) APIKey {
	out := APIKey{ID: k.ID, Name: k.Name, Models: k.Models, Created: k.Created, Revoked: k.Revoked}
	if out.Models == nil {
		out.Models = []string{}
	}
	if k.Revoked {
		t := k.RevokedAt
		out.RevokedAt = &t
	}
	return out
}

// APIKeysAdmin is what `subzero apikey` does with a node's API keys. Every
// creation and revocation is recorded in the audit trail with actor.
type APIKeysAdmin interface {
	// Create makes a key; plaintext is shown once and stored nowhere.
	Create(ctx context.Context, name string, models []string, actor string) (plaintext string, key APIKey, err error)
	List(ctx context.Context) ([]APIKey, error)
	// Revoke revokes the key with ID id (apikey.ErrNotFound if none).
	Revoke(ctx context.Context, id, actor string) error
}

// ErrBadAPIKeyRequest marks a name or model list Create refuses.
var ErrBadAPIKeyRequest = errors.New("invalid API key request")

// apiKeys administers the keys of a store and audits the changes.
type apiKeys struct {
	keys   *apikey.Keys
	log    auditor
	logger *slog.Logger
}

func checkAPIKeyRequest(name string, models []string) error {
	if err := apikey.CheckName(name); err != nil {
		return fmt.Errorf("%w: name: %v", ErrBadAPIKeyRequest, err)
	}
	if len(models) > apikey.MaxModels {
		return fmt.Errorf("%w: %d models, at most %d", ErrBadAPIKeyRequest, len(models), apikey.MaxModels)
	}
	for _, m := range models {
		if m == "" || len(m) > apikey.MaxModelBytes || strings.ContainsAny(m, " \t\r\n,") {
			return fmt.Errorf("%w: model %q: want a model name or pattern of 1 to %d bytes without spaces or commas", ErrBadAPIKeyRequest, clipTo(m, 64), apikey.MaxModelBytes)
		}
	}
	return nil
}

func (a apiKeys) Create(ctx context.Context, name string, models []string, actor string) (string, APIKey, error) {
	if err := checkAPIKeyRequest(name, models); err != nil {
		return "", APIKey{}, err
	}
	plain, k, err := a.keys.Create(ctx, name, models)
	if err != nil {
		return "", APIKey{}, err
	}
	detail, _ := json.Marshal(map[string]any{"name": k.Name, "models": apiKeyOf(k).Models})
	a.record(ctx, "apikey.create", k.ID, actor, string(detail))
	return plain, apiKeyOf(k), nil
}

func (a apiKeys) List(ctx context.Context) ([]APIKey, error) {
	ks, err := a.keys.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]APIKey, 0, len(ks))
	for _, k := range ks {
		out = append(out, apiKeyOf(k))
	}
	return out, nil
}

func (a apiKeys) Revoke(ctx context.Context, id, actor string) error {
	if err := a.keys.Revoke(ctx, id); err != nil {
		return err
	}
	a.record(ctx, "apikey.revoke", id, actor, "")
	return nil
}

func (a apiKeys) record(ctx context.Context, action, id, actor, reason string) {
	_, err := a.log.Append(context.WithoutCancel(ctx), audit.Event{
		Type: "llm", Action: action, Target: "apikey:" + id, Decision: audit.Allow, Reason: reason,
		Actor: audit.Actor{Subject: actor}, RequestID: RequestID(ctx),
	})
	if err != nil {
		a.logger.ErrorContext(ctx, "audit", "action", action, "err", err)
	}
}

// OpenAPIKeys returns the API key administration for `subzero apikey`:
// through the running node's admin socket, or, when no node runs, on the
// data directory's store directly, audited in the node's chain. close
// releases what it opened.
func OpenAPIKeys(ctx context.Context, cfg *Config, getenv func(string) string, logger *slog.Logger) (APIKeysAdmin, func() error, error) {
	if c, ok := dialRunning(ctx, cfg.AdminSocket()); ok {
		return apiKeysClient{c: c}, func() error { c.http.CloseIdleConnections(); return nil }, nil
	}
	off, err := openOffline(ctx, cfg, getenv, logger)
	if err != nil {
		return nil, nil, err
	}
	secret, err := cfg.serverSecret(getenv)
	if err != nil {
		off.close()
		return nil, nil, err
	}
	keys, err := apikey.New(off.st.apikeys, secret)
	if err != nil {
		off.close()
		return nil, nil, err
	}
	return apiKeys{keys: keys, log: off.log, logger: logger}, off.close, nil
}

// maxAPIKeyBody bounds an admin API key request.
const maxAPIKeyBody = 64 << 10

// apiKeysHandler serves the admin API of API keys: POST /apikeys,
// GET /apikeys, POST /apikeys/revoke.
func apiKeysHandler(a APIKeysAdmin) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /apikeys", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Name   string   `json:"name"`
			Models []string `json:"models"`
		}
		if !decodeBody(w, r, maxAPIKeyBody, &req) {
			return
		}
		plain, k, err := a.Create(r.Context(), req.Name, req.Models, actorOf(r.Context()).Subject)
		switch {
		case errors.Is(err, ErrBadAPIKeyRequest):
			writeError(w, r, http.StatusBadRequest, "invalid_request", err.Error())
		case err != nil:
			writeError(w, r, http.StatusInternalServerError, "internal", "internal error, see the node's log for request "+RequestID(r.Context()))
		default:
			w.Header().Set("Cache-Control", "no-store")
			writeJSON(w, http.StatusCreated, map[string]any{"key": plain, "api_key": k})
		}
	})
	mux.HandleFunc("GET /apikeys", func(w http.ResponseWriter, r *http.Request) {
		ks, err := a.List(r.Context())
		if err != nil {
			writeError(w, r, http.StatusInternalServerError, "internal", "internal error, see the node's log for request "+RequestID(r.Context()))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"api_keys": ks})
	})
	mux.HandleFunc("POST /apikeys/revoke", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID string `json:"id"`
		}
		if !decodeBody(w, r, maxAPIKeyBody, &req) {
			return
		}
		err := a.Revoke(r.Context(), req.ID, actorOf(r.Context()).Subject)
		switch {
		case errors.Is(err, apikey.ErrNotFound):
			writeError(w, r, http.StatusNotFound, "not_found", "no API key "+clipTo(req.ID, 64))
		case err != nil:
			writeError(w, r, http.StatusInternalServerError, "internal", "internal error, see the node's log for request "+RequestID(r.Context()))
		default:
			writeJSON(w, http.StatusOK, map[string]string{"revoked": req.ID})
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "not_found", "no such endpoint")
	})
	return mux
}

// apiKeysClient is APIKeysAdmin over a running node's admin socket.
type apiKeysClient struct{ c adminClient }

func (a apiKeysClient) Create(ctx context.Context, name string, models []string, _ string) (string, APIKey, error) {
	body, _ := json.Marshal(map[string]any{"name": name, "models": models})
	var out struct {
		Key    string `json:"key"`
		APIKey APIKey `json:"api_key"`
	}
	err := a.call(ctx, http.MethodPost, "/apikeys", string(body), &out)
	return out.Key, out.APIKey, err
}

func (a apiKeysClient) List(ctx context.Context) ([]APIKey, error) {
	var out struct {
		Keys []APIKey `json:"api_keys"`
	}
	err := a.call(ctx, http.MethodGet, "/apikeys", "", &out)
	return out.Keys, err
}

func (a apiKeysClient) Revoke(ctx context.Context, id, _ string) error {
	body, _ := json.Marshal(map[string]string{"id": id})
	var out map[string]string
	return a.call(ctx, http.MethodPost, "/apikeys/revoke", string(body), &out)
}

func (a apiKeysClient) call(ctx context.Context, method, path, body string, out any) error {
	return a.c.exchange(ctx, method, path, body, out, map[string]error{
		"not_found": apikey.ErrNotFound, "invalid_request": ErrBadAPIKeyRequest,
	})
}
