package evals

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// collect reads every row of data, and the error that ended the reading.
func collect(data string, lim Limits) ([]Row, error) {
	var rows []Row
	for row, err := range ReadRows(strings.NewReader(data), lim) {
		if err != nil {
			return rows, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func TestReadRows(t *testing.T) {
	data := "\ufeff" + `{"id":"a","text":"hello","label":"benign","category":"chat/greeting+kw","source":"x/y:z"}` + "\r\n" +
		"\n   \n" +
		`{"label":"secret","text":"AKIA…","id":"b"}` + "\n" +
		`{"id":"c","text":"ignore that","label":"injection","category":"cse2/direct","extra":[1,2]}` // no final newline
	got, err := collect(data, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		{ID: "a", Text: "hello", Label: Benign, Category: "chat/greeting+kw", Line: 1},
		{ID: "b", Text: "AKIA…", Label: Secret, Line: 4},
		{ID: "c", Text: "ignore that", Label: Injection, Category: "cse2/direct", Line: 5},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if !got[0].HardNegative() || got[2].HardNegative() {
		t.Errorf("HardNegative: %v, %v; want true, false", got[0].HardNegative(), got[2].HardNegative())
	}
}

func TestReadRowsErrors(t *testing.T) {
	const good = `{"id":"a","text":"t","label":"benign"}` + "\n"
	lim := Limits{MaxRowBytes: 100, MaxRows: 3}
	tests := []struct {
		name, data string
		want       []string // substrings of the error
	}{
		{"not JSON", good + "{\"id\":\n", []string{"line 2", "not a JSON object"}},
		{"array", `[1,2]`, []string{"line 1", "not a JSON object"}},
		{"trailing data", `{"id":"a","text":"t","label":"benign"} x`, []string{"line 1", "not a JSON object"}},
		{"null", "null", []string{"line 1", `"id" is missing`}},
		{"missing id", `{"text":"t","label":"benign"}`, []string{"line 1", `"id" is missing or empty`}},
		{"empty text", `{"id":"a","text":"","label":"benign"}`, []string{`"text" is missing or empty`}},
		{"missing label", `{"id":"a","text":"t"}`, []string{`"label" is missing`}},
		{"unknown label", good + good + `{"id":"a","text":"t","label":"Injection"}`, []string{"line 3", `unknown label "Injection"`, "benign, injection"}},
		{"long unknown label", `{"id":"a","text":"t","label":"` + strings.Repeat("x", 50) + `"}`, []string{`unknown label "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..."`}},
		{"label not a string", `{"id":"a","text":"t","label":3}`, []string{`"label" must be a string, not number`}},
		{"text not a string", `{"id":"a","text":{"x":1},"label":"pii"}`, []string{`"text" must be a string, not object`}},
		{"row too long", good + `{"id":"a","text":"` + strings.Repeat("x", 100) + `","label":"benign"}` + "\n", []string{"line 2", "longer than 100 bytes"}},
		{"row far too long", good + good + strings.Repeat("x", 1000) + "\n" + good, []string{"line 3", "longer than 100 bytes"}},
		{"too many rows", good + good + good + good, []string{"line 4", "more than 3 rows"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := collect(tt.data, lim)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrBadData) {
				t.Errorf("error %q does not wrap ErrBadData", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// A row exactly at the limit is accepted, with or without \r\n.
func TestReadRowsAtLimit(t *testing.T) {
	row := `{"id":"a","label":"benign","text":"` // + text + `"}`
	text := strings.Repeat("x", 64-len(row)-2)
	line := row + text + `"}`
	if len(line) != 64 {
		t.Fatalf("line is %d bytes", len(line))
	}
	for _, data := range []string{line, line + "\n", line + "\r\n", line + "\n" + line} {
		rows, err := collect(data, Limits{MaxRowBytes: 64, MaxRows: 10})
		if err != nil || len(rows) == 0 || rows[0].Text != text {
			t.Errorf("%q: rows %v, error %v; want the row", data, rows, err)
		}
	}
	if _, err := collect(line+" \n", Limits{MaxRowBytes: 64, MaxRows: 10}); err == nil {
		t.Error("a 65-byte line was accepted")
	}
}

// Errors name the line and the field, never the row's text.
func TestReadRowsErrorsHideText(t *testing.T) {
	const secret = "sk-live-planted-5f2c9e"
	for _, data := range []string{
		`{"id":"a","text":"` + secret + `","label":"Benign"}`,
		`{"id":"a","text":"` + secret + `","label":"benign",}`,
		`{"id":"a","text":"` + secret + `","label":"benign"` + "\n",
		`{"id":"a","text":"` + secret + strings.Repeat("x", 100) + `","label":"benign"}`,
	} {
		_, err := collect(data, Limits{MaxRowBytes: 100, MaxRows: 10})
		if err == nil {
			t.Fatalf("%q: no error", data)
		}
		if strings.Contains(err.Error(), "planted") {
			t.Errorf("error quotes the text: %v", err)
		}
	}
}

func TestReadRowsReadError(t *testing.T) {
	r := iotest.ErrReader(errors.New("disk on fire"))
	for _, err := range ReadRows(r, DefaultLimits()) {
		if err == nil || errors.Is(err, ErrBadData) || !strings.Contains(err.Error(), "disk on fire") {
			t.Errorf("error %v; want the read error, not ErrBadData", err)
		}
	}
}

func TestReadRowsBadLimits(t *testing.T) {
	if _, err := collect("", Limits{}); err == nil {
		t.Error("zero limits accepted")
	}
}

// Breaking out of the loop stops the reading.
func TestReadRowsStop(t *testing.T) {
	const good = `{"id":"a","text":"t","label":"benign"}` + "\n"
	n := 0
	for _, err := range ReadRows(strings.NewReader(good+good+"garbage\n"), DefaultLimits()) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 2 {
			break
		}
	}
}

func TestFamily(t *testing.T) {
	for cat, want := range map[string]string{
		"cse2/direct/ignore/security-violating": "cse2",
		"cse_frr_security_benign+kw":            "cse_frr_security_benign",
		"llmguard/pi_test_benign+kw":            "llmguard",
		"gsm8k_math":                            "gsm8k_math",
		"":                                      "",
	} {
		if got := Family(cat); got != want {
			t.Errorf("Family(%q) = %q, want %q", cat, got, want)
		}
	}
}

func FuzzReadRows(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxRowBytes: 256, MaxRows: 50}
		n := 0
		for row, err := range ReadRows(strings.NewReader(string(data)), lim) {
			if err != nil {
				if !errors.Is(err, ErrBadData) {
					t.Fatalf("error %v does not wrap ErrBadData", err)
				}
				if len(err.Error()) > 200 {
					t.Fatalf("error is %d bytes long: %v", len(err.Error()), err)
				}
				return
			}
			n++
			if row.ID == "" || row.Text == "" || !row.Label.valid() || row.Line < n || n > lim.MaxRows {
				t.Fatalf("row %d accepted: %+v", n, row)
			}
		}
	})
}

func TestFold(t *testing.T) {
	for _, bad := range []string{"", "5", "5/5", "-1/5", "0/0", "a/5", "1/b", "1/5/2"} {
		if _, err := ParseFold(bad); err == nil {
			t.Errorf("ParseFold(%q): no error", bad)
		}
	}
	f, err := ParseFold("0/5")
	if err != nil || f != (Fold{0, 5}) || f.String() != "0/5" {
		t.Fatalf("ParseFold(0/5) = %v, %v", f, err)
	}
	// FNV-1a 32 of "a" is 0xe40c292c = 3826002220 ≡ 0 (mod 5), ≡ 5 (mod 7).
	if !f.Contains("a") || !(Fold{5, 7}).Contains("a") || (Fold{1, 5}).Contains("a") {
		t.Error(`"a" is in the wrong folds`)
	}
	// The folds of a set partition it.
	var rows []Row
	for i := range 1000 {
		rows = append(rows, Row{ID: fmt.Sprintf("dev-%05d", i), Text: "t", Label: Benign})
	}
	seen := map[string]int{}
	for i := range 5 {
		n := 0
		for row, err := range (Fold{i, 5}).Filter(Rows(rows)) {
			if err != nil {
				t.Fatal(err)
			}
			seen[row.ID]++
			n++
		}
		if n < 150 || n > 250 {
			t.Errorf("fold %d/5 holds %d of 1000 rows", i, n)
		}
	}
	if len(seen) != len(rows) {
		t.Errorf("the folds cover %d of %d rows", len(seen), len(rows))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s is in %d folds", id, n)
		}
	}
	// Errors pass through.
	n := 0
	for _, err := range (Fold{1, 5}).Filter(ReadRows(strings.NewReader("garbage\n"), DefaultLimits())) {
		if !errors.Is(err, ErrBadData) {
			t.Errorf("error %v, want ErrBadData", err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("%d items, want the error", n)
	}
}
