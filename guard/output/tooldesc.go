package output

import (
	"regexp"
	"strings"

	"github.com/subzero-gateway/subzero/guard"
)

// ToolPoisoning finds hidden instructions in tool descriptions and
// schemas (OWASP LLM03, supply chain; "tool poisoning" in MCP): what the
// injection detector it wraps finds, invisible characters, encoded
// payloads, pseudo-tags such as <IMPORTANT>, instructions to keep things
// from the user, to read credentials or to pass data through
// parameters, instructions about other tools (shadowing), and text in
// HTML or markdown comments, which a person reading the description does
// not see. It looks only at the tool_description direction and is safe
// for concurrent use.
type ToolPoisoning struct {
	inner guard.Detector
}

var _ guard.Detector = (*ToolPoisoning)(nil)

// NewToolPoisoning returns the detector; injection, when not nil, is the
// prompt-injection detector whose prompt-attack findings in tool
// metadata become supply-chain findings.
func NewToolPoisoning(injection guard.Detector) *ToolPoisoning {
	return &ToolPoisoning{inner: injection}
}

// Name is "supply_chain"; findings are supply_chain.<check>.
func (t *ToolPoisoning) Name() string { return "supply_chain" }

type poisonRule struct {
	name  string
	re    *regexp.Regexp
	score float64
	rule  string
}

// The rules read folded text: lower case, one space between words.
var poisonRules = []poisonRule{
	{"pseudo_tag", regexp.MustCompile(`<\s*/?\s*(?:important|system|instructions?|secret|hidden|admin|critical|note|assistant|ai|model|context)\b[^<>]{0,40}>`), 0.8,
		"pseudo-tag addressed to the model"},
	{"conceal", regexp.MustCompile(`\b(?:do not|don't|dont|never|without|must not|should not)\s+(?:tell|telling|inform|informing|mention|mentioning|reveal|revealing|notify|notifying|alert|alerting|show|showing|let|letting|say|explain|disclose)\b[^.!?\n]{0,30}\b(?:user|human|operator|person|anyone)\b`), 0.9,
		"keeps something from the user"},
	{"conceal", regexp.MustCompile(`\b(?:hide|conceal|keep)\b[^.!?\n]{0,40}\bfrom\s+(?:the\s+)?(?:user|human|operator)\b`), 0.9,
		"hides something from the user"},
	{"conceal", regexp.MustCompile(`\b(?:the\s+)?user\s+(?:must|should|does|need|needs|will)\s*(?:not|n't|never)\s+(?:know|see|be told|notice|find out|learn)\b`), 0.9,
		"the user must not know"},
	{"precondition", regexp.MustCompile(`\b(?:before|prior to)\s+(?:using|calling|invoking|running|executing)\s+(?:this|the|any|that)\s+(?:tool|function|command|server)\b`), 0.6,
		"precondition on using the tool"},
	{"shadowing", regexp.MustCompile(`\bwhen(?:ever)?\s+(?:the\s+)?(?:user\s+|agent\s+|assistant\s+)?(?:calls?|uses?|invokes?|runs?)\s+(?:the\s+)?[\w.-]+\s+(?:tool|function)\b|\bwhen(?:ever)?\s+(?:the\s+)?[\w.-]+\s+(?:tool|function)\s+is\s+(?:called|used|invoked|run)\b`), 0.7,
		"instruction about another tool"},
	{"shadowing", regexp.MustCompile(`\b(?:instead of|rather than)\s+(?:calling|using|invoking)\b|\b(?:always|also)\s+(?:bcc|cc|forward|send a copy|copy)\b`), 0.8,
		"redirects another tool's effect"},
	{"exfiltration", regexp.MustCompile(`\b(?:pass|send|include|append|attach|add|put|provide|embed|encode)\b[^.!?\n]{0,60}\b(?:private key|ssh key|api keys?|credentials?|passwords?|secrets?|tokens?|env(?:ironment)? var(?:iable)?s?|conversation|chat history|previous messages|system prompt|mcp\.json)\b`), 0.8,
		"asks for secrets or the conversation to be passed on"},
	{"exfiltration", regexp.MustCompile(`\b(?:pass|send|include|put|provide|add|append)\s+(?:its|their|the|this|that|all|it's)?\s*(?:file\s+)?(?:contents?|data|text)\s+(?:as|in|into|via|through)\s+(?:the\s+)?(?:['"][\w-]+['"]|[\w-]+\s+(?:parameter|argument|field|param))`), 0.8,
		"asks for content to be passed through a parameter"},
	{"exfiltration", regexp.MustCompile(`\b(?:contents?|text)\s+of\b[^.!?\n]{0,40}\b(?:as|in|into|to)\s+(?:the\s+)?['"]?[\w-]+['"]?\s+(?:parameter|argument|field|param)\b`), 0.8,
		"asks for content to be smuggled through a parameter"},
	{"sensitive_path", regexp.MustCompile(`~/\.ssh\b|\bid_(?:rsa|dsa|ecdsa|ed25519)\b|\.ssh/|\.aws/(?:credentials|config)\b|(?:^|[\s/'"(])\.env\b|/etc/(?:passwd|shadow)\b|\.npmrc\b|\.netrc\b|\.git-credentials\b|\.docker/config\.json|\.kube/config\b|\bmcp\.json\b|claude_desktop_config|\.cursor/|\.bash_history\b|\.pgpass\b`), 0.6,
		"names a credentials file"},
}

// Detect runs the checks on tool descriptions.
func (t *ToolPoisoning) Detect(dst []guard.Finding, text string, norm *guard.Normalized, dir guard.Direction) []guard.Finding {
	if dir != guard.ToolDescription {
		return dst
	}
	if t.inner != nil {
		n := len(dst)
		dst = t.inner.Detect(dst, text, norm, dir)
		k := n
		for i := n; i < len(dst); i++ {
			f := dst[i]
			if f.Class != guard.ClassPromptAttack {
				continue
			}
			f.Rule = f.Detector + ": " + f.Rule
			f.Detector, f.Category, f.Class = "supply_chain.hidden_instruction", guard.LLM03SupplyChain, guard.ClassSupplyChain
			dst[k] = f
			k++
		}
		dst = dst[:k]
	}
	if norm.Invisible > 0 {
		dst = append(dst, poison("invisible", 0, 0, 0.9, "invisible characters in tool metadata"))
	}
	if len(norm.Decoded) > 0 {
		d := norm.Decoded[0]
		dst = append(dst, poison("encoded", d.Start, d.End, 0.7, d.Encoding+" payload in tool metadata"))
	}
	dst = t.lexical(dst, norm.Folded, norm.Span)
	for _, d := range norm.Decoded {
		dst = t.lexical(dst, d.Text, func(int, int) (int, int) { return d.Start, d.End })
	}
	return comments(dst, text)
}

func poison(name string, start, end int, score float64, rule string) guard.Finding {
	return guard.Finding{
		Detector: "supply_chain." + name, Category: guard.LLM03SupplyChain, Class: guard.ClassSupplyChain,
		Start: start, End: end, Score: score, Rule: rule,
	}
}

// lexical applies the rules to folded text. A credentials path next to a
// precondition or a request to pass data on scores higher than either.
func (t *ToolPoisoning) lexical(dst []guard.Finding, folded string, span func(int, int) (int, int)) []guard.Finding {
	if len(folded) < 8 {
		return dst
	}
	n := len(dst)
	for _, r := range poisonRules {
		loc := r.re.FindStringIndex(folded)
		if loc == nil {
			continue
		}
		a, b := span(loc[0], loc[1])
		dst = append(dst, poison(r.name, a, b, r.score, r.rule))
	}
	if len(dst)-n >= 2 {
		// Several shapes together: raise them all.
		for i := n; i < len(dst); i++ {
			dst[i].Score = min(1, dst[i].Score+0.2)
		}
	}
	return dst
}

// comments reports HTML comments ("<!-- ... -->") and markdown comments
// ("[//]: # (...)") that hold words: text a person reading rendered
// markdown does not see, but a model reads.
func comments(dst []guard.Finding, text string) []guard.Finding {
	for i := 0; i < len(text); {
		k := strings.Index(text[i:], "<!--")
		if k < 0 {
			break
		}
		s := i + k
		e := strings.Index(text[s+4:], "-->")
		end := len(text)
		body := text[s+4:]
		if e >= 0 {
			body = text[s+4 : s+4+e]
			end = s + 4 + e + 3
		}
		if words(body) >= 3 {
			dst = append(dst, poison("html_comment", s, end, 0.7, "text hidden in an HTML comment"))
		}
		i = end
	}
	for i := 0; i < len(text); {
		k := strings.Index(text[i:], "[//]: #")
		if k < 0 {
			break
		}
		s := i + k
		e := strings.IndexByte(text[s:], '\n')
		end := len(text)
		if e >= 0 {
			end = s + e
		}
		if words(text[s+7:end]) >= 3 {
			dst = append(dst, poison("html_comment", s, end, 0.7, "text hidden in a markdown comment"))
		}
		i = end
	}
	return dst
}

// words counts runs of two or more letters.
func words(s string) int {
	n, run := 0, 0
	for i := 0; i < len(s); i++ {
		if isAlpha(s[i]) || s[i] >= 0x80 {
			run++
			continue
		}
		if run >= 2 {
			n++
		}
		run = 0
	}
	if run >= 2 {
		n++
	}
	return n
}
