package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// maxEmbeddingInputs bounds the inputs of one embeddings request, as
// OpenAI does.
const maxEmbeddingInputs = 2048

// chatRequest is a decoded chat completion request: the object as
// received, and what the proxy reads from it.
type chatRequest struct {
	obj          object
	model        string
	messages     json.RawMessage
	system       []string // the system and developer messages' text
	texts        []string // every message's text, for counting tokens
	stream       bool
	includeUsage bool  // the client asked for stream_options.include_usage
	maxTokens    int64 // max_completion_tokens, else max_tokens; 0 when absent
	n            int64 // choices asked for, 1 when absent
	// imageTokens estimates the tokens of the image parts (OpenAI's
	// price of a 1024×1024 image at high detail, or of low detail).
	imageTokens int64
}

// Tokens charged before the call for an image part, settled with the
// upstream's usage after it.
const (
	imageTokensLow  = 85
	imageTokensHigh = 765
)

// imageTokens estimates the tokens of the image parts of a content array.
func imageTokens(content json.RawMessage) int64 {
	if len(content) == 0 || content[0] != '[' || !bytes.Contains(content, []byte(`"image_url"`)) {
		return 0
	}
	var parts []struct {
		Type     string `json:"type"`
		ImageURL struct {
			Detail string `json:"detail"`
		} `json:"image_url"`
	}
	if json.Unmarshal(content, &parts) != nil {
		return 0
	}
	var n int64
	for _, p := range parts {
		switch {
		case p.Type != "image_url":
		case p.ImageURL.Detail == "low":
			n += imageTokensLow
		default:
			n += imageTokensHigh
		}
	}
	return n
}

// maxChoices is the largest n OpenAI accepts.
const maxChoices = 128

var roles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true}

func parseError(err error) *apiError {
	if errors.Is(err, errDuplicateKey) {
		return invalid("", "duplicate_parameter", "The request body names a parameter twice.")
	}
	return invalid("", "", "We could not parse the JSON body of your request. The API expects a JSON object.")
}

// decodeChat decodes and validates a chat completion request, with the
// errors OpenAI gives for the same mistakes.
func decodeChat(body []byte, maxMessages int) (*chatRequest, *apiError) {
	obj, err := decodeObject(body)
	if err != nil {
		return nil, parseError(err)
	}
	r := &chatRequest{obj: obj}
	if r.model, err = modelOf(obj); err != nil {
		return nil, err.(*apiError)
	}
	r.messages = obj.get("messages")
	if isNull(r.messages) {
		return nil, missing("messages")
	}
	var msgs []json.RawMessage
	if r.messages[0] != '[' || json.Unmarshal(r.messages, &msgs) != nil {
		return nil, wrongType("messages", "an array of objects", r.messages)
	}
	switch {
	case len(msgs) == 0:
		return nil, invalid("messages", "empty_array", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	case len(msgs) > maxMessages:
		return nil, invalid("messages", "array_above_max_length", "Invalid 'messages': array too long. Expected an array with maximum length %d, but got an array with length %d instead.", maxMessages, len(msgs))
	}
	for i, raw := range msgs {
		param := "messages[" + strconv.Itoa(i) + "]"
		if raw[0] != '{' {
			return nil, wrongType(param, "an object", raw)
		}
		var m struct {
			Role    json.RawMessage `json:"role"`
			Content json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, wrongType(param, "an object", raw)
		}
		var role string
		if isNull(m.Role) {
			return nil, missing(param + ".role")
		}
		if m.Role[0] != '"' || json.Unmarshal(m.Role, &role) != nil {
			return nil, wrongType(param+".role", "a string", m.Role)
		}
		if !roles[role] {
			return nil, invalid(param+".role", "invalid_value", "Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", clip(role, 64))
		}
		text, aerr := contentText(param+".content", m.Content, role != "assistant")
		if aerr != nil {
			return nil, aerr
		}
		r.texts = append(r.texts, text)
		r.imageTokens += imageTokens(m.Content)
		if role == "system" || role == "developer" {
			r.system = append(r.system, text)
		}
	}
	if raw := obj.get("stream"); !isNull(raw) {
		if err := json.Unmarshal(raw, &r.stream); err != nil || raw[0] != 't' && raw[0] != 'f' {
			return nil, wrongType("stream", "a boolean", raw)
		}
	}
	if raw := obj.get("stream_options"); !isNull(raw) {
		var so struct {
			IncludeUsage *json.RawMessage `json:"include_usage"`
		}
		if raw[0] != '{' || json.Unmarshal(raw, &so) != nil {
			return nil, wrongType("stream_options", "an object", raw)
		}
		if so.IncludeUsage != nil && !isNull(*so.IncludeUsage) {
			v := *so.IncludeUsage
			if v[0] != 't' && v[0] != 'f' {
				return nil, wrongType("stream_options.include_usage", "a boolean", v)
			}
			r.includeUsage = v[0] == 't'
		}
		if !r.stream {
			return nil, invalid("stream_options", "invalid_value", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
		}
	}
	r.n = 1
	if raw := obj.get("n"); !isNull(raw) {
		if err := json.Unmarshal(raw, &r.n); err != nil {
			return nil, wrongType("n", "an integer", raw)
		}
		switch {
		case r.n < 1:
			return nil, invalid("n", "integer_below_min_value", "Invalid 'n': integer below minimum value. Expected a value >= 1, but got %d instead.", r.n)
		case r.n > maxChoices:
			return nil, invalid("n", "integer_above_max_value", "Invalid 'n': integer above maximum value. Expected a value <= %d, but got %d instead.", maxChoices, r.n)
		}
	}
	for _, p := range []string{"max_tokens", "max_completion_tokens"} {
		raw := obj.get(p)
		if isNull(raw) {
			continue
		}
		var n int64
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, wrongType(p, "an integer", raw)
		}
		if n < 1 {
			return nil, invalid(p, "integer_below_min_value", "Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", p, n)
		}
		if p == "max_completion_tokens" || r.maxTokens == 0 {
			r.maxTokens = n
		}
	}
	return r, nil
}

// modelOf reads the model parameter.
func modelOf(obj object) (string, error) {
	raw := obj.get("model")
	if isNull(raw) {
		return "", invalid("model", "", "you must provide a model parameter")
	}
	var model string
	if raw[0] != '"' || json.Unmarshal(raw, &model) != nil {
		return "", wrongType("model", "a string", raw)
	}
	if model == "" {
		return "", invalid("model", "", "you must provide a model parameter")
	}
	return model, nil
}

// contentText validates a message's content and returns its text: the
// string, or the text of its text parts.
func contentText(param string, raw json.RawMessage, required bool) (string, *apiError) {
	if isNull(raw) {
		if required {
			return "", missing(param)
		}
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", wrongType(param, "one of a string or array of objects", raw)
		}
		return s, nil
	case '[':
		var parts []json.RawMessage
		if err := json.Unmarshal(raw, &parts); err != nil {
			return "", wrongType(param, "one of a string or array of objects", raw)
		}
		var b strings.Builder
		for i, p := range parts {
			pp := param + "[" + strconv.Itoa(i) + "]"
			var part struct {
				Type json.RawMessage `json:"type"`
				Text json.RawMessage `json:"text"`
			}
			if p[0] != '{' || json.Unmarshal(p, &part) != nil {
				return "", wrongType(pp, "an object", p)
			}
			var typ string
			if isNull(part.Type) {
				return "", missing(pp + ".type")
			}
			if part.Type[0] != '"' || json.Unmarshal(part.Type, &typ) != nil {
				return "", wrongType(pp+".type", "a string", part.Type)
			}
			if typ != "text" {
				continue
			}
			var t string
			if isNull(part.Text) {
				return "", missing(pp + ".text")
			}
			if part.Text[0] != '"' || json.Unmarshal(part.Text, &t) != nil {
				return "", wrongType(pp+".text", "a string", part.Text)
			}
			if b.Len() > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(t)
		}
		return b.String(), nil
	}
	return "", wrongType(param, "one of a string or array of objects", raw)
}

// embeddingsRequest is a decoded embeddings request.
type embeddingsRequest struct {
	obj    object
	model  string
	input  json.RawMessage
	texts  []string // the string inputs
	tokens int64    // inputs given as token arrays
}

// decodeEmbeddings decodes and validates an embeddings request.
func decodeEmbeddings(body []byte) (*embeddingsRequest, *apiError) {
	obj, err := decodeObject(body)
	if err != nil {
		return nil, parseError(err)
	}
	r := &embeddingsRequest{obj: obj}
	if r.model, err = modelOf(obj); err != nil {
		return nil, err.(*apiError)
	}
	r.input = obj.get("input")
	if isNull(r.input) {
		return nil, missing("input")
	}
	const want = "a string, an array of strings, an array of integers or an array of arrays of integers"
	switch r.input[0] {
	case '"':
		var s string
		if json.Unmarshal(r.input, &s) != nil {
			return nil, wrongType("input", want, r.input)
		}
		r.texts = []string{s}
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(r.input, &items) != nil {
			return nil, wrongType("input", want, r.input)
		}
		switch {
		case len(items) == 0:
			return nil, invalid("input", "empty_array", "Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead.")
		case len(items) > maxEmbeddingInputs:
			return nil, invalid("input", "array_above_max_length", "Invalid 'input': array too long. Expected an array with maximum length %d, but got an array with length %d instead.", maxEmbeddingInputs, len(items))
		}
		// One kind of item throughout: strings, token IDs or arrays of
		// token IDs (non-empty); IDs are integers from 0.
		itemKind := func(b byte) byte {
			if b == '"' || b == '[' {
				return b
			}
			return '0'
		}
		first := itemKind(items[0][0])
		for _, it := range items {
			if itemKind(it[0]) != first {
				return nil, wrongType("input", want, r.input)
			}
			switch it[0] {
			case '"':
				var s string
				if json.Unmarshal(it, &s) != nil {
					return nil, wrongType("input", want, r.input)
				}
				r.texts = append(r.texts, s)
			case '[':
				var ids []int64
				if json.Unmarshal(it, &ids) != nil || len(ids) == 0 || slices.Min(ids) < 0 {
					return nil, wrongType("input", want, r.input)
				}
				r.tokens += int64(len(ids))
			default:
				var id int64
				if it[0] == 'n' || it[0] == 't' || it[0] == 'f' || it[0] == '{' || json.Unmarshal(it, &id) != nil || id < 0 {
					return nil, wrongType("input", want, r.input)
				}
				r.tokens++
			}
		}
	default:
		return nil, wrongType("input", want, r.input)
	}
	return r, nil
}

// clip shortens s to at most n bytes (at a rune boundary) for an error.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
