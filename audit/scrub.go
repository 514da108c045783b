package audit

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Field limits, in bytes. Longer values are cut on a rune boundary and end
// in "…". Events describe decisions; they are not a place for payloads.
const (
	maxShort    = 128  // type, action, decision, request_id, finding fields
	maxID       = 256  // subject, client_id, each chain entry
	maxTarget   = 512  // target
	maxReason   = 1024 // reason
	maxChain    = 16   // delegation hops kept
	maxFindings = 32
)

// credential matches strings that look like credentials: JWTs (and so
// access tokens and ID-JAGs), Authorization header values, and the key
// formats of the providers Subzero brokers. They are replaced by
// "[REDACTED]" wherever they appear in an event.
var credential = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*` +
	`|(?i:bearer|dpop|basic)\s+[A-Za-z0-9._~+/=-]{8,}` +
	`|sk-[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}` +
	`|xox[abposr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|ya29\.[A-Za-z0-9_-]{20,}`)

// credentialHints are literals that every credential pattern contains, so
// that most strings skip the regexp.
var credentialHints = []string{"eyJ", "earer", "EARER", "PoP", "pop", "POP", "asic", "ASIC",
	"sk-", "gh", "xox", "AKIA", "ya29."}

func credentialHint(s string) bool {
	for _, h := range credentialHints {
		if strings.Contains(s, h) {
			return true
		}
	}
	return false
}

func clean(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if credentialHint(s) {
		s = credential.ReplaceAllString(s, "[REDACTED]")
	}
	if len(s) <= max {
		return s
	}
	cut := max - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// scrub bounds every caller-set field of e and removes credentials from it.
func scrub(e *Event) {
	e.Type = clean(e.Type, maxShort)
	e.Action = clean(e.Action, maxShort)
	e.Decision = Decision(clean(string(e.Decision), maxShort))
	e.RequestID = clean(e.RequestID, maxShort)
	e.Actor.Subject = clean(e.Actor.Subject, maxID)
	e.Actor.ClientID = clean(e.Actor.ClientID, maxID)
	if len(e.Actor.Chain) > 0 {
		chain := make([]string, 0, min(len(e.Actor.Chain), maxChain))
		for _, c := range e.Actor.Chain[:min(len(e.Actor.Chain), maxChain)] {
			chain = append(chain, clean(c, maxID))
		}
		e.Actor.Chain = chain
	}
	e.Target = clean(e.Target, maxTarget)
	e.Reason = clean(e.Reason, maxReason)
	if len(e.Findings) > 0 {
		fs := make([]Finding, 0, min(len(e.Findings), maxFindings))
		for _, f := range e.Findings[:min(len(e.Findings), maxFindings)] {
			fs = append(fs, Finding{Rule: clean(f.Rule, maxShort), Category: clean(f.Category, maxShort), Severity: clean(f.Severity, maxShort)})
		}
		e.Findings = fs
	}
}
