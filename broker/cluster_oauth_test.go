package broker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/subzero-gateway/subzero/internal/redistest"
)

// dpopProof signs a proof for one request (the test's own client code);
// accessToken, when not empty, is bound with ath.
func dpopProof(t testing.TB, key *ecdsa.PrivateKey, method, htu, accessToken string) string {
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
	payload, _ := json.Marshal(claims)
	out, err := jws.Sign(payload, jws.WithKey(jwa.ES256, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// registerClient registers a client through the node's registration
// endpoint and returns its ID and secret.
func (n *testNode) registerClient(t testing.TB, metadata string) (id, secret string) {
	t.Helper()
	resp, err := n.client.Post(n.base+"/oauth2/register", "application/json", strings.NewReader(metadata))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&c) != nil {
		t.Fatalf("register: %s", resp.Status)
	}
	return c.ID, c.Secret
}

// TestOAuthAcrossNodes runs two nodes on one redis-server behind one
// issuer (as behind a load balancer): a client registered and served on
// one node is served by the other, a DPoP proof used on one is refused as
// a replay on the other, and a revocation on one reaches the other within
// about a second.
func TestOAuthAcrossNodes(t *testing.T) {
	rs := redistest.New(t)
	secret := testSecretFile(t)
	const issuer = "http://localhost:9" // the load balancer's address; no one listens there
	yaml := fmt.Sprintf("server_secret: {file: %s}\noauth: {issuer: %q}\nstore:\n  kind: redis\n  redis:\n    url: %s\n    key_prefix: %q\n",
		secret, issuer, rs.URL(), redistest.Prefix(t))
	a := startNode(t, nodeOptions{yaml: yaml, environ: []string{"SUBZERO_NODE_ID=node-a"}})
	b := startNode(t, nodeOptions{yaml: yaml, environ: []string{"SUBZERO_NODE_ID=node-b"}})

	var client struct{ ID, Secret string }
	client.ID, client.Secret = a.registerClient(t, `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post","scope":"mcp"}`)

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	userinfo := issuer + "/oauth2/userinfo"
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {client.ID}, "client_secret": {client.Secret},
		"scope": {"mcp"}, "resource": {userinfo}}
	req, _ := http.NewRequest(http.MethodPost, b.base+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", dpopProof(t, key, "POST", issuer+"/oauth2/token", ""))
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || json.Unmarshal(body, &tok) != nil || tok.TokenType != "DPoP" {
		t.Fatalf("token from node b for a client registered on node a: %d %s", resp.StatusCode, body)
	}

	call := func(n *testNode, proof string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, n.base+"/oauth2/userinfo", nil)
		req.Header.Set("Authorization", "DPoP "+tok.AccessToken)
		req.Header.Set("DPoP", proof)
		resp, err := n.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	proof := dpopProof(t, key, "GET", userinfo, tok.AccessToken)
	if code, body := call(a, proof); code != 200 || !strings.Contains(body, client.ID) {
		t.Fatalf("userinfo on node a with a token from node b: %d %s", code, body)
	}
	if code, body := call(b, proof); code != 401 || !strings.Contains(body, "invalid_dpop_proof") {
		t.Errorf("the same proof on node b: %d %s; want a replay refused with invalid_dpop_proof", code, body)
	}

	rev := url.Values{"token": {tok.AccessToken}, "client_id": {client.ID}, "client_secret": {client.Secret}}
	resp, err = a.client.PostForm(a.base+"/oauth2/revoke", rev)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke on node a: %v %v", resp, err)
	}
	resp.Body.Close()
	revoked := time.Now()
	for {
		code, _ := call(b, dpopProof(t, key, "GET", userinfo, tok.AccessToken))
		if code == 401 {
			t.Logf("node b refused the token %v after node a revoked it", time.Since(revoked).Round(time.Millisecond))
			break
		}
		if time.Since(revoked) > 3*time.Second {
			t.Fatalf("node b still accepts a token node a revoked %v ago (nodes refresh revocations every second)", time.Since(revoked))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
