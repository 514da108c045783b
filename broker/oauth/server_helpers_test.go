package oauth_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/subzero-gateway/subzero/broker/oauth"
	"github.com/subzero-gateway/subzero/internal/secret"
)

// Secrets of the static test clients (at least 32 bytes each).
const (
	basicSecret = "basic-secret-0123456789abcdefghijklmnop"
	postSecret  = "post-secret-0123456789abcdefghijklmnopq"
	webSecret   = "web-secret-0123456789abcdefghijklmnopqr"
)

// The test clients' scopes.
var testScopes = []string{"mcp:tools", "mcp:admin"}

// recAuditor records audit events.
type recAuditor struct {
	mu     sync.Mutex
	events []oauth.AuditEvent
}

func (a *recAuditor) Record(_ context.Context, e oauth.AuditEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
}

// find returns the recorded events with action.
func (a *recAuditor) find(action string) []oauth.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []oauth.AuditEvent
	for _, e := range a.events {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// signingKey is a client's private_key_jwt key.
type signingKey struct {
	alg  jwa.SignatureAlgorithm
	kid  string
	priv crypto.Signer
}

// harness is a Server on a real bbolt store behind a loopback HTTP server.
type harness struct {
	srv      *oauth.Server
	alice    *oauth.User // the user who logs in at the authorization endpoint
	ts       *httptest.Server
	store    oauth.Store
	audit    *recAuditor
	logs     *bytes.Buffer
	issuer   string
	tokenURL string
	jwtKeys  []signingKey // keys of client "svc-jwt"
}

// newHarness starts a server with the test clients and the authorization
// endpoint, where the user alice logs in with alicePassword; mod may
// change the config before it starts.
func newHarness(t testing.TB, mod func(*oauth.Config)) *harness {
	t.Helper()
	return startHarness(t, mod, true)
}

// startHarness starts a server with the test clients, with the
// authorization endpoint and its user alice only when withUsers is set.
func startHarness(t testing.TB, mod func(*oauth.Config), withUsers bool) *harness {
	t.Helper()
	store, db := testStore(t)
	h := &harness{store: store, audit: &recAuditor{}, logs: &bytes.Buffer{}}
	mux := http.NewServeMux()
	h.ts = httptest.NewUnstartedServer(mux)
	h.issuer = "http://" + h.ts.Listener.Addr().String()
	h.tokenURL = h.issuer + "/oauth2/token"

	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h.jwtKeys = []signingKey{{jwa.ES256, "k-es256", ec}, {jwa.EdDSA, "k-ed25519", ed}}
	set := jwk.NewSet()
	for _, k := range h.jwtKeys {
		pub, err := jwk.FromRaw(k.priv.Public())
		if err != nil {
			t.Fatal(err)
		}
		pub.Set(jwk.KeyIDKey, k.kid) // no "use": fosite would skip such keys
		set.AddKey(pub)
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}

	cfg := oauth.Default()
	cfg.Issuer, _ = url.Parse(h.issuer)
	cfg.Scopes = testScopes
	cfg.CIMD.Enabled = false
	cfg.Clients = []oauth.StaticClient{
		{ID: "svc-basic", Secret: secret.Ref{Env: "BASIC"}, GrantTypes: []string{oauth.GrantClientCredentials}, Scope: "mcp:tools mcp:admin", TokenEndpointAuthMethod: oauth.AuthClientSecretBasic},
		{ID: "svc-post", Secret: secret.Ref{Env: "POST"}, GrantTypes: []string{oauth.GrantClientCredentials}, Scope: "mcp:tools", TokenEndpointAuthMethod: oauth.AuthClientSecretPost},
		{ID: "svc-jwt", GrantTypes: []string{oauth.GrantClientCredentials}, Scope: "mcp:tools", TokenEndpointAuthMethod: oauth.AuthPrivateKeyJWT, JWKS: string(jwks)},
		{ID: "svc-dpop", Secret: secret.Ref{Env: "BASIC"}, GrantTypes: []string{oauth.GrantClientCredentials}, Scope: "mcp:tools", TokenEndpointAuthMethod: oauth.AuthClientSecretBasic, DPoPBoundAccessTokens: true},
		{ID: "agent", GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken}, Scope: "mcp:tools", TokenEndpointAuthMethod: oauth.AuthNone, RedirectURIs: []string{"http://127.0.0.1:9/cb"}},
		{ID: "webapp", Secret: secret.Ref{Env: "WEB"}, GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken}, Scope: "mcp:tools", TokenEndpointAuthMethod: oauth.AuthClientSecretBasic, RedirectURIs: []string{"https://app.example/cb"}},
	}
	if mod != nil {
		mod(&cfg)
	}
	env := map[string]string{"BASIC": basicSecret, "POST": postSecret, "WEB": webSecret}
	deps := oauth.Deps{
		Store: store, Replay: db.Replay(), Keys: db.SigningKeys(),
		Secret:  []byte("server-secret-0123456789abcdefghijklmnop"),
		Auditor: h.audit,
		Logger:  slog.New(slog.NewTextHandler(syncWriter{w: h.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Getenv:  func(k string) string { return env[k] },
	}
	if withUsers {
		deps.Users = oauth.NewUsers(store, fastArgon2)
		if h.alice, err = deps.Users.Add(t.Context(), "alice", alicePassword); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := oauth.NewServer(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	if withUsers {
		mux.Handle("/oauth2/authorize", srv.AuthorizeHandler())
	}
	mux.Handle("/oauth2/token", srv.TokenHandler())
	mux.Handle("/oauth2/register", srv.RegisterHandler())
	mux.Handle("/oauth2/introspect", srv.IntrospectHandler())
	mux.Handle("/oauth2/revoke", srv.RevokeHandler())
	mux.Handle("/oauth2/jwks", srv.JWKSHandler())
	mux.Handle("/.well-known/oauth-authorization-server", srv.MetadataHandler())
	mux.Handle("/.well-known/openid-configuration", srv.MetadataHandler())
	mux.Handle("/.well-known/oauth-protected-resource/mcp", srv.ProtectedResourceMetadata(h.issuer+"/mcp", []string{"mcp:tools"}))
	h.ts.Start()
	t.Cleanup(h.ts.Close)
	return h
}

// syncWriter serializes writes to a buffer shared by handlers.
type syncWriter struct{ w *bytes.Buffer }

var logMu sync.Mutex

func (s syncWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	return s.w.Write(p)
}

// response is a decoded endpoint response.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r *response) str(name string) string { s, _ := r.body[name].(string); return s }

// post sends a form to path, with Basic credentials when user is set and
// the given extra headers (name, value pairs).
func (h *harness) post(t testing.TB, path string, form url.Values, user, pass string, headers ...string) *response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return h.do(t, req)
}

func (h *harness) do(t testing.TB, req *http.Request) *response {
	t.Helper()
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := &response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/") {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: body is not JSON: %s", req.Method, req.URL.Path, raw)
		}
	}
	return out
}

// wantError checks an OAuth error response.
func wantError(t testing.TB, r *response, status int, code string) {
	t.Helper()
	if r.status != status || r.str("error") != code {
		t.Fatalf("got %d %s, want %d %s", r.status, r.raw, status, code)
	}
}

// claimsOf decodes a JWT's claims without verifying it.
func claimsOf(t testing.TB, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token is not a JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// assertion signs a private_key_jwt client assertion for svc-jwt with key
// k; edit may change the claims.
func (h *harness) assertion(t testing.TB, k signingKey, aud any, edit func(map[string]any)) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{
		"iss": "svc-jwt", "sub": "svc-jwt", "aud": aud, "jti": randText(),
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}
	if edit != nil {
		edit(claims)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	hdr.Set(jws.KeyIDKey, k.kid)
	hdr.Set(jws.TypeKey, "JWT")
	out, err := jws.Sign(payload, jws.WithKey(k.alg, k.priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func randText() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// prover makes DPoP proofs with one ES256 key.
type prover struct {
	priv *ecdsa.PrivateKey
	pub  jwk.Key
	jkt  string
}

func newProver(t testing.TB) *prover {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.FromRaw(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &prover{priv: priv, pub: pub, jkt: base64.RawURLEncoding.EncodeToString(tp)}
}

// proof returns a proof for a POST to htu, with nonce when not empty.
func (p *prover) proof(t testing.TB, htu, nonce string) string {
	t.Helper()
	claims := map[string]any{"jti": randText(), "htm": "POST", "htu": htu, "iat": time.Now().Unix()}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	hdr.Set(jws.TypeKey, "dpop+jwt")
	hdr.Set(jws.JWKKey, p.pub)
	out, err := jws.Sign(payload, jws.WithKey(jwa.ES256, p.priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// pkcePair returns a code verifier and its S256 challenge.
func pkcePair() (verifier, challenge string) {
	verifier = randText() + randText() // 44 characters
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorize obtains a code for client "agent" (or client) through fosite's
// authorization endpoint in process, for the user user-1 and the given
// resources.
func (h *harness) authorize(t testing.TB, client, redirect, challenge string, resources []string, jkt string) string {
	t.Helper()
	q := url.Values{
		"response_type": {"code"}, "client_id": {client}, "redirect_uri": {redirect},
		"scope": {"mcp:tools"}, "state": {"state-0123456789"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	code, err := h.authorizeQuery(t, q, &oauth.Session{Subject: "user-1", Username: "alice", AuthTime: time.Now(), Resources: resources, JKT: jkt})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func (h *harness) authorizeQuery(t testing.TB, q url.Values, sess *oauth.Session) (string, error) {
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, h.issuer+"/oauth2/authorize?"+q.Encode(), nil)
	return oauth.AuthorizeForTest(h.srv, req, sess)
}
