package upstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// The gateway's own POST of a tools/call over Streamable HTTP.
//
// mcp-go's transport encodes the request again, clones the headers, starts
// a goroutine per request (two more for an SSE answer) and decodes the
// answer into a generic envelope: about a quarter of the gateway's CPU per
// call. post does what SendRequest does for a tools/call, on the same
// http.Client (so the same limits on the body and the same recorded
// status), with headers built once per connection, and reads the answer
// (JSON or SSE) on the caller's goroutine. What mcp-go does along the way
// it does too: notifications in an SSE answer go to the connection's
// handler, requests from the server get the answer mcp-go's client gives
// without handlers, a 2025-11-25 stream ended before the response is
// resumed with Last-Event-ID. Its errors are those SendRequest returns, so
// that classify sorts them the same way.

// httpPoster is what post needs of a Streamable HTTP connection; it is
// made once per connection.
type httpPoster struct {
	hc  *http.Client
	url string
	tr  *transport.StreamableHTTP
	// header is sent with every request: Content-Type, Accept, the
	// session (before 2026-07-28), the protocol version and the configured
	// headers, which win over the others as in mcp-go.
	header http.Header
	// session is the session ID the connection started with ("" for
	// none): once the transport has forgotten it, the session has ended.
	session string
	modern  bool
	// note hands a notification to the connection's handler.
	note func(mcp.JSONRPCNotification)
	// life ends with the connection: requests in flight end with it.
	life context.Context
}

// newHTTPPoster prepares posts for a connection whose handshake is done.
func newHTTPPoster(hc *http.Client, url string, tr *transport.StreamableHTTP, version string, headers map[string]string, note func(mcp.JSONRPCNotification), life context.Context) *httpPoster {
	p := &httpPoster{hc: hc, url: url, tr: tr, session: tr.GetSessionId(), modern: mcp.IsModernProtocol(version), note: note, life: life}
	h := make(http.Header, 4+len(headers))
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json, text/event-stream")
	if p.session != "" && !p.modern {
		h.Set(transport.HeaderKeySessionID, p.session)
	}
	if version != "" {
		h.Set(transport.HeaderKeyProtocolVersion, version)
	}
	for k, v := range headers {
		h.Set(k, v)
	}
	p.header = h
	return p
}

// bodyPool holds request bodies.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// post sends a tools/call with params (encoded and compact, as
// json.Marshal makes them) and per-call headers (which the connection's
// headers override), and returns the response's envelope.
func (p *httpPoster) post(ctx context.Context, id string, params []byte, extra http.Header) (*envelope, error) {
	if p.ended() {
		return nil, fmt.Errorf("failed to send request: %w", transport.ErrSessionTerminated)
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 64<<10 {
			bodyPool.Put(buf)
		}
	}()
	// As json.Marshal encodes transport.JSONRPCRequest; id holds nothing
	// that needs escaping.
	buf.WriteString(`{"jsonrpc":"2.0","id":"`)
	buf.WriteString(id)
	buf.WriteString(`","method":"tools/call","params":`)
	buf.Write(params)
	buf.WriteByte('}')

	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(p.life, cancel)
	defer func() { stop(); cancel() }()
	resp, err := p.send(ctx, http.MethodPost, bytes.NewReader(buf.Bytes()), extra)
	if err != nil {
		return nil, fmt.Errorf("failed to send request: %w", err)
	}
	// Cancel before closing the body, as mcp-go does (HTTP/2).
	defer func() { cancel(); resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		if resp.StatusCode == http.StatusUnauthorized {
			return nil, &transport.AuthorizationRequiredError{}
		}
		body, _ := io.ReadAll(resp.Body)
		var env envelope
		if err := json.Unmarshal(body, &env); err == nil {
			return &env, nil
		}
		return nil, fmt.Errorf("request failed with status %d: %s", resp.StatusCode, body)
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch mediaType {
	case "application/json":
		env, err := decodeEnvelope(resp.Body, resp.ContentLength)
		if err != nil {
			return nil, fmt.Errorf("failed to decode response: %w", err)
		}
		if env.ID.IsNil() {
			return nil, errors.New("response should contain RPC id")
		}
		return env, nil
	case "text/event-stream":
		return p.readAnswer(ctx, resp.Body)
	default:
		return nil, fmt.Errorf("unexpected content type: %s", resp.Header.Get("Content-Type"))
	}
}

// ended reports whether the transport has forgotten the session, as it
// does when the server says it no longer knows it.
func (p *httpPoster) ended() bool {
	return p.session != "" && p.tr.GetSessionId() != p.session
}

// send sends one request with the connection's headers over extra. A 404
// is ErrSessionTerminated.
func (p *httpPoster) send(ctx context.Context, method string, body io.Reader, extra http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, p.url, body)
	if err != nil {
		return nil, fmt.Errorf("failed to create request: %w", err)
	}
	h := make(http.Header, len(p.header)+len(extra))
	for k, v := range extra {
		h[k] = v
	}
	for k, v := range p.header {
		h[k] = v
	}
	if method == http.MethodGet {
		h["Accept"] = []string{"text/event-stream"}
	}
	req.Header = h
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("failed to send request: %w", err)
	}
	if resp.StatusCode == http.StatusNotFound {
		resp.Body.Close()
		return nil, transport.ErrSessionTerminated
	}
	return resp, nil
}

// envelope is a JSON-RPC message of an answer: a response, or a request or
// notification of the server's.
type envelope struct {
	ID     mcp.RequestId            `json:"id"`
	Method json.RawMessage          `json:"method"`
	Result json.RawMessage          `json:"result,omitempty"`
	Error  *mcp.JSONRPCErrorDetails `json:"error,omitempty"`
}

// SSE reconnection delays, as mcp-go's.
const (
	defaultSSEReconnectDelay = time.Second
	minSSEReconnectDelay     = 10 * time.Millisecond
)

// sseCursor is what resuming a stream needs: the last event ID and the
// reconnection time the server asked for.
type sseCursor struct {
	lastEventID string
	retry       time.Duration
	hasRetry    bool
}

// readAnswer reads an SSE answer until the response. A stream that breaks
// off, or ends before the response without a way to resume it, is an
// error, as in mcp-go.
func (p *httpPoster) readAnswer(ctx context.Context, body io.Reader) (*envelope, error) {
	var cur sseCursor
	env, ended := p.readSSE(ctx, body, &cur)
	for env == nil && ended && ctx.Err() == nil && cur.lastEventID != "" && !p.modern {
		var err error
		if env, ended, err = p.resume(ctx, &cur); err != nil {
			return nil, fmt.Errorf("failed to resume the SSE stream for the response: %w", err)
		}
	}
	if env != nil {
		return env, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, errors.New("unexpected nil response")
}

// resume waits as the server asked and reads the stream again from the
// last event.
func (p *httpPoster) resume(ctx context.Context, cur *sseCursor) (*envelope, bool, error) {
	delay := defaultSSEReconnectDelay
	if cur.hasRetry {
		delay = max(cur.retry, minSSEReconnectDelay)
	}
	t := time.NewTimer(delay)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		return nil, false, ctx.Err()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := p.send(ctx, http.MethodGet, nil, http.Header{"Last-Event-Id": {cur.lastEventID}})
	if err != nil {
		return nil, false, err
	}
	defer func() { cancel(); resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, false, fmt.Errorf("unexpected status %d", resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return nil, false, fmt.Errorf("unexpected content type %q", resp.Header.Get("Content-Type"))
	}
	env, ended := p.readSSE(ctx, resp.Body, cur)
	return env, ended, nil
}

// readSSE reads events from body, as mcp-go's readSSEWithCursor does, until
// the first response, which it returns. ended reports that the server
// ended the stream (as opposed to it breaking off). The body is bounded by
// the connection's transport.
func (p *httpPoster) readSSE(ctx context.Context, body io.Reader, cur *sseCursor) (env *envelope, ended bool) {
	br := bufio.NewReader(body)
	var event, id string
	var data []byte
	hasData, hasID := false, false
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A long line: gather it.
			long := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil {
			if ctx.Err() != nil || err != io.EOF {
				return nil, false
			}
			if hasData {
				return p.dispatch(ctx, data), true
			}
			return nil, true
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if hasID {
				cur.lastEventID = id
				hasID = false
			}
			if hasData {
				if e := p.dispatch(ctx, data); e != nil {
					return e, false
				}
				event, data, hasData = "", data[:0], false
			}
			continue
		}
		switch {
		case bytes.HasPrefix(line, []byte("event:")):
			event = strings.TrimSpace(string(line[len("event:"):]))
		case bytes.HasPrefix(line, []byte("data:")):
			v := bytes.TrimPrefix(line[len("data:"):], []byte(" "))
			if hasData {
				data = append(data, '\n')
			}
			data = append(data, v...)
			// mcp-go's "data != """: an empty data line holds nothing.
			hasData = len(data) > 0
		case bytes.HasPrefix(line, []byte("id:")):
			if v := bytes.TrimPrefix(line[len("id:"):], []byte(" ")); bytes.IndexByte(v, 0) < 0 {
				id, hasID = string(v), true
			}
		case bytes.HasPrefix(line, []byte("retry:")):
			v := string(bytes.TrimPrefix(line[len("retry:"):], []byte(" ")))
			if ms, err := strconv.ParseUint(v, 10, 31); err == nil && v != "" && strings.Trim(v, "0123456789") == "" {
				cur.retry, cur.hasRetry = time.Duration(ms)*time.Millisecond, true
			}
		}
		_ = event // every event type is read as a message, as in mcp-go
	}
}

// dispatch handles one event's data: a response is returned, a
// notification goes to the handler, a request of the server's is answered;
// data that does not decode is skipped.
func (p *httpPoster) dispatch(ctx context.Context, data []byte) *envelope {
	var env envelope
	if err := unmarshalEnvelope(data, &env); err != nil {
		return nil
	}
	if env.ID.IsNil() {
		var n mcp.JSONRPCNotification
		if err := json.Unmarshal(data, &n); err == nil && p.note != nil {
			p.note(n)
		}
		return nil
	}
	if env.Method != nil {
		var req transport.JSONRPCRequest
		if err := json.Unmarshal(data, &req); err == nil {
			go p.answerServer(context.WithoutCancel(ctx), req)
			return nil
		}
	}
	return &env
}

// answerServer answers a request of the server's as mcp-go's client does
// when it has no handlers: ping is answered, the others fail.
func (p *httpPoster) answerServer(ctx context.Context, req transport.JSONRPCRequest) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stop := context.AfterFunc(p.life, cancel)
	defer stop()
	var resp *transport.JSONRPCResponse
	switch req.Method {
	case string(mcp.MethodPing):
		resp = transport.NewJSONRPCResultResponse(req.ID, json.RawMessage(`{}`))
	case string(mcp.MethodSamplingCreateMessage):
		resp = transport.NewJSONRPCErrorResponse(req.ID, mcp.INTERNAL_ERROR, "sampling request failed: no sampling handler configured", nil)
	case string(mcp.MethodElicitationCreate):
		resp = transport.NewJSONRPCErrorResponse(req.ID, mcp.INTERNAL_ERROR, "no elicitation handler configured", nil)
	case string(mcp.MethodListRoots):
		resp = transport.NewJSONRPCErrorResponse(req.ID, mcp.INTERNAL_ERROR, "no roots handler configured", nil)
	default:
		resp = transport.NewJSONRPCErrorResponse(req.ID, mcp.INTERNAL_ERROR, "unsupported request method: "+req.Method, nil)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return
	}
	r, err := p.send(ctx, http.MethodPost, bytes.NewReader(b), nil)
	if err != nil {
		return
	}
	io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
	r.Body.Close()
}
