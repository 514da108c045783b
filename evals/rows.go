package evals

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	"github.com/subzero-gateway/subzero/guard"
)

// ErrBadData is wrapped by every error about the content of an evaluation
// file (as opposed to an error reading it): a line that is not a JSON
// object, a missing field, an unknown label, a row over the size limit.
var ErrBadData = errors.New("evals: bad data")

// Label is a row's main threat class.
type Label string

// The labels, in report order.
const (
	Benign    Label = "benign"
	Injection Label = "injection"
	Jailbreak Label = "jailbreak"
	PII       Label = "pii"
	Secret    Label = "secret"
)

// Labels lists every label, in report order.
var labels = [...]Label{Benign, Injection, Jailbreak, PII, Secret}

// Class is the finding class that detects rows of the label:
// [guard.ClassPromptAttack] for injection and jailbreak,
// [guard.ClassSensitive] for pii and secret, "" for benign.
func (l Label) Class() guard.Class {
	switch l {
	case Injection, Jailbreak:
		return guard.ClassPromptAttack
	case PII, Secret:
		return guard.ClassSensitive
	}
	return ""
}

func (l Label) valid() bool {
	for _, k := range labels {
		if l == k {
			return true
		}
	}
	return false
}

// Row is one labelled text of an evaluation file. On disk a row is one
// JSON object per line: {"id","text","label","category"}; other members
// (such as "source") are ignored.
type Row struct {
	ID       string `json:"id"`
	Text     string `json:"text"`
	Label    Label  `json:"label"`
	Category string `json:"category"`
	// Line is the row's 1-based line number in its file.
	Line int `json:"-"`
}

// HardNegativeMark is what a benign row's category carries when its text
// holds a security-loaded word ("ignore", "system", "password", ...).
const HardNegativeMark = "+kw"

// HardNegative reports whether the row's category is marked as a keyword
// hard negative.
func (r Row) HardNegative() bool { return strings.Contains(r.Category, HardNegativeMark) }

// Family is the part of the row's category before the first '/', without
// the hard-negative mark: "cse2" for "cse2/direct/ignore/security-violating",
// "cse_frr_security_benign" for "cse_frr_security_benign+kw".
func (r Row) Family() string { return Family(r.Category) }

// Family returns the family of a category; see [Row.Family].
func Family(category string) string {
	f, _, _ := strings.Cut(category, "/")
	return strings.ReplaceAll(f, HardNegativeMark, "")
}

// Limits bound what [ReadRows] accepts.
type Limits struct {
	// MaxRowBytes is the longest line accepted, newline excluded.
	MaxRowBytes int
	// MaxRows is the most rows a file may hold.
	MaxRows int
}

// DefaultLimits returns 1 MiB per row and a million rows.
func DefaultLimits() Limits { return Limits{MaxRowBytes: 1 << 20, MaxRows: 1_000_000} }

// ReadRows returns the rows of a JSONL evaluation file, one at a time,
// reading r as it goes. Blank lines are skipped. Each row must have a
// non-empty "id", "text" and "label", and the label must be one of the
// five [Label] values, spelled exactly; "category" may be absent. The
// first bad row ends the sequence with an error that wraps [ErrBadData]
// and names the line; an error reading r ends it too. Error messages
// never quote a row's text.
func ReadRows(r io.Reader, lim Limits) iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		if lim.MaxRowBytes <= 0 || lim.MaxRows <= 0 {
			yield(Row{}, fmt.Errorf("evals: limits must be positive: %+v", lim))
			return
		}
		sc := bufio.NewScanner(r)
		// The scanner's buffer holds a line and its newline (and a \r).
		sc.Buffer(make([]byte, 0, min(64<<10, lim.MaxRowBytes+2)), lim.MaxRowBytes+2)
		line, n := 0, 0
		for sc.Scan() {
			line++
			b := sc.Bytes()
			if line == 1 {
				b = bytes.TrimPrefix(b, []byte("\ufeff"))
			}
			b = bytes.TrimSuffix(b, []byte("\r"))
			if len(b) > lim.MaxRowBytes {
				yield(Row{}, tooLong(line, lim))
				return
			}
			if len(bytes.TrimSpace(b)) == 0 {
				continue
			}
			if n++; n > lim.MaxRows {
				yield(Row{}, fmt.Errorf("%w: line %d: more than %d rows", ErrBadData, line, lim.MaxRows))
				return
			}
			row, err := parseRow(b)
			if err != nil {
				yield(Row{}, fmt.Errorf("%w: line %d: %v", ErrBadData, line, err))
				return
			}
			row.Line = line
			if !yield(row, nil) {
				return
			}
		}
		if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
			yield(Row{}, tooLong(line+1, lim))
		} else if err != nil {
			yield(Row{}, fmt.Errorf("evals: read rows after line %d: %w", line, err))
		}
	}
}

func tooLong(line int, lim Limits) error {
	return fmt.Errorf("%w: line %d: longer than %d bytes", ErrBadData, line, lim.MaxRowBytes)
}

// parseRow decodes one line. Errors name the field, never the text.
func parseRow(b []byte) (Row, error) {
	var raw struct {
		ID       *string `json:"id"`
		Text     *string `json:"text"`
		Label    *string `json:"label"`
		Category *string `json:"category"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return Row{}, fmt.Errorf("not a JSON object: %v (offset %d)", se, se.Offset)
		case errors.As(err, &te) && te.Field != "":
			return Row{}, fmt.Errorf("%q must be a string, not %s", te.Field, te.Value)
		}
		return Row{}, errors.New("not a JSON object")
	}
	var row Row
	for _, f := range []struct {
		name string
		v    *string
		dst  *string
	}{{"id", raw.ID, &row.ID}, {"text", raw.Text, &row.Text}} {
		if f.v == nil || *f.v == "" {
			return Row{}, fmt.Errorf("%q is missing or empty", f.name)
		}
		*f.dst = *f.v
	}
	if raw.Label == nil {
		return Row{}, errors.New(`"label" is missing`)
	}
	if row.Label = Label(*raw.Label); !row.Label.valid() {
		l := *raw.Label
		if len(l) > 40 {
			l = l[:40] + "..."
		}
		return Row{}, fmt.Errorf("unknown label %q (want benign, injection, jailbreak, pii or secret)", l)
	}
	if raw.Category != nil {
		row.Category = *raw.Category
	}
	return row, nil
}

// Rows returns the rows as a sequence for [Guard].
func Rows(rows []Row) iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		for _, r := range rows {
			if !yield(r, nil) {
				return
			}
		}
	}
}
