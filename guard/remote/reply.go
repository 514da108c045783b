package remote

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
)

// maxReplyBytes bounds the reply content the parsers read; a classifier
// answering more than this did not follow the protocol.
const maxReplyBytes = 512

// label is a classifier's answer.
type label uint8

const (
	benign label = iota
	injection
	jailbreak
	unsafe // Llama Guard: some hazard category
)

// result is one classification, as cached.
type result struct {
	label label
	score float64 // in [0, 1]: the attack's probability; 0 for benign
	codes string  // Llama Guard category codes ("S1,S14"), else ""
}

// errMalformed wraps every reply that does not follow the protocol.
var errMalformed = errors.New("remote: malformed reply")

// parseReply parses a reply in protocol p.
func parseReply(p Protocol, s string) (result, error) {
	if p == ProtocolLlamaGuard {
		return parseLlamaGuard(s)
	}
	return parseJSON(s)
}

// parseJSON parses the json protocol's reply: one object with exactly the
// keys "label" (a string: benign, injection or jailbreak, in any case)
// and "score" (a number in [0, 1]), each once, and nothing else but
// surrounding white space. For benign the score is not used.
func parseJSON(s string) (result, error) {
	if len(s) > maxReplyBytes {
		return result{}, errMalformed
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return result{}, errMalformed
	}
	var (
		lab      string
		score    float64
		hasLabel bool
		hasScore bool
	)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return result{}, errMalformed
		}
		key, _ := t.(string)
		if t, err = dec.Token(); err != nil {
			return result{}, errMalformed
		}
		switch {
		case key == "label" && !hasLabel:
			v, ok := t.(string)
			if !ok {
				return result{}, errMalformed
			}
			lab, hasLabel = v, true
		case key == "score" && !hasScore:
			n, ok := t.(json.Number)
			if !ok {
				return result{}, errMalformed
			}
			f, err := n.Float64()
			if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
				return result{}, errMalformed
			}
			score, hasScore = f, true
		default: // unknown, duplicate, or a nested value (a Delim)
			return result{}, errMalformed
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') || !hasLabel || !hasScore {
		return result{}, errMalformed
	}
	if _, err := dec.Token(); err != io.EOF {
		return result{}, errMalformed // trailing data
	}
	switch {
	case strings.EqualFold(lab, "benign"):
		return result{label: benign}, nil
	case strings.EqualFold(lab, "injection"):
		return result{label: injection, score: score}, nil
	case strings.EqualFold(lab, "jailbreak"):
		return result{label: jailbreak, score: score}, nil
	}
	return result{}, errMalformed
}

// maxCodes bounds the category codes kept from a Llama Guard reply.
const maxCodes = 16

// parseLlamaGuard parses Llama Guard's reply (versions 2 to 4): "safe",
// or "unsafe" optionally followed by a line of comma-separated category
// codes "S1" to "S99". White space around lines and the whole is ignored;
// nothing else is accepted.
func parseLlamaGuard(s string) (result, error) {
	if len(s) > maxReplyBytes {
		return result{}, errMalformed
	}
	first, rest, _ := strings.Cut(strings.TrimSpace(s), "\n")
	first, rest = strings.TrimSpace(first), strings.TrimSpace(rest)
	switch {
	case first == "safe" && rest == "":
		return result{label: benign}, nil
	case first != "unsafe" || strings.Contains(rest, "\n"):
		return result{}, errMalformed
	}
	var codes bytes.Buffer
	if rest != "" {
		parts := strings.Split(rest, ",")
		if len(parts) > maxCodes {
			return result{}, errMalformed
		}
		for i, c := range parts {
			c = strings.TrimSpace(c)
			if !isCode(c) {
				return result{}, errMalformed
			}
			if i > 0 {
				codes.WriteByte(',')
			}
			codes.WriteString(c)
		}
	}
	return result{label: unsafe, score: 1, codes: codes.String()}, nil
}

// isCode reports whether c is a hazard category code: "S" and one or two
// digits, without a leading zero.
func isCode(c string) bool {
	if len(c) < 2 || len(c) > 3 || c[0] != 'S' || c[1] == '0' {
		return false
	}
	for i := 1; i < len(c); i++ {
		if c[i] < '0' || c[i] > '9' {
			return false
		}
	}
	return true
}
