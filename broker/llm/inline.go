package llm

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Inline data in content parts (an image_url's data URL, input_audio's
// data, a file's file_data) is base64 of images, sounds and documents:
// text detectors read noise in it (an "encoded payload", a "key"), and a
// redaction would corrupt it. The input guard scans the messages with
// each inline value replaced by a placeholder, and the values are put
// back, unchanged, into what it returns.

// inlinePlaceholder stands for an inline value in the scanned messages.
var inlinePlaceholder = json.RawMessage(`"[inline data]"`)

var errInlineMoved = errors.New("llm: the guard changed an inline data placeholder")

// inlineSites calls visit for each inline value of messages (valid JSON)
// and returns messages with each value replaced by what visit returns; it
// returns messages itself when there is none. Unless all is set, it
// looks only when messages hold a sign of inline data.
func inlineSites(messages json.RawMessage, all bool, visit func(json.RawMessage) (json.RawMessage, error)) (json.RawMessage, error) {
	if !all && !bytes.Contains(messages, []byte(`"data:`)) && !bytes.Contains(messages, []byte(`"input_audio"`)) && !bytes.Contains(messages, []byte(`"file_data"`)) {
		return messages, nil
	}
	var msgs []json.RawMessage
	if json.Unmarshal(messages, &msgs) != nil {
		return messages, nil
	}
	changed := false
	for i, raw := range msgs {
		m, err := decodeObject(raw)
		if err != nil {
			continue
		}
		content := m.get("content")
		var parts []json.RawMessage
		if len(content) == 0 || content[0] != '[' || json.Unmarshal(content, &parts) != nil {
			continue
		}
		partsChanged := false
		for k, pr := range parts {
			part, err := decodeObject(pr)
			if err != nil {
				continue
			}
			var typ string
			_ = json.Unmarshal(part.get("type"), &typ)
			var holder, field string
			switch typ {
			case "image_url":
				holder, field = "image_url", "url"
			case "input_audio":
				holder, field = "input_audio", "data"
			case "file":
				holder, field = "file", "file_data"
			default:
				continue
			}
			h, err := decodeObject(part.get(holder))
			if err != nil {
				continue
			}
			v := h.get(field)
			if len(v) == 0 || v[0] != '"' || typ == "image_url" && !bytes.HasPrefix(v, []byte(`"data:`)) && !bytes.Equal(v, inlinePlaceholder) {
				continue
			}
			nv, err := visit(v)
			if err != nil {
				return nil, err
			}
			h.set(field, nv)
			part.set(holder, h.bytes())
			parts[k] = part.bytes()
			partsChanged = true
		}
		if partsChanged {
			m.set("content", joinArray(parts))
			msgs[i] = m.bytes()
			changed = true
		}
	}
	if !changed {
		return messages, nil
	}
	return joinArray(msgs), nil
}

// stripInline returns messages with their inline values replaced by
// placeholders, and the values in order.
func stripInline(messages json.RawMessage) (json.RawMessage, []json.RawMessage) {
	var stash []json.RawMessage
	out, _ := inlineSites(messages, false, func(v json.RawMessage) (json.RawMessage, error) {
		stash = append(stash, v)
		return inlinePlaceholder, nil
	}) // visit never fails
	return out, stash
}

// restoreInline puts the values stripInline took back into messages (the
// guard's redaction of the stripped messages).
func restoreInline(messages json.RawMessage, stash []json.RawMessage) (json.RawMessage, error) {
	if len(stash) == 0 {
		return messages, nil
	}
	k := 0
	out, err := inlineSites(messages, true, func(v json.RawMessage) (json.RawMessage, error) {
		if k >= len(stash) || !bytes.Equal(v, inlinePlaceholder) {
			return nil, errInlineMoved
		}
		k++
		return stash[k-1], nil
	})
	if err == nil && k != len(stash) {
		err = errInlineMoved
	}
	return out, err
}
