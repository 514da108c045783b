package yamlconf

import (
	"bytes"
	"cmp"
	"fmt"
	"net/url"
	"reflect"
	"slices"

	"gopkg.in/yaml.v3"
)

// dumper is implemented by types that Encode replaces by another value, for
// example a copy with secrets masked.
type dumper interface{ YAMLConfDump() any }

// Encode renders src, a struct or a pointer to one, as YAML with the same
// key names that Decode reads, in struct field order (map keys are sorted).
// Durations, URLs and encoding.TextMarshaler types are written in their text
// form; nil pointers are omitted, as are zero fields tagged ",omitempty".
//
// If a value's type has a method YAMLConfDump() any, at the top level or
// nested, Encode writes the value it returns instead, which is how secrets
// are masked; the returned value may have the same type.
func Encode(src any) (out []byte, err error) {
	v := reflect.ValueOf(src)
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil, fmt.Errorf("yamlconf: Encode needs a struct or a non-nil pointer to one, got %T", src)
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("yamlconf: Encode: %v", r)
		}
	}()
	n, err := encode(v, true)
	if err != nil {
		return nil, err
	}
	if n == nil {
		n = &yaml.Node{Kind: yaml.MappingNode}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// encode returns the YAML node for v, or nil if v is a nil pointer or
// interface. If dump is set, YAMLConfDump methods are honoured.
func encode(v reflect.Value, dump bool) (*yaml.Node, error) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil, nil
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		return nil, nil
	}
	t := v.Type()
	// An addressable copy finds methods with pointer receivers too.
	p := reflect.New(t)
	p.Elem().Set(v)
	if d, ok := p.Interface().(dumper); ok && dump {
		out := reflect.ValueOf(d.YAMLConfDump())
		same := out.IsValid() && (out.Type() == t || out.Type() == p.Type())
		return encode(out, !same)
	}
	switch {
	case t == urlType:
		return str(p.Interface().(*url.URL).String()), nil
	case scalar(t):
		// yaml.v3 writes basic kinds, durations and TextMarshalers.
	case t.Kind() == reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, f := range fields(t) {
			fv := v.FieldByIndex(f.index)
			if f.omitEmpty && fv.IsZero() {
				continue
			}
			c, err := encode(fv, true)
			if err != nil {
				return nil, err
			}
			if c != nil {
				n.Content = append(n.Content, str(f.name), c)
			}
		}
		return n, nil
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(a.String(), b.String()) })
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range keys {
			c, err := encodeItem(v.MapIndex(k))
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, str(k.String()), c)
		}
		return n, nil
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if scalar(t.Elem()) {
			n.Style = yaml.FlowStyle
		}
		for i := range v.Len() {
			c, err := encodeItem(v.Index(i))
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	}
	// Scalars, and anything else YAMLConfDump may return.
	n := new(yaml.Node)
	return n, n.Encode(p.Interface())
}

// encodeItem encodes a map value or a sequence item, writing nil as null.
func encodeItem(v reflect.Value) (*yaml.Node, error) {
	n, err := encode(v, true)
	if n == nil && err == nil {
		n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	}
	return n, err
}

// str returns a string scalar node, which yaml.v3 quotes if it would
// otherwise read as another type; "<<" is quoted so that other YAML readers
// do not take it for a merge key.
func str(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if s == "<<" {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}
