package llmdemo

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Modes of a Server.
const (
	ModeNormal = ""     // answer as the prompt says
	ModeFail   = "fail" // answer every request with 500
	ModeHang   = "hang" // never answer; wait for the client to go away
)

// maxBody bounds a request body.
const maxBody = 8 << 20

// Options configure a Server.
type Options struct {
	// Models are the model IDs /v1/models lists (default "demo-model").
	// Requests for other models are answered all the same.
	Models []string
	// ChunkBytes is the content size of a streamed chunk (default 4).
	ChunkBytes int
	// NoUsage leaves usage out of answers.
	NoUsage bool
	// APIKey, when set, is the bearer token every request must carry.
	APIKey string
	// Name is put in answers' system_fingerprint (default "llmdemo").
	Name string
}

// Server is the demo model server, an http.Handler. It is safe for
// concurrent use.
type Server struct {
	opts    Options
	mode    atomic.Value // string
	cancels chan struct{}
	count   atomic.Int64

	mu       sync.Mutex
	lastBody []byte
	lastAuth string
}

// New returns a server.
func New(opts Options) *Server {
	if len(opts.Models) == 0 {
		opts.Models = []string{"demo-model"}
	}
	if opts.ChunkBytes <= 0 {
		opts.ChunkBytes = 4
	}
	if opts.Name == "" {
		opts.Name = "llmdemo"
	}
	s := &Server{opts: opts, cancels: make(chan struct{}, 64)}
	s.mode.Store(ModeNormal)
	return s
}

// SetMode sets how the server answers: ModeNormal, ModeFail or ModeHang.
func (s *Server) SetMode(m string) { s.mode.Store(m) }

// LastRequest returns the body of the last request received.
func (s *Server) LastRequest() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastBody
}

// LastAuthorization returns the Authorization header of the last request.
func (s *Server) LastAuthorization() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastAuth
}

// Requests returns the number of requests received.
func (s *Server) Requests() int64 { return s.count.Load() }

// Cancellations receives a value for each request whose client went away
// before its answer was complete (up to 64 unread).
func (s *Server) Cancellations() <-chan struct{} { return s.cancels }

func (s *Server) cancelled() {
	select {
	case s.cancels <- struct{}{}:
	default:
	}
}

// ServeHTTP serves the OpenAI-compatible API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.count.Add(1)
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	s.mu.Lock()
	s.lastBody, s.lastAuth = body, r.Header.Get("Authorization")
	s.mu.Unlock()
	if err != nil || len(body) > maxBody {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "could not read the body")
		return
	}
	if s.opts.APIKey != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.APIKey)) != 1 {
			writeError(w, http.StatusUnauthorized, "invalid_request_error", "Incorrect API key provided.")
			return
		}
	}
	switch s.mode.Load().(string) {
	case ModeFail:
		writeError(w, http.StatusInternalServerError, "server_error", "The server had an error while processing your request.")
		return
	case ModeHang:
		<-r.Context().Done()
		s.cancelled()
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/chat/completions":
		s.chat(w, r, body)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/embeddings":
		s.embeddings(w, body)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		s.models(w)
	default:
		writeError(w, http.StatusNotFound, "invalid_request_error", fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path))
	}
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
}

type chatRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	Logprobs      bool   `json:"logprobs"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
}

// text returns a message content's text: the string, or the text parts.
func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

var canaryRE = regexp.MustCompile(`\bsz[a-z]{22}\b`)

func (s *Server) chat(w http.ResponseWriter, r *http.Request, body []byte) {
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "We could not parse the JSON body of your request.")
		return
	}
	var user, system string
	var words int
	for _, m := range req.Messages {
		t := text(m.Content)
		words += len(strings.Fields(t))
		switch m.Role {
		case "user":
			user = t
		case "system", "developer":
			system += t + "\n"
		}
	}
	user = strings.TrimSpace(user)
	answer := fmt.Sprintf("Hello from llmdemo. You sent %d messages.", len(req.Messages))
	hangAfter := false
	toolArgs, tool := "", false
	switch {
	case strings.HasPrefix(user, "tool call reversed:"):
		toolArgs, tool = reverse(strings.TrimPrefix(strings.TrimPrefix(user, "tool call reversed:"), " ")), true
		answer = ""
	case strings.HasPrefix(user, "say reversed:"):
		answer = reverse(strings.TrimPrefix(strings.TrimPrefix(user, "say reversed:"), " "))
	case strings.HasPrefix(user, "say:"):
		answer = strings.TrimPrefix(strings.TrimPrefix(user, "say:"), " ")
	case strings.HasPrefix(user, "hang after:"):
		answer = strings.TrimPrefix(strings.TrimPrefix(user, "hang after:"), " ")
		hangAfter = true
	case user == "leak canary":
		if c := canaryRE.FindString(system); c != "" {
			answer = "The reference is " + c + "."
		} else {
			answer = "no canary"
		}
	case user == "fail":
		writeError(w, http.StatusInternalServerError, "server_error", "The server had an error while processing your request.")
		return
	case user == "hang":
		<-r.Context().Done()
		s.cancelled()
		return
	}
	usage := map[string]int{"prompt_tokens": words, "completion_tokens": len(strings.Fields(answer + " " + toolArgs))}
	usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
	id := fmt.Sprintf("chatcmpl-demo%d", s.count.Load())
	model := req.Model
	if !req.Stream {
		msg := map[string]any{"role": "assistant", "content": answer, "refusal": nil}
		finish := "stop"
		if tool {
			msg["content"], finish = nil, "tool_calls"
			msg["tool_calls"] = []any{map[string]any{"id": "call_demo", "type": "function",
				"function": map[string]any{"name": "lookup", "arguments": toolArgs}}}
		}
		out := map[string]any{
			"id": id, "object": "chat.completion", "created": 1700000000, "model": model,
			"system_fingerprint": s.opts.Name,
			"choices":            []any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": finish}},
		}
		if req.Logprobs && answer != "" {
			out["choices"].([]any)[0].(map[string]any)["logprobs"] = logprobs(answer)
		}
		if !s.opts.NoUsage {
			out["usage"] = usage
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
		return
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage && !s.opts.NoUsage
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	send := func(choices []any, u any) bool {
		c := map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": 1700000000, "model": model,
			"system_fingerprint": s.opts.Name, "choices": choices,
		}
		if includeUsage {
			c["usage"] = u
		}
		b, _ := json.Marshal(c)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	delta := func(d map[string]any, finish any) []any {
		var lp any
		if c, _ := d["content"].(string); c != "" && req.Logprobs {
			lp = logprobs(c)
		}
		return []any{map[string]any{"index": 0, "delta": d, "logprobs": lp, "finish_reason": finish}}
	}
	if !send(delta(map[string]any{"role": "assistant", "content": ""}, nil), nil) {
		s.cancelled()
		return
	}
	for i := 0; i < len(answer); {
		j := s.cut(answer, i)
		if !send(delta(map[string]any{"content": answer[i:j]}, nil), nil) {
			s.cancelled()
			return
		}
		i = j
		if r.Context().Err() != nil {
			s.cancelled()
			return
		}
	}
	if hangAfter {
		<-r.Context().Done()
		s.cancelled()
		return
	}
	finish := "stop"
	if tool {
		finish = "tool_calls"
		call := func(args string, first bool) map[string]any {
			c := map[string]any{"index": 0, "function": map[string]any{"arguments": args}}
			if first {
				c["id"], c["type"] = "call_demo", "function"
				c["function"].(map[string]any)["name"] = "lookup"
			}
			return map[string]any{"tool_calls": []any{c}}
		}
		if !send(delta(call("", true), nil), nil) {
			s.cancelled()
			return
		}
		for i := 0; i < len(toolArgs); {
			j := s.cut(toolArgs, i)
			if !send(delta(call(toolArgs[i:j], false), nil), nil) {
				s.cancelled()
				return
			}
			i = j
		}
	}
	if !send(delta(map[string]any{}, finish), nil) {
		s.cancelled()
		return
	}
	if includeUsage && !send([]any{}, usage) {
		s.cancelled()
		return
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

func (s *Server) embeddings(w http.ResponseWriter, body []byte) {
	var req struct {
		Model string          `json:"model"`
		Input json.RawMessage `json:"input"`
	}
	if err := json.Unmarshal(body, &req); err != nil || len(req.Input) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "We could not parse the JSON body of your request.")
		return
	}
	var inputs []string
	var one string
	if json.Unmarshal(req.Input, &one) == nil {
		inputs = []string{one}
	} else if json.Unmarshal(req.Input, &inputs) != nil {
		inputs = []string{string(req.Input)}
	}
	data := make([]any, len(inputs))
	words := 0
	for i, in := range inputs {
		words += len(strings.Fields(in))
		sum := sha256.Sum256([]byte(in))
		vec := make([]float64, 8)
		for k := range vec {
			vec[k] = float64(int16(binary.BigEndian.Uint16(sum[2*k:]))) / math.MaxInt16
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": vec}
	}
	out := map[string]any{"object": "list", "data": data, "model": req.Model}
	if !s.opts.NoUsage {
		out["usage"] = map[string]int{"prompt_tokens": words, "total_tokens": words}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (s *Server) models(w http.ResponseWriter) {
	data := make([]any, len(s.opts.Models))
	for i, m := range s.opts.Models {
		data[i] = map[string]any{"id": m, "object": "model", "created": time.Unix(1700000000, 0).Unix(), "owned_by": s.opts.Name}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
}

// reverse reverses s rune by rune.
func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// cut returns the end of the chunk of s starting at i: ChunkBytes on, moved
// to the end of a character (a JSON string holds whole characters).
func (s *Server) cut(text string, i int) int {
	j := min(i+s.opts.ChunkBytes, len(text))
	for j < len(text) && !utf8.RuneStart(text[j]) {
		j++
	}
	return j
}

// logprobs returns OpenAI's logprobs object for text, one token per word.
func logprobs(text string) map[string]any {
	var toks []any
	for _, w := range strings.SplitAfter(text, " ") {
		if w != "" {
			b := make([]int, len(w))
			for i := range len(w) {
				b[i] = int(w[i])
			}
			toks = append(toks, map[string]any{"token": w, "logprob": -0.5, "bytes": b, "top_logprobs": []any{}})
		}
	}
	return map[string]any{"content": toks, "refusal": nil}
}
