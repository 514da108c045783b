package broker

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/mcp"
)

// mcpVisibility answers the gateway's list filtering with the decision the
// pipeline's authorize step takes for a call: an item is listed when its
// call would be allowed.
type mcpVisibility struct {
	p *pipeline
}

func (v mcpVisibility) Visible(ctx context.Context, server string, items []mcp.Item) ([]bool, error) {
	who, err := v.p.authn.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(items))
	for i, it := range items {
		c := &mcp.Call{Method: methodOf(it.Kind), Server: server, Name: it.Name, Upstream: it.Upstream, Object: it.Object}
		d, err := v.p.authz.Decide(ctx, v.p.request(who, c))
		out[i] = err == nil && d.Allowed
	}
	return out, nil
}

func methodOf(kind string) string {
	switch kind {
	case "prompt":
		return mcp.MethodPromptsGet
	case "resource":
		return mcp.MethodResourcesRead
	}
	return mcp.MethodToolsCall
}

// mcpRecorder writes the gateway's own events (tools learned, quarantined,
// approved) to the audit trail.
type mcpRecorder struct {
	log    auditor
	logger *slog.Logger
}

func (r mcpRecorder) Record(ctx context.Context, e mcp.Event) {
	reason := e.Reason
	if len(e.Detail) > 0 {
		if b, err := json.Marshal(e.Detail); err == nil { // compacts it
			reason += " " + string(b)
		}
	}
	d := audit.Allow
	if e.Action == "mcp.tool.quarantined" {
		d = audit.Deny
	}
	ev := audit.Event{Type: "mcp", Action: e.Action, Target: e.Target, Actor: audit.Actor{Subject: e.Actor},
		Decision: d, Reason: clipTo(reason, maxEventReason), RequestID: RequestID(ctx)}
	if _, err := r.log.Append(context.WithoutCancel(ctx), ev); err != nil {
		r.logger.ErrorContext(ctx, "audit", "action", e.Action, "target", e.Target, "err", err)
	}
}
