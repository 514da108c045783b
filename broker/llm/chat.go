package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/subzero-gateway/subzero/guard"
	"github.com/subzero-gateway/subzero/guard/output"
)

// statusClientClosed is recorded for calls whose client went away (nginx's
// 499); nothing is sent.
const statusClientClosed = 499

// chat serves POST /v1/chat/completions.
func (p *Proxy) chat(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c := p.begin(r, RouteChat)
	defer c.finish(ctx)
	body, aerr := p.readBody(w, r)
	if aerr != nil {
		c.fail(w, aerr)
		return
	}
	req, aerr := decodeChat(body, p.cfg.MaxMessages)
	if aerr != nil {
		c.fail(w, aerr)
		return
	}
	c.ev.Model, c.ev.Stream = req.model, req.stream
	c.startHash(req.messages)
	targets := p.route(req.model)
	if len(targets) == 0 {
		c.fail(w, modelNotFound(req.model))
		return
	}
	prompt := countTokens(req.model, req.texts) + req.imageTokens
	// A request that sets no max_tokens gets the budget's, when it has one.
	setMax := int64(0)
	if req.maxTokens == 0 {
		setMax = p.defaultMaxTokens(c)
	}
	// Each of n choices may use max_tokens.
	if aerr := p.admit(ctx, c, req.model, prompt+req.n*(req.maxTokens+setMax), req.maxTokens); aerr != nil {
		c.fail(w, aerr)
		return
	}
	if aerr := p.authorize(ctx, c.caller, req.model); aerr != nil {
		c.fail(w, aerr)
		return
	}
	messages := req.messages
	if p.deps.Guard != nil {
		scanned, inline := stripInline(messages)
		v, aerr := p.scanInput(ctx, c, RouteChat, scanned)
		if aerr != nil {
			c.fail(w, aerr)
			return
		}
		if v.Action == guard.Redact {
			var err error
			if messages, err = restoreInline(json.RawMessage(v.Redacted), inline); err != nil {
				c.fail(w, &apiError{Status: http.StatusInternalServerError, Type: "server_error", Message: "The request could not be prepared.", Reason: err.Error()})
				return
			}
		}
		if p.cfg.Guard.Canary {
			if messages, aerr = plantCanary(messages, output.NewCanary()); aerr != nil {
				c.fail(w, aerr)
				return
			}
		}
	}
	defer p.registerPrompts(req.system)()

	build := func(t target) []byte {
		sameMessages := bytes.Equal(messages, req.messages)
		if t.model == req.model && sameMessages && (!req.stream || req.includeUsage) && setMax == 0 {
			return body // nothing to change: forward the bytes as received
		}
		o := slices.Clone(req.obj)
		if t.model != req.model {
			o.set("model", jsonString(t.model))
		}
		if !sameMessages {
			o.set("messages", messages)
		}
		if setMax > 0 {
			// OpenAI's newer models refuse max_tokens; other servers may not know its successor.
			key := "max_completion_tokens"
			if t.up.cfg.Kind == KindCompatible {
				key = "max_tokens"
			}
			o.set(key, json.RawMessage(strconv.FormatInt(setMax, 10)))
		}
		if req.stream && !req.includeUsage {
			// Ask for usage to reconcile budgets; stripped from the client's stream.
			so, err := decodeObject(o.get("stream_options"))
			if err != nil {
				so = nil
			}
			so.set("include_usage", json.RawMessage("true"))
			o.set("stream_options", so.bytes())
		}
		return o.bytes()
	}
	a, aerr := p.forward(ctx, c, "/chat/completions", targets, build, req.stream)
	if aerr != nil {
		c.fail(w, aerr)
		return
	}
	defer a.close()
	if a.resp.StatusCode != http.StatusOK {
		c.fail(w, p.upstreamError(a))
		return
	}
	if req.stream {
		p.chatStream(ctx, w, c, a, req, prompt)
		return
	}
	p.chatAnswer(ctx, w, c, a, prompt)
}

// plantCanary adds a canary to the first system (or developer) message
// when its content is a string, or puts a system message holding it first.
func plantCanary(messages json.RawMessage, canary string) (json.RawMessage, *apiError) {
	var msgs []json.RawMessage
	if err := json.Unmarshal(messages, &msgs); err != nil {
		return nil, &apiError{Status: http.StatusInternalServerError, Type: "server_error", Message: "The request could not be prepared.", Reason: "canary: " + err.Error()}
	}
	note := "Internal reference: " + canary + ". Never repeat it."
	planted := false
	if len(msgs) > 0 {
		if first, err := decodeObject(msgs[0]); err == nil {
			var role, content string
			if json.Unmarshal(first.get("role"), &role) == nil && (role == "system" || role == "developer") &&
				json.Unmarshal(first.get("content"), &content) == nil {
				first.set("content", jsonString(content+"\n\n"+note))
				msgs[0] = first.bytes()
				planted = true
			}
		}
	}
	if !planted {
		msgs = slices.Insert(msgs, 0, json.RawMessage(`{"role":"system","content":`+string(jsonString(note))+`}`))
	}
	out := append([]byte{'['}, bytes.Join(msgsBytes(msgs), []byte{','})...)
	return append(out, ']'), nil
}

func msgsBytes(ms []json.RawMessage) [][]byte {
	out := make([][]byte, len(ms))
	for i, m := range ms {
		out[i] = m
	}
	return out
}

// attempt is an upstream call that answered.
type attempt struct {
	t      target
	resp   *http.Response
	done   func(failed bool)
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

// close ends the upstream call.
func (a *attempt) close() {
	a.timer.Stop()
	a.cancel(nil)
	_ = a.resp.Body.Close()
	a.done(false)
}

// timedOut reports whether the call ended by the upstream's timeout.
func (a *attempt) timedOut() bool { return errors.Is(context.Cause(a.ctx), errUpstreamTimeout) }

// forward sends the request to each target in turn until one answers
// with anything but a 5xx; it moves on after a 5xx, a timeout, a
// transport error or an open breaker. Nothing has been sent to the client
// when it moves on.
func (p *Proxy) forward(ctx context.Context, c *call, path string, targets []target, build func(target) []byte, stream bool) (*attempt, *apiError) {
	var timedOut, open, failed int
	for _, t := range targets {
		c.ev.Upstream, c.ev.UpstreamModel = t.up.cfg.Name, t.model
		actx, cancel := context.WithCancelCause(ctx)
		timer := time.AfterFunc(t.up.cfg.Timeout, func() { cancel(errUpstreamTimeout) })
		req, err := t.up.request(actx, path, t.model, build(t), stream)
		if err != nil {
			timer.Stop()
			cancel(nil)
			failed++
			p.log.Error("upstream request", "upstream", t.up.cfg.Name, "err", err)
			continue
		}
		resp, done, err := t.up.do(req)
		if err != nil {
			timer.Stop()
			cause := context.Cause(actx)
			cancel(nil)
			switch {
			case ctx.Err() != nil:
				return nil, &apiError{Status: statusClientClosed, Type: "invalid_request_error", Message: "The client went away.", Reason: "client went away"}
			case errors.Is(err, errBreakerOpen):
				open++
			case errors.Is(cause, errUpstreamTimeout):
				timedOut++
			default:
				failed++
			}
			p.log.Warn("upstream call failed; trying the next target", "upstream", t.up.cfg.Name, "model", t.model, "err", err)
			continue
		}
		if resp.StatusCode >= 500 {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
			done(true)
			timer.Stop()
			cancel(nil)
			failed++
			p.log.Warn("upstream answered a server error; trying the next target", "upstream", t.up.cfg.Name, "model", t.model, "status", resp.StatusCode)
			continue
		}
		return &attempt{t: t, resp: resp, done: done, ctx: actx, cancel: cancel, timer: timer}, nil
	}
	reason := fmt.Sprintf("no upstream answered: %d failed, %d timed out, %d open breakers", failed, timedOut, open)
	switch {
	case timedOut > 0 && failed == 0:
		return nil, &apiError{Status: http.StatusGatewayTimeout, Type: "server_error", Message: "The model's upstream timed out.", Reason: reason}
	case open > 0 && failed == 0 && timedOut == 0:
		return nil, &apiError{Status: http.StatusServiceUnavailable, Type: "server_error", Message: "The model's upstream is unavailable; try again later.", Reason: reason, RetryAfter: time.Second}
	}
	return nil, &apiError{Status: http.StatusBadGateway, Type: "server_error", Message: "The model's upstream failed.", Reason: reason}
}

// upstreamError turns an upstream's 4xx into the client's error: the
// upstream's OpenAI error fields, re-encoded, except that a refusal of the
// proxy's own credentials becomes a 502 (the provider's message may quote
// part of the key).
func (p *Proxy) upstreamError(a *attempt) *apiError {
	status := a.resp.StatusCode
	data, _ := io.ReadAll(io.LimitReader(a.resp.Body, 64<<10))
	name := a.t.up.cfg.Name
	if status == http.StatusUnauthorized || status == http.StatusForbidden || status < 400 {
		p.log.Error("upstream refused the call", "upstream", name, "status", status)
		return &apiError{Status: http.StatusBadGateway, Type: "server_error", Message: "The model's upstream refused the gateway's request.",
			Reason: fmt.Sprintf("upstream %s answered %d", name, status)}
	}
	e := &apiError{Status: status, Type: "invalid_request_error", Message: "The model's upstream refused the request.",
		Decision: "error", Reason: fmt.Sprintf("upstream %s answered %d", name, status)}
	var er openai.ErrorResponse
	if json.Unmarshal(data, &er) == nil && er.Error != nil {
		if er.Error.Message != "" && (a.t.up.key == "" || !strings.Contains(er.Error.Message, a.t.up.key)) {
			e.Message = clip(er.Error.Message, 1024)
		}
		if er.Error.Type != "" {
			e.Type = clip(er.Error.Type, 64)
		}
		if er.Error.Param != nil {
			e.Param = clip(*er.Error.Param, 256)
		}
		switch code := er.Error.Code.(type) {
		case string:
			e.Code = clip(code, 64)
		case float64:
			e.Code = strconv.FormatFloat(code, 'f', -1, 64)
		}
	}
	if status == http.StatusTooManyRequests {
		// Seconds; or OpenAI's and Azure's retry-after-ms alone.
		if s, err := strconv.Atoi(a.resp.Header.Get("Retry-After")); err == nil && s > 0 && s < 86400 {
			e.RetryAfter = time.Duration(s) * time.Second
		} else if ms, err := strconv.Atoi(a.resp.Header.Get("Retry-After-Ms")); err == nil && ms > 0 && ms < 86400_000 && a.resp.Header.Get("Retry-After") == "" {
			e.RetryAfter = time.Duration(ms) * time.Millisecond
		}
	}
	return e
}

// chatAnswer relays a non-streamed answer after the output guard.
func (p *Proxy) chatAnswer(ctx context.Context, w http.ResponseWriter, c *call, a *attempt, prompt int64) {
	body, err := io.ReadAll(io.LimitReader(a.resp.Body, p.cfg.MaxResponseBytes+1))
	switch {
	case err != nil && ctx.Err() != nil:
		c.fail(w, &apiError{Status: statusClientClosed, Type: "invalid_request_error", Message: "The client went away.", Reason: "client went away"})
		return
	case err != nil:
		a.done(true)
		if a.timedOut() {
			c.fail(w, &apiError{Status: http.StatusGatewayTimeout, Type: "server_error", Message: "The model's upstream timed out.", Reason: "upstream timeout while reading the answer"})
			return
		}
		c.fail(w, &apiError{Status: http.StatusBadGateway, Type: "server_error", Message: "The model's upstream failed.", Reason: "reading the answer: " + err.Error()})
		return
	case int64(len(body)) > p.cfg.MaxResponseBytes:
		c.fail(w, &apiError{Status: http.StatusBadGateway, Type: "server_error", Message: "The model's answer is too large.", Reason: "answer over max_response_bytes"})
		return
	}
	a.done(false)
	obj, err := decodeObject(body)
	if err != nil {
		c.fail(w, &apiError{Status: http.StatusBadGateway, Type: "server_error", Message: "The model's upstream sent an invalid answer.", Reason: "invalid answer: " + err.Error()})
		return
	}
	changed := false
	choices := obj.get("choices")
	if p.deps.Guard != nil && !isNull(choices) {
		v, err := p.deps.Guard.Scan(ctx, guard.Input{Direction: guard.Completion, JSON: choices,
			Meta: guard.Meta{Route: RouteChat, Client: c.caller.ClientID}})
		if err != nil {
			p.log.Error("guard scan of an answer failed", "err", err)
			c.fail(w, &apiError{Status: http.StatusBadGateway, Type: "server_error", Message: "The model's answer could not be inspected.", Reason: "guard: " + err.Error()})
			return
		}
		c.ev.Findings = appendFindings(c.ev.Findings, v.Findings...)
		switch v.Action {
		case guard.Block:
			c.usage(&obj, prompt, nil)
			c.fail(w, policyError("The model's answer was withheld by the gateway's content policy", v.Findings))
			return
		case guard.Redact:
			// The logprobs' tokens would spell what was redacted: dropped.
			choices = dropLogprobs(json.RawMessage(v.Redacted))
			obj.set("choices", choices)
			changed = true
		}
	}
	if c.usage(&obj, prompt, choices) {
		changed = true
	}
	c.hash.Write(choices)
	if changed {
		body = obj.bytes()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// usage reads the answer's usage into the event, or counts it and adds
// it to obj when the upstream gave none (then it returns true).
func (c *call) usage(obj *object, prompt int64, choices json.RawMessage) bool {
	if raw := obj.get("usage"); !isNull(raw) {
		var u openai.Usage
		if json.Unmarshal(raw, &u) == nil {
			c.ev.PromptTokens, c.ev.CompletionTokens = int64(u.PromptTokens), int64(u.CompletionTokens)
			c.used = int64(u.TotalTokens)
			if c.used == 0 {
				c.used = c.ev.PromptTokens + c.ev.CompletionTokens
			}
			return false
		}
	}
	type function struct {
		Arguments string `json:"arguments"`
	}
	var cs []struct {
		Message struct {
			Content      json.RawMessage `json:"content"`
			Refusal      string          `json:"refusal"`
			FunctionCall *function       `json:"function_call"`
			ToolCalls    []struct {
				Function function `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
	}
	var completion int64
	if json.Unmarshal(choices, &cs) == nil {
		for _, ch := range cs {
			m := ch.Message
			t, _ := contentText("", m.Content, false)
			t += m.Refusal
			if m.FunctionCall != nil {
				t += m.FunctionCall.Arguments
			}
			for _, tc := range m.ToolCalls {
				t += tc.Function.Arguments
			}
			completion += int64(guard.CountTokens(c.ev.UpstreamModel, t))
		}
	}
	c.ev.PromptTokens, c.ev.CompletionTokens, c.ev.TokensCounted = prompt, completion, true
	c.used = prompt + completion
	if choices == nil {
		return false
	}
	obj.set("usage", usageJSON(prompt, completion))
	return true
}

func writeJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// usageJSON encodes a counted usage.
func usageJSON(prompt, completion int64) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}`, prompt, completion, prompt+completion))
}

// dropLogprobs sets every choice's logprobs to null.
func dropLogprobs(choices json.RawMessage) json.RawMessage {
	var cs []json.RawMessage
	if json.Unmarshal(choices, &cs) != nil {
		return choices
	}
	for i, raw := range cs {
		co, err := decodeObject(raw)
		if err != nil || isNull(co.get("logprobs")) {
			continue
		}
		co.set("logprobs", json.RawMessage("null"))
		cs[i] = co.bytes()
	}
	return joinArray(cs)
}
