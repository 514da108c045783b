package dpop_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/subzero-gateway/subzero/broker/dpop"
)

// t0 is the tests' fixed time.
var t0 = time.Unix(1_760_000_000, 0)

// secret is the tests' nonce secret.
var secret = []byte("0123456789abcdef0123456789abcdef")

// memReplay is an in-memory dpop.ReplayStore on an injected clock.
type memReplay struct {
	mu   sync.Mutex
	now  func() time.Time
	keys map[string]time.Time
}

func newMemReplay(now func() time.Time) *memReplay {
	return &memReplay{now: now, keys: map[string]time.Time{}}
}

func (m *memReplay) Once(_ context.Context, key string, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if exp, ok := m.keys[key]; ok && m.now().Before(exp) {
		return false, nil
	}
	m.keys[key] = until
	return true, nil
}

// agent is a client key pair that makes proofs with jwx.
type agent struct {
	alg  jwa.SignatureAlgorithm
	priv crypto.Signer
	pub  jwk.Key
}

var (
	keysOnce sync.Once
	keys     map[jwa.SignatureAlgorithm]crypto.Signer
)

// signer returns a key for alg, generated once per test binary.
func signer(t testing.TB, alg jwa.SignatureAlgorithm) crypto.Signer {
	keysOnce.Do(func() {
		keys = map[jwa.SignatureAlgorithm]crypto.Signer{}
		for _, c := range []struct {
			alg   jwa.SignatureAlgorithm
			curve elliptic.Curve
		}{{jwa.ES256, elliptic.P256()}, {jwa.ES384, elliptic.P384()}, {jwa.ES512, elliptic.P521()}} {
			k, err := ecdsa.GenerateKey(c.curve, rand.Reader)
			if err != nil {
				panic(err)
			}
			keys[c.alg] = k
		}
		_, ed, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		keys[jwa.EdDSA] = ed
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[jwa.RS256], keys[jwa.PS256] = rk, rk
	})
	k, ok := keys[alg]
	if !ok {
		t.Fatalf("no test key for %s", alg)
	}
	return k
}

func newAgent(t testing.TB, alg jwa.SignatureAlgorithm) *agent {
	t.Helper()
	return newAgentKey(t, alg, signer(t, alg))
}

func newAgentKey(t testing.TB, alg jwa.SignatureAlgorithm, priv crypto.Signer) *agent {
	t.Helper()
	pub, err := jwk.FromRaw(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &agent{alg: alg, priv: priv, pub: pub}
}

// jkt returns the agent key's thumbprint as jwx computes it.
func (a *agent) jkt(t testing.TB) string {
	tp, err := a.pub.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// claims returns valid claims for a POST to the token endpoint at t0.
func claims(jti string) map[string]any {
	return map[string]any{"jti": jti, "htm": "POST", "htu": tokenURL, "iat": t0.Unix()}
}

const (
	tokenURL    = "https://as.example.com/oauth2/token"
	resourceURL = "https://as.example.com/mcp"
	accessToken = "at-Zm9vYmFyYmF6-secret-token"
)

func ath(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// sign makes a proof of claims with the agent's key and alg, with header
// typ dpop+jwt and jwk the agent's public key, after edit changes the
// header.
func (a *agent) sign(t testing.TB, c map[string]any, edit func(h jws.Headers)) string {
	t.Helper()
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	h := jws.NewHeaders()
	if err := h.Set(jws.TypeKey, "dpop+jwt"); err != nil {
		t.Fatal(err)
	}
	if err := h.Set(jws.JWKKey, a.pub); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(h)
	}
	var key any = a.priv
	if a.alg.String() == "HS256" {
		key = []byte("a symmetric key of 32 bytes.....")
	}
	out, err := jws.Sign(payload, jws.WithKey(a.alg, key, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatalf("jws.Sign: %v", err)
	}
	return string(out)
}

func set(k string, v any) func(jws.Headers) {
	return func(h jws.Headers) {
		if err := h.Set(k, v); err != nil {
			panic(err)
		}
	}
}

func del(k string) func(jws.Headers) {
	return func(h jws.Headers) {
		if err := h.Remove(k); err != nil {
			panic(err)
		}
	}
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// newVerifier returns a verifier on a clock the test moves, and its store.
func newVerifier(t testing.TB, edit func(*dpop.Config)) (*dpop.Verifier, *time.Time, *memReplay) {
	t.Helper()
	cfg := dpop.Default()
	if edit != nil {
		edit(&cfg)
	}
	now := new(time.Time)
	*now = t0
	clock := func() time.Time { return *now }
	store := newMemReplay(clock)
	v, err := dpop.New(cfg, secret, store, clock)
	if err != nil {
		t.Fatal(err)
	}
	return v, now, store
}

func sha256Sum(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}
