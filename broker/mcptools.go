package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/mcp"
	"github.com/subzero-gateway/subzero/mcp/pin"
	"github.com/subzero-gateway/subzero/mcp/pin/pinstore"
)

// OpenTools returns the gateway's tool administration for `subzero mcp
// tools`: through the running node's admin socket, or, when no node runs,
// on the data directory's store directly, with approvals recorded in the
// node's audit chain (a node lists an approved tool when it next lists
// its upstream). close releases what it opened.
func OpenTools(ctx context.Context, cfg *Config, getenv func(string) string, logger *slog.Logger) (_ ToolsAdmin, close func() error, err error) {
	if c, ok := dialRunning(ctx, cfg.AdminSocket()); ok {
		return toolsClient{c: c}, func() error { c.http.CloseIdleConnections(); return nil }, nil
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	var (
		st  stores
		log *audit.Log
	)
	defer func() {
		if err == nil {
			return
		}
		if log != nil {
			log.Close(context.WithoutCancel(ctx))
		}
		if st.db != nil {
			st.db.Close()
		}
		lock.Close()
	}()
	if st, err = openStores(ctx, cfg, getenv); err != nil {
		return nil, nil, err
	}
	if _, log, err = openAuditLog(ctx, cfg, st.audit, logger); err != nil {
		return nil, nil, err
	}
	pins, err := pin.New(st.pins, cfg.MCP.Pinning, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("mcp.pinning: %w", err)
	}
	return offlineTools{pins: pins, rec: mcpRecorder{log: log, logger: logger}}, func() error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err := log.Close(cctx)
		if cerr := st.db.Close(); err == nil && cerr != nil {
			err = cerr
		}
		lock.Close()
		return err
	}, nil
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
		out = append(out, quarantinedTool(r))
	}
	return out, nil
}

// quarantinedTool describes r, with what changed from its approved
// definition when both parse.
func quarantinedTool(r pinstore.Record) mcp.QuarantinedTool {
	q := mcp.QuarantinedTool{Name: r.Key.String(), Upstream: r.Upstream, Tool: r.Tool, Hash: r.Hash,
		PendingHash: r.PendingHash, QuarantinedAt: r.QuarantinedAt}
	var old pin.Definition
	if len(r.Definition) > 0 {
		old, _ = pin.ParseDefinition(r.Upstream, r.Definition)
	}
	if nw, err := pin.ParseDefinition(r.Upstream, r.Pending); err == nil {
		q.Changes = pin.Diff(old, nw)
	}
	return q
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
	req, err := http.NewRequestWithContext(ctx, method, "http://admin"+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := t.c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoNode, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
		switch e.Error {
		case "not_found":
			return fmt.Errorf("%w: %s", pin.ErrNotFound, e.Message)
		case "stale":
			return fmt.Errorf("%w: %s", pin.ErrStale, e.Message)
		case "pinned":
			return fmt.Errorf("%w: %s", pin.ErrPinned, e.Message)
		}
		return fmt.Errorf("admin socket: %s: %s", resp.Status, e.Message)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
