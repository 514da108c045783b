package broker

import (
	"context"
	"errors"
	"net/http"

	"github.com/subzero-gateway/subzero/mcp"
	"github.com/subzero-gateway/subzero/mcp/pin"
)

// ToolsAdmin is what the admin API needs of the gateway: the quarantined
// tools and their approval. *mcp.Gateway is one.
type ToolsAdmin interface {
	Quarantined(ctx context.Context) ([]mcp.QuarantinedTool, error)
	Approve(ctx context.Context, name, hash, actor string) error
}

// maxApproveBody bounds an approval request.
const maxApproveBody = 4 << 10

// mcpAdminHandler serves the gateway's admin API under /mcp/ (the admin
// socket; /admin/mcp/ on the listener):
//
//	GET  /mcp/tools/quarantined          {"tools": [QuarantinedTool...]}
//	POST /mcp/tools/approve {"name": "notes__search", "hash": "sha256:..."}
//
// An approval names the pending definition's hash, so that what an admin
// reviewed is what is let through.
func mcpAdminHandler(t ToolsAdmin) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /mcp/tools/quarantined", func(w http.ResponseWriter, r *http.Request) {
		tools, err := t.Quarantined(r.Context())
		if err != nil {
			writeError(w, r, http.StatusInternalServerError, "internal", "internal error, see the node's log for request "+RequestID(r.Context()))
			return
		}
		if tools == nil {
			tools = []mcp.QuarantinedTool{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"tools": tools})
	})
	mux.HandleFunc("POST /mcp/tools/approve", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Name string `json:"name"`
			Hash string `json:"hash"`
		}
		if !decodeBody(w, r, maxApproveBody, &req) {
			return
		}
		if req.Name == "" || req.Hash == "" {
			writeError(w, r, http.StatusBadRequest, "invalid_request", "name and hash are required")
			return
		}
		a := actorOf(r.Context())
		err := t.Approve(r.Context(), req.Name, req.Hash, a.Subject)
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, map[string]string{"approved": req.Name, "hash": req.Hash})
		case errors.Is(err, pin.ErrNotFound):
			writeError(w, r, http.StatusNotFound, "not_found", "no quarantined tool "+req.Name)
		case errors.Is(err, pin.ErrStale):
			writeError(w, r, http.StatusConflict, "stale", "the tool's pending definition is not "+req.Hash+": review it again")
		case errors.Is(err, pin.ErrPinned):
			writeError(w, r, http.StatusConflict, "pinned", "the tool is pinned in the configuration (mcp.pinning.pins): change the pin there")
		default:
			writeError(w, r, http.StatusInternalServerError, "internal", "internal error, see the node's log for request "+RequestID(r.Context()))
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "not_found", "no such endpoint")
	})
	return mux
}
