package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// scripted is a Streamable HTTP server (mcp-go's) that answers tools/call
// of the tool "scripted" with a scripted HTTP answer, and records what the
// gateway sent.
type scripted struct {
	srv *httptest.Server
	h   http.Handler

	mu      sync.Mutex
	answer  func(w http.ResponseWriter)
	run     int         // numbers the calls, for the IDs of the server's requests
	sent    []string    // each tools/call: its body without the ID, and headers
	gets    []string    // Last-Event-ID of each GET
	replies chan string // answers to requests of the server's
}

var rawID = regexp.MustCompile(`"id":"subzero-[0-9]+"`)

func newScripted(t *testing.T, versions ...string) *scripted {
	s := &scripted{replies: make(chan string, 64), h: server.NewStreamableHTTPServer(newMCPServer(&counts{}), server.WithStreamableHTTPProtocolVersions(versions...))}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *scripted) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.Header.Get("Last-Event-Id") != "" {
		s.mu.Lock()
		s.gets = append(s.gets, r.Header.Get("Last-Event-Id"))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"x\",\"result\":{\"content\":[],\"resumed\":true}}\n\n")
		return
	}
	if r.Method != http.MethodPost {
		s.h.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var head struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	json.Unmarshal(body, &head)
	switch {
	case head.Method == "" && head.ID != nil:
		s.replies <- string(body)
		w.WriteHeader(http.StatusAccepted)
		return
	case head.Method != "tools/call" || head.Params.Name != "scripted":
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.h.ServeHTTP(w, r)
		return
	}
	var hs []string
	for _, k := range []string{"Content-Type", "Accept", "Mcp-Session-Id", "Mcp-Protocol-Version", "Mcp-Method", "Mcp-Name", "Authorization", "X-Extra"} {
		v := r.Header.Get(k)
		if k == "Mcp-Session-Id" && v != "" {
			v = "present"
		}
		hs = append(hs, k+"="+v)
	}
	s.mu.Lock()
	s.sent = append(s.sent, rawID.ReplaceAllString(string(body), `"id":"N"`)+" "+strings.Join(hs, " "))
	answer, run := s.answer, s.run
	s.mu.Unlock()
	if answer == nil {
		answer = s.answers(run)
	}
	answer(w)
}

// take returns and forgets what was recorded.
func (s *scripted) take() (sent, gets []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sent, gets = s.sent, s.gets
	s.sent, s.gets = nil, nil
	return sent, gets
}

// answers is the answer to a call that holds a request of the server's,
// numbered by run so that a late answer to an earlier one is told apart.
func (s *scripted) answers(run int) func(w http.ResponseWriter) {
	return sse(fmt.Sprintf("data: {\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\",\"params\":{}}\n\n", run, serverMethods[run%len(serverMethods)]), "data: "+okResult+"\n\n")
}

// serverMethods are requests a server may send in an SSE answer, and what
// mcp-go's client without handlers answers.
var serverMethods = []string{"ping", "sampling/createMessage", "elicitation/create", "roots/list", "tools/call"}

var serverAnswers = map[string]string{
	"ping":                   `"result":{}`,
	"sampling/createMessage": `"error":{"code":-32603,"message":"sampling request failed: no sampling handler configured"}`,
	"elicitation/create":     `"error":{"code":-32603,"message":"no elicitation handler configured"}`,
	"roots/list":             `"error":{"code":-32603,"message":"no roots handler configured"}`,
	"tools/call":             `"error":{"code":-32603,"message":"unsupported request method: tools/call"}`,
}

// waitReply waits for the answer to the server's request run, dropping
// others.
func (s *scripted) waitReply(t *testing.T, run int) string {
	prefix := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,`, run)
	for r := range s.replies {
		if strings.HasPrefix(r, prefix) {
			return r
		}
	}
	t.Fatal("unreachable")
	return ""
}

func reply(status int, contentType, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func sse(events ...string) func(w http.ResponseWriter) {
	return reply(http.StatusOK, "text/event-stream", strings.Join(events, ""))
}

const okResult = `{"jsonrpc":"2.0","id":"x","result":{"content":[{"type":"text","text":"ok"}]}}`

// postCases are answers to a tools/call, for the differential test.
var postCases = []struct {
	name   string
	answer func(w http.ResponseWriter)
}{
	{"json", reply(200, "application/json", okResult)},
	{"json with charset and trailing data", reply(200, "application/json; charset=utf-8", okResult+"garbage")},
	{"json rpc error", reply(200, "application/json", `{"jsonrpc":"2.0","id":"x","error":{"code":-32602,"message":"bad params"}}`)},
	{"json without id", reply(200, "application/json", `{"jsonrpc":"2.0","result":{}}`)},
	{"json invalid", reply(200, "application/json", `{"jsonrpc":"2.0","id":"x","result":{`)},
	{"json result not an object", reply(200, "application/json", `{"jsonrpc":"2.0","id":"x","result":[1]}`)},
	{"json input required", reply(200, "application/json", `{"jsonrpc":"2.0","id":"x","result":{"resultType":"input_required"}}`)},
	{"202 empty", reply(202, "", "")},
	{"text/plain", reply(200, "text/plain", "hello")},
	{"400 text", reply(400, "text/plain", "bad request")},
	{"400 rpc error", reply(400, "application/json", `{"jsonrpc":"2.0","id":"x","error":{"code":-32600,"message":"invalid"}}`)},
	{"401", reply(401, "text/plain", "who are you")},
	{"403", reply(403, "text/plain", "no")},
	{"404", reply(404, "text/plain", "no such session")},
	{"500 text", reply(500, "text/plain", "oops")},
	{"500 rpc error", reply(500, "application/json", `{"jsonrpc":"2.0","id":"x","error":{"code":-32603,"message":"internal"}}`)},
	{"503 empty json", reply(503, "application/json", `{}`)},
	{"sse", sse("event: message\ndata: " + okResult + "\n\n")},
	{"sse crlf, no event type, id", sse("id: 1\r\ndata: " + okResult + "\r\n\r\n")},
	{"sse split data", sse("data: {\"jsonrpc\":\"2.0\",\"id\":\"x\",\ndata: \"result\":{\"content\":[]}}\n\n")},
	{"sse notification first", sse("data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n", "data: "+okResult+"\n\n")},
	{"sse garbage event first", sse("data: not json\n\n", ": comment\n\n", "data: "+okResult+"\n\n")},
	{"sse response at eof", sse("data: " + okResult)},
	{"sse response at eof with newline", sse("data: " + okResult + "\n")},
	{"sse ends without response", sse("data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n")},
	{"sse rpc error", sse("data: {\"jsonrpc\":\"2.0\",\"id\":\"x\",\"error\":{\"code\":-32000,\"message\":\"no\"}}\n\n")},
	{"sse empty", sse()},
	{"sse ended before the response, resumable", sse("id: 1\nretry: 10\ndata: \n\n")},
	{"too large json", reply(200, "application/json", `{"jsonrpc":"2.0","id":"x","result":{"content":[{"type":"text","text":"`+strings.Repeat("a", 2000+envelopeBytes)+`"}]}}`)},
	{"too large sse", sse("data: " + `{"jsonrpc":"2.0","id":"x","result":{"content":[{"type":"text","text":"` + strings.Repeat("a", 2000+envelopeBytes) + `"}]}}` + "\n\n")},
}

// outcomeOf describes a call's outcome: its result or the kinds of its
// error.
func outcomeOf(r json.RawMessage, err error) string {
	if err == nil {
		return "result " + string(r)
	}
	var kinds []string
	for _, k := range []error{ErrRPC, ErrUnavailable, ErrTimeout, ErrResultTooLarge, ErrCircuitOpen, transport.ErrSessionTerminated, errInputRequired} {
		if errors.Is(err, k) {
			kinds = append(kinds, k.Error())
		}
	}
	return "error " + strings.Join(kinds, ", ")
}

// TestPostDifferential: CallToolRaw's own POST answers, sends and fails
// exactly as mcp-go's transport does, for every scripted answer, on the
// current protocol and on 2025-11-25 (sessions, resumable streams).
func TestPostDifferential(t *testing.T) {
	for _, versions := range [][]string{nil, {"2025-11-25"}} {
		srv := newScripted(t, versions...)
		for _, tc := range postCases {
			t.Run(fmt.Sprint(versions, " ", tc.name), func(t *testing.T) {
				srv.mu.Lock()
				srv.answer = tc.answer
				srv.mu.Unlock()
				var got [2]string
				for i, via := range []bool{true, false} {
					srv.mu.Lock()
					srv.run++
					srv.mu.Unlock()
					cfg := Config{Name: "s", Transport: TransportHTTP, URL: mustURL(srv.srv.URL),
						MaxResultBytes: 1024,
						Headers:        []Header{{Name: "Authorization", Value: secretEnv("UPSTREAM_TOKEN")}, {Name: "X-Extra", Value: secretEnv("EXTRA")}}}
					getenv := func(k string) string {
						return map[string]string{"UPSTREAM_TOKEN": "Bearer t0ken-value", "EXTRA": "x"}[k]
					}
					u := start(t, cfg, getenv, nil)
					u.viaTransport = via
					r, err := u.CallToolRaw(t.Context(), NewRawTool(mcp.NewTool("scripted")), json.RawMessage(`{"a": [1, 2]}`))
					u.Close()
					sent, gets := srv.take()
					got[i] = fmt.Sprintf("%s\nsent: %q\ngets: %q", outcomeOf(r, err), sent, gets)
				}
				if d := cmp.Diff(got[0], got[1]); d != "" {
					t.Errorf("own POST differs from mcp-go's transport (-mcp-go +own):\n%s", d)
				}
			})
		}
	}
}

// TestPostAnswersServerRequests: a request of the server's in an SSE answer
// gets the answer mcp-go's client gives without handlers, and the call its
// result. (mcp-go's transport may drop the answer: it cancels its context
// once the response has come.)
func TestPostAnswersServerRequests(t *testing.T) {
	for _, versions := range [][]string{nil, {"2025-11-25"}} {
		srv := newScripted(t, versions...)
		u := start(t, srv.config(), nil, nil)
		for run := 1; run <= len(serverMethods); run++ {
			srv.mu.Lock()
			srv.run, srv.answer = run, nil
			srv.mu.Unlock()
			method := serverMethods[run%len(serverMethods)]
			r, err := u.CallToolRaw(t.Context(), NewRawTool(mcp.NewTool("scripted")), nil)
			if err != nil {
				t.Fatalf("%v %s: %v", versions, method, err)
			}
			if want := `{"content":[{"type":"text","text":"ok"}]}`; string(r) != want {
				t.Errorf("%v %s: result %s, want %s", versions, method, r, want)
			}
			got := srv.waitReply(t, run)
			if want := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,%s}`, run, serverAnswers[method]); got != want {
				t.Errorf("%v %s: answered %s, want %s", versions, method, got, want)
			}
		}
	}
}

func (s *scripted) config() Config {
	return Config{Name: "s", Transport: TransportHTTP, URL: mustURL(s.srv.URL), MaxResultBytes: 1024}
}

// refuse is an HTTP transport that sends nothing.
type refuse struct{}

func (refuse) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("not sending in a fuzz test")
}

// FuzzReadAnswer: any SSE answer is read without a panic, within its
// bytes, and what comes out is a response with an ID.
func FuzzReadAnswer(f *testing.F) {
	for _, seed := range []string{
		"data: " + okResult + "\n\n",
		"event: message\r\nid: 3\r\ndata: " + okResult + "\r\n\r\n",
		"data: {\"jsonrpc\":\"2.0\",\ndata: \"id\":1,\"result\":{}}\n\n",
		"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\ndata: " + okResult,
		"data: {\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}\n\n",
		"retry: 10\nid: 1\ndata:\n\n",
		": comment\n\ndata: not json\n\n",
		"data: " + strings.Repeat("x", 5000) + "\n\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var notes int
		p := &httpPoster{hc: &http.Client{Transport: refuse{}}, url: "http://127.0.0.1:1/", header: http.Header{},
			modern: true, note: func(mcp.JSONRPCNotification) { notes++ }, life: t.Context()}
		env, err := p.readAnswer(t.Context(), bytes.NewReader(b))
		if err != nil {
			if env != nil {
				t.Fatal("an envelope and an error")
			}
			return
		}
		if env == nil || env.ID.IsNil() {
			t.Fatalf("no response and no error: %+v", env)
		}
		if env.Result != nil && !json.Valid(env.Result) {
			t.Fatalf("result %q is not JSON", env.Result)
		}
	})
}
