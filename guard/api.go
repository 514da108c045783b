package guard

// This file fixes the guard's public surface and the contract between the
// scanner and its detectors; the detector packages, the evaluation
// harness, the gateway and the proxy are written against it.

import "context"

// Direction says where scanned content travels.
type Direction string

// The directions.
const (
	Prompt          Direction = "prompt"           // a user's or app's prompt to a model
	Completion      Direction = "completion"       // a model's answer
	ToolArguments   Direction = "tool_arguments"   // arguments an agent sends to a tool
	ToolResult      Direction = "tool_result"      // what a tool returns (untrusted: indirect injection)
	ToolDescription Direction = "tool_description" // a tool's description and schema (MCP supply chain)
)

// Input is one piece of content to scan.
type Input struct {
	Direction Direction
	// Text is scanned as is, unless JSON is set.
	Text string
	// JSON, when not nil, is walked: every string (keys too) is scanned and
	// findings carry its JSON path ("$.messages[2].content").
	JSON []byte
	Meta Meta
}

// Meta is what the policy may select on.
type Meta struct {
	Route  string // "mcp", "v1/chat/completions", ...
	Tool   string // tool name, for tool directions
	Client string // OAuth client ID
}

// Action is what the policy does with content.
type Action string

// The actions, in increasing severity: a verdict's action is the most
// severe action of its findings.
const (
	Allow  Action = "allow"
	Flag   Action = "flag"   // pass, but record the findings
	Redact Action = "redact" // pass Verdict.Redacted instead of the content
	Block  Action = "block"
)

// Category is an OWASP Top 10 for LLM Applications (2025) entry, or the
// guard's own jailbreak class.
type Category string

// The categories.
const (
	LLM01PromptInjection  Category = "LLM01"
	Jailbreak             Category = "LLM01-jailbreak"
	LLM02SensitiveInfo    Category = "LLM02"
	LLM03SupplyChain      Category = "LLM03"
	LLM05OutputHandling   Category = "LLM05"
	LLM06ExcessiveAgency  Category = "LLM06"
	LLM07SystemPromptLeak Category = "LLM07"
	LLM10Unbounded        Category = "LLM10"
)

// Class groups findings as the evaluation counts them.
type Class string

// The classes.
const (
	ClassPromptAttack Class = "prompt_attack" // injection and jailbreak
	ClassSensitive    Class = "sensitive"     // PII and secrets
	ClassOutput       Class = "output"        // unsafe output (LLM05)
	ClassLeak         Class = "leak"          // system prompt leakage (LLM07)
	ClassSupplyChain  Class = "supply_chain"  // hidden instructions in tool metadata (LLM03)
	ClassObfuscation  Class = "obfuscation"   // invisible or bidi characters, encoded payloads
)

// Finding is one detection.
type Finding struct {
	Detector string   `json:"detector"` // "injection", "jailbreak", "pii.email", "secret.github_pat", ...
	Category Category `json:"category"`
	Class    Class    `json:"class"`
	// Path is the JSON path of the string the finding is in; "" for text.
	Path string `json:"path,omitempty"`
	// Start and End are byte offsets in that string (the original, not the
	// normalized text); both 0 when the finding concerns the whole string.
	Start int `json:"start"`
	End   int `json:"end"`
	// Score is the detector's confidence in [0, 1].
	Score float64 `json:"score"`
	// Excerpt shows where the finding is, with sensitive values replaced
	// by their placeholder; at most 120 bytes. Never the secret itself.
	Excerpt string `json:"excerpt,omitempty"`
	// Rule names the pattern or phrase set that fired, for tuning.
	Rule string `json:"rule,omitempty"`
	// Placeholder, for sensitive values, is the typed placeholder the
	// value is redacted to, e.g. "[EMAIL_1]".
	Placeholder string `json:"placeholder,omitempty"`
}

// Verdict is the outcome of a scan.
type Verdict struct {
	Action   Action    `json:"action"`
	Findings []Finding `json:"findings,omitempty"`
	// Redacted is the content with every redacted finding replaced by its
	// placeholder (text, or JSON with the same structure); set only when
	// Action is Redact.
	Redacted string `json:"redacted,omitempty"`
}

// Scanner is the guard as the gateway and the proxy use it. *Guard
// implements it. Scan is deterministic and safe for concurrent use; its
// work is bounded per input byte, and inputs past the configured size
// limit fail with ErrTooLarge before any work.
type Scanner interface {
	Scan(ctx context.Context, in Input) (Verdict, error)
}

// Detector is one family of checks the scanner runs over every scanned
// string. Detect appends its findings to dst and returns it; text is the
// string as received, and norm its normalized form (see [Normalized]),
// computed once per string and shared by all detectors. Detectors are
// safe for concurrent use and must not retain text, norm or dst.
type Detector interface {
	Name() string
	Detect(dst []Finding, text string, norm *Normalized, dir Direction) []Finding
}

// Normalized is a string after the normalization pass: the text detectors
// of prompt attacks read, and what the pass removed or decoded.
type Normalized struct {
	// Folded is NFKC-normalized, lower-cased, with confusables mapped to
	// their ASCII skeleton, zero-width and bidi controls removed, leetspeak
	// and letter spacing ("i g n o r e") folded, whitespace collapsed.
	//
	// Confusables are mapped per word: a word whose non-ASCII letters all
	// have an ASCII look-alike is written in ASCII ("іgnоrе" with Cyrillic
	// і, о, е); in a word that is mostly Cyrillic or Greek, ASCII
	// look-alikes are written in that script instead. Compare Folded with
	// phrases folded the same way ([Fold]), never with raw phrases.
	Folded string
	// Decoded are payloads found encoded in the text (base64, hex, URL
	// encoding, rot13), decoded (recursively, bounded) and folded like
	// Folded, each with where it was found.
	Decoded []Decoded
	// Invisible counts the zero-width, bidi-control and tag characters
	// removed; Offsets maps Folded byte offsets back to the original text
	// (may be nil when the text was already folded).
	//
	// Offsets[i] is the byte offset in the original text of the character
	// Folded[i] comes from, and Offsets[len(Folded)] is len(text); use
	// [Normalized.Span] to map a span. Invisible does not count a byte
	// order mark at the start, nor joiners and variation selectors inside
	// emoji and scripts that need them.
	Invisible int
	Offsets   []int32
}

// Decoded is one decoded payload.
//
// Payloads inside payloads carry the chain of encodings, outermost first,
// joined by "+" ("base64+hex"), and the span of the outermost run. Text
// smuggled in Unicode tag characters or variation selectors is decoded
// too ("tags", "variation_selectors").
type Decoded struct {
	Encoding string // "base64", "hex", "url", "rot13"
	Start    int    // byte span of the encoded run in the original text
	End      int
	Text     string // the decoded, folded text
}
