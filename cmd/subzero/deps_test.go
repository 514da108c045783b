package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/subzero-gateway/subzero"

// listPackages runs `go list -deps -json` on patterns and returns each
// package with its direct imports.
func listPackages(t *testing.T, deps bool, patterns ...string) map[string][]string {
	t.Helper()
	args := []string{"list", "-e", "-json=ImportPath,Imports"}
	if deps {
		args = append(args, "-deps")
	}
	cmd := exec.Command("go", append(args, patterns...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pkgs := map[string][]string{}
	dec := json.NewDecoder(out)
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list: %v", err)
		}
		pkgs[p.ImportPath] = p.Imports
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(patterns, " "), err, stderr.String())
	}
	return pkgs
}

func under(pkg, dir string) bool {
	p := module + "/" + dir
	return pkg == p || strings.HasPrefix(pkg, p+"/")
}

// TestLayering enforces the dependency rules of STYLE.md.
func TestLayering(t *testing.T) {
	// ory/fosite's handler packages import its gomock mocks, which pull
	// `testing` into any binary that uses fosite. So the rule is on our
	// code: no package of this module in the binary imports test code, and
	// no test helper of ours is linked in.
	t.Run("binary has no test code", func(t *testing.T) {
		ours := []string{module + "/internal/redistest", module + "/store/storetest"}
		deps := listPackages(t, true, module+"/cmd/subzero")
		if _, ok := deps[module+"/broker"]; !ok {
			t.Fatalf("go list -deps ./cmd/subzero does not list broker: %d packages", len(deps))
		}
		for pkg, imports := range deps {
			if slices.Contains(ours, pkg) {
				t.Errorf("the subzero binary depends on %s", pkg)
			}
			if pkg != module && !strings.HasPrefix(pkg, module+"/") {
				continue
			}
			for _, imp := range imports {
				if imp == "testing" || imp == "net/http/httptest" || strings.HasPrefix(imp, "testing/") {
					t.Errorf("%s, linked into the binary, imports %s", pkg, imp)
				}
			}
		}
	})

	t.Run("audit depends on no outer layer", func(t *testing.T) {
		deps := listPackages(t, true, module+"/audit/...")
		if _, ok := deps[module+"/audit"]; !ok {
			t.Fatalf("go list -deps ./audit/... does not list audit: %d packages", len(deps))
		}
		for pkg := range deps {
			for _, outer := range []string{"broker", "store", "cmd"} {
				if under(pkg, outer) {
					t.Errorf("audit/... depends on %s", pkg)
				}
			}
		}
	})

	// store/* may implement interfaces that broker's protocol packages
	// (broker/dpop, broker/oauth) declare, but never import the
	// composition root.
	t.Run("store does not depend on broker", func(t *testing.T) {
		deps := listPackages(t, true, module+"/store/...")
		if _, ok := deps[module+"/store/bolt"]; !ok {
			t.Fatalf("go list -deps ./store/... does not list store/bolt: %d packages", len(deps))
		}
		for pkg := range deps {
			if pkg == module+"/broker" || under(pkg, "cmd") {
				t.Errorf("store/... depends on %s", pkg)
			}
		}
	})

	t.Run("only store imports database drivers", func(t *testing.T) {
		drivers := []string{"go.etcd.io/bbolt", "github.com/redis/go-redis/v9"}
		pkgs := listPackages(t, false, module+"/...")
		if !slices.Contains(pkgs[module+"/store/bolt"], "go.etcd.io/bbolt") {
			t.Fatalf("go list ./... does not show store/bolt importing bbolt")
		}
		for pkg, imports := range pkgs {
			if under(pkg, "store") {
				continue
			}
			for _, imp := range imports {
				for _, d := range drivers {
					if imp == d || strings.HasPrefix(imp, d+"/") {
						t.Errorf("%s imports the database driver %s; only store/* may", pkg, imp)
					}
				}
			}
		}
	})
}
