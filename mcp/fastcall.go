package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

// tools/call and tools/list on a fast path.
//
// mcp-go's server decodes a request several times over (the envelope, the
// protocol era, the _meta, the standard headers, the typed params), and a
// result is decoded from the pipeline's JSON into typed content and
// encoded again; a tools/list copies, sorts and filters every registered
// tool. For the requests that make most of a gateway's traffic, the
// gateway decodes the envelope and the params once and answers itself: a
// tools/call of a tool the server serves runs the same pipeline
// (runToolCall), and its result is written as the pipeline returned it,
// the upstream's JSON as the outbound guard left it; a tools/list is
// written from the tools the server registered, each encoded once
// (list.go), filtered by Visibility as mcp-go's list is.
//
// The fast path takes only what it can answer exactly as mcp-go would,
// and hands everything else to mcp-go, which then answers it, errors
// included: a request that is not one JSON-RPC request with a string or
// integer ID and params of name, arguments (calls) and _meta only (so a
// list with a cursor); an unknown, unselected or hidden tool (mcp-go's
// errors); a 2026-07-28 request whose versions, Mcp-Method, Mcp-Name or
// Mcp-Param-* headers do not match its body, or without client
// capabilities; an earlier protocol's request without its session, or a
// call whose client declared elicitation (the pipeline may ask it to
// approve the call, through mcp-go's session), or a session mcp-go has not
// served for half its idle TTL (mcp-go ends sessions it has not seen, and
// only the requests it serves count). The fast path never writes
// server-sent events: it answers as application/json, as mcp-go does a
// request during which nothing else is sent to the client. Notifications
// mcp-go queued for a session (a list changed) are delivered with the
// next request mcp-go serves for it, or on its GET stream.

// rpcRequest is a JSON-RPC request's envelope.
type rpcRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

var (
	toolsCallMethod = []byte(`"` + MethodToolsCall + `"`)
	toolsListMethod = []byte(`"` + string(mcpgo.MethodToolsList) + `"`)
)

// serveFast answers the request whose body is body on the fast path, and
// reports whether it did; when it did not, nothing was written. serveHTTP
// has checked the caller's session (earlier protocols) is its own.
func (v *vserver) serveFast(w http.ResponseWriter, r *http.Request, body []byte) bool {
	if !bytes.Contains(body, toolsCallMethod) && !bytes.Contains(body, toolsListMethod) {
		return false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return false
	}
	var req rpcRequest
	if json.Unmarshal(body, &req) != nil || req.JSONRPC != mcpgo.JSONRPC_VERSION || !simpleID(req.ID) {
		return false
	}
	call := req.Method == MethodToolsCall
	if !call && req.Method != string(mcpgo.MethodToolsList) {
		return false
	}
	var params map[string]json.RawMessage
	if len(req.Params) > 0 && json.Unmarshal(req.Params, &params) != nil {
		return false
	}
	var name string
	var args, meta json.RawMessage
	for k, val := range params {
		switch {
		case k == "name" && call:
			if json.Unmarshal(val, &name) != nil {
				return false
			}
		case k == "arguments" && call:
			args = val
		case k == "_meta":
			meta = val
		default:
			return false
		}
	}
	if call && name == "" {
		return false
	}

	hv := r.Header.Get(mcpgo.HeaderProtocolVersion)
	mv, caps := metaOf(meta)
	modern := mcpgo.IsModernProtocol(mv) || mcpgo.IsModernProtocol(hv)
	var session string
	if modern {
		if r.Header.Get(mcpgo.HeaderLastEventID) != "" || hv == "" || hv != mv || !caps ||
			!slices.Contains(protocolVersions, mv) ||
			mcpgo.ValidateStandardHeaders(r.Header.Get, mv, mcpgo.MCPMethod(req.Method), req.Params) != nil {
			return false
		}
	} else {
		// A list on an earlier protocol is left to mcp-go: lists are what
		// clients ask after a notification, which may be in flight.
		session = r.Header.Get(mcpgo.HeaderSessionID)
		if !call || hv == "" || session == "" || !v.g.sessions.fast(session) {
			return false
		}
	}
	if !call {
		return v.serveToolsList(w, r, req.ID, modern)
	}
	return v.serveToolCall(w, r, req, name, args, modern, session)
}

// serveToolCall answers a tools/call of name with args, unless mcp-go
// must.
func (v *vserver) serveToolCall(w http.ResponseWriter, r *http.Request, req rpcRequest, name string, args json.RawMessage, modern bool, session string) bool {
	e := v.g.idx.Load().tools[name]
	if e == nil || !v.selects(v.cfg.Tools, name) || e.hidden != "" {
		return false
	}
	if modern && e.headerBound && mcpgo.ValidateParamHeadersLookup(lookupHeader(r.Header), &e.listed, req.Params) != nil {
		return false
	}
	var a any
	if len(args) > 0 {
		if json.Unmarshal(args, &a) != nil {
			return false
		}
	}
	argsJSON, err := argsJSON(a)
	if err != nil {
		return false // mcp-go's "arguments must be a JSON object"
	}

	v.g.fastCalls.Add(1)
	ctx := r.Context()
	c := &Call{
		Method: MethodToolsCall, Server: v.name, Route: v.route, Name: name,
		Upstream: e.up.Name(), UpstreamName: e.tool.Name, Object: e.object, Session: session,
	}
	out, err := v.runToolCall(ctx, c, e, argsJSON)
	if err == nil && modern {
		out, err = v.decorate(out)
	}
	if err != nil {
		d := v.refusal(c, err)
		if d == nil {
			d = &Denied{Code: mcpgo.INTERNAL_ERROR, Message: errInternal.Error()}
		}
		writeRPCError(w, req.ID, modern, d)
		return true
	}
	writeResult(w, req.ID, out)
	return true
}

// writeResult answers with the JSON-RPC response of id whose result is
// out, written in pieces around out rather than copied into one buffer
// (the response writer buffers them).
func writeResult(w http.ResponseWriter, id json.RawMessage, out []byte) {
	w.Header()["Content-Type"] = contentTypeJSON
	w.WriteHeader(http.StatusOK)
	for _, b := range [...][]byte{resultHead, id, resultMid, out, resultTail} {
		if _, err := w.Write(b); err != nil {
			return
		}
	}
}

var (
	resultHead = []byte(`{"jsonrpc":"2.0","id":`)
	resultMid  = []byte(`,"result":`)
	resultTail = []byte("}\n")
)

// contentTypeJSON is the value of every JSON answer's Content-Type; header
// values are not changed once set, so one slice serves every answer.
var contentTypeJSON = []string{"application/json"}

// serveToolsList answers a tools/list from the tools the server last
// registered, each encoded once (list.go), filtered by Visibility; unless
// one of them could not be encoded, which mcp-go then answers.
func (v *vserver) serveToolsList(w http.ResponseWriter, r *http.Request, id json.RawMessage, modern bool) bool {
	l := v.listed.Load()
	items := make([]Item, 0, len(l.tools))
	encoded := make([]*encodedTool, 0, len(l.tools))
	for i := range l.tools {
		lt := &l.tools[i]
		if lt.hidden {
			continue
		}
		if lt.json == nil {
			return false
		}
		items = append(items, lt.item)
		encoded = append(encoded, lt)
	}
	v.g.fastLists.Add(1)
	allowed := v.visible(r.Context(), items)
	head := `{"tools":[`
	if modern {
		head = string(v.resultHead) + `,"ttlMs":0,"cacheScope":"` + string(mcpgo.CacheScopePrivate) + `","tools":[`
	}
	size := len(id) + len(head) + 64
	for k, lt := range encoded {
		if allowed[k] {
			size += len(lt.json) + 1
		}
	}
	b := v.listBuf(size)
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	b = append(b, `,"result":`...)
	b = append(b, head...)
	first := true
	for k, lt := range encoded {
		if allowed[k] {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, lt.json...)
		}
	}
	b = append(b, "]}}\n"...)
	writeJSON(w, http.StatusOK, b)
	if cap(b) <= maxPooledList {
		b = b[:0]
		v.bufs.Put(&b)
	}
	return true
}

// simpleID reports whether id is a JSON string or an integer that a
// float64 holds exactly: an ID mcp-go echoes as it came.
func simpleID(id json.RawMessage) bool {
	if len(id) == 0 {
		return false
	}
	if id[0] == '"' {
		return true // valid JSON, decoded with the envelope
	}
	digits := id
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 15 || len(digits) > 1 && digits[0] == '0' {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// metaOf reads a request's _meta as mcp-go does: the protocol version
// (when a string), and whether client capabilities are present and
// decode.
func metaOf(meta json.RawMessage) (version string, caps bool) {
	if len(meta) == 0 {
		return "", false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(meta, &m) != nil {
		return "", false
	}
	if raw, ok := m[mcpgo.MetaKeyProtocolVersion]; ok {
		if json.Unmarshal(raw, &version) != nil {
			version = ""
		}
	}
	if raw, ok := m[mcpgo.MetaKeyClientCapabilities]; ok && len(raw) > 0 && raw[0] == '{' {
		var c mcpgo.ClientCapabilities
		caps = json.Unmarshal(raw, &c) == nil
	}
	return version, caps
}

// lookupHeader reports the first value of a header and whether it was
// sent at all, as mcp-go's check of Mcp-Param-* headers reads them.
func lookupHeader(h http.Header) func(string) (string, bool) {
	return func(name string) (string, bool) {
		vs := h.Values(name)
		if len(vs) == 0 {
			return "", false
		}
		return vs[0], true
	}
}

// decorate adds to a result what 2026-07-28 requires and mcp-go adds to
// every result: resultType, and the server's identity in _meta, unless
// the result has them.
func (v *vserver) decorate(out json.RawMessage) (json.RawMessage, error) {
	var probe struct {
		ResultType json.RawMessage `json:"resultType"`
		Meta       json.RawMessage `json:"_meta"`
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		return nil, err
	}
	if probe.ResultType == nil && probe.Meta == nil {
		i := bytes.IndexByte(out, '{')
		if i < 0 {
			return nil, errNotObject
		}
		rest := bytes.TrimLeft(out[i+1:], " \t\r\n")
		b := make([]byte, 0, len(out)+len(v.resultHead)+1)
		b = append(b, v.resultHead...)
		if len(rest) > 0 && rest[0] != '}' {
			b = append(b, ',')
		}
		return append(b, rest...), nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, err
	}
	if _, ok := m["resultType"]; !ok {
		m["resultType"] = json.RawMessage(`"` + string(mcpgo.ResultTypeComplete) + `"`)
	}
	meta := map[string]json.RawMessage{}
	if raw := m["_meta"]; len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, err
		}
	}
	if _, ok := meta[mcpgo.MetaKeyServerInfo]; !ok {
		meta[mcpgo.MetaKeyServerInfo] = v.serverInfo
	}
	enc, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	m["_meta"] = enc
	return json.Marshal(m)
}

// writeRPCError answers with d as a JSON-RPC error: with HTTP status 200,
// or on 2026-07-28 the status it prescribes for the code.
func writeRPCError(w http.ResponseWriter, id json.RawMessage, modern bool, d *Denied) {
	msg, err := json.Marshal(d.Message)
	if err != nil {
		msg = []byte(`"internal error"`)
	}
	b := make([]byte, 0, len(msg)+len(id)+64)
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	b = append(b, `,"error":{"code":`...)
	b = strconv.AppendInt(b, int64(d.Code), 10)
	b = append(b, `,"message":`...)
	b = append(b, msg...)
	b = append(b, "}}\n"...)
	status := http.StatusOK
	if modern {
		status = statusOf(d.Code)
	}
	writeJSON(w, status, b)
}

// statusOf is the HTTP status 2026-07-28 prescribes for a JSON-RPC error
// code, as mcp-go maps it.
func statusOf(code int) int {
	switch code {
	case mcpgo.METHOD_NOT_FOUND:
		return http.StatusNotFound
	case mcpgo.HEADER_MISMATCH, mcpgo.MISSING_REQUIRED_CLIENT_CAPABILITY, mcpgo.UNSUPPORTED_PROTOCOL_VERSION,
		mcpgo.INVALID_REQUEST, mcpgo.INVALID_PARAMS, mcpgo.PARSE_ERROR:
		return http.StatusBadRequest
	}
	return http.StatusOK
}

func writeJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header()["Content-Type"] = contentTypeJSON
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

var errNotObject = errors.New("mcp: the result is not a JSON object")

// errReader fails a read with err (io.EOF when nil).
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err == nil {
		return 0, io.EOF
	}
	return 0, e.err
}
