package pin

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of a diff, so that it fits an audit event.
const (
	// MaxTextDiff bounds a Change's Diff, in bytes.
	MaxTextDiff = 4096
	// MaxPaths bounds the paths of one Change (added, removed and
	// changed together).
	MaxPaths = 64
	// diffContext is the number of unchanged lines shown around a change.
	diffContext = 3
	// maxDiffLine bounds one line of a text diff, in bytes.
	maxDiffLine = 240
)

// Change names one pinned member that differs between two definitions.
type Change struct {
	// Field is the member: name, title, description, inputSchema,
	// outputSchema or annotations.
	Field string `json:"field"`
	// Diff is, for name, title and description, a unified line diff
	// (one hunk, up to 3 lines of context) with invisible and control
	// characters shown as \u{XXXX}, at most MaxTextDiff bytes.
	Diff string `json:"diff,omitempty"`
	// Added, Removed and Changed are, for the schemas and annotations,
	// the JSON pointers (RFC 6901) of values only in the new definition,
	// only in the old one, and in both but different; "" is the whole
	// member. At most MaxPaths in all.
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	Changed []string `json:"changed,omitempty"`
	// Truncated reports that Diff or the paths were cut at their bound.
	Truncated bool `json:"truncated,omitempty"`
}

// Diff returns the pinned members that differ from old to new, in the
// canonical member order; none when their hashes are equal. The zero
// Definition has no members.
func Diff(old, new Definition) []Change {
	if old.hash == new.hash {
		return nil
	}
	var out []Change
	for _, f := range []string{fieldAnnotations, fieldDescription, fieldInputSchema, fieldName, fieldOutputSchema, fieldTitle} {
		a, b := old.member(f), new.member(f)
		if equalNodes(a, b) {
			continue
		}
		c := Change{Field: f}
		switch f {
		case fieldName, fieldTitle, fieldDescription:
			c.Diff, c.Truncated = textDiff(text(a), text(b))
		default:
			pd := pathDiff{c: &c}
			pd.walk("", a, b)
		}
		out = append(out, c)
	}
	return out
}

func text(n *node) string {
	if n == nil {
		return ""
	}
	return n.text
}

func equalNodes(a, b *node) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.kind != b.kind || a.text != b.text || len(a.members) != len(b.members) || len(a.items) != len(b.items) {
		return false
	}
	for i := range a.members {
		if a.members[i].key != b.members[i].key || !equalNodes(a.members[i].value, b.members[i].value) {
			return false
		}
	}
	for i := range a.items {
		if !equalNodes(a.items[i], b.items[i]) {
			return false
		}
	}
	return true
}

type pathDiff struct {
	c *Change
	n int
}

func (p *pathDiff) add(list *[]string, path string) {
	if p.n >= MaxPaths {
		p.c.Truncated = true
		return
	}
	p.n++
	*list = append(*list, path)
}

// walk records the differences between a and b (nil: absent) at path.
func (p *pathDiff) walk(path string, a, b *node) {
	switch {
	case p.n >= MaxPaths:
		p.c.Truncated = true
	case a == nil && b == nil:
	case a == nil:
		p.add(&p.c.Added, path)
	case b == nil:
		p.add(&p.c.Removed, path)
	case a.kind != b.kind:
		p.add(&p.c.Changed, path)
	case a.kind == 'o':
		// Members are sorted: merge.
		i, j := 0, 0
		for i < len(a.members) || j < len(b.members) {
			switch {
			case j == len(b.members) || i < len(a.members) && a.members[i].key < b.members[j].key:
				p.walk(path+"/"+escapePointer(a.members[i].key), a.members[i].value, nil)
				i++
			case i == len(a.members) || b.members[j].key < a.members[i].key:
				p.walk(path+"/"+escapePointer(b.members[j].key), nil, b.members[j].value)
				j++
			default:
				p.walk(path+"/"+escapePointer(a.members[i].key), a.members[i].value, b.members[j].value)
				i++
				j++
			}
		}
	case a.kind == 'a':
		for i := range max(len(a.items), len(b.items)) {
			var x, y *node
			if i < len(a.items) {
				x = a.items[i]
			}
			if i < len(b.items) {
				y = b.items[i]
			}
			p.walk(path+"/"+strconv.Itoa(i), x, y)
		}
	case a.text != b.text:
		p.add(&p.c.Changed, path)
	}
}

// escapePointer escapes a member name for a JSON pointer.
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// textDiff returns a unified diff of the lines of a and b: the lines
// between their common prefix and suffix make one hunk, with context.
func textDiff(a, b string) (string, bool) {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	pre := 0
	for pre < len(al) && pre < len(bl) && al[pre] == bl[pre] {
		pre++
	}
	suf := 0
	for suf < len(al)-pre && suf < len(bl)-pre && al[len(al)-1-suf] == bl[len(bl)-1-suf] {
		suf++
	}
	from := max(pre-diffContext, 0)
	aTo, bTo := min(len(al)-suf+diffContext, len(al)), min(len(bl)-suf+diffContext, len(bl))
	var sb strings.Builder
	fmt.Fprintf(&sb, "@@ -%s +%s @@\n", hunkRange(from, aTo), hunkRange(from, bTo))
	truncated := false
	line := func(prefix byte, s string) {
		if truncated {
			return
		}
		l := string(prefix) + visible(s)
		if sb.Len()+len(l)+1 > MaxTextDiff {
			truncated = true
			return
		}
		sb.WriteString(l)
		sb.WriteByte('\n')
	}
	for i := from; i < pre; i++ {
		line(' ', al[i])
	}
	for i := pre; i < len(al)-suf; i++ {
		line('-', al[i])
	}
	for i := pre; i < len(bl)-suf; i++ {
		line('+', bl[i])
	}
	for i := len(al) - suf; i < aTo; i++ {
		line(' ', al[i])
	}
	return sb.String(), truncated
}

// hunkRange is a unified diff's start,count for lines [from, to).
func hunkRange(from, to int) string {
	if to-from == 0 {
		return strconv.Itoa(from) + ",0"
	}
	return strconv.Itoa(from+1) + "," + strconv.Itoa(to-from)
}

// visible returns s with every rune that is neither graphic nor a plain
// space written as \u{XXXX}, and a backslash as \\, cut to maxDiffLine
// bytes with "…".
func visible(s string) string {
	var sb strings.Builder
	for _, r := range s {
		if sb.Len() >= maxDiffLine {
			sb.WriteString("…")
			break
		}
		switch {
		case r == '\\':
			sb.WriteString(`\\`)
		case r == ' ' || (unicode.IsGraphic(r) && !unicode.Is(unicode.Zs, r)) && r != utf8.RuneError:
			sb.WriteRune(r)
		default:
			fmt.Fprintf(&sb, `\u{%04X}`, r)
		}
	}
	return sb.String()
}
