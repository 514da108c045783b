package guard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// ErrTooLarge is returned for inputs past Config.MaxBytes.
var ErrTooLarge = errors.New("guard: input too large")

// ErrDirection is returned for an input without a known direction.
var ErrDirection = errors.New("guard: unknown direction")

// MetaDetector is a [Detector] that also reads the input's metadata (the
// tool an argument is bound for, the route). The scanner calls
// DetectMeta instead of Detect for detectors that implement it.
type MetaDetector interface {
	Detector
	DetectMeta(dst []Finding, text string, norm *Normalized, dir Direction, meta *Meta) []Finding
}

// Guard scans content with a set of detectors and applies the policy. It
// is safe for concurrent use.
type Guard struct {
	maxBytes  int
	maxDepth  int
	detectors []Detector
	meta      []MetaDetector // parallel to detectors; nil entries for plain ones
	policy    *policy
	pool      sync.Pool // *scanState
}

var _ Scanner = (*Guard)(nil)

// New returns a guard running detectors under cfg, after validating it.
// Zero MaxBytes and MaxDepth mean the defaults.
func New(cfg Config, detectors ...Detector) (*Guard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Guard{maxBytes: cfg.MaxBytes, maxDepth: cfg.MaxDepth}
	if g.maxBytes == 0 {
		g.maxBytes = DefaultMaxBytes
	}
	if g.maxDepth == 0 {
		g.maxDepth = DefaultMaxDepth
	}
	seen := map[string]bool{}
	for i, d := range detectors {
		if d == nil {
			return nil, fmt.Errorf("guard: detector %d is nil", i)
		}
		if seen[d.Name()] {
			return nil, fmt.Errorf("guard: two detectors named %q", d.Name())
		}
		seen[d.Name()] = true
		md, _ := d.(MetaDetector)
		g.detectors = append(g.detectors, d)
		g.meta = append(g.meta, md)
	}
	p, err := compilePolicy(cfg)
	if err != nil {
		return nil, err
	}
	g.policy = p
	g.pool.New = func() any { return &scanState{g: g} }
	return g, nil
}

// Scan scans in and applies the policy. It fails before any work when
// the input is past the size limit (ErrTooLarge), and for JSON that is
// invalid (ErrInvalidJSON) or too deep (ErrTooDeep).
func (g *Guard) Scan(ctx context.Context, in Input) (Verdict, error) {
	size := len(in.Text)
	if in.JSON != nil {
		size = len(in.JSON)
	}
	if size > g.maxBytes {
		return Verdict{}, fmt.Errorf("%w: %d bytes, the limit is %d (guard.max_bytes)", ErrTooLarge, size, g.maxBytes)
	}
	if !slices.Contains(directions, in.Direction) {
		return Verdict{}, fmt.Errorf("%w %q", ErrDirection, in.Direction)
	}
	if err := ctx.Err(); err != nil {
		return Verdict{}, err
	}
	st := g.pool.Get().(*scanState)
	defer st.release()
	st.ctx, st.in = ctx, in
	st.layers = g.policy.layers(&st.in.Meta, &st.layerBuf)
	if in.JSON != nil {
		if err := st.walker.walk(in.JSON, g.maxDepth, st); err != nil {
			return Verdict{}, err
		}
	} else if err := st.scan(nil, in.Text, 0, len(in.Text)); err != nil {
		return Verdict{}, err
	}
	return st.verdict(), nil
}

// scanState is the per-scan working memory, pooled.
type scanState struct {
	g        *Guard
	ctx      context.Context
	in       Input
	layers   []map[string]DirectionRules
	layerBuf [4]map[string]DirectionRules
	walker   jsonWalker
	norm     Normalizer
	nd       Normalized
	raw      []Finding // one string's detector output
	strings  int

	// Accepted findings of the scan and their actions.
	findings []Finding
	actions  []Action
	action   Action
	// Redactions: per redacted string, its token span and new value.
	redactions []redaction
	// Placeholder numbering: kind → count, kind+value → placeholder.
	kinds        map[string]int
	placeholders map[string]string
	spans        []span // scratch
	masks        []span // sensitive values of the current string, by start
	allow        allowMatches
}

type redaction struct {
	start, end int // the string's span in the input (its token in JSON)
	value      string
}

type span struct {
	start, end int
	repl       string
}

func (st *scanState) release() {
	clear(st.raw[:cap(st.raw)])
	clear(st.findings[:cap(st.findings)])
	st.raw, st.findings, st.actions = st.raw[:0], st.findings[:0], st.actions[:0]
	st.redactions = st.redactions[:0]
	clear(st.redactions[:cap(st.redactions)])
	clear(st.kinds)
	clear(st.placeholders)
	st.action, st.strings = "", 0
	st.ctx, st.in, st.nd = nil, Input{}, Normalized{}
	st.walker.data = nil
	st.g.pool.Put(st)
}

func (st *scanState) visitString(path []byte, s string, start, end int) error {
	st.strings++
	if st.strings&63 == 0 {
		if err := st.ctx.Err(); err != nil {
			return err
		}
	}
	return st.scan(path, s, start, end)
}

// scan runs the detectors over one string s, found at [start, end) of
// the input, and applies the policy to their findings.
func (st *scanState) scan(path []byte, s string, start, end int) error {
	g := st.g
	dir := st.in.Direction
	st.norm.Normalize(&st.nd, s)
	raw := st.raw[:0]
	for i, d := range g.detectors {
		if md := g.meta[i]; md != nil {
			raw = md.DetectMeta(raw, s, &st.nd, dir, &st.in.Meta)
		} else {
			raw = d.Detect(raw, s, &st.nd, dir)
		}
	}
	raw = st.obfuscation(raw, s, dir)
	st.raw = raw
	if len(raw) == 0 {
		return nil
	}

	var pathStr string
	if path != nil {
		pathStr = string(path)
	}
	first := len(st.findings)
	redact := false
	st.allow.reset(s)
	for i := range raw {
		f := raw[i]
		if f.Start < 0 || f.End > len(s) || f.Start > f.End {
			f.Start, f.End = 0, 0
		}
		f.Score = min(max(f.Score, 0), 1)
		r := resolve(st.layers, f.Detector, f.Class, dir)
		if f.Score < r.Threshold || r.Action == Allow || severity(r.Action) < 0 {
			continue
		}
		if len(g.policy.allow) > 0 && g.policy.allowed(&st.allow, &f) {
			continue
		}
		f.Path = pathStr
		f.Placeholder = st.placeholder(f.Placeholder, s, &f)
		st.findings = append(st.findings, f)
		st.actions = append(st.actions, r.Action)
		if severity(r.Action) > severity(st.action) {
			st.action = r.Action
		}
		if r.Action == Redact {
			redact = true
		}
	}
	// Excerpts, with every sensitive value of this string masked.
	if len(st.findings) > first {
		st.setMasks(s, raw)
		for i := first; i < len(st.findings); i++ {
			st.findings[i].Excerpt = st.excerpt(s, &st.findings[i])
		}
	}
	if redact {
		st.redactions = append(st.redactions, redaction{start: start, end: end, value: st.redactString(s, first)})
	}
	return nil
}

// placeholder renumbers a typed placeholder ("[EMAIL_1]") across the
// scan: the same value gets the same placeholder in every string, and
// different values different numbers, in order of appearance.
func (st *scanState) placeholder(p string, s string, f *Finding) string {
	if p == "" {
		return ""
	}
	kind := p
	if strings.HasPrefix(p, "[") && strings.HasSuffix(p, "]") {
		kind = p[1 : len(p)-1]
		if i := strings.LastIndexByte(kind, '_'); i > 0 && digits(kind[i+1:]) {
			kind = kind[:i]
		} else {
			return strings.Clone(p)
		}
	} else {
		return strings.Clone(p)
	}
	if st.kinds == nil {
		st.kinds, st.placeholders = map[string]int{}, map[string]string{}
	}
	key := kind + "\x00" + s[f.Start:f.End]
	if q, ok := st.placeholders[key]; ok {
		return q
	}
	st.kinds[kind]++
	q := fmt.Sprintf("[%s_%d]", kind, st.kinds[kind])
	st.placeholders[key] = q
	return q
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// maxExcerpt is the longest excerpt, in bytes.
const maxExcerpt = 120

// sensitive reports whether a finding's span holds a value that must
// never be shown.
func sensitive(f *Finding) bool {
	return f.Class == ClassSensitive || f.Placeholder != ""
}

// setMasks collects the spans of every sensitive finding in s (raw, the
// detectors' output, whatever the policy made of it), sorted by start.
func (st *scanState) setMasks(s string, raw []Finding) {
	masks := st.masks[:0]
	for i := range raw {
		r := &raw[i]
		if sensitive(r) && r.End > r.Start && r.Start >= 0 && r.End <= len(s) {
			masks = append(masks, span{r.Start, r.End, maskFor(st, r, s)})
		}
	}
	slices.SortStableFunc(masks, func(x, y span) int { return x.start - y.start })
	st.masks = masks
}

// maxExcerptMasks bounds the values looked for in a detector's own
// excerpt, so that many findings in one string cost linear time.
const maxExcerptMasks = 32

// excerpt returns the excerpt of finding f in s: the detector's own
// (truncated) or up to maxExcerpt bytes around the span, with the
// sensitive values of s (st.masks) replaced by placeholders.
func (st *scanState) excerpt(s string, f *Finding) string {
	masks := st.masks
	if f.Excerpt != "" {
		// The detector's excerpt may come from anywhere in s: mask the
		// values near the finding, then the first others.
		e := f.Excerpt
		n := 0
		near := func(m span) bool { return m.end > f.Start-maxExcerpt && m.start < f.End+maxExcerpt }
		for pass := 0; pass < 2; pass++ {
			for _, m := range masks {
				if n >= maxExcerptMasks {
					break
				}
				if near(m) != (pass == 0) {
					continue
				}
				if v := s[m.start:m.end]; len(v) >= 4 && strings.Contains(e, v) {
					e = strings.ReplaceAll(e, v, m.repl)
				}
				n++
			}
		}
		return clip(e)
	}
	a, b := f.Start, f.End
	if a == 0 && b == 0 {
		b = len(s)
	}
	if b-a < maxExcerpt {
		pad := (maxExcerpt - (b - a)) / 2
		a, b = max(0, a-pad), min(len(s), b+pad)
	}
	b = min(b, a+2*maxExcerpt)
	for a > 0 && !utf8.RuneStart(s[a]) {
		a--
	}
	for b < len(s) && !utf8.RuneStart(s[b]) {
		b--
	}
	// The first mask that may overlap [a, b): search by start, then step
	// back over masks that began earlier and still cover a.
	k := sort.Search(len(masks), func(i int) bool { return masks[i].start >= a })
	for k > 0 && masks[k-1].end > a {
		k--
	}
	var sb strings.Builder
	at := a
	for _, m := range masks[k:] {
		if m.start >= b || sb.Len() > maxExcerpt {
			break
		}
		if m.end <= at {
			continue
		}
		if m.start > at {
			sb.WriteString(s[at:m.start])
		}
		sb.WriteString(m.repl)
		at = m.end
	}
	if at < b && sb.Len() <= maxExcerpt {
		sb.WriteString(s[at:b])
	}
	return clip(sb.String())
}

// maskFor is the text a sensitive value shows as in excerpts.
func maskFor(st *scanState, f *Finding, s string) string {
	if f.Placeholder != "" {
		if q, ok := st.placeholders[placeholderKey(f.Placeholder, s, f)]; ok {
			return q
		}
		return f.Placeholder
	}
	return "[REDACTED]"
}

func placeholderKey(p, s string, f *Finding) string {
	kind := strings.TrimSuffix(strings.TrimPrefix(p, "["), "]")
	if i := strings.LastIndexByte(kind, '_'); i > 0 && digits(kind[i+1:]) {
		kind = kind[:i]
	}
	return kind + "\x00" + s[f.Start:f.End]
}

// clip makes e valid UTF-8 of at most maxExcerpt bytes, with control
// characters shown as spaces.
func clip(e string) string {
	if n := min(len(e), maxExcerpt); printableASCII(e[:n]) {
		// Most excerpts: valid UTF-8 without controls, cut anywhere.
		return strings.Clone(e[:n])
	}
	e = strings.ToValidUTF8(e, "\uFFFD")
	if len(e) > maxExcerpt {
		n := maxExcerpt
		for n > 0 && !utf8.RuneStart(e[n]) {
			n--
		}
		e = e[:n]
	}
	return strings.Clone(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, e))
}

// printableASCII reports whether every byte of s is printable ASCII
// (0x20 to 0x7e).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// redactString returns s with the spans of the findings since first that
// the policy redacts replaced by their placeholders; a finding about the
// whole string replaces all of it.
func (st *scanState) redactString(s string, first int) string {
	spans := st.spans[:0]
	for i := first; i < len(st.findings); i++ {
		if st.actions[i] != Redact {
			continue
		}
		f := &st.findings[i]
		repl := f.Placeholder
		if repl == "" {
			repl = "[REDACTED]"
		}
		a, b := f.Start, f.End
		if a == 0 && b == 0 {
			b = len(s)
		}
		spans = append(spans, span{a, b, repl})
	}
	st.spans = spans
	slices.SortStableFunc(spans, func(x, y span) int {
		if x.start != y.start {
			return x.start - y.start
		}
		return y.end - x.end // the longer first
	})
	var sb strings.Builder
	at := 0
	for _, sp := range spans {
		if sp.start < at {
			continue // overlaps a span already replaced
		}
		sb.WriteString(s[at:sp.start])
		sb.WriteString(sp.repl)
		at = sp.end
	}
	sb.WriteString(s[at:])
	return sb.String()
}

// verdict builds the scan's verdict; it copies what it returns out of
// the pooled state.
func (st *scanState) verdict() Verdict {
	if len(st.findings) == 0 {
		return Verdict{Action: Allow}
	}
	v := Verdict{Action: st.action, Findings: slices.Clone(st.findings)}
	if v.Action != Redact {
		return v
	}
	if st.in.JSON == nil {
		v.Redacted = st.redactions[0].value
		return v
	}
	out := make([]byte, 0, len(st.in.JSON)+64)
	at := 0
	for _, r := range st.redactions {
		out = append(out, st.in.JSON[at:r.start]...)
		out = appendJSONString(out, r.value)
		at = r.end
	}
	out = append(out, st.in.JSON[at:]...)
	v.Redacted = string(out)
	return v
}
