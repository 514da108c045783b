package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mark3labs/mcp-go/mcp"
)

// regionTool mirrors its argument in the Mcp-Param-Region header, which a
// 2026-07-28 server checks against the body.
var regionTool = mcp.NewTool("region", readOnly,
	mcp.WithString("region", func(m map[string]any) { m["x-mcp-header"] = "Region" }))

// TestCallToolRaw: CallToolRaw answers what CallTool does, as JSON, over
// HTTP on the current protocol and an earlier one, and over stdio.
func TestCallToolRaw(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(t *testing.T) Config
	}{
		{"http", func(t *testing.T) Config { return addRegion(newHTTPUpstream(t)).config("notes") }},
		{"http 2025-11-25", func(t *testing.T) Config { return addRegion(newHTTPUpstream(t, "2025-11-25")).config("notes") }},
		{"stdio", stdioConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := start(t, tc.cfg(t), nil, nil)
			tools, err := u.Tools(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			listed := map[string]mcp.Tool{}
			for _, tl := range tools {
				listed[tl.Name] = tl
			}
			for _, c := range []struct {
				tool string
				args string
			}{{"echo", `{"text":"hi"}`}, {"fails", ""}, {"region", `{"region":"eu-west"}`}} {
				tl, ok := listed[c.tool]
				if !ok {
					if c.tool == "region" && tc.name == "stdio" {
						continue // the child serves the shared tools only
					}
					t.Fatalf("%s not listed", c.tool)
				}
				var m map[string]any
				if c.args != "" {
					if err := json.Unmarshal([]byte(c.args), &m); err != nil {
						t.Fatal(err)
					}
				}
				want, err := u.CallTool(t.Context(), tl, m, nil)
				if err != nil {
					t.Fatalf("CallTool %s: %v", c.tool, err)
				}
				raw, err := u.CallToolRaw(t.Context(), NewRawTool(tl), json.RawMessage(c.args))
				if err != nil {
					t.Fatalf("CallToolRaw %s: %v", c.tool, err)
				}
				var got mcp.CallToolResult
				if err := json.Unmarshal(raw, &got); err != nil {
					t.Fatalf("CallToolRaw %s: %s: %v", c.tool, raw, err)
				}
				if d := cmp.Diff(want, &got); d != "" {
					t.Errorf("CallToolRaw %s differs from CallTool (-want +got):\n%s", c.tool, d)
				}
			}
			_, err = u.CallToolRaw(t.Context(), NewRawTool(listed["rpcfail"]), nil)
			if !errors.Is(err, ErrRPC) {
				t.Errorf("rpcfail: %v, want ErrRPC", err)
			}
		})
	}
}

func addRegion(u *httpUpstream) *httpUpstream {
	u.mcp.AddTool(regionTool, func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		r, _ := req.GetArguments()["region"].(string)
		return mcp.NewToolResultText("region " + r), nil
	})
	return u
}

func TestCallToolRawLimitsAndRetries(t *testing.T) {
	srv := newHTTPUpstream(t)
	cfg := srv.config("notes")
	cfg.MaxResultBytes = 1024
	u := start(t, cfg, nil, nil)
	big := NewRawTool(readOnlyTool("big"))
	for _, n := range []string{"2000", "300000"} {
		if _, err := u.CallToolRaw(t.Context(), big, json.RawMessage(`{"n":`+n+`}`)); !errors.Is(err, ErrResultTooLarge) {
			t.Errorf("%s bytes: %v, want ErrResultTooLarge", n, err)
		}
	}
	if _, err := u.CallToolRaw(t.Context(), big, json.RawMessage(`{"n":100}`)); err != nil {
		t.Errorf("100 bytes: %v", err)
	}
	// A read-only tool is sent again after a transport failure; one that
	// is not, never.
	counter(&srv.failNext, "echo").Store(1)
	if _, err := u.CallToolRaw(t.Context(), NewRawTool(readOnlyTool("echo")), nil); err != nil {
		t.Errorf("echo after one failure: %v", err)
	}
	if got := counter(&srv.attempts, "echo").Load(); got != 2 {
		t.Errorf("echo sent %d times, want 2", got)
	}
	counter(&srv.failNext, "write").Store(1)
	if _, err := u.CallToolRaw(t.Context(), NewRawTool(mcp.NewTool("write")), nil); !errors.Is(err, ErrUnavailable) {
		t.Errorf("write: %v, want ErrUnavailable", err)
	}
	if got := counter(&srv.attempts, "write").Load(); got != 1 {
		t.Errorf("write sent %d times, want 1", got)
	}
}
