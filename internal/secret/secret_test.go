package secret_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/subzero-gateway/subzero/internal/secret"
)

const planted = "s3cr3t-value-never-in-errors"

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	env := map[string]string{"PW": planted, "EMPTY": ""}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		name    string
		ref     secret.Ref
		want    string
		wantErr string
	}{
		{"zero", secret.Ref{}, "", ""},
		{"env", secret.Ref{Env: "PW"}, planted, ""},
		{"env unset", secret.Ref{Env: "NOPE"}, "", "secret: env:NOPE is unset or empty"},
		{"env empty", secret.Ref{Env: "EMPTY"}, "", "secret: env:EMPTY is unset or empty"},
		{"file", secret.Ref{File: write("a", planted)}, planted, ""},
		{"file one newline", secret.Ref{File: write("b", planted+"\n\n")}, planted + "\n", ""},
		{"file crlf", secret.Ref{File: write("c", planted+"\r\n")}, planted, ""},
		{"file keeps spaces", secret.Ref{File: write("d", " "+planted+" \n")}, " " + planted + " ", ""},
		{"file missing", secret.Ref{File: filepath.Join(dir, "none")}, "", "no such file"},
		{"file empty", secret.Ref{File: write("e", "\n")}, "", "is empty"},
		{"file max", secret.Ref{File: write("f", strings.Repeat("x", secret.MaxFileBytes-1)+"\n")}, strings.Repeat("x", secret.MaxFileBytes-1), ""},
		{"file too large", secret.Ref{File: write("g", planted+strings.Repeat("x", secret.MaxFileBytes))}, "", "larger than 65536 bytes"},
		{"both", secret.Ref{File: write("h", planted), Env: "PW"}, "", "secret: env: must not be set with file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.ref.Resolve(getenv)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Resolve() error = %v, want containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Errorf("error reveals the secret: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Resolve() = %.40q, %v; want %.40q", got, err, tc.want)
			}
		})
	}
}

func TestRef(t *testing.T) {
	for _, tc := range []struct {
		ref   secret.Ref
		zero  bool
		valid bool
		str   string
		dump  any
	}{
		{secret.Ref{}, true, true, "", map[string]string{}},
		{secret.Ref{File: "/run/pw"}, false, true, "file:/run/pw", map[string]string{"file": "/run/pw"}},
		{secret.Ref{Env: "PW"}, false, true, "env:PW", map[string]string{"env": "PW"}},
		{secret.Ref{File: "/run/pw", Env: "PW"}, false, false, "file:/run/pw", map[string]string{"file": "/run/pw"}},
	} {
		if got := tc.ref.IsZero(); got != tc.zero {
			t.Errorf("%#v.IsZero() = %v, want %v", tc.ref, got, tc.zero)
		}
		if err := tc.ref.Validate(); (err == nil) != tc.valid {
			t.Errorf("%#v.Validate() = %v, want valid %v", tc.ref, err, tc.valid)
		}
		if got := tc.ref.String(); got != tc.str {
			t.Errorf("%#v.String() = %q, want %q", tc.ref, got, tc.str)
		}
		if diff := cmp.Diff(tc.dump, tc.ref.YAMLConfDump()); diff != "" {
			t.Errorf("%#v.YAMLConfDump() (-want +got):\n%s", tc.ref, diff)
		}
	}
}
