package rebac

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParseModel: ParseModel never panics, fails only with *Error, and an
// accepted model's canonical DSL and JSON parse back to an equal model.
// Seeds are in testdata/fuzz/FuzzParseModel.
func FuzzParseModel(f *testing.F) {
	for _, s := range sampleModels() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		m, err := ParseModel(src)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ParseModel error is %T, not *Error: %v", err, err)
			}
			return
		}
		for name, again := range map[string][]byte{"DSL": []byte(m.DSL), "JSON": m.JSON} {
			m2, err := ParseModel(again)
			if err != nil {
				t.Fatalf("canonical %s does not parse: %v\n%s", name, err, again)
			}
			if d := cmp.Diff(m, m2, modelCmp); d != "" {
				t.Fatalf("canonical %s parses to a different model (-first +again):\n%s", name, d)
			}
		}
	})
}

// FuzzParseTuples: ParseTuples never panics, fails only with *Error, and
// the tuples it returns, encoded as a JSON list, parse back unchanged.
// Seeds are in testdata/fuzz/FuzzParseTuples.
func FuzzParseTuples(f *testing.F) {
	f.Add([]byte("- user: user:anne\n  relation: viewer\n  object: document:1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := ParseTuples(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ParseTuples error is %T, not *Error: %v", err, err)
			}
			return
		}
		b, err := json.Marshal(ts)
		if err != nil {
			t.Fatalf("tuples do not encode: %v", err)
		}
		again, err := ParseTuples(b)
		if err != nil {
			t.Fatalf("re-encoded tuples do not parse: %v\n%s", err, b)
		}
		if d := cmp.Diff(ts, again); d != "" {
			t.Fatalf("re-encoded tuples differ (-first +again):\n%s", d)
		}
		for _, tu := range ts {
			if tu.Condition == nil {
				continue
			}
			enc, err := EncodeCondition(tu.Condition)
			if err != nil {
				t.Fatalf("EncodeCondition: %v", err)
			}
			dec, err := DecodeCondition(enc)
			if err != nil {
				t.Fatalf("DecodeCondition(%s): %v", enc, err)
			}
			if d := cmp.Diff(tu.Condition, dec); d != "" {
				t.Fatalf("condition round trip (-want +got):\n%s", d)
			}
		}
	})
}
