package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/subzero-gateway/subzero/mcp"
	"github.com/subzero-gateway/subzero/mcp/pin"
)

// OpenTools returns the gateway's tool administration for `subzero mcp
// tools`: through the running node's admin socket, or, when no node runs,
// on the data directory's store directly, with approvals recorded in the
// node's audit chain (a node lists an approved tool when it next lists
// its upstream). close releases what it opened.
func OpenTools(ctx context.Context, cfg *Config, getenv func(string) string, logger *slog.Logger) (ToolsAdmin, func() error, error) {
	if c, ok := dialRunning(ctx, cfg.AdminSocket()); ok {
		return toolsClient{c: c}, func() error { c.http.CloseIdleConnections(); return nil }, nil
	}
	off, err := openOffline(ctx, cfg, getenv, logger)
	if err != nil {
		return nil, nil, err
	}
	pins, err := pin.New(off.st.pins, cfg.MCP.Pinning, nil)
	if err != nil {
		off.close()
		return nil, nil, fmt.Errorf("mcp.pinning: %w", err)
	}
	return offlineTools{pins: pins, rec: mcpRecorder{log: off.log, logger: logger}}, off.close, nil
}

// offlineTools administers the pins of a stopped node's store.
type offlineTools struct {
	pins *pin.Pins
	rec  mcpRecorder
}

func (o offlineTools) Quarantined(ctx context.Context) ([]mcp.QuarantinedTool, error) {
	recs, err := o.pins.Quarantined(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]mcp.QuarantinedTool, 0, len(recs))
	for _, r := range recs {
		out = append(out, mcp.QuarantinedToolOf(r))
	}
	return out, nil
}

func (o offlineTools) Approve(ctx context.Context, name, hash, actor string) error {
	recs, err := o.pins.Quarantined(ctx)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Key.String() != name {
			continue
		}
		if _, err := o.pins.Approve(ctx, r.Upstream, r.Tool, hash, actor); err != nil {
			return err
		}
		detail, _ := json.Marshal(map[string]string{"upstream": r.Upstream, "tool": r.Tool, "hash": hash})
		o.rec.Record(ctx, mcp.Event{Action: mcp.ActionApproved, Target: name, Actor: actor,
			Reason: "quarantined tool approved by an admin", Detail: detail})
		return nil
	}
	return pin.ErrNotFound
}

// toolsClient is ToolsAdmin over a running node's admin socket.
type toolsClient struct{ c adminClient }

func (t toolsClient) Quarantined(ctx context.Context) ([]mcp.QuarantinedTool, error) {
	var out struct {
		Tools []mcp.QuarantinedTool `json:"tools"`
	}
	err := t.call(ctx, http.MethodGet, "/mcp/tools/quarantined", "", &out)
	return out.Tools, err
}

func (t toolsClient) Approve(ctx context.Context, name, hash, _ string) error {
	body, _ := json.Marshal(map[string]string{"name": name, "hash": hash})
	var out map[string]string
	return t.call(ctx, http.MethodPost, "/mcp/tools/approve", string(body), &out)
}

func (t toolsClient) call(ctx context.Context, method, path, body string, out any) error {
	return t.c.exchange(ctx, method, path, body, out, map[string]error{
		"not_found": pin.ErrNotFound, "stale": pin.ErrStale, "pinned": pin.ErrPinned,
	})
}
