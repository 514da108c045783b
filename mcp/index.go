package mcp

import (
	"encoding/json"
	"log/slog"
	"strings"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/subzero-gateway/subzero/mcp/upstream"
)

// Object kinds, the first part of [Call.Object] and [Item.Object].
const (
	kindTool     = "tool"
	kindPrompt   = "prompt"
	kindResource = "resource"
)

// toolEntry is one tool of the aggregate.
type toolEntry struct {
	name string // namespaced, as clients see it
	up   *upstream.Upstream
	tool mcpgo.Tool // as the upstream lists it
	raw  *upstream.RawTool
	// listed is the tool as clients see it: namespaced, without
	// execution (calls are forwarded synchronously), its schemas
	// encoded once.
	listed mcpgo.Tool
	object string
	risk   string
	hash   string // the pinned definition's hash, "" if none was made
	// hidden says why the tool is hidden and its calls refused ("" when it
	// is usable): quarantined, refused by the pins, blocked by the guard.
	hidden string
	// headerBound: the listed tool's parameters are mirrored in Mcp-Param-*
	// headers (x-mcp-header), which 2026-07-28 requests must match.
	headerBound bool
}

type promptEntry struct {
	name   string
	up     *upstream.Upstream
	prompt mcpgo.Prompt
	object string
}

type resourceEntry struct {
	uri    string
	up     *upstream.Upstream
	res    mcpgo.Resource
	object string
}

type templateEntry struct {
	uri    string // the URI template
	up     *upstream.Upstream
	tmpl   mcpgo.ResourceTemplate
	object string
}

// upstreamItems is what one upstream offers, as last listed and checked.
type upstreamItems struct {
	tools     []*toolEntry
	prompts   []*promptEntry
	resources []*resourceEntry
	templates []*templateEntry
}

// index is an immutable snapshot of the aggregate: what every upstream
// offers under the names clients see. Names two upstreams (or one, twice)
// produce are in collisions and served by neither.
type index struct {
	tools      map[string]*toolEntry
	prompts    map[string]*promptEntry
	resources  map[string]*resourceEntry
	templates  map[string]*templateEntry
	collisions map[string]bool // "tool:name", "prompt:name", "resource:uri", "template:uri"
}

func emptyIndex() *index {
	return &index{
		tools:      map[string]*toolEntry{},
		prompts:    map[string]*promptEntry{},
		resources:  map[string]*resourceEntry{},
		templates:  map[string]*templateEntry{},
		collisions: map[string]bool{},
	}
}

// merge builds the index of items, an upstream's items keyed by its name,
// taken in the order of names. It logs the collisions prev did not have.
func merge(names []string, items map[string]*upstreamItems, prev *index, log *slog.Logger) *index {
	x := emptyIndex()
	collide := func(kind, name string) {
		key := kind + ":" + name
		if !x.collisions[key] && !prev.collisions[key] {
			log.Warn("mcp: a name is offered more than once; neither is served", "kind", kind, "name", name)
		}
		x.collisions[key] = true
	}
	for _, n := range names {
		it := items[n]
		if it == nil {
			continue
		}
		for _, e := range it.tools {
			add(x.tools, x.collisions, "tool", e.name, e, collide)
		}
		for _, e := range it.prompts {
			add(x.prompts, x.collisions, "prompt", e.name, e, collide)
		}
		for _, e := range it.resources {
			add(x.resources, x.collisions, "resource", e.uri, e, collide)
		}
		for _, e := range it.templates {
			add(x.templates, x.collisions, "template", e.uri, e, collide)
		}
	}
	return x
}

func add[E any](m map[string]E, collisions map[string]bool, kind, name string, e E, collide func(kind, name string)) {
	if collisions[kind+":"+name] {
		return
	}
	if _, dup := m[name]; dup {
		delete(m, name)
		collide(kind, name)
		return
	}
	m[name] = e
}

// collisionCount returns the number of names of kind that collide.
func (x *index) collisionCount(kind string) int {
	n := 0
	for k := range x.collisions {
		if strings.HasPrefix(k, kind+":") {
			n++
		}
	}
	return n
}

// splitKey splits a pin key as an admin writes it, "<upstream>__<tool>",
// against the configured upstream names: the upstream is the one whose
// name and "__" start key, leaving a non-empty tool name. It reports false
// when none or more than one does.
func splitKey(key string, upstreams []string) (up, tool string, ok bool) {
	for _, u := range upstreams {
		rest, found := strings.CutPrefix(key, u+"__")
		if !found || rest == "" {
			continue
		}
		if ok {
			return "", "", false
		}
		up, tool, ok = u, rest, true
	}
	return up, tool, ok
}

// listedTool returns t as clients see it under name: namespaced, without
// execution (the gateway forwards calls synchronously), and with its
// schemas encoded once, so that a list does not encode them again.
func listedTool(name string, t mcpgo.Tool) mcpgo.Tool {
	t.Name = name
	t.Execution = nil
	if t.RawInputSchema == nil {
		if raw, err := json.Marshal(t.InputSchema); err == nil {
			t.RawInputSchema, t.InputSchema = raw, mcpgo.ToolInputSchema{}
		}
	}
	if t.RawOutputSchema == nil && t.OutputSchema.Type != "" {
		if raw, err := json.Marshal(t.OutputSchema); err == nil {
			t.RawOutputSchema, t.OutputSchema = raw, mcpgo.ToolOutputSchema{}
		}
	}
	return t
}
