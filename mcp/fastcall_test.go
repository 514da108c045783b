package mcp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

// TestFastPath sends the same requests with the fast path on and off, on
// each protocol, and wants the same answers (status, body as JSON, the
// pipeline's Call), the fast path taking exactly the calls it should.
func TestFastPath(t *testing.T) {
	f := start(t, nil)
	f.pipe.mu.Lock()
	f.pipe.block = map[string]bool{"alpha__search": true}
	f.pipe.fail = map[string]bool{"ping": true}
	f.pipe.mu.Unlock()

	modern := func(name string) (map[string]string, string) {
		hdr := map[string]string{"X-Test-User": "alice", "Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": name}
		return hdr, `{"jsonrpc":"2.0","id":"m-1","method":"tools/call","params":{"name":` + quote(name) + `,"arguments":{"b":1,"a":"x"},` +
			`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`
	}
	legacy := map[string]map[string]string{
		"2025-11-25": rawSession(t, f.url, "alice"),
		"2025-06-18": rawSessionAt(t, f.url, "alice", "2025-06-18", `{}`),
	}
	elicit := rawSessionAt(t, f.url, "alice", "2025-11-25", `{"elicitation":{}}`)

	type request struct {
		name string
		hdr  map[string]string
		body string
		fast bool   // the fast path serves it
		path string // after /mcp
	}
	var reqs []request
	for _, tool := range []string{"alpha__echo", "alpha__delete", "alpha__search", "ping", "gamma__whoami"} {
		for v, hdr := range legacy {
			reqs = append(reqs, request{v + " " + tool, hdr, toolCall(tool), true, ""})
		}
		hdr, body := modern(tool)
		reqs = append(reqs, request{"2026-07-28 " + tool, hdr, body, true, ""})
	}
	for v, hdr := range legacy {
		reqs = append(reqs, request{v + " tools/list", hdr, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`, false, ""})
		bob := map[string]string{}
		for k, v := range rawSessionAt(t, f.url, "bob", v, `{}`) {
			bob[k] = v
		}
		reqs = append(reqs, request{v + " tools/call for bob", bob, toolCall("ping"), true, ""})
	}
	for _, user := range []string{"alice", "bob", "broken"} {
		for _, path := range []string{"", "/notes"} {
			reqs = append(reqs, request{"2026-07-28 tools/list " + user + " " + path,
				map[string]string{"X-Test-User": user, "Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"},
				`{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`, true, path})
		}
	}
	notes := rawSessionAt(t, f.url+"/notes", "alice", "2025-11-25", `{}`)
	reqs = append(reqs, request{"tools/call at a virtual server", notes, toolCall("alpha__echo"), true, "/notes"},
		request{"tools/call of a tool the virtual server leaves out", notes, toolCall("ping"), false, "/notes"})
	reqs = append(reqs,
		request{"tools/list with a cursor", legacy["2025-11-25"], `{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"cursor":"YQ=="}}`, false, ""},
	)
	hdr, body := modern("alpha__echo")
	badName := map[string]string{}
	for k, v := range hdr {
		badName[k] = v
	}
	badName["Mcp-Name"] = "ping"
	s := legacy["2025-11-25"]
	reqs = append(reqs,
		request{"unknown tool", s, toolCall("no_such_tool"), false, ""},
		request{"arguments not an object", s, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"alpha__echo","arguments":[1]}}`, false, ""},
		request{"another params field", s, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"alpha__echo","task":{}}}`, false, ""},
		request{"fractional id", s, `{"jsonrpc":"2.0","id":7.5,"method":"tools/call","params":{"name":"alpha__echo"}}`, false, ""},
		request{"a batch", s, `[` + toolCall("alpha__echo") + `]`, false, ""},
		request{"a notification", s, `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"alpha__echo"}}`, false, ""},
		request{"a client that can be asked", elicit, toolCall("alpha__echo"), false, ""},
		request{"2026-07-28 header mismatch", badName, body, false, ""},
		request{"2026-07-28 without the version header", map[string]string{"X-Test-User": "alice"}, body, false, ""},
	)

	type answer struct {
		Status int
		Type   string
		Body   any
		Call   string
	}
	do := func(r request) answer {
		n := len(f.pipe.calls)
		resp := post(t, f.url+r.path, r.hdr, r.body)
		a := answer{Status: resp.status, Type: resp.header.Get("Content-Type")}
		if err := json.Unmarshal(resp.body, &a.Body); err != nil {
			a.Body = string(resp.body)
		}
		f.pipe.mu.Lock()
		if len(f.pipe.calls) > n {
			c := f.pipe.calls[len(f.pipe.calls)-1]
			c.Approve, c.Forward = nil, nil
			a.Call = fmt.Sprintf("%+v", c)
		}
		f.pipe.mu.Unlock()
		return a
	}
	for _, r := range reqs {
		t.Run(r.name, func(t *testing.T) {
			f.g.noFast.Store(true)
			want := do(r)
			f.g.noFast.Store(false)
			before := f.g.fastCalls.Load() + f.g.fastLists.Load()
			got := do(r)
			if fast := f.g.fastCalls.Load()+f.g.fastLists.Load() > before; fast != r.fast {
				t.Errorf("fast path taken: %v, want %v", fast, r.fast)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("fast path answer differs (-mcp-go +fast):\n%s", d)
			}
		})
	}
}

// TestFastPathAfterNotification: once mcp-go may have sent a session a
// notification, it answers the session's requests as server-sent events,
// and the fast path leaves them to it.
func TestFastPathAfterNotification(t *testing.T) {
	f := start(t, nil)
	s := rawSession(t, f.url, "alice")
	before := f.g.fastCalls.Load()
	if r := post(t, f.url, s, toolCall("alpha__echo")); r.header.Get("Content-Type") != "application/json" || f.g.fastCalls.Load() == before {
		t.Fatalf("before: %s, fast %v", r.header.Get("Content-Type"), f.g.fastCalls.Load() > before)
	}
	f.g.servers[""].mcp.SendNotificationToAllClients("notifications/message", map[string]any{"level": "info", "data": "x"})
	for i := range 2 {
		before := f.g.fastCalls.Load()
		r := post(t, f.url, s, toolCall("alpha__echo"))
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") || f.g.fastCalls.Load() != before || r.msg.Result == nil {
			t.Errorf("call %d after a notification: %s, fast %v: %s", i, ct, f.g.fastCalls.Load() > before, r.body)
		}
	}
}

// rawSessionAt is rawSession at protocol version with the client's
// capabilities caps.
func rawSessionAt(t testing.TB, u, user, version, caps string) map[string]string {
	t.Helper()
	hdr := map[string]string{"X-Test-User": user}
	r := post(t, u, hdr, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"`+version+`","capabilities":`+caps+`,"clientInfo":{"name":"raw","version":"1"}}}`)
	if r.status != http.StatusOK || r.header.Get("Mcp-Session-Id") == "" || !strings.Contains(string(r.body), version) {
		t.Fatalf("initialize: %d %s", r.status, r.body)
	}
	hdr["Mcp-Session-Id"] = r.header.Get("Mcp-Session-Id")
	hdr["Mcp-Protocol-Version"] = version
	if r := post(t, u, hdr, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); r.status != http.StatusAccepted {
		t.Fatalf("initialized: %d %s", r.status, r.body)
	}
	return hdr
}

// TestSessionFast: the fast path serves a session mcp-go registered,
// whose client declared no elicitation and was never sent a notification,
// until half the idle TTL has passed since mcp-go last served it.
func TestSessionFast(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := newSessions(time.Minute, func() time.Time { return now })
	plain, asks, other := s.create("alice"), s.create("alice"), s.create("bob")
	queue := make(chan mcpgo.JSONRPCNotification, 1)
	for _, id := range []string{plain, asks, other} {
		s.initialized(id, id == asks)
	}
	if s.fast(plain) {
		t.Error("fast before mcp-go registered the session")
	}
	for _, id := range []string{plain, asks, other} {
		s.registered(id, queue)
	}
	if !s.fast(plain) || s.fast(asks) || s.fast("unknown") {
		t.Errorf("fast: plain %v, asks %v", s.fast(plain), s.fast(asks))
	}
	now = now.Add(30 * time.Second)
	if s.fast(plain) {
		t.Error("fast after half the TTL without mcp-go")
	}
	s.servedByMCPGo(plain)
	s.servedByMCPGo(other)
	if !s.fast(plain) {
		t.Error("not fast after mcp-go served the session")
	}
	queue <- mcpgo.JSONRPCNotification{}
	if s.fast(plain) {
		t.Error("fast while a notification waits")
	}
	<-queue
	if s.fast(plain) {
		t.Error("fast after a notification, which makes mcp-go answer with events")
	}
	if !s.fast(other) {
		t.Error("another session is not fast")
	}
	s.notify(other)
	if s.fast(other) {
		t.Error("fast after notify")
	}
	fresh := s.create("carol")
	s.initialized(fresh, false)
	s.registered(fresh, make(chan mcpgo.JSONRPCNotification, 1))
	s.notifyAll()
	if s.fast(fresh) {
		t.Error("fast after notifyAll")
	}
	later := s.create("dave")
	s.initialized(later, false)
	s.registered(later, make(chan mcpgo.JSONRPCNotification, 1))
	if !s.fast(later) {
		t.Error("a session made after notifyAll is not fast")
	}
	s.registered(later, nil)
	if s.fast(later) {
		t.Error("fast after mcp-go ended the session")
	}
}

// FuzzDecorate checks that a result decorate accepts comes out a JSON
// object with a resultType and the server's identity in _meta, keeping
// every other member, and that simpleID accepts only what mcp-go echoes
// as it came.
func FuzzDecorate(f *testing.F) {
	for _, s := range []string{`{}`, ` { } `, `{"content":[]}`, `{"resultType":"complete"}`,
		`{"_meta":{"a":1},"content":[]}`, `{"_meta":null}`, `{"_meta":[]}`, `[]`, `"x"`, `{`, `{"content":[],}`,
		`{"ResultType":"x"}`, `{"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"up"}}}`} {
		f.Add(s, "7")
	}
	f.Add(`{}`, `"a\"b"`)
	f.Add(`{}`, `-0`)
	f.Add(`{}`, `1e3`)
	f.Add(`{}`, `0123`)
	v := &vserver{}
	v.serverInfo, _ = json.Marshal(map[string]string{"name": "subzero"})
	v.resultHead = []byte(`{"_meta":{"io.modelcontextprotocol/serverInfo":` + string(v.serverInfo) + `},"resultType":"complete"`)
	f.Fuzz(func(t *testing.T, result, id string) {
		if simpleID(json.RawMessage(id)) && id[0] != '"' {
			var n float64
			err := json.Unmarshal([]byte(id), &n)
			echoed, _ := json.Marshal(n)
			if err != nil || string(echoed) != id {
				t.Errorf("simpleID(%q), but mcp-go echoes it as %s (%v)", id, echoed, err)
			}
		}
		out, err := v.decorate(json.RawMessage(result))
		if err != nil {
			return
		}
		var in, got map[string]any
		if err := json.Unmarshal([]byte(result), &in); err != nil {
			t.Fatalf("decorate accepted %q, which is not an object: %v", result, err)
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("decorate(%q) = %q, not an object: %v", result, out, err)
		}
		if _, ok := got["resultType"]; !ok {
			t.Errorf("decorate(%q) = %q: no resultType", result, out)
		}
		meta, _ := got["_meta"].(map[string]any)
		if _, ok := meta["io.modelcontextprotocol/serverInfo"]; !ok {
			t.Errorf("decorate(%q) = %q: no serverInfo", result, out)
		}
		for k, val := range in {
			if k == "_meta" {
				continue
			}
			if d := cmp.Diff(val, got[k]); d != "" {
				t.Errorf("decorate(%q) changed %s: %s", result, k, d)
			}
		}
	})
}
