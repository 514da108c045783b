package broker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/subzero-gateway/subzero/internal/redistest"
)

// BenchmarkTokenEndpointRedis measures the token endpoint of a node on a
// real redis-server: client_credentials with a fresh DPoP proof per
// request (ES256), 16 clients over loopback HTTP, client and server on the
// same two cores. Issue 3's target: >= 2,000 tokens/s.
func BenchmarkTokenEndpointRedis(b *testing.B) {
	rs := redistest.New(b)
	secretFile := testSecretFile(b)
	n := startNode(b, nodeOptions{yaml: fmt.Sprintf("server_secret: {file: %s}\nlog: {level: warn}\nstore:\n  kind: redis\n  redis:\n    url: %s\n    key_prefix: %q\n",
		secretFile, rs.URL(), redistest.Prefix(b))})
	var client struct{ ID, Secret string }
	client.ID, client.Secret = n.registerClient(b, `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic","scope":"mcp"}`)
	tokenURL := n.base + "/oauth2/token"
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"mcp"}}.Encode()

	b.SetParallelism(8) // 16 clients on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		for pb.Next() {
			proof := dpopProof(b, key, "POST", tokenURL, "")
			req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("DPoP", proof)
			req.SetBasicAuth(url.QueryEscape(client.ID), url.QueryEscape(client.Secret))
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"token_type":"DPoP"`) {
				b.Errorf("token endpoint: %d %s", resp.StatusCode, body)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}
