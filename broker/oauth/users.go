package oauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/argon2id"
)

// User is an account of the embedded identity store. Subject is stable
// and opaque, so that renaming a user changes no token's sub.
type User struct {
	Name         string    `json:"name"`
	Subject      string    `json:"sub"`
	PasswordHash string    `json:"password_hash"` // argon2id, PHC string format
	Created      time.Time `json:"created"`
}

// collectionUsers is the record collection users live in.
const collectionUsers = "users"

// ErrBadCredentials is returned by [Users.Authenticate] for an unknown
// user or a wrong password alike.
var ErrBadCredentials = errors.New("oauth: bad username or password")

// Password limits.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 1024
)

var userNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`)

// DefaultArgon2 are the argon2id parameters for stored passwords (RFC 9106
// §4, second recommendation, with two lanes for a two-core machine).
var DefaultArgon2 = argon2id.Params{Memory: 64 << 10, Iterations: 3, Parallelism: 2, SaltLength: 16, KeyLength: 32}

// Users is the embedded identity store: users with argon2id password
// hashes, kept in the [Store].
type Users struct {
	s      Store
	params argon2id.Params
	dummy  func() string // a hash to compare against for unknown users
}

// NewUsers returns the user store over s, hashing with params.
func NewUsers(s Store, params argon2id.Params) *Users {
	u := &Users{s: s, params: params}
	u.dummy = sync.OnceValue(func() string {
		h, _ := argon2id.CreateHash("no such user: equalize timing", &u.params)
		return h
	})
	return u
}

// Add creates a user. It fails with ErrExists when the name is taken.
func (u *Users) Add(ctx context.Context, name, password string) (*User, error) {
	if !userNamePattern.MatchString(name) {
		return nil, errors.New("oauth: user name must be 1 to 64 letters, digits or . _ @ + -, starting with a letter or digit")
	}
	if err := checkPassword(password); err != nil {
		return nil, err
	}
	if _, err := u.s.GetRecord(ctx, collectionUsers, name); err == nil {
		return nil, fmt.Errorf("%w: user %q", ErrExists, name)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	hash, err := argon2id.CreateHash(password, &u.params)
	if err != nil {
		return nil, fmt.Errorf("oauth: hash password: %w", err)
	}
	var sub [16]byte
	rand.Read(sub[:]) // never fails
	usr := &User{Name: name, Subject: "user-" + hex.EncodeToString(sub[:]), PasswordHash: hash, Created: time.Now().UTC()}
	data, err := json.Marshal(usr)
	if err != nil {
		return nil, err
	}
	if err := u.s.PutRecord(ctx, collectionUsers, name, data, time.Time{}); err != nil {
		return nil, err
	}
	return usr, nil
}

func checkPassword(p string) error {
	if len(p) < MinPasswordLen || len(p) > MaxPasswordLen {
		return fmt.Errorf("oauth: a password has %d to %d bytes", MinPasswordLen, MaxPasswordLen)
	}
	return nil
}

// Get returns a user, or ErrNotFound.
func (u *Users) Get(ctx context.Context, name string) (*User, error) {
	data, err := u.s.GetRecord(ctx, collectionUsers, name)
	if err != nil {
		return nil, err
	}
	var usr User
	if err := json.Unmarshal(data, &usr); err != nil {
		return nil, fmt.Errorf("oauth: stored user %q: %w", name, err)
	}
	return &usr, nil
}

// Authenticate checks a user's password. Unknown users cost as much time
// as wrong passwords and get the same error.
func (u *Users) Authenticate(ctx context.Context, name, password string) (*User, error) {
	usr, err := u.Get(ctx, name)
	if errors.Is(err, ErrNotFound) || (err == nil && len(password) > MaxPasswordLen) {
		argon2id.ComparePasswordAndHash(password[:min(len(password), MaxPasswordLen)], u.dummy())
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	ok, err := argon2id.ComparePasswordAndHash(password, usr.PasswordHash)
	if err != nil {
		return nil, fmt.Errorf("oauth: stored hash of user %q: %w", name, err)
	}
	if !ok {
		return nil, ErrBadCredentials
	}
	return usr, nil
}

// StaticUser is a user listed in the config with an argon2id hash.
type StaticUser struct {
	Name         string `yaml:"name"`
	PasswordHash string `yaml:"password_hash"`
}

func (u StaticUser) validate() error {
	if !userNamePattern.MatchString(u.Name) {
		return errors.New("name: 1 to 64 letters, digits or . _ @ + -, starting with a letter or digit")
	}
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		return errors.New("password_hash: want an argon2id hash ($argon2id$...), as `subzero user hash` prints")
	}
	if _, _, _, err := argon2id.DecodeHash(u.PasswordHash); err != nil {
		return fmt.Errorf("password_hash: %v", err)
	}
	return nil
}

// HashPassword returns the argon2id hash of password for a config's users
// list.
func HashPassword(password string) (string, error) {
	if err := checkPassword(password); err != nil {
		return "", err
	}
	return argon2id.CreateHash(password, &DefaultArgon2)
}

// Ensure creates the user name with the given argon2id hash, or sets the
// hash of an existing user, keeping its subject.
func (u *Users) Ensure(ctx context.Context, name, hash string) error {
	usr, err := u.Get(ctx, name)
	switch {
	case errors.Is(err, ErrNotFound):
		var sub [16]byte
		rand.Read(sub[:])
		usr = &User{Name: name, Subject: "user-" + hex.EncodeToString(sub[:]), Created: time.Now().UTC()}
	case err != nil:
		return err
	case usr.PasswordHash == hash:
		return nil
	}
	usr.PasswordHash = hash
	data, err := json.Marshal(usr)
	if err != nil {
		return err
	}
	return u.s.PutRecord(ctx, collectionUsers, name, data, time.Time{})
}
