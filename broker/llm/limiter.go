package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/subzero-gateway/subzero/broker/limits"
)

// Limiter admits calls within their budgets (*limits.Limiter). Admit
// returns a *limits.Exceeded for a call over a budget; any other error
// refuses the call as a failure. Safe for concurrent use. When the
// Limiter also has MaxTokens(limits.Who) int64, as *limits.Limiter does,
// a chat request that sets no max_tokens is sent with that budget
// (max_completion_tokens to openai and azure, max_tokens to compatible
// servers) and charged for it.
type Limiter interface {
	Admit(ctx context.Context, r limits.Request) (*limits.Ticket, error)
}

// defaultMaxTokens returns the max_tokens budget that applies to the
// caller when the Limiter tells it (*limits.Limiter does), else 0.
func (p *Proxy) defaultMaxTokens(c *call) int64 {
	m, ok := p.deps.Limiter.(interface{ MaxTokens(limits.Who) int64 })
	if !ok {
		return 0
	}
	return m.MaxTokens(who(c.caller))
}

func who(c Caller) limits.Who {
	return limits.Who{APIKey: c.APIKeyID, Client: c.ClientID, User: c.Subject}
}

// admit charges the call's budgets: tokens is the prompt's count plus
// the completion tokens reserved (max_tokens). On success c settles the
// ticket when the call ends.
func (p *Proxy) admit(ctx context.Context, c *call, model string, tokens, maxTokens int64) *apiError {
	if p.deps.Limiter == nil {
		return nil
	}
	t, err := p.deps.Limiter.Admit(ctx, limits.Request{Who: who(c.caller), Model: model, Tokens: tokens, MaxTokens: maxTokens})
	if err == nil {
		c.done = t.Done
		return nil
	}
	if ex, ok := errors.AsType[*limits.Exceeded](err); ok {
		if ex.Limit == limits.LimitMaxTokens {
			return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "max_tokens_exceeded", Param: "max_tokens",
				Message: fmt.Sprintf("max_tokens is larger than the %s budget allows.", ex.Scope), Decision: "deny", Reason: err.Error()}
		}
		typ := "requests"
		switch ex.Limit {
		case limits.LimitTokensPerMinute, limits.LimitTokensPerDay:
			typ = "tokens"
		}
		msg := fmt.Sprintf("Rate limit reached: %s %s.", ex.Scope, ex.Limit)
		if ex.RetryAfter > 0 {
			msg += fmt.Sprintf(" Please try again in %s.", ex.RetryAfter.Round(1e6))
		} else {
			msg += " The request alone is over the limit."
		}
		return &apiError{Status: http.StatusTooManyRequests, Type: typ, Code: "rate_limit_exceeded",
			Message: msg, RetryAfter: ex.RetryAfter, Decision: "deny", Reason: err.Error()}
	}
	p.log.Error("budget check failed", "err", err)
	return &apiError{Status: http.StatusServiceUnavailable, Type: "server_error",
		Message: "The budget check failed; try again later.", Reason: "limiter: " + err.Error()}
}
