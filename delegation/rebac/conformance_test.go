package rebac

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/subzero-gateway/subzero/store/bolt"
)

// The OpenFGA conformance matrix (testdata/conformance, read unchanged):
// every test runs in a fresh bolt store, stage by stage, as upstream's
// tests/check, tests/listobjects and tests/listusers do.

type confFile struct {
	Tests []confTest `yaml:"tests"`
}

type confTest struct {
	Name   string      `yaml:"name"`
	Stages []confStage `yaml:"stages"`
}

type confStage struct {
	Model           string `yaml:"model"`
	Tuples          []Tuple
	CheckAssertions []struct {
		Tuple            Tuple          `yaml:"tuple"`
		Context          map[string]any `yaml:"context"`
		ContextualTuples []Tuple        `yaml:"contextualTuples"`
		Expectation      bool           `yaml:"expectation"`
		ErrorCode        int            `yaml:"errorCode"`
	} `yaml:"checkAssertions"`
	ListObjectsAssertions []struct {
		Request struct {
			User     string `yaml:"user"`
			Type     string `yaml:"type"`
			Relation string `yaml:"relation"`
		} `yaml:"request"`
		Context          map[string]any `yaml:"context"`
		ContextualTuples []Tuple        `yaml:"contextualTuples"`
		Expectation      []string       `yaml:"expectation"`
		ErrorCode        int            `yaml:"errorCode"`
	} `yaml:"listObjectsAssertions"`
	ListUsersAssertions []struct {
		Request struct {
			Object   string   `yaml:"object"`
			Relation string   `yaml:"relation"`
			Filters  []string `yaml:"filters"`
		} `yaml:"request"`
		Context          map[string]any `yaml:"context"`
		ContextualTuples []Tuple        `yaml:"contextualTuples"`
		Expectation      []string       `yaml:"expectation"`
		ErrorCode        int            `yaml:"errorCode"`
	} `yaml:"listUsersAssertions"`
}

// knownFailures lists the cases (test name, with "_ctxTuples" for the
// contextual-tuple variant) that do not pass, with the reason. The test
// fails when a listed case passes, so the list stays honest.
var knownFailures = map[string]string{}

// confCounts counts passed and total assertions by file and kind.
type confCounts map[string]*[2]int

func (c confCounts) add(key string, ok bool) {
	n := c[key]
	if n == nil {
		n = &[2]int{}
		c[key] = n
	}
	if ok {
		n[0]++
	}
	n[1]++
}

// openBoltTuples opens a tuple store in a fresh bolt file.
func openBoltTuples(t testing.TB) TupleStore {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "rebac.db"), time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.Tuples()
}

func TestConformance(t *testing.T) {
	counts := confCounts{}
	for _, file := range []string{"consolidated_1_1_tests.yaml", "abac_tests.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", "conformance", file))
		if err != nil {
			t.Fatal(err)
		}
		var f confFile
		if err := yaml.Unmarshal(data, &f); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, test := range f.Tests {
			variants := []bool{false}
			if ctxVariant(test) {
				variants = append(variants, true)
			}
			for _, ctxTuples := range variants {
				name := test.Name
				if ctxTuples {
					name += "_ctxTuples"
				}
				t.Run(name, func(t *testing.T) {
					var fails []string
					counted := runConformance(t, file, test, ctxTuples, &fails)
					for k, v := range counted {
						for i := 0; i < v[1]; i++ {
							counts.add(k, i < v[0])
						}
					}
					reason, known := knownFailures[name]
					switch {
					case known && len(fails) == 0:
						t.Errorf("listed in knownFailures (%s) but passes: remove it", reason)
					case known:
						t.Logf("known failure (%s):\n%s", reason, strings.Join(fails, "\n"))
					default:
						for _, f := range fails {
							t.Error(f)
						}
					}
				})
			}
		}
	}
	// Two files, three assertion kinds, two variants: a runner that read
	// nothing must not pass.
	if len(counts) != 12 {
		t.Errorf("counted %d file/kind/variant groups, want 12: %v", len(counts), counts)
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		t.Logf("%-52s %4d/%d passed", k, counts[k][0], counts[k][1])
	}
}

// ctxVariant reports whether a test also runs as its contextual-tuple
// variant: as upstream, only single-stage tests whose tuples fit in one
// request (at most 100) have one, since a later stage sees the tuples an
// earlier one wrote.
func ctxVariant(test confTest) bool {
	return len(test.Stages) == 1 && len(test.Stages[0].Tuples) <= 100
}

func runConformance(t *testing.T, file string, test confTest, ctxTuples bool, fails *[]string) confCounts {
	ctx := t.Context()
	counts := confCounts{}
	// Upstream runs only the check assertions in the contextual-tuple
	// variant; this runner runs the list assertions too, counted apart.
	variant := ""
	if ctxTuples {
		variant = " (ctxTuples)"
	}
	fail := func(format string, args ...any) { *fails = append(*fails, fmt.Sprintf(format, args...)) }
	e, err := New(ctx, openBoltTuples(t), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	rng := rand.New(rand.NewPCG(1, uint64(len(test.Name))))
	for si, stage := range test.Stages {
		if _, err := e.WriteModel(ctx, []byte(stage.Model)); err != nil {
			t.Fatalf("stage %d: WriteModel: %v", si, err)
		}
		if !ctxTuples {
			tuples := slices.Clone(stage.Tuples)
			rng.Shuffle(len(tuples), func(i, j int) { tuples[i], tuples[j] = tuples[j], tuples[i] })
			for chunk := range slices.Chunk(tuples, 40) {
				if _, err := e.Write(ctx, chunk, nil); err != nil {
					t.Fatalf("stage %d: Write: %v", si, err)
				}
			}
		}
		for i, a := range stage.CheckAssertions {
			req := CheckRequest{User: a.Tuple.User, Relation: a.Tuple.Relation, Object: a.Tuple.Object, Context: a.Context, ContextualTuples: a.ContextualTuples}
			if ctxTuples {
				req.ContextualTuples = append(slices.Clone(req.ContextualTuples), stage.Tuples...)
			}
			got, err := e.Check(ctx, req)
			msg := matchCode(err, a.ErrorCode)
			if msg == "" && a.ErrorCode == 0 && got.Allowed != a.Expectation {
				msg = fmt.Sprintf("allowed %v, want %v", got.Allowed, a.Expectation)
			}
			counts.add(file+" check"+variant, msg == "")
			if msg != "" {
				fail("stage %d check[%d] %s %s %s: %s", si, i, req.User, req.Relation, req.Object, msg)
			}
		}
		for i, a := range stage.ListObjectsAssertions {
			req := ListObjectsRequest{User: a.Request.User, Relation: a.Request.Relation, Type: a.Request.Type, Context: a.Context, ContextualTuples: a.ContextualTuples}
			if ctxTuples {
				req.ContextualTuples = append(slices.Clone(req.ContextualTuples), stage.Tuples...)
			}
			got, err := e.ListObjects(ctx, req)
			msg := matchCode(err, a.ErrorCode)
			if msg == "" && a.ErrorCode == 0 {
				msg = matchSet(got, a.Expectation)
			}
			counts.add(file+" listObjects"+variant, msg == "")
			if msg != "" {
				fail("stage %d listObjects[%d] %s %s %s: %s", si, i, req.User, req.Relation, req.Type, msg)
			}
		}
		for i, a := range stage.ListUsersAssertions {
			req := ListUsersRequest{Object: a.Request.Object, Relation: a.Request.Relation, Filters: a.Request.Filters, Context: a.Context, ContextualTuples: a.ContextualTuples}
			if ctxTuples {
				req.ContextualTuples = append(slices.Clone(req.ContextualTuples), stage.Tuples...)
			}
			got, err := e.ListUsers(ctx, req)
			msg := matchCode(err, a.ErrorCode)
			if msg == "" && a.ErrorCode == 0 {
				msg = matchSet(got, a.Expectation)
			}
			counts.add(file+" listUsers"+variant, msg == "")
			if msg != "" {
				fail("stage %d listUsers[%d] %s#%s %v: %s", si, i, req.Object, req.Relation, req.Filters, msg)
			}
		}
	}
	return counts
}

// matchCode compares an error with an expected code (0: none); "" when
// they agree.
func matchCode(err error, want int) string {
	var e *Error
	switch {
	case want == 0 && err == nil:
		return ""
	case want == 0:
		return fmt.Sprintf("error %v, want none", err)
	case err == nil:
		return fmt.Sprintf("no error, want code %d", want)
	case !errors.As(err, &e):
		return fmt.Sprintf("error %v, want code %d", err, want)
	case int(e.Code) != want:
		return fmt.Sprintf("error code %d (%v), want %d", e.Code, err, want)
	}
	return ""
}

func matchSet(got, want []string) string {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if slices.Equal(g, w) {
		return ""
	}
	return fmt.Sprintf("got %q, want %q", g, w)
}
