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
// refuses the call as a failure. Safe for concurrent use.
type Limiter interface {
	Admit(ctx context.Context, r limits.Request) (*limits.Ticket, error)
}

// admit charges the call's budgets: tokens is the prompt's count plus
// the completion tokens reserved (max_tokens). On success c settles the
// ticket when the call ends.
func (p *Proxy) admit(ctx context.Context, c *call, model string, tokens, maxTokens int64) *apiError {
	if p.deps.Limiter == nil {
		return nil
	}
	who := limits.Who{APIKey: c.caller.APIKeyID, Client: c.caller.ClientID, User: c.caller.Subject}
	t, err := p.deps.Limiter.Admit(ctx, limits.Request{Who: who, Model: model, Tokens: tokens, MaxTokens: maxTokens})
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
