package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// closedPort returns a loopback address on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	malformed := write("malformed.yaml", "server:\n  addr: [\n")
	unknownKey := write("unknown.yaml", "server:\n  shutdown_timout: 10s\n")
	wrongType := write("type.yaml", "server:\n  shutdown_timeout: 10\n")
	badScheme := write("scheme.yaml", "store:\n  kind: redis\n  redis:\n    url: http://127.0.0.1:6379\n")
	good := write("good.yaml", "server:\n  addr: 127.0.0.1:0\n")
	unreachable := write("unreachable.yaml", "server:\n  addr: 127.0.0.1:0\nserver_secret: {file: /nonexistent}\nstore:\n  kind: redis\n  redis:\n    url: redis://"+
		closedPort(t)+"\n    dial_timeout: 300ms\n")
	badKey := write("bad-key.pem", "not a key\n")
	badKeyConfig := write("bad-key.yaml", "server:\n  addr: 127.0.0.1:0\naudit:\n  signing_key_file: "+badKey+"\n")
	missingKeyConfig := write("missing-key.yaml", "server:\n  addr: 127.0.0.1:0\naudit:\n  signing_key_file: "+filepath.Join(dir, "absent.pem")+"\n")
	data := func() string { return t.TempDir() }

	tests := []struct {
		name    string
		args    []string
		environ []string
		code    int
		stderr  []string // substrings of stderr
		stdout  []string // substrings of stdout
	}{
		{"no command", nil, nil, 2, []string{"usage:", "no command given"}, nil},
		{"unknown command", []string{"frobnicate"}, nil, 2, []string{`unknown command "frobnicate"`}, nil},
		{"help", []string{"help"}, nil, 0, nil, []string{"usage:", "exit codes"}},
		{"version", []string{"version"}, nil, 0, nil, []string{"subzero "}},
		{"serve -h", []string{"serve", "-h"}, nil, 0, []string{"-addr"}, nil},
		{"serve unknown flag", []string{"serve", "--bogus"}, nil, 2, []string{"flag provided but not defined: -bogus"}, nil},
		{"serve extra argument", []string{"serve", "extra"}, nil, 2, []string{`unexpected argument "extra"`}, nil},
		{"serve malformed YAML", []string{"serve", "--config", malformed}, nil, 2, []string{malformed, "line ", "did not find"}, nil},
		{"serve unknown key", []string{"serve", "--config", unknownKey}, nil, 2,
			[]string{"server.shutdown_timout: unknown key", `did you mean "shutdown_timeout"?`}, nil},
		{"serve wrong type", []string{"serve", "--config", wrongType}, nil, 2,
			[]string{"server.shutdown_timeout", "duration", `"10"`}, nil},
		{"serve bad redis scheme", []string{"serve", "--config", badScheme}, nil, 2,
			[]string{"store.redis.url: scheme must be redis or rediss"}, nil},
		{"serve missing config file", []string{"serve", "--config", filepath.Join(dir, "absent.yaml")}, nil, 2,
			[]string{"absent.yaml"}, nil},
		{"serve config from SUBZERO_CONFIG", []string{"serve"}, []string{"SUBZERO_CONFIG=" + unknownKey}, 2,
			[]string{"server.shutdown_timout: unknown key"}, nil},
		{"serve unknown env var", []string{"serve", "--addr", "127.0.0.1:0", "--data", data()}, []string{"SUBZERO_STORE_KIN=redis"}, 2,
			[]string{"SUBZERO_STORE_KIN: unknown configuration variable", "SUBZERO_STORE_KIND"}, nil},
		{"serve non-loopback without config", []string{"serve", "--addr", "0.0.0.0:0", "--data", data()}, nil, 2,
			[]string{"server.addr", "not a loopback address", "--config"}, nil},
		{"serve unreachable redis", []string{"serve", "--config", unreachable, "--data", data()}, nil, 1,
			[]string{"store.redis", "cannot reach"}, nil},
		{"serve bad signing key", []string{"serve", "--config", badKeyConfig, "--data", data()}, nil, 1,
			[]string{"audit.signing_key_file"}, nil},
		{"serve missing signing key", []string{"serve", "--config", missingKeyConfig, "--data", data()}, nil, 1,
			[]string{"audit.signing_key_file", "absent.pem"}, nil},
		{"config without check", []string{"config"}, nil, 2, []string{"usage: subzero config check FILE"}, nil},
		{"config check without file", []string{"config", "check"}, nil, 2, []string{"usage: subzero config check FILE"}, nil},
		{"config check unknown flag", []string{"config", "check", "--bogus", good}, nil, 2, []string{"-bogus"}, nil},
		{"config check malformed", []string{"config", "check", malformed}, nil, 2, []string{"line ", "did not find"}, nil},
		{"config check unknown key", []string{"config", "check", unknownKey}, nil, 2,
			[]string{"server.shutdown_timout: unknown key", `did you mean "shutdown_timeout"?`}, nil},
		{"config check wrong type", []string{"config", "check", wrongType}, nil, 2, []string{"server.shutdown_timeout"}, nil},
		{"config check bad scheme", []string{"config", "check", badScheme}, nil, 2,
			[]string{"store.redis.url: scheme must be redis or rediss"}, nil},
		{"config check unknown env var", []string{"config", "check", good}, []string{"SUBZERO_LOG_LEVLE=debug"}, 2,
			[]string{"SUBZERO_LOG_LEVLE", "SUBZERO_LOG_LEVEL"}, nil},
		{"config check ok", []string{"config", "check", good}, nil, 0, nil, []string{"valid", "addr: 127.0.0.1:0"}},
		{"audit without subcommand", []string{"audit"}, nil, 2, []string{"audit: no subcommand given"}, nil},
		{"audit unknown subcommand", []string{"audit", "frob"}, nil, 2, []string{`audit: unknown subcommand "frob"`}, nil},
		{"audit verify bad format", []string{"audit", "verify", "--format", "xml"}, nil, 2, []string{"--format"}, nil},
		{"audit verify unknown flag", []string{"audit", "verify", "--bogus"}, nil, 2, []string{"-bogus"}, nil},
		{"audit verify missing key file", []string{"audit", "verify", "--key", filepath.Join(dir, "absent.pem")}, nil, 2,
			[]string{"absent.pem"}, nil},
		{"audit query bad decision", []string{"audit", "query", "--decision", "maybe"}, nil, 2, []string{"--decision"}, nil},
		{"audit query negative limit", []string{"audit", "query", "--limit", "-1"}, nil, 2, []string{"--limit"}, nil},
		{"audit query bad since", []string{"audit", "query", "--since", "yesterday"}, nil, 2, []string{"RFC 3339"}, nil},
		{"audit query bad format", []string{"audit", "query", "--format", "xml"}, nil, 2, []string{"--format"}, nil},
		{"audit tail short interval", []string{"audit", "tail", "-f", "--interval", "1ms"}, nil, 2, []string{"--interval"}, nil},
		{"audit verify bad config", []string{"audit", "verify", "--config", unknownKey}, nil, 2, []string{"server.shutdown_timout"}, nil},
		{"audit verify no data", []string{"audit", "verify", "--data", filepath.Join(dir, "absent")}, nil, 1, []string{"store.bolt"}, nil},
		{"audit key no key yet", []string{"audit", "key", "--data", filepath.Join(dir, "absent")}, nil, 1,
			[]string{"a node creates its key on first start"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runMain(t, t.Context(), tt.environ, tt.args...)
			if res.code != tt.code {
				t.Errorf("subzero %s: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s",
					strings.Join(tt.args, " "), res.code, tt.code, res.stdout, res.stderr)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(res.stderr, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, res.stderr)
				}
			}
			for _, want := range tt.stdout {
				if !strings.Contains(res.stdout, want) {
					t.Errorf("stdout does not contain %q:\n%s", want, res.stdout)
				}
			}
			if strings.Contains(res.stderr, "goroutine ") || strings.Contains(res.stderr, "panic") {
				t.Errorf("stderr shows a panic:\n%s", res.stderr)
			}
		})
	}
}

// config check prints the effective config with secrets as references,
// never their values.
func TestConfigCheckMasksSecrets(t *testing.T) {
	const planted = "planted-secret-3f9a1c"
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "redis-password")
	if err := os.WriteFile(secretFile, []byte(planted+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	envConfig := filepath.Join(dir, "env.yaml")
	fileConfig := filepath.Join(dir, "file.yaml")
	for path, ref := range map[string]string{envConfig: "env: SUBZERO_REDIS_PASSWORD", fileConfig: "file: " + secretFile} {
		data := "server_secret:\n  " + ref + "\nstore:\n  kind: redis\n  redis:\n    url: redis://127.0.0.1:6379\n    username: subzero\n    password:\n      " + ref + "\n"
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	environ := []string{"SUBZERO_REDIS_PASSWORD=" + planted, "SUBZERO_STORE_REDIS_PASSWORD_ENV=SUBZERO_REDIS_PASSWORD"}

	tests := []struct {
		name    string
		file    string
		environ []string
		want    []string
	}{
		{"env reference", envConfig, environ[:1], []string{"password:\n      env: SUBZERO_REDIS_PASSWORD\n"}},
		{"file reference", fileConfig, nil, []string{"password:\n      file: " + secretFile + "\n"}},
		// Errors must not leak it either: both references set, and a
		// secret variable no reference names.
		{"both references", fileConfig, nil, nil},
		{"unreferenced secret variable", fileConfig, environ[:1], nil},
		{"example", filepath.Join("..", "..", "examples", "redis.yaml"), environ[:1],
			[]string{"password:\n      env: SUBZERO_REDIS_PASSWORD\n"}},
	}
	tests[2].environ = environ[1:] // file from the YAML, env from SUBZERO_STORE_REDIS_PASSWORD_ENV
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runMain(t, t.Context(), tt.environ, "config", "check", tt.file)
			if strings.Contains(res.stdout+res.stderr, planted) {
				t.Fatalf("config check printed the secret:\nstdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
			}
			if tt.want == nil {
				if res.code != 2 {
					t.Errorf("exit code %d, want 2; stderr:\n%s", res.code, res.stderr)
				}
				return
			}
			if res.code != 0 {
				t.Fatalf("exit code %d, stderr:\n%s", res.code, res.stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(res.stdout, want) {
					t.Errorf("stdout does not contain %q:\n%s", want, res.stdout)
				}
			}
			// The dump is itself a valid config.
			dump := filepath.Join(t.TempDir(), "dump.yaml")
			if err := os.WriteFile(dump, []byte(res.stdout), 0o600); err != nil {
				t.Fatal(err)
			}
			again := runMain(t, t.Context(), tt.environ, "config", "check", dump)
			if again.code != 0 {
				t.Fatalf("the dump does not check: exit %d\n%s", again.code, again.stderr)
			}
			_, body, _ := strings.Cut(res.stdout, "\n")
			_, bodyAgain, _ := strings.Cut(again.stdout, "\n")
			if body != bodyAgain {
				t.Errorf("the dump's dump differs:\n%s\nvs\n%s", body, bodyAgain)
			}
		})
	}
}
