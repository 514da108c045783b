package pin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/subzero-gateway/subzero/mcp/pin/pinstore"
)

// The members of a tool that are pinned, in canonical (sorted) order.
const (
	fieldAnnotations  = "annotations"
	fieldDescription  = "description"
	fieldInputSchema  = "inputSchema"
	fieldName         = "name"
	fieldOutputSchema = "outputSchema"
	fieldTitle        = "title"
)

// HashPrefix starts every definition hash.
const HashPrefix = "sha256:"

// Definition is what is pinned of an MCP tool: its name, title,
// description, input and output schemas and annotations, as one
// canonical JSON object (see [Canonical]), and the hash of that object.
// Other members of a tool (icons, _meta, execution) are not pinned. The
// upstream names where the tool comes from and is not hashed.
//
// A Definition is immutable; the zero Definition is invalid. Build one
// with [Of] or [ParseDefinition].
type Definition struct {
	upstream string
	name     string
	canon    []byte // the canonical JSON object
	hash     string // HashPrefix + hex SHA-256 of canon
	node     *node  // canon parsed, for Diff and the accessors
}

// Of returns the definition of tool t of upstream: t is encoded as an MCP
// server sends it (mcp-go's encoding, so a raw schema counts as given)
// and the pinned members are taken from that. It fails when t cannot be
// encoded, when the name or upstream break [pinstore.CheckKey], or when
// the definition exceeds [pinstore.MaxDefinition] bytes.
func Of(upstream string, t mcp.Tool) (Definition, error) {
	data, err := json.Marshal(t)
	if err != nil {
		return Definition{}, fmt.Errorf("pin: tool %q of %q: %w", truncate(t.Name, 64), truncate(upstream, 64), err)
	}
	if len(data) > MaxJSON {
		// Icons and _meta are not pinned; judge the pinned part only.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			return Definition{}, fmt.Errorf("pin: tool %q: %w", truncate(t.Name, 64), err)
		}
		for k := range m {
			switch k {
			case fieldAnnotations, fieldDescription, fieldInputSchema, fieldName, fieldOutputSchema, fieldTitle:
			default:
				delete(m, k)
			}
		}
		if data, err = json.Marshal(m); err != nil {
			return Definition{}, fmt.Errorf("pin: tool %q: %w", truncate(t.Name, 64), err)
		}
	}
	d, err := build(upstream, data, true)
	if err != nil {
		return Definition{}, fmt.Errorf("pin: tool %q of %q: %w", truncate(t.Name, 64), truncate(upstream, 64), err)
	}
	return d, nil
}

// ParseDefinition returns the definition of a tool of upstream from its
// JSON, such as [Definition.JSON] returned or a store keeps. The JSON
// must be an object holding only the pinned members: name, title and
// description as strings, the schemas and annotations as objects.
func ParseDefinition(upstream string, data []byte) (Definition, error) {
	d, err := build(upstream, data, false)
	if err != nil {
		return Definition{}, fmt.Errorf("pin: definition of %q: %w", truncate(upstream, 64), err)
	}
	return d, nil
}

// build canonicalizes the object in data; with pick it drops members
// that are not pinned, else it refuses them.
func build(upstream string, data []byte, pick bool) (Definition, error) {
	if len(data) > MaxJSON {
		return Definition{}, fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, len(data), MaxJSON)
	}
	n, err := parse(data)
	if err != nil {
		return Definition{}, err
	}
	if n.kind != 'o' {
		return Definition{}, fmt.Errorf("%w: a definition is a JSON object", ErrInvalidJSON)
	}
	kept := n.members[:0:0]
	for _, m := range n.members {
		switch m.key {
		case fieldName, fieldTitle, fieldDescription:
			if m.value.kind != 's' {
				return Definition{}, fmt.Errorf("%w: %s is not a string", ErrInvalidJSON, m.key)
			}
		case fieldInputSchema, fieldOutputSchema, fieldAnnotations:
			if m.value.kind != 'o' {
				return Definition{}, fmt.Errorf("%w: %s is not an object", ErrInvalidJSON, m.key)
			}
		default:
			if pick {
				continue
			}
			return Definition{}, fmt.Errorf("%w: %q is not a pinned member", ErrInvalidJSON, truncate(m.key, 64))
		}
		kept = append(kept, m)
	}
	n = &node{kind: 'o', members: kept}
	d := Definition{upstream: upstream, node: n, canon: appendNode(nil, n)}
	d.name = d.str(fieldName)
	if err := pinstore.CheckKey(pinstore.Key{Upstream: upstream, Tool: d.name}); err != nil {
		return Definition{}, err
	}
	if len(d.canon) > pinstore.MaxDefinition {
		return Definition{}, fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, len(d.canon), pinstore.MaxDefinition)
	}
	sum := sha256.Sum256(d.canon)
	d.hash = HashPrefix + hex.EncodeToString(sum[:])
	return d, nil
}

func (d Definition) member(name string) *node {
	if d.node == nil {
		return nil
	}
	for _, m := range d.node.members {
		if m.key == name {
			return m.value
		}
	}
	return nil
}

func (d Definition) str(name string) string {
	if n := d.member(name); n != nil {
		return n.text
	}
	return ""
}

func (d Definition) raw(name string) []byte {
	if n := d.member(name); n != nil {
		return appendNode(nil, n)
	}
	return nil
}

// Upstream returns the upstream's name.
func (d Definition) Upstream() string { return d.upstream }

// Name returns the tool's name as the upstream gives it.
func (d Definition) Name() string { return d.name }

// Key returns the key of the tool's record.
func (d Definition) Key() pinstore.Key { return pinstore.Key{Upstream: d.upstream, Tool: d.name} }

// Title returns the tool's title, "" when it has none.
func (d Definition) Title() string { return d.str(fieldTitle) }

// Description returns the tool's description, "" when it has none.
func (d Definition) Description() string { return d.str(fieldDescription) }

// InputSchema returns the canonical JSON of the input schema, nil when
// absent.
func (d Definition) InputSchema() []byte { return d.raw(fieldInputSchema) }

// OutputSchema returns the canonical JSON of the output schema, nil when
// absent.
func (d Definition) OutputSchema() []byte { return d.raw(fieldOutputSchema) }

// Annotations returns the canonical JSON of the annotations, nil when
// absent.
func (d Definition) Annotations() []byte { return d.raw(fieldAnnotations) }

// JSON returns the canonical JSON object that is hashed (a copy).
func (d Definition) JSON() []byte { return bytes.Clone(d.canon) }

// Hash returns "sha256:" and the hex SHA-256 of [Definition.JSON]; ""
// for the zero Definition. It is computed once, when d is built.
func (d Definition) Hash() string { return d.hash }

// IsZero reports whether d is the zero Definition.
func (d Definition) IsZero() bool { return d.hash == "" }

var errZero = errors.New("pin: zero Definition")
