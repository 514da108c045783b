package mcp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

// TestToolsListSpliced checks that the tools/list the gateway answers with
// the tools it encoded once is, byte for byte, the response mcp-go gives
// when it encodes the filtered result itself (the gateway's handler
// bypassed), on every protocol version, for callers who see all, some or
// none of the tools, on /mcp and a virtual server, with cursors, and as an
// SSE stream when a notification is waiting for the session.
func TestToolsListSpliced(t *testing.T) {
	f := start(t, nil)
	h := withIdentity(f.g.Handler())
	meta := func(pv string) string {
		return `"_meta":{"io.modelcontextprotocol/protocolVersion":"` + pv +
			`","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}`
	}
	cursor := base64.StdEncoding.EncodeToString([]byte("alpha__echo"))
	lists := map[string]func(pv string, modern bool) string{
		"plain": func(pv string, modern bool) string {
			if modern {
				return `{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{` + meta(pv) + `}}`
			}
			return `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
		},
		"string id, cursor": func(pv string, modern bool) string {
			p := `"cursor":"` + cursor + `"`
			if modern {
				p += "," + meta(pv)
			}
			return `{"jsonrpc":"2.0","id":"list-<&>","method":"tools/list","params":{` + p + `}}`
		},
		"bad cursor": func(pv string, modern bool) string {
			p := `"cursor":"!!"`
			if modern {
				p += "," + meta(pv)
			}
			return `{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{` + p + `}}`
		},
	}
	listed, sse := 0, 0
	for _, pv := range protocolVersions {
		modern := mcpgo.IsModernProtocol(pv)
		for _, path := range []string{"", "/notes"} {
			v := f.g.servers[strings.TrimPrefix(path, "/")]
			for _, user := range []string{"alice", "bob", "broken"} {
				hdr := map[string]string{"X-Test-User": user, "Mcp-Protocol-Version": pv}
				if modern {
					hdr["Mcp-Method"] = "tools/list"
				} else {
					hdr = legacySession(t, f.url+path, user, pv)
				}
				for name, body := range lists {
					for _, pending := range []bool{false, true} {
						t.Run(strings.Join([]string{pv, "path=" + path, user, name}, " "), func(t *testing.T) {
							do := func(direct bool) *httptest.ResponseRecorder {
								if pending {
									v.mcp.SendNotificationToAllClients("notifications/message", map[string]any{"level": "info", "data": "waiting"})
								}
								req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, Path+path, strings.NewReader(body(pv, modern)))
								for k, val := range hdr {
									req.Header.Set(k, val)
								}
								req.Header.Set("Content-Type", "application/json")
								req.Header.Set("Accept", "application/json, text/event-stream")
								w := httptest.NewRecorder()
								if !direct {
									h.ServeHTTP(w, req)
									return w
								}
								// mcp-go on its own: no override in the
								// context, so the hook leaves the filtered
								// result to mcp-go's encoder.
								ctx := context.WithValue(req.Context(), identityKey{}, caller{subject: user})
								ctx = context.WithValue(ctx, ownerKey{}, ownerOf(v.name, user, ""))
								v.http.ServeHTTP(w, req.WithContext(ctx))
								return w
							}
							got, want := do(false), do(true)
							if got.Code != want.Code || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
								t.Errorf("status %d %q, want %d %q", got.Code, got.Header().Get("Content-Type"), want.Code, want.Header().Get("Content-Type"))
							}
							// mcp-go may deliver a waiting notification
							// or drop it (a previous request's forwarder
							// can take it); the response event is compared.
							g, w := got.Body.String(), want.Body.String()
							if pending {
								g, w = responseEvent(g), responseEvent(w)
							}
							if g != w {
								t.Errorf("body\n%s\nwant (mcp-go)\n%s", got.Body, want.Body)
							}
							if strings.HasPrefix(got.Header().Get("Content-Type"), "text/event-stream") {
								sse++
							}
							listed += strings.Count(got.Body.String(), `"inputSchema"`)
						})
					}
				}
			}
		}
	}
	if listed == 0 || sse == 0 {
		t.Errorf("%d tools listed, %d SSE responses; want some of each", listed, sse)
	}
}

// responseEvent returns the data of the last event of an SSE stream, the
// response; a JSON body as it is.
func responseEvent(body string) string {
	if !strings.HasPrefix(body, "event: ") {
		return body
	}
	last := ""
	for line := range strings.Lines(body) {
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			last = d
		}
	}
	return last
}

// legacySession initializes a session of protocol pv at u for user and
// returns the headers of its requests.
func legacySession(t *testing.T, u, user, pv string) map[string]string {
	t.Helper()
	hdr := map[string]string{"X-Test-User": user}
	r := post(t, u, hdr, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"`+pv+`","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	if r.status != http.StatusOK || r.header.Get("Mcp-Session-Id") == "" {
		t.Fatalf("initialize: %d %s", r.status, r.body)
	}
	hdr["Mcp-Session-Id"] = r.header.Get("Mcp-Session-Id")
	hdr["Mcp-Protocol-Version"] = pv
	if r := post(t, u, hdr, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); r.status != http.StatusAccepted {
		t.Fatalf("initialized: %d %s", r.status, r.body)
	}
	return hdr
}

// TestToolsListSplicedEncoding checks the encodings against the tools
// mcp-go lists: a tool is found only if it is the registration encoded.
func TestToolsListSplicedEncoding(t *testing.T) {
	f := start(t, nil)
	v := f.g.servers[""]
	l := v.listed.Load()
	if len(l.tools) == 0 {
		t.Fatal("nothing encoded")
	}
	x := f.g.idx.Load()
	for i := range l.tools {
		e := x.tools[l.tools[i].name]
		tool := e.listed
		lt, ok := l.find(i, &tool)
		if !ok || lt != &l.tools[i] {
			t.Fatalf("%s: not found as itself", e.name)
		}
		if want, _ := json.Marshal(tool); string(lt.json) != string(want) {
			t.Errorf("%s: encoded %s, want %s", e.name, lt.json, want)
		}
		if lt, ok := l.find(len(l.tools)-1-i, &tool); !ok || lt != &l.tools[i] {
			t.Errorf("%s: not found out of place", e.name)
		}
		// The same definition registered again, as after a refresh, is
		// not the one encoded.
		again := tool
		again.RawInputSchema = append(json.RawMessage(nil), tool.RawInputSchema...)
		if _, ok := l.find(i, &again); ok {
			t.Errorf("%s: another registration found", e.name)
		}
	}
	unknown := mcpgo.Tool{Name: "nobody", RawInputSchema: json.RawMessage(`{}`)}
	if _, ok := l.find(0, &unknown); ok {
		t.Error("an unknown tool found")
	}
}

// TestItemKey: an item's key depends on its fields only, on each of them,
// and is never 0.
func TestItemKey(t *testing.T) {
	base := Item{Kind: kindTool, Name: "up__a", Upstream: "up", Object: "tool:up.a"}
	k := base.withKey().Key
	if k == 0 || (Item{Kind: kindTool, Name: "up__" + "a", Upstream: "up", Object: "tool:up.a"}).withKey().Key != k {
		t.Fatalf("key %x of equal items differs or is 0", k)
	}
	for _, other := range []Item{
		{Kind: "prompt", Name: "up__a", Upstream: "up", Object: "tool:up.a"},
		{Kind: kindTool, Name: "up__b", Upstream: "up", Object: "tool:up.a"},
		{Kind: kindTool, Name: "up__a", Upstream: "up2", Object: "tool:up.a"},
		{Kind: kindTool, Name: "up__a", Upstream: "up", Object: "tool:up.b"},
		{Kind: kindTool, Name: "up__", Upstream: "aup", Object: "tool:up.a"},
	} {
		if other.withKey().Key == k {
			t.Errorf("%+v has the key of %+v", other, base)
		}
	}
}
