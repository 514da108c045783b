package yamlconf

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// ApplyEnv applies overrides from environ, a list of "NAME=value" strings
// such as os.Environ returns, onto dst, a non-nil pointer to a struct.
//
// The variable for the leaf key path a.b_c.d is prefix + "_A_B_C_D": the
// path upper-cased with dots replaced by underscores. Values are read as by
// Set; should two paths map to the same variable, both are set. Map entries
// cannot be set this way. A variable that starts with
// prefix + "_" but matches no leaf key path is an error naming the variable,
// unless ignore (which may be nil) returns true for its name. Errors for bad
// values name both the variable and the key path. All errors are returned,
// joined.
func ApplyEnv(dst any, prefix string, environ []string, ignore func(name string) bool) error {
	v, err := target(dst, "ApplyEnv")
	if err != nil {
		return err
	}
	if prefix == "" {
		return errors.New("yamlconf: ApplyEnv needs a non-empty prefix")
	}
	vars := make(map[string][]string)
	var names []string
	walk(v.Type(), "", true, nil, func(path string, settable bool) {
		if settable {
			name := prefix + "_" + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
			names = append(names, name)
			vars[name] = append(vars[name], path)
		}
	})
	var errs []error
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, prefix+"_") {
			continue
		}
		paths, ok := vars[name]
		if !ok && (ignore == nil || !ignore(name)) {
			msg := "unknown configuration variable"
			if s := suggest(name, names); s != "" {
				msg += " (did you mean " + s + "?)"
			}
			errs = append(errs, fmt.Errorf("%s: %s", name, msg))
		}
		for _, path := range paths {
			if err := set(v, path, value); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Set sets the leaf at key path in dst, a non-nil pointer to a struct, from
// its string form, as for a command-line flag. Scalars are read as in YAML;
// slices are read as a comma-separated list, and the empty string is the
// empty slice; for a *url.URL the empty string is nil. Struct pointers on
// the path are allocated as needed; map entries cannot be set. The error
// names the path.
func Set(dst any, path, value string) error {
	v, err := target(dst, "Set")
	if err != nil {
		return err
	}
	return set(v, path, value)
}

// set sets the leaf at path under the struct v. It checks the whole path
// against the type first, so that a bad path leaves v unchanged.
func set(v reflect.Value, path, value string) error {
	var steps [][]int
	t := v.Type()
	keys := strings.Split(path, ".")
	for i, key := range keys {
		for t.Kind() == reflect.Pointer && !leaf(t) {
			t = t.Elem()
		}
		at := strings.Join(keys[:i+1], ".")
		if t.Kind() == reflect.Map {
			return errorf(at, "map entries cannot be set from flags or environment variables")
		}
		if t.Kind() != reflect.Struct || leaf(t) {
			return errorf(at, "unknown key")
		}
		fs := fields(t)
		f, ok := findField(fs, key)
		if !ok {
			return unknownKey(at, key, fs)
		}
		steps = append(steps, f.index)
		t = t.FieldByIndex(f.index).Type
	}
	if !leaf(t) {
		return errorf(path, "expected the path of a single value, not of %s", describe(t))
	}
	for _, index := range steps {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.FieldByIndex(index)
	}
	return setText(path, v, value)
}

// Paths lists every leaf key path of the struct type of v (a struct or a
// pointer to one), in field order. Map entries appear as "<name>" and
// slice items as "[]", as in "routes.<name>.upstream".
func Paths(v any) []string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct || leaf(t) {
		return nil
	}
	var out []string
	walk(t, "", true, nil, func(path string, _ bool) { out = append(out, path) })
	return out
}

// walk calls fn for each leaf key path under type t. A path is settable if
// it does not go through a map or a slice. Types already on stack, the
// composite types being walked, are not expanded again.
func walk(t reflect.Type, path string, settable bool, stack []reflect.Type, fn func(path string, settable bool)) {
	for t.Kind() == reflect.Pointer && !leaf(t) {
		t = t.Elem()
	}
	if leaf(t) {
		fn(path, settable)
		return
	}
	if slices.Contains(stack, t) {
		return
	}
	stack = append(stack, t)
	switch t.Kind() {
	case reflect.Struct:
		for _, f := range fields(t) {
			walk(t.FieldByIndex(f.index).Type, join(path, f.name), settable, stack, fn)
		}
	case reflect.Map:
		walk(t.Elem(), join(path, "<name>"), false, stack, fn)
	case reflect.Slice:
		walk(t.Elem(), path+"[]", false, stack, fn)
	default:
		fn(path, settable)
	}
}
