package rego

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// MaxFileSize is the largest policy file accepted, in bytes.
const MaxFileSize = 1 << 20

// ErrNoPolicies is returned when a policy set holds no .rego file.
var ErrNoPolicies = errors.New("rego: no .rego files")

// Problem is one error found while parsing or compiling a policy.
type Problem struct {
	File    string // file name as given to [Check] or found in [Config.Dir]
	Line    int    // 1-based; 0 when OPA gives no location
	Column  int    // 1-based; 0 when unknown
	Message string // OPA's message, e.g. "rego_parse_error: unexpected eof token"
}

// String formats p as "file:line:col: message".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
		if p.Column > 0 {
			b.WriteString(":" + strconv.Itoa(p.Column))
		}
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	return b.String()
}

// CompileError reports a policy set that does not parse or compile. Use
// [errors.As] to reach the individual problems.
type CompileError struct {
	Problems []Problem
}

// Error joins the problems, one per line, prefixed with "rego: ".
func (e *CompileError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "rego: " + strings.Join(parts, "\n")
}

// problems converts an OPA error to problems, defaulting the file name.
func problems(file string, err error) []Problem {
	var errs ast.Errors
	if !errors.As(err, &errs) {
		var one *ast.Error
		if !errors.As(err, &one) {
			return []Problem{{File: file, Message: err.Error()}}
		}
		errs = ast.Errors{one}
	}
	out := make([]Problem, 0, len(errs))
	for _, e := range errs {
		p := Problem{File: file, Message: e.Code + ": " + e.Message}
		if e.Location != nil {
			if e.Location.File != "" {
				p.File = e.Location.File
			}
			p.Line, p.Column = e.Location.Row, e.Location.Col
		}
		out = append(out, p)
	}
	return out
}

// deniedBuiltins are removed from the capabilities: policies get no network
// or host access.
var deniedBuiltins = []string{"http.send", "net.lookup_ip_addr", "opa.runtime"}

// capabilities returns this OPA version's capabilities without deniedBuiltins.
func capabilities() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	c.Builtins = slices.DeleteFunc(slices.Clone(c.Builtins), func(b *ast.Builtin) bool {
		return slices.Contains(deniedBuiltins, b.Name)
	})
	c.AllowNet = []string{} // no remote schema fetches either
	return c
}

// compile parses and compiles files (name → source) as Rego v1.
func compile(files map[string][]byte) (*ast.Compiler, error) {
	if len(files) == 0 {
		return nil, ErrNoPolicies
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)

	caps := capabilities()
	var probs []Problem
	modules := make(map[string]*ast.Module, len(files))
	for _, name := range names {
		src := files[name]
		if len(src) > MaxFileSize {
			probs = append(probs, Problem{File: name, Message: fmt.Sprintf("file larger than %d bytes", MaxFileSize)})
			continue
		}
		m, err := ast.ParseModuleWithOpts(name, string(src), ast.ParserOptions{
			RegoVersion:  ast.RegoV1,
			Capabilities: caps,
		})
		if err != nil {
			probs = append(probs, problems(name, err)...)
			continue
		}
		if m == nil { // empty or comment-only file
			probs = append(probs, Problem{File: name, Message: "no package declaration"})
			continue
		}
		modules[name] = m
	}
	if len(probs) > 0 {
		return nil, &CompileError{Problems: probs}
	}

	c := ast.NewCompiler().
		WithCapabilities(caps).
		WithDefaultRegoVersion(ast.RegoV1)
	c.Compile(modules)
	if c.Failed() {
		return nil, &CompileError{Problems: problems("", c.Errors)}
	}
	return c, nil
}

// Check parses and compiles files (file name → Rego v1 source) together
// without installing them. It returns [ErrNoPolicies] for an empty set and a
// [*CompileError] naming file, line and column for source that does not
// compile. It is safe for concurrent use.
func Check(files map[string][]byte) error {
	_, err := compile(files)
	return err
}
