package rego

import (
	"errors"
	"testing"
)

func FuzzCheck(f *testing.F) {
	f.Add([]byte(basePolicy))
	f.Add([]byte("package subzero.authz\n\nallow if {\n"))
	f.Add([]byte("package p\n\nallow { true }\n"))
	f.Add([]byte("package p\n\nimport rego.v1\n\nf(x) := y if y := x + 1\n"))
	f.Add([]byte(""))
	f.Add([]byte("package a.b[\"c\"]\n\nx := [y | some y in numbers.range(1, 3)]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		err := Check(map[string][]byte{"fuzz.rego": src})
		var ce *CompileError
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("Check error %T %v, want *CompileError", err, err)
		}
		if ce != nil && len(ce.Problems) == 0 {
			t.Fatal("CompileError without problems")
		}
	})
}
