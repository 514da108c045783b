package mcp

import (
	"context"
	"encoding/json"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

// tools/list without encoding the tools on every request.
//
// mcp-go encodes each tool of a list through a map and compacts the JSON
// twice; for 500 tools that is most of a list's time. The gateway lets
// mcp-go serve tools/list as it does every request (sessions, protocol
// versions, the 2026-07-28 result metadata, cursors, JSON or SSE), but
// encodes each registered tool once, when it is registered: the after-list
// hook replaces the visible tools of the result with one placeholder tool,
// named with the request's random token, and the response writer replaces
// the placeholder's encoding, "[" + placeholder + "]", with the visible
// tools' encodings. The bytes are those mcp-go writes: json.Marshal of a
// tool is how its encoder writes it, HTML escaping included.
//
// A tool of the result that is not the one encoded (mcp-go's tools and the
// server's encodings are swapped one after the other when the tools change)
// makes the list fall back to filtering the result for mcp-go to encode.

// listedTools is the tools a server last registered with mcp-go, in name
// order (as mcp-go lists them), each encoded once. It is immutable.
type listedTools struct {
	tools []encodedTool
	at    map[string]int // index of tools by name
}

type encodedTool struct {
	name string
	// schema is the registered tool's RawInputSchema, which identifies the
	// registration: mcp-go copies the tool, not its schema's bytes.
	schema []byte
	json   []byte // the tool as mcp-go encodes it; nil when it cannot
	item   Item
	hidden bool
}

// encodeTools encodes the tools the server registers with mcp-go.
func encodeTools(entries []*toolEntry) *listedTools {
	l := &listedTools{tools: make([]encodedTool, len(entries)), at: make(map[string]int, len(entries))}
	for i, e := range entries {
		data, err := json.Marshal(e.listed)
		if err != nil {
			data = nil // mcp-go fails the same way, on the fallback path
		}
		l.tools[i] = encodedTool{
			name:   e.name,
			schema: e.listed.RawInputSchema,
			json:   data,
			item:   Item{Kind: kindTool, Name: e.name, Upstream: e.up.Name(), Object: e.object}.withKey(),
			hidden: e.hidden != "",
		}
		l.at[e.name] = i
	}
	return l
}

// find returns the encoded tool that is t, which is the i-th tool of a
// result.
func (l *listedTools) find(i int, t *mcpgo.Tool) (*encodedTool, bool) {
	if i >= len(l.tools) || l.tools[i].name != t.Name {
		j, ok := l.at[t.Name]
		if !ok {
			return nil, false
		}
		i = j
	}
	lt := &l.tools[i]
	if len(lt.schema) == 0 || len(t.RawInputSchema) != len(lt.schema) || &t.RawInputSchema[0] != &lt.schema[0] {
		return nil, false
	}
	return lt, true
}

// filterTools leaves in a tools/list result what the caller may use:
// tools the server registered and does not hide, that Visibility allows,
// asked in one batch. Within a request to the gateway's handler, the
// result gets the placeholder the response writer replaces.
func (v *vserver) filterTools(ctx context.Context, _ any, _ *mcpgo.ListToolsRequest, res *mcpgo.ListToolsResult) {
	if res == nil {
		return
	}
	l := v.listed.Load()
	x := v.g.idx.Load()
	n := len(res.Tools)
	items := make([]Item, 0, n)
	from := make([]int, 0, n) // index in res.Tools of items[k]
	encoded := make([]*encodedTool, 0, n)
	splice := true
	for i := range res.Tools {
		t := &res.Tools[i]
		if lt, ok := l.find(i, t); ok {
			if lt.hidden {
				continue
			}
			items = append(items, lt.item)
			from = append(from, i)
			encoded = append(encoded, lt)
			splice = splice && lt.json != nil
			continue
		}
		e := x.tools[t.Name]
		if e == nil || e.hidden != "" {
			continue
		}
		items = append(items, Item{Kind: kindTool, Name: e.name, Upstream: e.up.Name(), Object: e.object})
		from = append(from, i)
		encoded = append(encoded, nil)
		splice = false
	}
	allowed := v.visible(ctx, items)
	o, _ := ctx.Value(overrideKey{}).(*override)
	if !splice || o == nil {
		out := res.Tools[:0]
		for k, i := range from {
			if allowed[k] {
				out = append(out, res.Tools[i])
			}
		}
		res.Tools = out
		return
	}
	size, count := 2, 0
	for k, lt := range encoded {
		if allowed[k] {
			size += len(lt.json) + 1
			count++
		}
	}
	if count == 0 {
		res.Tools = res.Tools[:0]
		return
	}
	buf := v.listBuf(size)
	buf = append(buf, '[')
	for k, lt := range encoded {
		if allowed[k] {
			if len(buf) > 1 {
				buf = append(buf, ',')
			}
			buf = append(buf, lt.json...)
		}
	}
	buf = append(buf, ']')
	placeholder := mcpgo.Tool{Name: o.token}
	ph, err := json.Marshal([]mcpgo.Tool{placeholder})
	if err != nil { // not for a tool with a name only
		v.bufs.Put(&buf)
		res.Tools = res.Tools[:0]
		return
	}
	o.mu.Lock()
	o.listFrom, o.listTo, o.listPool = ph, buf, &v.bufs
	o.mu.Unlock()
	res.Tools = []mcpgo.Tool{placeholder}
}

// visible asks Visibility about items; allowed[k] answers items[k]. When
// Visibility fails, nothing is allowed.
func (v *vserver) visible(ctx context.Context, items []Item) []bool {
	if len(items) == 0 {
		return nil
	}
	allowed, err := v.g.opts.Visibility.Visible(ctx, v.name, items)
	if err != nil || len(allowed) != len(items) {
		v.g.log.Error("mcp: visibility failed; the list is empty", "server", v.name, "err", err)
		return make([]bool, len(items))
	}
	return allowed
}

// maxPooledList bounds the lists whose buffer is kept for another.
const maxPooledList = 4 << 20

// listBuf returns an empty buffer of at least size bytes, from the pool of
// buffers lists were written from.
func (v *vserver) listBuf(size int) []byte {
	if b, ok := v.bufs.Get().(*[]byte); ok && cap(*b) >= size {
		return (*b)[:0]
	}
	return make([]byte, 0, size)
}
