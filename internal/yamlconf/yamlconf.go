// Package yamlconf loads typed configuration structs from YAML, environment
// variables and flags, with errors that name the key path.
//
// The package works by reflection on any struct whose fields carry
// `yaml:"name"` tags; fields without a yaml tag, tagged "-", or unexported
// are ignored. The options ",omitempty" (honoured by Encode) and ",inline"
// (for embedded struct fields) are understood. A key path joins the names
// with dots, such as "store.redis.url"; sequence items are written "tags[2]".
//
// Leaf values are strings, booleans, integers of every size, floats,
// time.Duration, url.URL, netip.Addr, netip.Prefix, netip.AddrPort, types
// implementing encoding.TextUnmarshaler, pointers to any of these, and slices
// of them. Composite values are nested structs, pointers to structs, slices
// and maps with string keys.
package yamlconf

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// MaxBytes is the largest YAML document Decode accepts.
const MaxBytes = 1 << 20

// maxNodes caps the number of YAML nodes Decode visits, counting each alias
// expansion again, so that alias bombs fail quickly.
const maxNodes = 100_000

// Decode applies the YAML document data onto dst, which must be a non-nil
// pointer to a struct.
//
// Keys absent from data keep the value already in dst, so callers pre-fill
// defaults; a YAML null also leaves the value unchanged. A present sequence
// replaces a slice, a present mapping adds to or updates a map, and a present
// mapping for a nil struct pointer allocates it. Unknown keys, duplicate keys,
// values of the wrong type, more than one document and a top level other than
// a mapping are errors that name the key path. A syntax error reads
// "line N: ...". An empty document, or one with only comments, changes
// nothing. On error dst may have been partly updated.
func Decode(data []byte, dst any) (err error) {
	v, err := target(dst, "Decode")
	if err != nil {
		return err
	}
	if len(data) > MaxBytes {
		return fmt.Errorf("configuration is %d bytes, more than the limit of %d", len(data), MaxBytes)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yamlconf: internal error: %v", r)
		}
	}()
	doc, err := parse(data)
	if err != nil || doc == nil || len(doc.Content) == 0 {
		return err
	}
	d := &decoder{}
	n, err := d.resolve(doc.Content[0])
	if err != nil || isNull(n) {
		return err
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("expected a mapping at the top level, got %s", got(n))
	}
	return d.set("", n, v)
}

// target returns the struct that dst points to.
func target(dst any, fn string) (reflect.Value, error) {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, fmt.Errorf("yamlconf: %s needs a non-nil pointer to a struct, got %T", fn, dst)
	}
	return v.Elem(), nil
}

// parse returns the single document in data, or nil if data holds none.
func parse(data []byte) (doc *yaml.Node, err error) {
	if err := checkText(data); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, fmt.Errorf("invalid YAML: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first, second yaml.Node
	if err := dec.Decode(&first); err == io.EOF {
		return nil, nil
	} else if err != nil {
		return nil, syntaxError(data, err)
	}
	switch err := dec.Decode(&second); {
	case err == io.EOF:
		return &first, nil
	case err != nil:
		return nil, syntaxError(data, err)
	default:
		return nil, fmt.Errorf("line %d: more than one YAML document", second.Line)
	}
}

// checkText rejects what the YAML reader would reject (invalid UTF-8 and
// control characters), reporting the line, which yaml.v3 does not.
func checkText(data []byte) error {
	line := 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		switch {
		case r == utf8.RuneError && size == 1:
			return fmt.Errorf("line %d: invalid UTF-8", line)
		case r == '\n':
			line++
		case r == '\t', r == '\r', r >= 0x20 && r <= 0x7E, r == 0x85,
			r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000:
		default:
			return fmt.Errorf("line %d: control character %U is not allowed", line, r)
		}
		data = data[size:]
	}
	return nil
}

var yamlErrRE = regexp.MustCompile(`(?s)^yaml: (?:line (\d+): )?(.*)$`)

// parserProblems are the yaml.v3 parser (not scanner) errors, whose line
// numbers yaml.v3 reports counting from zero.
var parserProblems = []string{"did not find expected <", "did not find expected node content",
	"did not find expected '-'", "did not find expected key", "did not find expected ','",
	"found undefined tag handle", "found duplicate %", "found incompatible YAML document"}

// syntaxError rewrites a yaml.v3 syntax error as "line N: problem".
func syntaxError(data []byte, err error) error {
	m := yamlErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("line 1: %v", err)
	}
	line, _ := strconv.Atoi(m[1])
	msg := m[2]
	for _, p := range parserProblems {
		if strings.HasPrefix(msg, p) {
			line++
			break
		}
	}
	if name, ok := strings.CutPrefix(msg, "unknown anchor '"); ok && line == 0 {
		if i := bytes.Index(data, []byte("*"+strings.TrimSuffix(name, "' referenced"))); i >= 0 {
			line = 1 + bytes.Count(data[:i], []byte("\n"))
		}
	}
	return fmt.Errorf("line %d: %s", max(line, 1), msg)
}

// decoder walks a YAML node tree onto Go values, counting the nodes visited.
type decoder struct{ nodes int }

// resolve counts n and follows it if it is an alias.
func (d *decoder) resolve(n *yaml.Node) (*yaml.Node, error) {
	if d.nodes++; d.nodes > maxNodes {
		return nil, fmt.Errorf("document too complex: more than %d nodes after expanding aliases", maxNodes)
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n, nil
}

// value decodes n onto v, leaving v unchanged if n is null.
func (d *decoder) value(path string, n *yaml.Node, v reflect.Value) error {
	n, err := d.resolve(n)
	if err != nil || isNull(n) {
		return err
	}
	return d.set(path, n, v)
}

// set decodes the resolved, non-null node n onto v.
func (d *decoder) set(path string, n *yaml.Node, v reflect.Value) error {
	t := v.Type()
	if k := nodeKind(t); k != 0 && n.Kind != k {
		return errorf(path, "expected %s, got %s", describe(t), got(n))
	}
	switch {
	case scalar(t):
		s := n.Value
		if n.ShortTag() == "!!binary" {
			b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
			if err != nil {
				return errorf(path, "invalid !!binary value")
			}
			s = string(b)
		}
		return setText(path, v, s)
	case t.Kind() == reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return d.set(path, n, v.Elem())
	case t.Kind() == reflect.Struct:
		fs := fields(t)
		return d.mapping(path, n, func(key string, vn *yaml.Node) error {
			f, ok := findField(fs, key)
			if !ok {
				return unknownKey(join(path, key), key, fs)
			}
			return d.value(join(path, key), vn, v.FieldByIndex(f.index))
		})
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		if v.IsNil() {
			v.Set(reflect.MakeMap(t))
		}
		return d.mapping(path, n, func(key string, vn *yaml.Node) error {
			k := reflect.ValueOf(key).Convert(t.Key())
			elem := reflect.New(t.Elem()).Elem()
			if old := v.MapIndex(k); old.IsValid() {
				elem.Set(old)
			}
			if err := d.value(join(path, key), vn, elem); err != nil {
				return err
			}
			v.SetMapIndex(k, elem)
			return nil
		})
	case t.Kind() == reflect.Slice:
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := d.value(fmt.Sprintf("%s[%d]", path, i), item, s.Index(i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	}
	return errorf(path, "unsupported field type %s", t)
}

// mapping calls fn for each key of the mapping n, rejecting duplicates.
// Merge keys ("<<") are not supported: they are ordinary keys.
func (d *decoder) mapping(path string, n *yaml.Node, fn func(key string, v *yaml.Node) error) error {
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, err := d.resolve(n.Content[i])
		if err != nil {
			return err
		}
		if k.Kind != yaml.ScalarNode {
			return errorf(path, "expected a string key, got %s", got(k))
		}
		if line, dup := seen[k.Value]; dup {
			return errorf(join(path, k.Value), "duplicate key (first on line %d)", line)
		}
		seen[k.Value] = k.Line
		if err := fn(k.Value, n.Content[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// nodeKind returns the kind of YAML node that a value of type t is read from,
// or 0 if t is not supported.
func nodeKind(t reflect.Type) yaml.Kind {
	switch {
	case scalar(t):
		return yaml.ScalarNode
	case t.Kind() == reflect.Pointer:
		return nodeKind(t.Elem())
	case t.Kind() == reflect.Slice:
		return yaml.SequenceNode
	case t.Kind() == reflect.Struct, t.Kind() == reflect.Map:
		return yaml.MappingNode
	}
	return 0
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// got describes a node for an error message.
func got(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a sequence"
	case isNull(n):
		return "null"
	}
	return quote(n.Value)
}

// quote quotes s for an error message, shortening it if it is long.
func quote(s string) string {
	if len(s) > 64 {
		s = strings.ToValidUTF8(s[:60], "") + "..."
	}
	return strconv.Quote(s)
}

// join appends key to the key path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// errorf returns an error prefixed by the key path, if any.
func errorf(path, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	return errors.New(msg)
}
