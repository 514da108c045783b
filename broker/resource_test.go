package broker

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/subzero-gateway/subzero/broker/dpop"
	"github.com/subzero-gateway/subzero/broker/token"
	"github.com/subzero-gateway/subzero/store/bolt"
)

// guardFixture is a protected resource on a real loopback server, with a
// real key set, token issuer, validator and DPoP verifier on bbolt.
type guardFixture struct {
	srv      *httptest.Server
	issuer   *token.Issuer
	resource string
	key      *ecdsa.PrivateKey // the client's DPoP key
	jkt      string
}

func newGuardFixture(t *testing.T, requireDPoP bool, nonce dpop.NonceMode) *guardFixture {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "subzero.db"), time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tcfg := token.Default()
	keys, err := token.NewKeySet(t.Context(), tcfg, db.SigningKeys(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	const iss = "http://issuer.test"
	issuer, err := token.NewIssuer(tcfg, iss, keys)
	if err != nil {
		t.Fatal(err)
	}
	validator, err := token.NewValidator(tcfg, iss, keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	dcfg := dpop.Default()
	dcfg.Nonce = nonce
	proofs, err := dpop.New(dcfg, []byte(strings.Repeat("n", 32)), db.Replay(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	f := &guardFixture{issuer: issuer}
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	public, _ := url.Parse(f.srv.URL)
	f.resource = f.srv.URL + "/mcp"
	g := &resourceGuard{public: public, resource: f.resource, metadataURL: f.srv.URL + "/.well-known/oauth-protected-resource/mcp",
		scopes: []string{"mcp:tools"}, requireDPoP: requireDPoP, tokens: validator, proofs: proofs}
	mux.Handle("/mcp", g.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := TokenClaims(r.Context())
		io.WriteString(w, "hello "+c.Subject)
	})))
	f.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := jwk.FromRaw(f.key.Public())
	tp, _ := pub.Thumbprint(crypto.SHA256)
	f.jkt = base64.RawURLEncoding.EncodeToString(tp)
	return f
}

func (f *guardFixture) mint(t *testing.T, edit func(*token.Claims)) string {
	t.Helper()
	c := token.Claims{Subject: "alice", Audience: []string{f.resource}, ClientID: "agent", Scope: []string{"mcp:tools"}}
	if edit != nil {
		edit(&c)
	}
	tok, err := f.issuer.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// proof signs a DPoP proof with key for the request.
func proof(t *testing.T, key *ecdsa.PrivateKey, method, htu, accessToken, nonce string) string {
	t.Helper()
	pub, _ := jwk.FromRaw(key.Public())
	hdr := jws.NewHeaders()
	hdr.Set("typ", "dpop+jwt")
	hdr.Set("jwk", pub)
	claims := map[string]any{"jti": uuid.NewString(), "htm": method, "htu": htu, "iat": time.Now().Unix()}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	payload, _ := json.Marshal(claims)
	out, err := jws.Sign(payload, jws.WithKey(jwa.ES256, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func (f *guardFixture) call(t *testing.T, path string, header http.Header) (*http.Response, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]string
	json.Unmarshal(body, &m)
	if m == nil {
		m = map[string]string{"body": string(body)}
	}
	return resp, m
}

func TestResourceGuard(t *testing.T) {
	f := newGuardFixture(t, false, dpop.NonceOff)
	bearer := f.mint(t, nil)
	bound := f.mint(t, func(c *token.Claims) { c.JKT = f.jkt })
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	htu := f.resource
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	replayed := proof(t, f.key, "GET", htu, bound, "")
	f.call(t, "/mcp", h("Authorization", "DPoP "+bound, "DPoP", replayed))

	for _, tc := range []struct {
		name   string
		path   string
		header http.Header
		status int
		code   string
	}{
		{"bearer", "/mcp", h("Authorization", "Bearer "+bearer), 200, ""},
		{"dpop", "/mcp", h("Authorization", "DPoP "+bound, "DPoP", proof(t, f.key, "GET", htu, bound, "")), 200, ""},
		{"no token", "/mcp", nil, 401, ""},
		{"token in query", "/mcp?access_token=" + bearer, nil, 400, "invalid_request"},
		{"two authorization headers", "/mcp", h("Authorization", "Bearer "+bearer, "Authorization", "Bearer "+bearer), 400, "invalid_request"},
		{"basic scheme", "/mcp", h("Authorization", "Basic YTpi"), 401, "invalid_token"},
		{"garbage token", "/mcp", h("Authorization", "Bearer abc.def.ghi"), 401, "invalid_token"},
		{"other audience", "/mcp", h("Authorization", "Bearer "+f.mint(t, func(c *token.Claims) { c.Audience = []string{"https://elsewhere/mcp"} })), 401, "invalid_token"},
		{"insufficient scope", "/mcp", h("Authorization", "Bearer "+f.mint(t, func(c *token.Claims) { c.Scope = []string{"mcp:read"} })), 403, "insufficient_scope"},
		{"bound token as bearer", "/mcp", h("Authorization", "Bearer "+bound), 401, "invalid_token"},
		{"unbound token as dpop", "/mcp", h("Authorization", "DPoP "+bearer, "DPoP", proof(t, f.key, "GET", htu, bearer, "")), 401, "invalid_token"},
		{"dpop without proof", "/mcp", h("Authorization", "DPoP "+bound), 401, "invalid_dpop_proof"},
		{"replayed proof", "/mcp", h("Authorization", "DPoP "+bound, "DPoP", replayed), 401, "invalid_dpop_proof"},
		{"proof by another key", "/mcp", h("Authorization", "DPoP "+bound, "DPoP", proof(t, other, "GET", htu, bound, "")), 401, "invalid_dpop_proof"},
		{"proof for another token", "/mcp", h("Authorization", "DPoP "+bound, "DPoP", proof(t, f.key, "GET", htu, bearer, "")), 401, "invalid_dpop_proof"},
		{"proof for another method", "/mcp", h("Authorization", "DPoP "+bound, "DPoP", proof(t, f.key, "POST", htu, bound, "")), 401, "invalid_dpop_proof"},
		{"proof for another URL", "/mcp", h("Authorization", "DPoP "+bound, "DPoP", proof(t, f.key, "GET", f.srv.URL+"/v1", bound, "")), 401, "invalid_dpop_proof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.call(t, tc.path, tc.header)
			if resp.StatusCode != tc.status || (tc.code != "" && body["error"] != tc.code) {
				t.Fatalf("status %d error %q (%s); want %d %q", resp.StatusCode, body["error"], body["error_description"], tc.status, tc.code)
			}
			if tc.status == 200 {
				if body["body"] != "hello alice" {
					t.Errorf("handler saw %q", body["body"])
				}
				return
			}
			if strings.Contains(body["error_description"], bearer) || strings.Contains(body["error_description"], bound) {
				t.Error("the error echoes the token")
			}
			chal := strings.Join(resp.Header.Values("WWW-Authenticate"), "\n")
			for _, want := range []string{"Bearer ", "DPoP algs=", `resource_metadata="` + f.srv.URL + "/.well-known/oauth-protected-resource/mcp", `scope="mcp:tools"`} {
				if !strings.Contains(chal, want) {
					t.Errorf("WWW-Authenticate %q lacks %q", chal, want)
				}
			}
		})
	}
}

func TestResourceGuardRequiresDPoPAndNonce(t *testing.T) {
	f := newGuardFixture(t, true, dpop.NonceRequired)
	bearer := f.mint(t, nil)
	resp, body := f.call(t, "/mcp", http.Header{"Authorization": {"Bearer " + bearer}})
	if resp.StatusCode != 401 || body["error"] != "invalid_token" {
		t.Fatalf("unbound token where DPoP is required: %d %v", resp.StatusCode, body)
	}
	if chal := strings.Join(resp.Header.Values("WWW-Authenticate"), "\n"); strings.Contains(chal, "Bearer ") {
		t.Errorf("a DPoP-only resource offers Bearer: %q", chal)
	}
	bound := f.mint(t, func(c *token.Claims) { c.JKT = f.jkt })
	resp, body = f.call(t, "/mcp", http.Header{"Authorization": {"DPoP " + bound}, "Dpop": {proof(t, f.key, "GET", f.resource, bound, "")}})
	nonce := resp.Header.Get("DPoP-Nonce")
	if resp.StatusCode != 401 || body["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("proof without nonce: %d %v nonce %q; want use_dpop_nonce with a DPoP-Nonce header", resp.StatusCode, body, nonce)
	}
	resp, body = f.call(t, "/mcp", http.Header{"Authorization": {"DPoP " + bound}, "Dpop": {proof(t, f.key, "GET", f.resource, bound, nonce)}})
	if resp.StatusCode != 200 {
		t.Fatalf("retry with the nonce: %d %v", resp.StatusCode, body)
	}
}
