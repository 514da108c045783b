package output

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/subzero-gateway/subzero/guard"
)

// Config is the improper-output configuration, the guard's `output:`
// section.
type Config = guard.OutputConfig

// Detector finds unsafe output (OWASP LLM05): active HTML and script URLs
// in completions and tool results, data-carrying images and links to
// hosts not on the allowlist, and shell or SQL injection in the arguments
// of tools marked as executing them. It is safe for concurrent use.
type Detector struct {
	hosts []string   // allowed hosts, "*.example.com" or "example.com"
	exec  []execRule // most specific first
}

type execRule struct {
	pattern string
	kind    string // "shell" or "sql"
}

var _ guard.MetaDetector = (*Detector)(nil)

// New returns a detector for cfg.
func New(cfg Config) (*Detector, error) {
	d := &Detector{}
	for i, h := range cfg.AllowedHosts {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if h == "" || strings.ContainsAny(h, "/:@ ") {
			return nil, fmt.Errorf("output: allowed_hosts[%d]: %q is not a host name or *.domain pattern", i, cfg.AllowedHosts[i])
		}
		d.hosts = append(d.hosts, h)
	}
	for p, k := range cfg.ExecTools {
		if k != "shell" && k != "sql" {
			return nil, fmt.Errorf("output: exec_tools.%s: %q (want shell or sql)", p, k)
		}
		d.exec = append(d.exec, execRule{p, k})
	}
	slices.SortFunc(d.exec, func(a, b execRule) int {
		ea, eb := !strings.ContainsAny(a.pattern, "*?"), !strings.ContainsAny(b.pattern, "*?")
		switch {
		case ea != eb:
			if ea {
				return -1
			}
			return 1
		case len(a.pattern) != len(b.pattern):
			return len(b.pattern) - len(a.pattern)
		}
		return strings.Compare(a.pattern, b.pattern)
	})
	return d, nil
}

// Name is "output"; findings are named output.<check>.
func (d *Detector) Name() string { return "output" }

// Detect runs the checks that need no metadata.
func (d *Detector) Detect(dst []guard.Finding, text string, norm *guard.Normalized, dir guard.Direction) []guard.Finding {
	return d.DetectMeta(dst, text, norm, dir, nil)
}

// DetectMeta runs the HTML and link checks on completions and tool
// results, and the shell and SQL checks on the arguments of tools that
// Config.ExecTools marks.
func (d *Detector) DetectMeta(dst []guard.Finding, text string, norm *guard.Normalized, dir guard.Direction, meta *guard.Meta) []guard.Finding {
	switch dir {
	case guard.Completion, guard.ToolResult:
		if strings.IndexByte(text, '<') < 0 && strings.IndexByte(text, ':') < 0 && strings.IndexByte(text, ']') < 0 {
			return dst
		}
		code := codeSpans(text)
		n := len(dst)
		dst = d.html(dst, text)
		dst = d.links(dst, text)
		// Code shown as code is not rendered: keep the finding for
		// tuning, under the default threshold.
		for i := n; i < len(dst); i++ {
			if inSpans(code, dst[i].Start) {
				dst[i].Score = min(dst[i].Score, 0.3)
				dst[i].Rule += " (in code)"
			}
		}
	case guard.ToolArguments:
		if meta == nil || meta.Tool == "" {
			return dst
		}
		switch d.execKind(meta.Tool) {
		case "shell":
			dst = shell(dst, text)
		case "sql":
			dst = sql(dst, text)
		}
	}
	return dst
}

func (d *Detector) execKind(tool string) string {
	for _, r := range d.exec {
		if guard.Match(r.pattern, tool) {
			return r.kind
		}
	}
	return ""
}

func finding(name string, start, end int, score float64, rule string) guard.Finding {
	return guard.Finding{
		Detector: "output." + name, Category: guard.LLM05OutputHandling, Class: guard.ClassOutput,
		Start: start, End: end, Score: score, Rule: rule,
	}
}

// html finds active HTML: script-like elements, event-handler attributes
// and script URLs in URL attributes (entity-encoded or not).
func (d *Detector) html(dst []guard.Finding, text string) []guard.Finding {
	for i := 0; i < len(text); {
		k := strings.IndexByte(text[i:], '<')
		if k < 0 {
			break
		}
		start := i + k
		t, end := parseTag(text, start)
		i = start + 1
		if t.name == "" {
			continue
		}
		i = end
		switch t.name {
		case "script":
			dst = append(dst, finding("script", start, end, 0.9, "<script> element"))
		case "iframe", "frame", "object", "embed", "applet", "base", "form":
			dst = append(dst, finding("active_html", start, end, 0.7, "<"+t.name+"> element"))
		case "meta":
			if t.refresh {
				dst = append(dst, finding("active_html", start, end, 0.7, "<meta http-equiv=refresh>"))
			}
		}
		if t.handler != "" {
			dst = append(dst, finding("event_handler", start, end, 0.9, t.handler+"= attribute"))
		}
		if t.scriptURL {
			dst = append(dst, finding("script_url", start, end, 0.9, "script URL in an attribute"))
		}
		if t.name == "img" || t.name == "image" || t.name == "video" || t.name == "audio" || t.name == "source" || t.name == "link" {
			if t.src != "" {
				dst = d.checkURL(dst, t.src, start, end, true)
			}
		}
		if t.name == "a" && t.href != "" {
			dst = d.checkURL(dst, t.href, start, end, false)
		}
	}
	return dst
}

// tag is what parseTag reads of an HTML start tag.
type tag struct {
	name      string // lower case; "" when not a tag
	handler   string // an on* attribute's name
	scriptURL bool   // a URL attribute holding a script URL
	refresh   bool   // meta http-equiv=refresh
	src, href string
}

// maxTag bounds the bytes parseTag reads.
const maxTag = 4096

// parseTag reads the start tag at text[i] ('<') up to its '>' (at most
// maxTag bytes) and returns it and the index after it.
func parseTag(text string, i int) (tag, int) {
	var t tag
	p := i + 1
	q := p
	for q < len(text) && q-p < 16 && isAlnum(text[q]) {
		q++
	}
	if q == p || !isAlpha(text[p]) {
		return t, i + 1
	}
	name := strings.ToLower(text[p:q])
	limit := min(len(text), i+maxTag)
	for q < limit && text[q] != '>' {
		// attribute name
		for q < limit && (isSpace(text[q]) || text[q] == '/') {
			q++
		}
		a := q
		for q < limit && !isSpace(text[q]) && text[q] != '=' && text[q] != '>' && text[q] != '/' {
			q++
		}
		attr := strings.ToLower(text[a:q])
		for q < limit && isSpace(text[q]) {
			q++
		}
		var val string
		if q < limit && text[q] == '=' {
			q++
			for q < limit && isSpace(text[q]) {
				q++
			}
			if q < limit && (text[q] == '"' || text[q] == '\'') {
				quote := text[q]
				v := q + 1
				for q = v; q < limit && text[q] != quote; q++ {
				}
				val = text[v:q]
				if q < limit {
					q++
				}
			} else {
				v := q
				for q < limit && !isSpace(text[q]) && text[q] != '>' {
					q++
				}
				val = text[v:q]
			}
			if len(attr) > 2 && strings.HasPrefix(attr, "on") && isAlpha(attr[2]) && t.handler == "" {
				t.handler = attr
			}
			switch attr {
			case "href", "src", "action", "formaction", "xlink:href", "data", "background", "poster", "srcdoc", "lowsrc", "dynsrc":
				if attr == "srcdoc" || scriptURL(val) {
					t.scriptURL = true
				}
				if attr == "src" {
					t.src = val
				}
				if attr == "href" {
					t.href = val
				}
			case "http-equiv":
				t.refresh = t.refresh || strings.EqualFold(strings.TrimSpace(val), "refresh")
			}
		} else if a == q && q < limit {
			q++ // stray character
		}
	}
	if q < len(text) && text[q] == '>' {
		q++
	}
	t.name = name
	return t, min(q, len(text))
}

// scriptURL reports whether a URL (an attribute value or a link target)
// runs script: javascript:, vbscript:, livescript: or data:text/html,
// after decoding HTML character references and dropping the tabs,
// newlines and controls browsers ignore in a scheme.
func scriptURL(v string) bool {
	var buf [32]byte
	b := buf[:0]
	for i := 0; i < len(v) && len(b) < len(buf); i++ {
		c := v[i]
		if c == '&' {
			if r, n := charRef(v[i:]); n > 0 {
				i += n - 1
				if r < 0x80 {
					c = byte(r)
				} else {
					continue
				}
			}
		}
		if c <= ' ' {
			continue
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	s := string(b)
	return strings.HasPrefix(s, "javascript:") || strings.HasPrefix(s, "vbscript:") ||
		strings.HasPrefix(s, "livescript:") || strings.HasPrefix(s, "data:text/html") ||
		strings.HasPrefix(s, "data:image/svg+xml")
}

// namedRefs are the named character references that matter in a scheme.
var namedRefs = []struct {
	name string
	r    rune
}{{"&colon;", ':'}, {"&tab;", '\t'}, {"&newline;", '\n'}, {"&lpar;", '('}, {"&rpar;", ')'}}

// charRef decodes a numeric or a few named HTML character references at
// the start of s ("&#x61;", "&#97;", "&colon;"), returning the rune and
// its length, or 0, 0.
func charRef(s string) (rune, int) {
	if len(s) < 3 || s[0] != '&' {
		return 0, 0
	}
	if s[1] != '#' {
		for _, e := range namedRefs {
			if len(s) >= len(e.name) && strings.EqualFold(s[:len(e.name)], e.name) {
				return e.r, len(e.name)
			}
		}
		return 0, 0
	}
	i, base := 2, 10
	if s[2] == 'x' || s[2] == 'X' {
		i, base = 3, 16
	}
	var r rune
	j := i
	for ; j < len(s) && j-i < 8; j++ {
		c := s[j]
		var v int
		switch {
		case '0' <= c && c <= '9':
			v = int(c - '0')
		case base == 16 && 'a' <= c|0x20 && c|0x20 <= 'f':
			v = int(c|0x20-'a') + 10
		default:
			goto end
		}
		r = r*rune(base) + rune(v)
	}
end:
	if j == i {
		return 0, 0
	}
	if j < len(s) && s[j] == ';' {
		j++
	}
	return r, j
}

func isAlpha(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }
func isAlnum(c byte) bool { return isAlpha(c) || '0' <= c && c <= '9' }
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// links finds markdown images and links, inline ("![a](url)",
// "[a](url)") and by reference ("[a]: url"), and checks their URLs.
func (d *Detector) links(dst []guard.Finding, text string) []guard.Finding {
	prev := 0 // look-backs stop at the previous "](", so each byte is read once
	for i := 0; i < len(text); {
		k := strings.Index(text[i:], "](")
		if k < 0 {
			break
		}
		at := i + k
		i = at + 2
		// the label's opening bracket, on the same line
		from := max(prev, at-1000)
		prev = at
		open := strings.LastIndexByte(text[from:at], '[')
		if open < 0 {
			continue
		}
		open += from
		if strings.IndexByte(text[open:at], '\n') >= 0 {
			continue
		}
		image := open > 0 && text[open-1] == '!'
		u, end := linkTarget(text, at+2)
		start := open
		if image {
			start--
		}
		if u == "" {
			continue
		}
		i = end
		dst = d.checkURL(dst, u, start, end, image)
	}
	// reference definitions: "[label]: url" at the start of a line
	ls, scanned := 0, 0 // the current line's start, known up to scanned
	for i := 0; i < len(text); {
		k := strings.Index(text[i:], "]:")
		if k < 0 {
			break
		}
		at := i + k
		i = at + 2
		if nl := strings.LastIndexByte(text[scanned:at], '\n'); nl >= 0 {
			ls = scanned + nl + 1
		}
		scanned = at
		if !strings.HasPrefix(strings.TrimLeft(text[ls:at], " "), "[") || strings.Contains(text[ls:at], "](") {
			continue
		}
		p := at + 2
		for p < len(text) && (text[p] == ' ' || text[p] == '\t') {
			p++
		}
		e := p
		for e < len(text) && !isSpace(text[e]) {
			e++
		}
		u := strings.Trim(text[p:e], "<>")
		if u == "" {
			continue
		}
		// Uses are not resolved: the definition counts as an image
		// when the text has any image.
		image := strings.Contains(text, "![")
		dst = d.checkURL(dst, u, ls, e, image)
	}
	return dst
}

// linkTarget reads a markdown link destination at text[p] ("url",
// "<url>", "url \"title\"") and returns it and the index after the
// closing parenthesis.
func linkTarget(text string, p int) (string, int) {
	for p < len(text) && (text[p] == ' ' || text[p] == '\t') {
		p++
	}
	if p < len(text) && text[p] == '<' {
		e := strings.IndexByte(text[p:min(len(text), p+8192)], '>')
		if e < 0 {
			return "", p
		}
		return text[p+1 : p+e], p + e + 1
	}
	depth := 0
	e := p
	for e < len(text) && e-p < 8192 {
		c := text[e]
		if isSpace(c) {
			break
		}
		if c == '(' {
			depth++
		}
		if c == ')' {
			if depth == 0 {
				break
			}
			depth--
		}
		e++
	}
	end := e
	if k := strings.IndexByte(text[e:min(len(text), e+512)], ')'); k >= 0 {
		end = e + k + 1
	}
	return text[p:e], end
}

// checkURL reports a script URL, or a URL to a host off the allowlist
// that carries data: an image loads by itself (exfiltration without a
// click), a link when clicked.
func (d *Detector) checkURL(dst []guard.Finding, raw string, start, end int, image bool) []guard.Finding {
	if scriptURL(raw) {
		return append(dst, finding("script_url", start, end, 0.9, "script URL in a link"))
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "") {
		return dst
	}
	host := strings.ToLower(u.Hostname())
	if d.allowed(host) {
		return dst
	}
	why := carriesData(u)
	switch {
	case image && why != "":
		dst = append(dst, finding("exfiltration", start, end, 0.9, "image to "+host+" with "+why))
	case image:
		dst = append(dst, finding("exfiltration", start, end, 0.4, "image from "+host+", not on the allowlist"))
	case why != "":
		dst = append(dst, finding("exfiltration", start, end, 0.6, "link to "+host+" with "+why))
	}
	return dst
}

func (d *Detector) allowed(host string) bool {
	for _, h := range d.hosts {
		if rest, ok := strings.CutPrefix(h, "*."); ok {
			if host == rest || strings.HasSuffix(host, "."+rest) {
				return true
			}
		} else if host == h {
			return true
		}
	}
	return false
}

// carriesData says why a URL looks like it carries data out, or "":
// long or encoded query values, long or encoded path segments, or a
// long encoded subdomain label.
func carriesData(u *url.URL) string {
	if len(u.RawQuery) >= 48 {
		return "a long query"
	}
	if strings.Count(u.RawQuery, "%") >= 3 {
		return "encoded data in the query"
	}
	for kv := range strings.SplitSeq(u.RawQuery, "&") {
		_, v, _ := strings.Cut(kv, "=")
		if len(v) >= 24 || encoded(v) {
			return "data in the query"
		}
	}
	p := u.EscapedPath()
	for seg := range strings.SplitSeq(p, "/") {
		if len(seg) >= 48 || len(seg) >= 16 && encoded(seg) {
			return "data in the path"
		}
	}
	for label := range strings.SplitSeq(u.Hostname(), ".") {
		if len(label) >= 24 && encoded(label) {
			return "data in the host name"
		}
	}
	return ""
}

// encoded reports whether s looks like encoded data: three or more
// percent escapes, or 12 or more characters of a base64 or hex alphabet
// mixing letters and digits.
func encoded(s string) bool {
	if strings.Count(s, "%") >= 3 {
		return true
	}
	if len(s) < 12 {
		return false
	}
	letters, digits := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlpha(c):
			letters++
		case '0' <= c && c <= '9':
			digits++
		case c == '+' || c == '/' || c == '-' || c == '_' || c == '=':
		default:
			return false
		}
	}
	return letters > 0 && digits > 0 && digits*10 >= len(s)
}

// codeSpans returns the byte spans of fenced code blocks and inline code
// in markdown text.
func codeSpans(text string) [][2]int {
	if strings.IndexByte(text, '`') < 0 && !strings.Contains(text, "~~~") {
		return nil
	}
	var spans [][2]int
	// fenced blocks: lines starting with ``` or ~~~
	fence, fenceStart := "", 0
	for i := 0; i < len(text); {
		e := strings.IndexByte(text[i:], '\n')
		if e < 0 {
			e = len(text)
		} else {
			e += i
		}
		line := strings.TrimLeft(text[i:e], " \t")
		switch {
		case fence == "" && (strings.HasPrefix(line, "```") || strings.HasPrefix(line, "~~~")):
			fence, fenceStart = line[:3], i
		case fence != "" && strings.HasPrefix(line, fence):
			spans = append(spans, [2]int{fenceStart, e})
			fence = ""
		}
		i = e + 1
	}
	if fence != "" {
		spans = append(spans, [2]int{fenceStart, len(text)})
	}
	fenced := len(spans)
	// inline code: `...` on one line, outside fences
	for i := 0; i < len(text); {
		k := strings.IndexByte(text[i:], '`')
		if k < 0 {
			break
		}
		s := i + k
		if inSpans(spans[:fenced], s) {
			i = s + 1
			continue
		}
		n := 1
		for s+n < len(text) && text[s+n] == '`' {
			n++
		}
		ticks := text[s : s+n]
		// Code spans longer than maxCodeSpan are not looked for, so
		// that unmatched runs of backticks cost linear time.
		e := strings.Index(text[s+n:min(len(text), s+n+maxCodeSpan)], ticks)
		if e < 0 || strings.IndexByte(text[s+n:s+n+e], '\n') >= 0 && n < 3 {
			i = s + n
			continue
		}
		spans = append(spans, [2]int{s, s + n + e + n})
		i = s + n + e + n
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	return spans
}

// maxCodeSpan bounds the length of inline code spans.
const maxCodeSpan = 4096

// inSpans reports whether p is inside one of spans, which are sorted and
// do not overlap.
func inSpans(spans [][2]int, p int) bool {
	k, _ := slices.BinarySearchFunc(spans, p, func(s [2]int, p int) int {
		switch {
		case s[1] <= p:
			return -1
		case s[0] > p:
			return 1
		}
		return 0
	})
	return k < len(spans) && spans[k][0] <= p && p < spans[k][1]
}

// Shell and SQL.

var (
	shellRules = []struct {
		re    *regexp.Regexp
		score float64
		rule  string
	}{
		{regexp.MustCompile("`[^`]*`|\\$\\([^)]*\\)"), 0.9, "command substitution"},
		{regexp.MustCompile(`(?i)\b(curl|wget)\b[^|;&]*\|\s*(ba|z|da)?sh\b`), 0.95, "download piped to a shell"},
		{regexp.MustCompile(`(?:;|&&|\|\|)\s*[A-Za-z_./~-]`), 0.8, "command chaining"},
		{regexp.MustCompile(`\|\s*[A-Za-z_./~-]`), 0.6, "pipe"},
		{regexp.MustCompile(`(?:^|[^<>=!])>{1,2}\s*[A-Za-z_./~$-]`), 0.5, "redirection"},
		{regexp.MustCompile(`\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*`), 0.5, "variable expansion"},
		{regexp.MustCompile(`[\r\n]\s*[A-Za-z_./~-]`), 0.5, "newline"},
	}
	sqlRules = []struct {
		re    *regexp.Regexp
		score float64
		rule  string
	}{
		{regexp.MustCompile(`(?i)['"]\s*(?:or|and|\|\|)\s*['"]?\s*\w+\s*['"]?\s*(?:=|<>|!=|like)\s*['"]?\s*\w+`), 0.9, "tautology after a quote"},
		{regexp.MustCompile(`(?i)\b(?:or|and)\s+(?:\d+\s*=\s*\d+|true|'[^']*'\s*=\s*'[^']*')`), 0.8, "tautology"},
		{regexp.MustCompile(`(?i)\bunion\s+(?:all\s+)?select\b`), 0.8, "UNION SELECT"},
		{regexp.MustCompile(`(?i);\s*(?:drop|delete|update|insert|alter|create|truncate|exec|execute|grant|revoke|shutdown|attach|copy)\b`), 0.9, "stacked statement"},
		{regexp.MustCompile(`(?i)['"]\s*(?:--|#|/\*|;)`), 0.8, "quote then comment or terminator"},
		{regexp.MustCompile(`(?i)\b(?:sleep|pg_sleep|benchmark|dbms_pipe\.receive_message)\s*\(|\bwaitfor\s+delay\b`), 0.8, "time delay"},
		{regexp.MustCompile(`(?i)\b(?:xp_cmdshell|load_file|into\s+(?:out|dump)file|information_schema|pg_read_file|sqlite_master)\b`), 0.7, "system object"},
	}
)

func shell(dst []guard.Finding, text string) []guard.Finding {
	if !strings.ContainsAny(text, "`$;&|><\n\r") {
		return dst
	}
	for _, r := range shellRules {
		if loc := r.re.FindStringIndex(text); loc != nil {
			dst = append(dst, finding("shell", loc[0], loc[1], r.score, r.rule))
		}
	}
	return dst
}

func sql(dst []guard.Finding, text string) []guard.Finding {
	for _, r := range sqlRules {
		if loc := r.re.FindStringIndex(text); loc != nil {
			dst = append(dst, finding("sql", loc[0], loc[1], r.score, r.rule))
		}
	}
	return dst
}
