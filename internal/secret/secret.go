// Package secret refers to secrets by file or environment variable, so that
// values never sit in config files or dumps.
//
// # Security
//
// A [Ref] holds only where a secret is; its value exists only in what
// [Ref.Resolve] returns. Errors name the reference, never the value.
package secret

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxFileBytes bounds the size of a secret file.
const MaxFileBytes = 64 << 10

// Ref refers to a secret kept in a file or an environment variable. The
// zero Ref means no secret.
type Ref struct {
	// File is the path of a file holding the secret; one trailing newline
	// is trimmed.
	File string `yaml:"file"`
	// Env is the name of the environment variable holding the secret.
	Env string `yaml:"env"`
}

// IsZero reports whether r refers to no secret.
func (r Ref) IsZero() bool { return r.File == "" && r.Env == "" }

// Validate reports a reference that sets both file and env.
func (r Ref) Validate() error {
	if r.File != "" && r.Env != "" {
		return errors.New("env: must not be set with file")
	}
	return nil
}

// Resolve returns the secret's value, reading the environment through
// getenv. The zero Ref resolves to "". A missing or empty secret is an
// error, and so is a file larger than [MaxFileBytes].
func (r Ref) Resolve(getenv func(string) string) (string, error) {
	if err := r.Validate(); err != nil {
		return "", fmt.Errorf("secret: %w", err)
	}
	switch {
	case r.Env != "":
		v := getenv(r.Env)
		if v == "" {
			return "", fmt.Errorf("secret: %s is unset or empty", r)
		}
		return v, nil
	case r.File != "":
		f, err := os.Open(r.File)
		if err != nil {
			return "", fmt.Errorf("secret: %w", err)
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
		if err != nil {
			return "", fmt.Errorf("secret: %s: %w", r, err)
		}
		if len(data) > MaxFileBytes {
			return "", fmt.Errorf("secret: %s is larger than %d bytes", r, MaxFileBytes)
		}
		v, ok := strings.CutSuffix(string(data), "\r\n")
		if !ok {
			v = strings.TrimSuffix(v, "\n")
		}
		if v == "" {
			return "", fmt.Errorf("secret: %s is empty", r)
		}
		return v, nil
	}
	return "", nil
}

// String returns "file:<path>", "env:<NAME>", or "" for the zero Ref. It
// never contains the value.
func (r Ref) String() string {
	switch {
	case r.File != "":
		return "file:" + r.File
	case r.Env != "":
		return "env:" + r.Env
	}
	return ""
}

// YAMLConfDump returns what a config dump shows for r: the reference
// ({file: path} or {env: NAME}), never the value.
func (r Ref) YAMLConfDump() any {
	switch {
	case r.File != "":
		return map[string]string{"file": r.File}
	case r.Env != "":
		return map[string]string{"env": r.Env}
	}
	return map[string]string{}
}
