package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/subzero-gateway/subzero/delegation"
	"github.com/subzero-gateway/subzero/delegation/rebac"
)

// The authorization admin API: the same JSON endpoints on the local admin
// socket (under /authz/) and on the node's listener (under /admin/authz/,
// for admin subjects with a subzero:admin token).
//
//	GET  /authz/model            the current model
//	PUT  /authz/model            write a model (body: OpenFGA DSL or JSON)
//	GET  /authz/tuples           read tuples (?object= &relation= &user= &limit=)
//	POST /authz/tuples           {"writes": [...], "deletes": [...]}
//	POST /authz/check            {"user", "relation", "object", "context", "contextual_tuples", "at_least"}
//	POST /authz/list-objects     {"user", "relation", "type", ...}
//	POST /authz/list-users       {"object", "relation", "filters", ...}
//	POST /authz/expand           {"object", "relation", "contextual_tuples"}
//	POST /authz/explain          {"subject", "agent", "action", "resource", "context"}: the decision point's answer
//
// Errors are {"error", "message", "code", "field"} with the engine's code.

// Bounds on admin API bodies.
const (
	maxModelBody  = 1 << 20
	maxTupleBody  = 16 << 20
	maxQueryBody  = 1 << 20
	maxReadTuples = 10_000
)

// tupleWrite is the body of POST /authz/tuples.
type tupleWrite struct {
	Writes  []rebac.Tuple `json:"writes"`
	Deletes []rebac.Tuple `json:"deletes"`
}

// checkWire is the body of POST /authz/check and its answer.
type checkWire struct {
	User             string         `json:"user"`
	Relation         string         `json:"relation"`
	Object           string         `json:"object"`
	Context          map[string]any `json:"context,omitempty"`
	ContextualTuples []rebac.Tuple  `json:"contextual_tuples,omitempty"`
	AtLeast          string         `json:"at_least,omitempty"`
}

type checkAnswer struct {
	Allowed  bool     `json:"allowed"`
	Path     []string `json:"path,omitempty"`
	Revision string   `json:"revision,omitempty"`
}

type listObjectsWire struct {
	User             string         `json:"user"`
	Relation         string         `json:"relation"`
	Type             string         `json:"type"`
	Context          map[string]any `json:"context,omitempty"`
	ContextualTuples []rebac.Tuple  `json:"contextual_tuples,omitempty"`
	AtLeast          string         `json:"at_least,omitempty"`
}

type listUsersWire struct {
	Object           string         `json:"object"`
	Relation         string         `json:"relation"`
	Filters          []string       `json:"filters"`
	Context          map[string]any `json:"context,omitempty"`
	ContextualTuples []rebac.Tuple  `json:"contextual_tuples,omitempty"`
	AtLeast          string         `json:"at_least,omitempty"`
}

// explainWire is the body of POST /authz/explain and its answer.
type explainWire struct {
	Subject  string         `json:"subject"`
	Agent    string         `json:"agent,omitempty"`
	Action   string         `json:"action"`
	Resource string         `json:"resource"`
	Context  map[string]any `json:"context,omitempty"`
	AtLeast  string         `json:"at_least,omitempty"`
}

type explainAnswer struct {
	Allowed bool     `json:"allowed"`
	Reason  string   `json:"reason"`
	Engine  string   `json:"engine,omitempty"`
	Path    []string `json:"path,omitempty"`
	Rule    string   `json:"rule,omitempty"`
}

type expandWire struct {
	Object           string        `json:"object"`
	Relation         string        `json:"relation"`
	ContextualTuples []rebac.Tuple `json:"contextual_tuples,omitempty"`
}

// authzError is the JSON error body of the API.
type authzError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Code    int    `json:"code,omitempty"`
	Field   string `json:"field,omitempty"`
}

// authzHandler serves the API over a.
func authzHandler(a AuthzAdmin) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authz/model", func(w http.ResponseWriter, r *http.Request) {
		info, err := a.Model(r.Context())
		reply(w, r, info, err)
	})
	mux.HandleFunc("PUT /authz/model", func(w http.ResponseWriter, r *http.Request) {
		src, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxModelBody))
		if err != nil {
			badBody(w, r, fmt.Sprintf("model: at most %d bytes", maxModelBody))
			return
		}
		info, err := a.WriteModel(r.Context(), src)
		reply(w, r, info, err)
	})
	mux.HandleFunc("GET /authz/tuples", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit := 100
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > maxReadTuples {
				badBody(w, r, fmt.Sprintf("limit: want 1 to %d", maxReadTuples))
				return
			}
			limit = n
		}
		ts, err := a.ReadTuples(r.Context(), rebac.Tuple{Object: q.Get("object"), Relation: q.Get("relation"), User: q.Get("user")}, limit)
		if ts == nil {
			ts = []rebac.Tuple{}
		}
		reply(w, r, map[string][]rebac.Tuple{"tuples": ts}, err)
	})
	mux.HandleFunc("POST /authz/tuples", func(w http.ResponseWriter, r *http.Request) {
		var body tupleWrite
		if !decodeBody(w, r, maxTupleBody, &body) {
			return
		}
		rev, err := a.WriteTuples(r.Context(), body.Writes, body.Deletes)
		reply(w, r, map[string]string{"revision": rev}, err)
	})
	mux.HandleFunc("POST /authz/check", func(w http.ResponseWriter, r *http.Request) {
		var c checkWire
		if !decodeBody(w, r, maxQueryBody, &c) {
			return
		}
		res, err := a.Check(r.Context(), rebac.CheckRequest{User: c.User, Relation: c.Relation, Object: c.Object,
			Context: c.Context, ContextualTuples: c.ContextualTuples, AtLeast: c.AtLeast})
		reply(w, r, checkAnswer{Allowed: res.Allowed, Path: res.Path, Revision: res.Revision}, err)
	})
	mux.HandleFunc("POST /authz/list-objects", func(w http.ResponseWriter, r *http.Request) {
		var c listObjectsWire
		if !decodeBody(w, r, maxQueryBody, &c) {
			return
		}
		objs, err := a.ListObjects(r.Context(), rebac.ListObjectsRequest{User: c.User, Relation: c.Relation, Type: c.Type,
			Context: c.Context, ContextualTuples: c.ContextualTuples, AtLeast: c.AtLeast})
		if objs == nil {
			objs = []string{}
		}
		reply(w, r, map[string][]string{"objects": objs}, err)
	})
	mux.HandleFunc("POST /authz/list-users", func(w http.ResponseWriter, r *http.Request) {
		var c listUsersWire
		if !decodeBody(w, r, maxQueryBody, &c) {
			return
		}
		users, err := a.ListUsers(r.Context(), rebac.ListUsersRequest{Object: c.Object, Relation: c.Relation, Filters: c.Filters,
			Context: c.Context, ContextualTuples: c.ContextualTuples, AtLeast: c.AtLeast})
		if users == nil {
			users = []string{}
		}
		reply(w, r, map[string][]string{"users": users}, err)
	})
	mux.HandleFunc("POST /authz/expand", func(w http.ResponseWriter, r *http.Request) {
		var c expandWire
		if !decodeBody(w, r, maxQueryBody, &c) {
			return
		}
		tree, err := a.Expand(r.Context(), rebac.ExpandRequest{Object: c.Object, Relation: c.Relation, ContextualTuples: c.ContextualTuples})
		reply(w, r, tree, err)
	})
	mux.HandleFunc("POST /authz/explain", func(w http.ResponseWriter, r *http.Request) {
		var c explainWire
		if !decodeBody(w, r, maxQueryBody, &c) {
			return
		}
		d, err := a.Explain(r.Context(), delegation.Request{Subject: delegation.Subject{ID: c.Subject}, Agent: delegation.Agent{ID: c.Agent},
			Action: c.Action, Resource: c.Resource, Context: c.Context, AtLeast: c.AtLeast})
		if errors.Is(err, delegation.ErrInvalidRequest) {
			badBody(w, r, err.Error())
			return
		}
		if err != nil {
			var re *rebac.Error
			if errors.As(err, &re) {
				reply(w, r, nil, re)
				return
			}
			// An engine that failed denies; the answer says so.
		}
		reply(w, r, explainAnswer{Allowed: d.Allowed, Reason: d.Reason, Engine: d.Engine, Path: d.Path, Rule: d.Rule}, nil)
	})
	return mux
}

func decodeBody(w http.ResponseWriter, r *http.Request, max int64, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		badBody(w, r, "body: "+jsonProblem(err))
		return false
	}
	if dec.More() {
		badBody(w, r, "body: one JSON object expected")
		return false
	}
	return true
}

// jsonProblem describes a JSON decoding error without echoing the input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return fmt.Sprintf("larger than %d bytes", mbe.Limit)
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at offset %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %s: want %s", te.Field, te.Type)
	case errors.Is(err, io.EOF):
		return "empty"
	default:
		return err.Error()
	}
}

func badBody(w http.ResponseWriter, r *http.Request, msg string) {
	writeJSON(w, http.StatusBadRequest, authzError{Error: "invalid_request", Message: msg, Code: int(rebac.CodeValidation)})
}

// reply writes v, or err as the API's error body with a status chosen by
// its engine code.
func reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err == nil {
		writeJSON(w, http.StatusOK, v)
		return
	}
	var re *rebac.Error
	if !errors.As(err, &re) {
		writeError(w, r, http.StatusInternalServerError, "internal", "internal error, see the node's log for request "+RequestID(r.Context()))
		return
	}
	status, name := http.StatusBadRequest, "invalid_request"
	switch re.Code {
	case rebac.CodeConflict:
		status, name = http.StatusConflict, "conflict"
	case rebac.CodeNoModel:
		status, name = http.StatusNotFound, "no_model"
	case rebac.CodeStale:
		status, name = http.StatusServiceUnavailable, "stale"
	case rebac.CodeTooComplex:
		status, name = http.StatusUnprocessableEntity, "too_complex"
	}
	writeJSON(w, status, authzError{Error: name, Message: re.Msg, Code: int(re.Code), Field: re.Field})
}

// authzClient is AuthzAdmin over the admin socket.
type authzClient struct{ c adminClient }

var _ AuthzAdmin = authzClient{}

// call sends body (JSON, or raw bytes) and decodes the answer into out; an
// error answer becomes the *rebac.Error it was, so callers see the same
// errors as in process.
func (a authzClient) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	resp, err := a.c.send(ctx, method, path, rd)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e authzError
		json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
		if e.Code != 0 {
			return &rebac.Error{Code: rebac.ErrorCode(e.Code), Field: e.Field, Msg: e.Message}
		}
		return fmt.Errorf("admin socket: %s: %s", resp.Status, e.Message)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("admin socket: %s: %w", path, err)
	}
	return nil
}

func (a authzClient) WriteModel(ctx context.Context, src []byte) (info rebac.ModelInfo, err error) {
	err = a.call(ctx, http.MethodPut, "/authz/model", src, &info)
	return info, err
}

func (a authzClient) Model(ctx context.Context) (info rebac.ModelInfo, err error) {
	err = a.call(ctx, http.MethodGet, "/authz/model", nil, &info)
	return info, err
}

func (a authzClient) WriteTuples(ctx context.Context, writes, deletes []rebac.Tuple) (string, error) {
	var out struct{ Revision string }
	err := a.call(ctx, http.MethodPost, "/authz/tuples", tupleWrite{Writes: writes, Deletes: deletes}, &out)
	return out.Revision, err
}

func (a authzClient) ReadTuples(ctx context.Context, f rebac.Tuple, limit int) ([]rebac.Tuple, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	for k, v := range map[string]string{"object": f.Object, "relation": f.Relation, "user": f.User} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var out struct{ Tuples []rebac.Tuple }
	err := a.call(ctx, http.MethodGet, "/authz/tuples?"+q.Encode(), nil, &out)
	return out.Tuples, err
}

func (a authzClient) Check(ctx context.Context, r rebac.CheckRequest) (rebac.CheckResult, error) {
	var out checkAnswer
	err := a.call(ctx, http.MethodPost, "/authz/check", checkWire{User: r.User, Relation: r.Relation, Object: r.Object,
		Context: r.Context, ContextualTuples: r.ContextualTuples, AtLeast: r.AtLeast}, &out)
	return rebac.CheckResult{Allowed: out.Allowed, Path: out.Path, Revision: out.Revision}, err
}

func (a authzClient) ListObjects(ctx context.Context, r rebac.ListObjectsRequest) ([]string, error) {
	var out struct{ Objects []string }
	err := a.call(ctx, http.MethodPost, "/authz/list-objects", listObjectsWire{User: r.User, Relation: r.Relation, Type: r.Type,
		Context: r.Context, ContextualTuples: r.ContextualTuples, AtLeast: r.AtLeast}, &out)
	return out.Objects, err
}

func (a authzClient) ListUsers(ctx context.Context, r rebac.ListUsersRequest) ([]string, error) {
	var out struct{ Users []string }
	err := a.call(ctx, http.MethodPost, "/authz/list-users", listUsersWire{Object: r.Object, Relation: r.Relation, Filters: r.Filters,
		Context: r.Context, ContextualTuples: r.ContextualTuples, AtLeast: r.AtLeast}, &out)
	return out.Users, err
}

func (a authzClient) Expand(ctx context.Context, r rebac.ExpandRequest) (*rebac.Tree, error) {
	var out rebac.Tree
	err := a.call(ctx, http.MethodPost, "/authz/expand", expandWire{Object: r.Object, Relation: r.Relation, ContextualTuples: r.ContextualTuples}, &out)
	return &out, err
}

func (a authzClient) Explain(ctx context.Context, r delegation.Request) (delegation.Decision, error) {
	var out explainAnswer
	err := a.call(ctx, http.MethodPost, "/authz/explain", explainWire{Subject: r.Subject.ID, Agent: r.Agent.ID,
		Action: r.Action, Resource: r.Resource, Context: r.Context, AtLeast: r.AtLeast}, &out)
	return delegation.Decision{Allowed: out.Allowed, Reason: out.Reason, Engine: out.Engine, Path: out.Path, Rule: out.Rule}, err
}
