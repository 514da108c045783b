package llmdemo

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
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
	N             int    `json:"n"`
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

// maxChoices bounds n.
const maxChoices = 16

// script is what a chat answer holds and how a stream of it behaves.
type script struct {
	answers   []string // per choice
	refusal   string   // the refusal, instead of content
	toolArgs  []string // parallel tool calls' arguments
	hangAfter bool     // stream, then hang
	noDone    bool     // end the stream without [DONE]
	errorAt   bool     // end the stream with an error event
	crlf      bool     // CRLF line ends
	think     time.Duration
}

// directive returns the text after prefix ("say:") and whether user starts with it.
func directive(user, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(user, prefix)
	return strings.TrimPrefix(rest, " "), ok
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request, body []byte) {
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "We could not parse the JSON body of your request.")
		return
	}
	n := max(req.N, 1)
	if n > maxChoices {
		writeError(w, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("n must be at most %d", maxChoices))
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
	if t, ok := directive(user, "reversed:"); ok {
		user = strings.TrimSpace(reverse(t)) // a directive written backwards, past an input guard
	}
	sc := script{answers: []string{fmt.Sprintf("Hello from llmdemo. You sent %d messages.", len(req.Messages))}}
	if t, ok := directive(user, "stream "); ok {
		// Stream behaviours: "stream no-done: ", "stream error: ", "stream crlf: ", "stream think 300ms: ".
		mode, rest, _ := strings.Cut(t, ":")
		user = "say:" + rest
		switch {
		case mode == "no-done":
			sc.noDone = true
		case mode == "error":
			sc.errorAt = true
		case mode == "crlf":
			sc.crlf = true
		case strings.HasPrefix(mode, "think "):
			d, err := time.ParseDuration(strings.TrimPrefix(mode, "think "))
			if err != nil || d < 0 || d > time.Minute {
				writeError(w, http.StatusBadRequest, "invalid_request_error", "think needs a duration up to 1m")
				return
			}
			sc.think = d
		}
	}
	if t, ok := directive(user, "tool call reversed:"); ok {
		sc.answers = []string{""}
		for a := range strings.SplitSeq(t, " || ") {
			sc.toolArgs = append(sc.toolArgs, reverse(a))
		}
	} else if t, ok := directive(user, "say reversed:"); ok {
		sc.answers = []string{reverse(t)}
	} else if t, ok := directive(user, "say each:"); ok {
		sc.answers = strings.Split(t, " || ")
	} else if t, ok := directive(user, "say:"); ok {
		sc.answers = []string{t}
	} else if t, ok := directive(user, "refuse:"); ok {
		sc.answers, sc.refusal = []string{""}, t
	} else if t, ok := directive(user, "hang after:"); ok {
		sc.answers, sc.hangAfter = []string{t}, true
	} else {
		switch user {
		case "leak canary":
			if c := canaryRE.FindString(system); c != "" {
				sc.answers = []string{"The reference is " + c + "."}
			} else {
				sc.answers = []string{"no canary"}
			}
		case "fail":
			writeError(w, http.StatusInternalServerError, "server_error", "The server had an error while processing your request.")
			return
		case "hang":
			<-r.Context().Done()
			s.cancelled()
			return
		}
	}
	answers := make([]string, n)
	completion := 0
	for i := range answers {
		answers[i] = sc.answers[i%len(sc.answers)]
		completion += len(strings.Fields(answers[i] + " " + sc.refusal + " " + strings.Join(sc.toolArgs, " ")))
	}
	usage := map[string]any{"prompt_tokens": words, "completion_tokens": completion, "total_tokens": words + completion,
		"prompt_tokens_details":     map[string]int{"cached_tokens": 0, "audio_tokens": 0},
		"completion_tokens_details": map[string]int{"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}
	id := fmt.Sprintf("chatcmpl-demo%d", s.count.Load())
	model := req.Model
	callID := func(k int) string {
		if k == 0 {
			return "call_demo"
		}
		return fmt.Sprintf("call_demo_%d", k)
	}
	finish := "stop"
	if len(sc.toolArgs) > 0 {
		finish = "tool_calls"
	}
	if !req.Stream {
		choices := make([]any, n)
		for i, answer := range answers {
			msg := map[string]any{"role": "assistant", "content": answer, "refusal": nil}
			if sc.refusal != "" {
				msg["content"], msg["refusal"] = nil, sc.refusal
			}
			if len(sc.toolArgs) > 0 {
				msg["content"] = nil
				var calls []any
				for k, a := range sc.toolArgs {
					calls = append(calls, map[string]any{"id": callID(k), "type": "function",
						"function": map[string]any{"name": "lookup", "arguments": a}})
				}
				msg["tool_calls"] = calls
			}
			c := map[string]any{"index": i, "message": msg, "logprobs": nil, "finish_reason": finish}
			if req.Logprobs && answer != "" {
				c["logprobs"] = logprobs(answer)
			}
			choices[i] = c
		}
		out := map[string]any{
			"id": id, "object": "chat.completion", "created": 1700000000, "model": model,
			"system_fingerprint": s.opts.Name, "choices": choices,
		}
		if !s.opts.NoUsage {
			out["usage"] = usage
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
		return
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage && !s.opts.NoUsage
	eol := "\n"
	if sc.crlf {
		eol = "\r\n"
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	write := func(line string) bool {
		if _, err := io.WriteString(w, line); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	send := func(choices []any, u any) bool {
		c := map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": 1700000000, "model": model,
			"system_fingerprint": s.opts.Name, "choices": choices,
		}
		if includeUsage {
			c["usage"] = u
		}
		b, _ := json.Marshal(c)
		return write("data: " + string(b) + eol + eol)
	}
	delta := func(i int, d map[string]any, finish any) []any {
		var lp any
		if c, _ := d["content"].(string); c != "" && req.Logprobs {
			lp = logprobs(c)
		}
		return []any{map[string]any{"index": i, "delta": d, "logprobs": lp, "finish_reason": finish}}
	}
	fail := func() { s.cancelled() }
	if sc.think > 0 {
		// A model thinking: comments as heartbeats, nothing else.
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		end := time.After(sc.think)
	thinking:
		for {
			select {
			case <-r.Context().Done():
				fail()
				return
			case <-end:
				break thinking
			case <-tick.C:
				if !write(": thinking" + eol + eol) {
					fail()
					return
				}
			}
		}
	}
	for i := range n {
		first := map[string]any{"role": "assistant", "content": ""}
		if sc.refusal != "" {
			first = map[string]any{"role": "assistant", "content": nil, "refusal": ""}
		}
		if !send(delta(i, first, nil), nil) {
			fail()
			return
		}
	}
	// The choices' content, interleaved chunk by chunk.
	field, texts := "content", answers
	if sc.refusal != "" {
		field, texts = "refusal", slices.Repeat([]string{sc.refusal}, n)
	}
	pos := make([]int, n)
	for more := true; more; {
		more = false
		for i, t := range texts {
			if pos[i] >= len(t) {
				continue
			}
			j := s.cut(t, pos[i])
			if !send(delta(i, map[string]any{field: t[pos[i]:j]}, nil), nil) {
				fail()
				return
			}
			pos[i], more = j, true
		}
		if r.Context().Err() != nil {
			fail()
			return
		}
	}
	if sc.hangAfter {
		<-r.Context().Done()
		fail()
		return
	}
	if sc.errorAt {
		write(`data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}` + eol + eol)
		return
	}
	for i := range n {
		for k, args := range sc.toolArgs {
			call := func(args string, first bool) map[string]any {
				c := map[string]any{"index": k, "function": map[string]any{"arguments": args}}
				if first {
					c["id"], c["type"] = callID(k), "function"
					c["function"].(map[string]any)["name"] = "lookup"
				}
				return map[string]any{"tool_calls": []any{c}}
			}
			if !send(delta(i, call("", true), nil), nil) {
				fail()
				return
			}
			for p := 0; p < len(args); {
				q := s.cut(args, p)
				if !send(delta(i, call(args[p:q], false), nil), nil) {
					fail()
					return
				}
				p = q
			}
		}
		if !send(delta(i, map[string]any{}, finish), nil) {
			fail()
			return
		}
	}
	if includeUsage && !send([]any{}, usage) {
		fail()
		return
	}
	if !sc.noDone {
		write("data: [DONE]" + eol + eol)
	}
}

func (s *Server) embeddings(w http.ResponseWriter, body []byte) {
	var req struct {
		Model          string          `json:"model"`
		Input          json.RawMessage `json:"input"`
		EncodingFormat string          `json:"encoding_format"`
	}
	if err := json.Unmarshal(body, &req); err != nil || len(req.Input) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "We could not parse the JSON body of your request.")
		return
	}
	// The inputs as texts: strings as they are, token arrays as their JSON.
	var inputs []string
	var one string
	var many []json.RawMessage
	var tokens []int
	switch {
	case json.Unmarshal(req.Input, &one) == nil:
		inputs = []string{one}
	case json.Unmarshal(req.Input, &tokens) == nil:
		inputs = []string{string(req.Input)}
	case json.Unmarshal(req.Input, &many) == nil:
		for _, m := range many {
			if json.Unmarshal(m, &one) == nil {
				inputs = append(inputs, one)
			} else {
				inputs = append(inputs, string(m))
			}
		}
	default:
		writeError(w, http.StatusBadRequest, "invalid_request_error", "'input' is invalid.")
		return
	}
	data := make([]any, len(inputs))
	words := 0
	for i, in := range inputs {
		words += len(strings.Fields(in))
		vec := Embedding(in)
		var emb any = vec
		if req.EncodingFormat == "base64" {
			// OpenAI's: little-endian float32s, base64-encoded.
			b := make([]byte, 0, 4*len(vec))
			for _, f := range vec {
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(b)
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": emb}
	}
	out := map[string]any{"object": "list", "data": data, "model": req.Model}
	if !s.opts.NoUsage {
		out["usage"] = map[string]int{"prompt_tokens": words, "total_tokens": words}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// Embedding returns the vector the server gives input, for tests to
// compare with what a client received.
func Embedding(input string) []float32 {
	sum := sha256.Sum256([]byte(input))
	vec := make([]float32, 8)
	for k := range vec {
		vec[k] = float32(int16(binary.BigEndian.Uint16(sum[2*k:]))) / math.MaxInt16
	}
	return vec
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
