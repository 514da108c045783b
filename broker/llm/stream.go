package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	openai "github.com/sashabaranov/go-openai"

	"github.com/subzero-gateway/subzero/guard"
)

// chatStream relays a streamed answer chunk by chunk. Content passes the
// output guard through a hold-back window per choice (see [streamGuard]);
// every other field is sent as soon as it arrives. A block ends the
// stream with an error event and no [DONE].
func (p *Proxy) chatStream(ctx context.Context, w http.ResponseWriter, c *call, a *attempt, req *chatRequest, prompt int64) {
	a.timer.Stop() // the timeout bounded the wait for the headers
	a.done(false)
	idle := a.t.up.cfg.StreamIdleTimeout
	idleTimer := time.AfterFunc(idle, func() { a.cancel(errUpstreamTimeout) })
	defer idleTimer.Stop()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	// The headers leave with the first chunk (usually the role, at once),
	// in one write; or alone when the first chunk is all held back.
	w.WriteHeader(http.StatusOK)
	flushed := false

	sg := newStreamGuard(ctx, c, p.deps.Guard, p.cfg.Guard.HoldBackBytes, req.includeUsage, a.t.model)
	sg.key = a.t.up.key
	var buf []byte
	send := func(data []byte) bool {
		buf = append(buf[:0], "data: "...)
		buf = append(buf, data...)
		buf = append(buf, "\n\n"...)
		if _, err := w.Write(buf); err != nil {
			return false
		}
		flushed = true
		return rc.Flush() == nil
	}
	gone := func() {
		c.ev.Status, c.ev.Decision, c.ev.Reason = statusClientClosed, "error", "client went away"
	}
	end := func(e *apiError) {
		if ctx.Err() != nil {
			gone()
			return
		}
		c.ev.Decision, c.ev.Reason = e.Decision, e.Reason
		if c.ev.Decision == "" {
			c.ev.Decision = "error"
		}
		if c.ev.Reason == "" {
			c.ev.Reason = e.Message
		}
		send(e.body())
	}
	defer func() { c.streamUsage(sg, prompt) }()

	// done ends a complete stream: what is held, the usage chunk the
	// client asked for, [DONE].
	// flush delivers everything held; false when the stream ended on the
	// way (a block, or the client gone).
	flush := func() bool {
		for _, out := range sg.flushAll() {
			if out.err != nil {
				end(out.err)
				return false
			}
			if !send(out.data) {
				gone()
				return false
			}
		}
		return true
	}
	done := func() {
		if !flush() {
			return
		}
		if u := sg.usageChunk(prompt); u != nil && !send(u) {
			gone()
			return
		}
		if !send([]byte("[DONE]")) {
			gone()
		}
	}
	// Any bytes, comments (heartbeats) included, show the upstream alive.
	sc := newSSEScanner(activityReader{a.resp.Body, func() { idleTimer.Reset(idle) }}, p.cfg.MaxSSELineBytes)
	for {
		data, err := sc.next()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				gone()
			case err == io.EOF && sg.complete():
				// Every choice has its finish reason: some servers end
				// there, without [DONE].
				done()
			case err == io.EOF:
				// The upstream ended early: deliver what is held, then the error.
				if !flush() {
					return
				}
				end(&apiError{Status: http.StatusBadGateway, Type: "server_error", Message: "The model's upstream ended the stream early.", Reason: "stream ended before its finish reasons and [DONE]"})
			case a.timedOut():
				end(&apiError{Status: http.StatusGatewayTimeout, Type: "server_error", Message: "The model's upstream stopped sending.", Reason: "stream idle timeout"})
			case errors.Is(err, errLineTooLong):
				end(&apiError{Status: http.StatusBadGateway, Type: "server_error", Message: "The model's upstream sent an event too large.", Reason: err.Error()})
			default:
				end(&apiError{Status: http.StatusBadGateway, Type: "server_error", Message: "The model's upstream failed.", Reason: "reading the stream: " + err.Error()})
			}
			return
		}
		if string(data) == "[DONE]" {
			done()
			return
		}
		out, aerr := sg.chunk(data)
		if aerr != nil {
			end(aerr)
			return
		}
		if out != nil && !send(out) {
			gone()
			return
		}
		if !flushed {
			flushed = true
			_ = rc.Flush()
		}
	}
}

// activityReader calls active after each read that returned bytes.
type activityReader struct {
	r      io.Reader
	active func()
}

func (a activityReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.active()
	}
	return n, err
}

// streamUsage settles the event's token counts after a stream.
func (c *call) streamUsage(sg *streamGuard, prompt int64) {
	if sg.usage != nil {
		c.ev.PromptTokens, c.ev.CompletionTokens = int64(sg.usage.PromptTokens), int64(sg.usage.CompletionTokens)
		c.used = c.ev.PromptTokens + c.ev.CompletionTokens
		return
	}
	c.ev.PromptTokens, c.ev.CompletionTokens, c.ev.TokensCounted = prompt, sg.completion, true
	c.used = prompt + sg.completion
}

// streamGuard runs the output guard over streamed content.
//
// Per choice, the content (and each tool call's arguments) is appended
// to pending; only the part of pending beyond the last holdBack bytes is
// released to the client, after a scan of the released context (tail, up
// to holdBack bytes already sent) followed by all of pending. A finding
// that straddles the release point holds the point back to its start, so
// a value that can still grow (an e-mail address, a canary arriving
// letter by letter) is never sent in part; a block ends the stream. When
// a choice finishes, all it holds is scanned and released. Redaction
// replaces held text before release. The whole answer is never buffered:
// at most pending (holdBack, or up to maxHeldFactor×holdBack while a
// finding straddles) and tail per choice and tool call.
type streamGuard struct {
	ctx          context.Context
	c            *call
	guard        guard.Scanner // nil: content passes as it comes
	holdBack     int
	meta         guard.Meta
	held         map[heldKey]*held
	order        []heldKey // in order of appearance
	includeUsage bool      // the client asked for the usage chunk
	model        string
	usage        *openai.Usage
	completion   int64  // tokens counted in released content
	template     object // the last chunk's members but choices and usage
	seen         map[findingKey]bool
	// choices maps each choice seen to whether its finish reason came.
	choices map[int64]bool
	key     string // the upstream's API key, never relayed
}

func newStreamGuard(ctx context.Context, c *call, scanner guard.Scanner, holdBack int, includeUsage bool, model string) *streamGuard {
	return &streamGuard{
		ctx: ctx, c: c, guard: scanner, holdBack: holdBack,
		meta: guard.Meta{Route: RouteChat, Client: c.caller.ClientID},
		held: map[heldKey]*held{}, includeUsage: includeUsage, model: model, seen: map[findingKey]bool{},
		choices: map[int64]bool{},
	}
}

// heldKey names a held text: a choice's content (tool heldContent), its
// refusal (heldRefusal) or the arguments of one of its tool calls (tool
// the call's index).
type heldKey struct {
	choice, tool int64
}

const (
	heldContent  = -1
	heldRefusal  = -2
	heldFunction = -3 // the arguments of a legacy function_call
)

type held struct {
	key      heldKey
	pending  string
	tail     string
	released int // bytes released so far
	finished bool
}

type findingKey struct {
	key      heldKey
	detector string
	start    int
}

// maxHeldFactor bounds pending, as a multiple of holdBack, when findings
// keep straddling the release point.
const maxHeldFactor = 4

// maxHeld bounds the texts held per stream (choices × tool calls), and
// maxFindings the findings a stream records.
const (
	maxHeld     = 256
	maxFindings = 256
)

var errTooManyHeld = &apiError{Status: http.StatusBadGateway, Type: "server_error",
	Message: "The model's upstream sent too many choices or tool calls.", Reason: "more than 256 choices and tool calls in a stream"}

func (g *streamGuard) get(k heldKey) *held {
	h := g.held[k]
	if h == nil {
		if len(g.held) >= maxHeld {
			return nil
		}
		h = &held{key: k}
		g.held[k] = h
		g.order = append(g.order, k)
	}
	return h
}

func invalidChunk(what string) *apiError {
	return &apiError{Status: http.StatusBadGateway, Type: "server_error", Message: "The model's upstream sent an invalid chunk.", Reason: "invalid chunk: " + what}
}

// chunk processes one upstream chunk and returns what to send (nil:
// nothing) or the error that ends the stream.
func (g *streamGuard) chunk(data []byte) ([]byte, *apiError) {
	obj, err := decodeObject(data)
	if err != nil {
		return nil, invalidChunk(err.Error())
	}
	if e := obj.get("error"); !isNull(e) {
		return nil, upstreamStreamError(e, g.key)
	}
	changed := false
	usagePresent := false
	if raw := obj.get("usage"); raw != nil {
		usagePresent = !isNull(raw)
		if usagePresent {
			var u openai.Usage
			if json.Unmarshal(raw, &u) == nil {
				g.usage = &u
			}
		}
		if !g.includeUsage {
			obj.del("usage")
			changed = true
		}
	}
	var choices []json.RawMessage
	if raw := obj.get("choices"); !isNull(raw) {
		if err := json.Unmarshal(raw, &choices); err != nil {
			return nil, invalidChunk("choices")
		}
	}
	g.keepTemplate(obj)
	if len(choices) == 0 {
		if usagePresent && !g.includeUsage {
			return nil, nil // the usage chunk the client did not ask for
		}
		if changed {
			return obj.bytes(), nil
		}
		return data, nil
	}
	notable, choicesChanged := false, false
	for i, raw := range choices {
		out, n, aerr := g.choice(raw)
		if aerr != nil {
			return nil, aerr
		}
		notable = notable || n
		if out != nil {
			choices[i] = out
			choicesChanged = true
		}
	}
	if !notable {
		return nil, nil // only content, all of it held back
	}
	if choicesChanged {
		obj.set("choices", joinArray(choices))
		changed = true
	}
	if changed {
		return obj.bytes(), nil
	}
	return data, nil
}

// choice processes one choice of a chunk: it returns the choice to send
// in its place (nil: unchanged) and whether it carries anything to send.
func (g *streamGuard) choice(raw json.RawMessage) (json.RawMessage, bool, *apiError) {
	co, err := decodeObject(raw)
	if err != nil {
		return nil, false, invalidChunk("choice")
	}
	var idx int64
	if r := co.get("index"); r != nil && json.Unmarshal(r, &idx) != nil {
		return nil, false, invalidChunk("choice index")
	}
	var delta object
	if r := co.get("delta"); !isNull(r) {
		if delta, err = decodeObject(r); err != nil {
			return nil, false, invalidChunk("delta")
		}
	}
	var content, refusal string
	hasContent, hasRefusal := false, false
	if r := delta.get("content"); !isNull(r) {
		if json.Unmarshal(r, &content) != nil {
			return nil, false, invalidChunk("content")
		}
		hasContent = true
	}
	if r := delta.get("refusal"); !isNull(r) {
		if json.Unmarshal(r, &refusal) != nil {
			return nil, false, invalidChunk("refusal")
		}
		hasRefusal = true
	}
	finish := !isNull(co.get("finish_reason"))
	if _, ok := g.choices[idx]; !ok && len(g.choices) >= maxHeld {
		return nil, false, errTooManyHeld
	}
	g.choices[idx] = g.choices[idx] || finish
	notable := finish
	changed := false
	if !isNull(co.get("logprobs")) {
		if g.guard == nil {
			notable = true
		} else {
			// Their tokens would send held text at once: dropped.
			co.set("logprobs", json.RawMessage("null"))
			changed = true
		}
	}
	for _, m := range delta {
		if m.key != "content" && m.key != "refusal" && !isNull(m.val) {
			notable = true
		}
	}
	if g.guard == nil {
		if content != "" || refusal != "" {
			g.account(content + refusal)
			notable = true
		}
		return nil, notable || hasRefusal, nil
	}
	hold := func(tool int64, text string) (string, *apiError) {
		if text == "" {
			return "", nil
		}
		h := g.get(heldKey{idx, tool})
		if h == nil {
			return "", errTooManyHeld
		}
		h.pending += text
		return g.release(h, false)
	}
	out, aerr := hold(heldContent, content)
	if aerr != nil {
		return nil, false, aerr
	}
	refusalOut, aerr := hold(heldRefusal, refusal)
	if aerr != nil {
		return nil, false, aerr
	}
	// Tool calls: their arguments are held back like content.
	var calls []json.RawMessage
	if r := delta.get("tool_calls"); !isNull(r) {
		if json.Unmarshal(r, &calls) != nil {
			return nil, false, invalidChunk("tool_calls")
		}
		for k, cr := range calls {
			call, err := decodeObject(cr)
			if err != nil {
				return nil, false, invalidChunk("tool call")
			}
			var ti int64
			if r := call.get("index"); r != nil && (json.Unmarshal(r, &ti) != nil || ti < 0) {
				return nil, false, invalidChunk("tool call index")
			}
			fn, _ := decodeObject(call.get("function"))
			var args string
			r := fn.get("arguments")
			if isNull(r) {
				continue
			}
			if json.Unmarshal(r, &args) != nil {
				return nil, false, invalidChunk("tool call arguments") // not a string: not relayed unguarded
			}
			if args == "" {
				continue
			}
			h := g.get(heldKey{idx, ti})
			if h == nil {
				return nil, false, errTooManyHeld
			}
			h.pending += args
			o, aerr := g.release(h, false)
			if aerr != nil {
				return nil, false, aerr
			}
			if o != args {
				fn.set("arguments", jsonString(o))
				call.set("function", fn.bytes())
				calls[k] = call.bytes()
				changed = true
			}
		}
	}
	// A legacy function call's arguments, likewise.
	fcOut, hasFC := "", false
	var fc object
	if r := delta.get("function_call"); !isNull(r) {
		if fc, err = decodeObject(r); err != nil {
			return nil, false, invalidChunk("function_call")
		}
		var args string
		if ra := fc.get("arguments"); !isNull(ra) {
			if json.Unmarshal(ra, &args) != nil {
				return nil, false, invalidChunk("function_call arguments")
			}
			hasFC = true
		}
		if fcOut, aerr = hold(heldFunction, args); aerr != nil {
			return nil, false, aerr
		}
		if fcOut != args {
			changed = true
		}
	}
	if finish {
		for _, k := range g.order {
			h := g.held[k]
			if k.choice != idx || h.finished {
				continue
			}
			o, aerr := g.release(h, true)
			if aerr != nil {
				return nil, false, aerr
			}
			h.finished = true
			switch {
			case o == "":
			case k.tool == heldContent:
				out += o
			case k.tool == heldRefusal:
				refusalOut += o
			case k.tool == heldFunction:
				fcOut, hasFC = fcOut+o, true
				changed = true
			default:
				calls = append(calls, json.RawMessage(`{"index":`+strconv.FormatInt(k.tool, 10)+`,"function":{"arguments":`+string(jsonString(o))+`}}`))
				changed = true
			}
		}
	}
	if out != "" || refusalOut != "" {
		notable = true
	}
	if (hasContent || out != "") && out != content {
		delta.set("content", jsonString(out))
		changed = true
	}
	if (hasRefusal || refusalOut != "") && refusalOut != refusal {
		delta.set("refusal", jsonString(refusalOut))
		changed = true
	}
	if !changed {
		return nil, notable, nil
	}
	if len(calls) > 0 {
		delta.set("tool_calls", joinArray(calls))
	}
	if hasFC {
		fc.set("arguments", jsonString(fcOut))
		delta.set("function_call", fc.bytes())
	}
	co.set("delta", delta.bytes())
	return co.bytes(), notable, nil
}

func (g *streamGuard) keepTemplate(obj object) {
	t := make(object, 0, len(obj))
	for _, m := range obj {
		if m.key != "choices" && m.key != "usage" {
			t = append(t, m)
		}
	}
	g.template = t
}

// account adds released content to the content hash and the counted
// completion tokens.
func (g *streamGuard) account(s string) {
	g.c.hash.Write([]byte(s))
	g.completion += int64(guard.CountTokens(g.model, s))
}

// release scans a choice's held content and returns what may be sent
// now: all of it when final, else what lies before the hold-back window.
func (g *streamGuard) release(h *held, final bool) (string, *apiError) {
	if h.pending == "" || !final && len(h.pending) <= g.holdBack {
		return "", nil
	}
	window := h.tail + h.pending
	off := len(h.tail)
	v, aerr := g.scan(window, h.key, h.released-off)
	if aerr != nil {
		return "", aerr
	}
	cut := len(h.pending)
	if !final {
		cut -= g.holdBack
		for moved := true; moved; {
			moved = false
			for _, f := range v.Findings {
				// A finding that straddles the cut moves it to the
				// finding's start (or to 0 when it began in the released
				// tail); the cut only moves back, so this ends.
				s, e := f.Start-off, f.End-off
				if s < cut && cut < e && max(s, 0) < cut {
					cut, moved = max(s, 0), true
				}
			}
		}
		// Nor inside a word: a value being written (an address, a key, a
		// token) is not recognized before it is whole, and its first
		// bytes would leave before it is.
		if cut > 0 && cut < len(h.pending) && !wordBreak(h.pending[cut-1]) && !wordBreak(h.pending[cut]) {
			for cut > 0 && !wordBreak(h.pending[cut-1]) {
				cut--
			}
		}
		if cut == 0 && len(h.pending) > maxHeldFactor*g.holdBack {
			cut = len(h.pending) - g.holdBack // a finding or word that keeps growing: release it, redacted
		}
		for cut > 0 && cut < len(h.pending) && !utf8.RuneStart(h.pending[cut]) {
			cut--
		}
		if cut <= 0 {
			return "", nil
		}
	}
	seg := h.pending[:cut]
	out := seg
	if v.Action == guard.Redact {
		v2, aerr := g.scan(seg, h.key, h.released)
		if aerr != nil {
			return "", aerr
		}
		if v2.Action == guard.Redact {
			out = v2.Redacted
		}
	}
	h.released += len(seg)
	h.pending = h.pending[cut:]
	h.tail += seg
	if n := len(h.tail) - g.holdBack; n > 0 {
		for n < len(h.tail) && !utf8.RuneStart(h.tail[n]) {
			n++
		}
		h.tail = h.tail[n:]
	}
	g.account(out)
	return out, nil
}

// wordBreak reports whether b ends a word: space, or punctuation that
// addresses, keys, tokens and URLs do not hold.
func wordBreak(b byte) bool {
	switch b {
	case ' ', '\t', '\n', '\r', '"', '\'', '`', ',', ';', '(', ')', '<', '>', '[', ']', '{', '}', '|':
		return true
	}
	return false
}

// scan runs the output guard over text, which starts at byte at of the
// held text key, and records new findings; a block is an error.
func (g *streamGuard) scan(text string, key heldKey, at int) (guard.Verdict, *apiError) {
	v, err := g.guard.Scan(g.ctx, guard.Input{Direction: guard.Completion, Text: text, Meta: g.meta})
	if err != nil {
		return v, &apiError{Status: http.StatusBadGateway, Type: "server_error", Message: "The model's answer could not be inspected.", Reason: "guard: " + err.Error()}
	}
	for _, f := range v.Findings {
		k := findingKey{key, f.Detector, at + f.Start}
		if !g.seen[k] && len(g.seen) < maxFindings {
			g.seen[k] = true
			g.c.ev.Findings = appendFindings(g.c.ev.Findings, f)
		}
	}
	if v.Action == guard.Block {
		return v, policyError("The model's answer was withheld by the gateway's content policy", v.Findings)
	}
	return v, nil
}

// complete reports whether every choice seen has had its finish reason.
func (g *streamGuard) complete() bool {
	for _, finished := range g.choices {
		if !finished {
			return false
		}
	}
	return len(g.choices) > 0
}

// flushed is a chunk to send at the end of a stream, or the error that
// ends it.
type flushed struct {
	data []byte
	err  *apiError
}

// flushAll releases what every unfinished choice still holds, as chunks
// built on the last chunk's members.
func (g *streamGuard) flushAll() []flushed {
	var out []flushed
	for _, k := range g.order {
		h := g.held[k]
		if h.finished || h.pending == "" {
			continue
		}
		s, aerr := g.release(h, true)
		if aerr != nil {
			return append(out, flushed{err: aerr})
		}
		if s == "" {
			continue
		}
		delta := `{"content":` + string(jsonString(s)) + `}`
		switch k.tool {
		case heldRefusal:
			delta = `{"refusal":` + string(jsonString(s)) + `}`
		case heldFunction:
			delta = `{"function_call":{"arguments":` + string(jsonString(s)) + `}}`
		}
		if k.tool >= 0 {
			delta = `{"tool_calls":[{"index":` + strconv.FormatInt(k.tool, 10) + `,"function":{"arguments":` + string(jsonString(s)) + `}}]}`
		}
		o := append(object(nil), g.template...)
		o.set("choices", json.RawMessage(`[{"index":`+strconv.FormatInt(k.choice, 10)+`,"delta":`+delta+`,"finish_reason":null}]`))
		out = append(out, flushed{data: o.bytes()})
	}
	return out
}

// usageChunk returns the usage chunk the client asked for when the
// upstream sent none.
func (g *streamGuard) usageChunk(prompt int64) []byte {
	if !g.includeUsage || g.usage != nil {
		return nil
	}
	o := append(object(nil), g.template...)
	o.set("choices", json.RawMessage("[]"))
	o.set("usage", usageJSON(prompt, g.completion))
	return o.bytes()
}

// upstreamStreamError re-encodes an error event of the upstream; a
// message that quotes the provider key is not relayed.
func upstreamStreamError(raw json.RawMessage, key string) *apiError {
	e := &apiError{Status: http.StatusBadGateway, Type: "server_error", Message: "The model's upstream failed.", Reason: "upstream error event"}
	var ae openai.APIError
	if json.Unmarshal(raw, &ae) == nil {
		if ae.Message != "" && (key == "" || !strings.Contains(ae.Message, key)) {
			e.Message = clip(ae.Message, 1024)
		}
		if ae.Type != "" {
			e.Type = clip(ae.Type, 64)
		}
		if c, ok := ae.Code.(string); ok {
			e.Code = clip(c, 64)
		}
	}
	return e
}

func joinArray(items []json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(it)
	}
	b.WriteByte(']')
	return b.Bytes()
}
