package yamlconf

import (
	"encoding"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	durationType    = reflect.TypeFor[time.Duration]()
	urlType         = reflect.TypeFor[url.URL]()
	unmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// descriptions name the values expected for some leaf types in errors.
var descriptions = map[reflect.Type]string{
	durationType:                      "a duration such as 10s",
	urlType:                           "an absolute URL",
	reflect.TypeFor[netip.Addr]():     "an IP address",
	reflect.TypeFor[netip.Prefix]():   "an IP prefix such as 10.0.0.0/8",
	reflect.TypeFor[netip.AddrPort](): "an IP address and port such as 127.0.0.1:8080",
}

// kindNames describe the values expected for the basic kinds that are
// scalars.
var kindNames = map[reflect.Kind]string{
	reflect.String: "a string", reflect.Bool: "a boolean",
	reflect.Float32: "a number", reflect.Float64: "a number",
	reflect.Int: "an integer", reflect.Int8: "an integer", reflect.Int16: "an integer",
	reflect.Int32: "an integer", reflect.Int64: "an integer",
	reflect.Uint: "a non-negative integer", reflect.Uint8: "a non-negative integer",
	reflect.Uint16: "a non-negative integer", reflect.Uint32: "a non-negative integer",
	reflect.Uint64: "a non-negative integer",
}

// scalar reports whether a value of type t, or the type t points to, is
// written as a single YAML scalar.
func scalar(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	_, basic := kindNames[t.Kind()]
	return basic || t == durationType || t == urlType || reflect.PointerTo(t).Implements(unmarshalerType)
}

// leaf reports whether a value of type t can be set from one string: a
// scalar, or a slice of scalars written as a comma-separated list.
func leaf(t reflect.Type) bool {
	return scalar(t) || t.Kind() == reflect.Slice && scalar(t.Elem())
}

// describe names the kind of value expected for type t in errors.
func describe(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if d, ok := descriptions[t]; ok {
		return d
	}
	switch k := t.Kind(); {
	case reflect.PointerTo(t).Implements(unmarshalerType):
	case kindNames[k] != "":
		return kindNames[k]
	case k == reflect.Struct || k == reflect.Map:
		return "a mapping"
	case k == reflect.Slice:
		return "a sequence"
	}
	return "a value of type " + t.String()
}

// setText sets the leaf v, which must be addressable, from its string form.
// Slices are read as comma-separated lists, and the empty string is the
// empty slice.
func setText(path string, v reflect.Value, s string) error {
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		if s == "" && t.Elem() == urlType {
			v.SetZero()
			return nil
		}
		p := reflect.New(t.Elem())
		if err := setText(path, p.Elem(), s); err != nil {
			return err
		}
		v.Set(p)
		return nil
	}
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		if err := u.UnmarshalText([]byte(s)); err != nil {
			if d, ok := descriptions[t]; ok {
				return errorf(path, "expected %s, got %s", d, quote(s))
			}
			return errorf(path, "invalid value %s: %v", quote(s), err)
		}
		return nil
	}
	switch t {
	case durationType:
		d, err := time.ParseDuration(s)
		if err != nil || strings.TrimLeft(s, "+-0123456789.") == "" {
			return errorf(path, "expected %s, got %s", descriptions[t], quote(s))
		}
		v.SetInt(int64(d))
		return nil
	case urlType:
		// Parse errors quote the URL, which may hold a password: drop them.
		u, err := url.Parse(s)
		if err != nil {
			return errorf(path, "expected an absolute URL: %v", errors.Unwrap(err))
		}
		if s != "" && (u.Scheme == "" || u.Host == "") {
			return errorf(path, "expected an absolute URL, got %s", quote(u.Redacted()))
		}
		v.Set(reflect.ValueOf(*u))
		return nil
	}
	switch t.Kind() {
	case reflect.Slice:
		var items []string
		if s != "" {
			items = strings.Split(s, ",")
		}
		out := reflect.MakeSlice(t, len(items), len(items))
		for i, item := range items {
			if err := setText(fmt.Sprintf("%s[%d]", path, i), out.Index(i), strings.TrimSpace(item)); err != nil {
				return err
			}
		}
		v.Set(out)
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "true", "yes", "on", "1":
			v.SetBool(true)
		case "false", "no", "off", "0":
			v.SetBool(false)
		default:
			return errorf(path, "expected a boolean, got %s", quote(s))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 0, t.Bits())
		if errors.Is(err, strconv.ErrRange) {
			lim := int64(1) << (t.Bits() - 1)
			return errorf(path, "expected an integer between %d and %d, got %s", -lim, lim-1, quote(s))
		} else if err != nil {
			return errorf(path, "expected an integer, got %s", quote(s))
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 0, t.Bits())
		if errors.Is(err, strconv.ErrRange) {
			return errorf(path, "expected an integer between 0 and %d, got %s", ^uint64(0)>>(64-t.Bits()), quote(s))
		} else if err != nil {
			return errorf(path, "expected a non-negative integer, got %s", quote(s))
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		// ParseFloat reads inf and nan; YAML writes them .inf and .nan.
		text := s
		if l := strings.ToLower(s); strings.HasSuffix(l, ".inf") || l == ".nan" {
			text = strings.Replace(s, ".", "", 1)
		}
		f, err := strconv.ParseFloat(text, t.Bits())
		if err != nil {
			return errorf(path, "expected a number, got %s", quote(s))
		}
		v.SetFloat(f)
	default:
		return errorf(path, "unsupported field type %s", t)
	}
	return nil
}

// field is a struct field with a yaml key.
type field struct {
	name      string
	index     []int
	omitEmpty bool
}

// fields lists the fields of struct type t that have yaml keys, in order,
// with the fields of ",inline" struct fields in their place.
func fields(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("yaml")
		if !ok || tag == "-" || !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		optList := strings.Split(opts, ",")
		if slices.Contains(optList, "inline") && sf.Type.Kind() == reflect.Struct {
			for _, f := range fields(sf.Type) {
				f.index = append([]int{i}, f.index...)
				out = append(out, f)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		out = append(out, field{name: name, index: []int{i}, omitEmpty: slices.Contains(optList, "omitempty")})
	}
	return out
}

func findField(fs []field, name string) (field, bool) {
	for _, f := range fs {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

// unknownKey reports that key, at path, is not one of the fields fs.
func unknownKey(path, key string, fs []field) error {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	if s := suggest(key, names); s != "" {
		return errorf(path, "unknown key (did you mean %q?)", s)
	}
	return errorf(path, "unknown key")
}

// suggest returns the candidate closest to s if it is at most two edits
// away, or "".
func suggest(s string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := distance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// distance returns the Levenshtein distance between a and b, or 3 if it is
// obviously more than 2.
func distance(a, b string) int {
	if len(a)-len(b) > 2 || len(b)-len(a) > 2 {
		return 3
	}
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
