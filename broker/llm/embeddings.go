package llm

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"

	openai "github.com/sashabaranov/go-openai"

	"github.com/subzero-gateway/subzero/guard"
)

// embeddings serves POST /v1/embeddings: the input passes the input guard
// (redacted or blocked like a prompt); the vectors are relayed as they are.
func (p *Proxy) embeddings(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c := p.begin(r, RouteEmbeddings)
	defer c.finish(ctx)
	body, aerr := p.readBody(w, r)
	if aerr != nil {
		c.fail(w, aerr)
		return
	}
	req, aerr := decodeEmbeddings(body)
	if aerr != nil {
		c.fail(w, aerr)
		return
	}
	c.ev.Model = req.model
	c.startHash(req.input)
	targets := p.route(req.model)
	if len(targets) == 0 {
		c.fail(w, modelNotFound(req.model))
		return
	}
	prompt := countTokens(req.model, req.texts) + req.tokens
	if aerr := p.admit(ctx, c, req.model, prompt, 0); aerr != nil {
		c.fail(w, aerr)
		return
	}
	if aerr := p.authorize(ctx, c.caller, req.model); aerr != nil {
		c.fail(w, aerr)
		return
	}
	input := req.input
	if p.deps.Guard != nil && len(req.texts) > 0 {
		v, aerr := p.scanInput(ctx, c, RouteEmbeddings, input)
		if aerr != nil {
			c.fail(w, aerr)
			return
		}
		if v.Action == guard.Redact {
			input = json.RawMessage(v.Redacted)
		}
	}
	build := func(t target) []byte {
		if t.model == req.model && bytes.Equal(input, req.input) {
			return body
		}
		o := slices.Clone(req.obj)
		o.set("model", jsonString(t.model))
		o.set("input", input)
		return o.bytes()
	}
	a, aerr := p.forward(ctx, c, "/embeddings", targets, build, false)
	if aerr != nil {
		c.fail(w, aerr)
		return
	}
	defer a.close()
	if a.resp.StatusCode != http.StatusOK {
		c.fail(w, p.upstreamError(a))
		return
	}
	out, err := io.ReadAll(io.LimitReader(a.resp.Body, p.cfg.MaxResponseBytes+1))
	switch {
	case err != nil && ctx.Err() != nil:
		c.fail(w, &apiError{Status: statusClientClosed, Type: "invalid_request_error", Message: "The client went away.", Reason: "client went away"})
		return
	case err != nil:
		a.done(true)
		c.fail(w, &apiError{Status: http.StatusBadGateway, Type: "server_error", Message: "The model's upstream failed.", Reason: "reading the answer: " + err.Error()})
		return
	case int64(len(out)) > p.cfg.MaxResponseBytes:
		c.fail(w, &apiError{Status: http.StatusBadGateway, Type: "server_error", Message: "The model's answer is too large.", Reason: "answer over max_response_bytes"})
		return
	}
	var resp struct {
		Usage *openai.Usage `json:"usage"`
	}
	if json.Unmarshal(out, &resp) != nil {
		c.fail(w, &apiError{Status: http.StatusBadGateway, Type: "server_error", Message: "The model's upstream sent an invalid answer.", Reason: "invalid answer"})
		return
	}
	if resp.Usage != nil {
		c.ev.PromptTokens = int64(resp.Usage.PromptTokens)
	} else {
		c.ev.PromptTokens, c.ev.TokensCounted = prompt, true
	}
	c.used = c.ev.PromptTokens
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}
