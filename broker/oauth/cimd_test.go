package oauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// docServer serves metadata documents over TLS on loopback; handler gets
// the document's own URL.
func docServer(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, self string)) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		handler(w, r, srv.URL+r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func jsonDoc(body string) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, self string) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, body, self)
	}
}

const goodDoc = `{"client_id":%q,"client_name":"Agent","redirect_uris":["http://127.0.0.1:7777/cb"],"token_endpoint_auth_method":"none"}`

func fetcher(t *testing.T, srv *httptest.Server, allow ...string) *CIMDFetcher {
	cfg := DefaultCIMD()
	cfg.Timeout = 2 * time.Second
	for _, a := range allow {
		cfg.AllowedNetworks = append(cfg.AllowedNetworks, netip.MustParsePrefix(a))
	}
	f, err := NewCIMDFetcher(cfg, srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestCIMDFetch(t *testing.T) {
	srv, hits := docServer(t, jsonDoc(goodDoc))
	f := fetcher(t, srv, "127.0.0.0/8")
	id := srv.URL + "/agents/a.json"
	c, err := f.Fetch(t.Context(), id, nil)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if c.ID != id || c.Source != SourceCIMD || !c.Public() || c.ClientName != "Agent" {
		t.Errorf("client = %+v", c)
	}
	if _, err := f.Fetch(t.Context(), id, nil); err != nil || hits.Load() != 1 {
		t.Errorf("second fetch: %v, %d requests; want the cached document", err, hits.Load())
	}
}

func TestCIMDRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler func(http.ResponseWriter, *http.Request, string)
		allow   []string
		id      func(srvURL string) string
		want    string
	}{
		{"loopback without allowlist", jsonDoc(goodDoc), nil, func(u string) string { return u + "/a" }, "not a public address"},
		{"localhost name", jsonDoc(goodDoc), nil, func(u string) string { return strings.Replace(u, "127.0.0.1", "localhost", 1) + "/a" }, "not a public address"},
		{"private 10/8", jsonDoc(goodDoc), []string{"127.0.0.0/8"}, func(string) string { return "https://10.1.2.3/a" }, "not a public address"},
		{"link-local metadata service", jsonDoc(goodDoc), nil, func(string) string { return "https://169.254.169.254/latest" }, "not a public address"},
		{"ipv6 loopback", jsonDoc(goodDoc), nil, func(string) string { return "https://[::1]:9/a" }, "not a public address"},
		{"http", jsonDoc(goodDoc), nil, func(u string) string { return strings.Replace(u, "https", "http", 1) + "/a" }, "https URL"},
		{"no path", jsonDoc(goodDoc), []string{"127.0.0.0/8"}, func(u string) string { return u + "/" }, "path"},
		{"fragment", jsonDoc(goodDoc), []string{"127.0.0.0/8"}, func(u string) string { return u + "/a#b" }, "fragment"},
		{"dot segment", jsonDoc(goodDoc), []string{"127.0.0.0/8"}, func(u string) string { return u + "/a/../b" }, "dot segments"},
		{"client_id mismatch", jsonDoc(`{"client_id":"https://other.example/a","redirect_uris":["https://x.example/cb"],"token_endpoint_auth_method":"none","ignored":%q}`), []string{"127.0.0.0/8"}, func(u string) string { return u + "/a" }, "is not its URL"},
		{"shared secret", jsonDoc(`{"client_id":%q,"redirect_uris":["https://x.example/cb"],"token_endpoint_auth_method":"client_secret_basic"}`), []string{"127.0.0.0/8"}, func(u string) string { return u + "/a" }, "none or private_key_jwt"},
		{"secret in document", jsonDoc(`{"client_id":%q,"client_secret":"s","redirect_uris":["https://x.example/cb"],"token_endpoint_auth_method":"none"}`), []string{"127.0.0.0/8"}, func(u string) string { return u + "/a" }, "secrets"},
		{"bad metadata", jsonDoc(`{"client_id":%q,"redirect_uris":["http://evil.example/cb"],"token_endpoint_auth_method":"none"}`), []string{"127.0.0.0/8"}, func(u string) string { return u + "/a" }, "invalid_redirect_uri"},
		{"not json", func(w http.ResponseWriter, r *http.Request, self string) { fmt.Fprint(w, "<html>") }, []string{"127.0.0.0/8"}, func(u string) string { return u + "/a" }, "application/json"},
		{"too big", jsonDoc(`{"client_id":%q,"client_name":"` + strings.Repeat("x", 6000) + `"}`), []string{"127.0.0.0/8"}, func(u string) string { return u + "/a" }, "larger than"},
		{"404", func(w http.ResponseWriter, r *http.Request, self string) { http.NotFound(w, r) }, []string{"127.0.0.0/8"}, func(u string) string { return u + "/a" }, "404"},
		{"redirect", func(w http.ResponseWriter, r *http.Request, self string) {
			http.Redirect(w, r, "https://169.254.169.254/", http.StatusFound)
		}, []string{"127.0.0.0/8"}, func(u string) string { return u + "/a" }, "redirects are not followed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := docServer(t, tc.handler)
			f := fetcher(t, srv, tc.allow...)
			_, err := f.Fetch(t.Context(), tc.id(srv.URL), nil)
			if !errors.Is(err, ErrCIMD) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Fetch error = %v, want ErrCIMD mentioning %q", err, tc.want)
			}
		})
	}
}

func TestCIMDTimeout(t *testing.T) {
	release := make(chan struct{})
	srv, _ := docServer(t, func(w http.ResponseWriter, r *http.Request, self string) { <-release })
	defer close(release)
	cfg := DefaultCIMD()
	cfg.Timeout = 200 * time.Millisecond
	cfg.AllowedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	f, err := NewCIMDFetcher(cfg, srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := f.Fetch(t.Context(), srv.URL+"/slow", nil); !errors.Is(err, ErrCIMD) {
		t.Fatalf("Fetch = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Fetch took %v with a 200ms timeout", d)
	}
}

func TestIsPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true, "127.0.0.1": false, "10.0.0.1": false, "172.16.0.1": false,
		"192.168.1.1": false, "169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "::1": false,
		"fe80::1": false, "fc00::1": false, "::ffff:10.0.0.1": false, "64:ff9b::a00:1": false, "224.0.0.1": false,
	} {
		if got := isPublic(netip.MustParseAddr(addr).Unmap()); got != want {
			t.Errorf("isPublic(%s) = %v, want %v", addr, got, want)
		}
	}
}
