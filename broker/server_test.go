package broker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/broker"
	"github.com/subzero-gateway/subzero/internal/redistest"
	"github.com/subzero-gateway/subzero/store/bolt"
)

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func decodeBody(t *testing.T, body []byte) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body is not a JSON object of strings: %v: %q", err, body)
	}
	return m
}

func TestServeEndpoints(t *testing.T) {
	n := startNode(t, nodeOptions{})
	node := n.srv.Node()

	tests := []struct {
		method, path string
		wantStatus   int
		wantBody     map[string]string // "request_id": "" means the response's X-Request-ID
	}{
		{"GET", "/healthz", 200, map[string]string{"status": "ok", "node": node}},
		{"GET", "/readyz", 200, map[string]string{"status": "ready", "store": "bolt"}},
		{"GET", "/nope", 404, map[string]string{"error": "not_found", "message": "no such endpoint", "request_id": ""}},
		{"GET", "/healthz/extra", 404, map[string]string{"error": "not_found", "message": "no such endpoint", "request_id": ""}},
		{"HEAD", "/healthz", 200, nil},
	}
	seen := map[string]string{} // request ID -> path
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := n.get(t, tt.method, tt.path, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d; body %q", resp.StatusCode, tt.wantStatus, body)
			}
			id := resp.Header.Get("X-Request-ID")
			if !requestIDPattern.MatchString(id) {
				t.Errorf("X-Request-ID = %q, want a request ID", id)
			}
			if prev, dup := seen[id]; dup {
				t.Errorf("X-Request-ID %q was also given to %s", id, prev)
			}
			seen[id] = tt.method + " " + tt.path
			if tt.wantBody == nil {
				return
			}
			if got := resp.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			want := map[string]string{}
			for k, v := range tt.wantBody {
				if k == "request_id" && v == "" {
					v = id
				}
				want[k] = v
			}
			if diff := cmp.Diff(want, decodeBody(t, body)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}

	// Every request is logged once, with its ID, route and status.
	waitFor(t, "a log line for every request", func() bool {
		logged := 0
		for _, rec := range n.logs.records(t) {
			if rec["msg"] == "request" && seen[fmt.Sprint(rec["request_id"])] != "" {
				logged++
			}
		}
		return logged == len(seen)
	})
	for _, rec := range n.logs.records(t) {
		if rec["msg"] != "request" {
			continue
		}
		id, _ := rec["request_id"].(string)
		what, ok := seen[id]
		if !ok {
			t.Errorf("request log line with request_id %q matches no response: %v", id, rec)
			continue
		}
		if got := fmt.Sprint(rec["method"], " ", rec["path"]); got != what {
			t.Errorf("log line for request %s names %q, want %q", id, got, what)
		}
		if rec["client"] != "127.0.0.1" {
			t.Errorf("log line client = %v, want 127.0.0.1", rec["client"])
		}
	}

	resp, body := n.get(t, "GET", "/metrics", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: status %d", resp.StatusCode)
	}
	samples := parseMetrics(t, string(body))
	for _, want := range []struct {
		name   string
		labels map[string]string
		value  float64 // -1: any positive value
	}{
		{"subzero_http_requests_total", map[string]string{"route": "GET /healthz", "method": "GET", "code": "200"}, 1},
		{"subzero_http_requests_total", map[string]string{"route": "GET /healthz", "method": "HEAD", "code": "200"}, 1},
		{"subzero_http_requests_total", map[string]string{"route": "GET /readyz", "method": "GET", "code": "200"}, 1},
		{"subzero_http_requests_total", map[string]string{"route": "/", "method": "GET", "code": "404"}, 2},
		{"subzero_http_request_duration_seconds_count", map[string]string{"route": "GET /healthz", "code": "200"}, 2},
		{"subzero_http_request_duration_seconds_count", map[string]string{"route": "/", "code": "404"}, 2},
		{"subzero_http_request_duration_seconds_bucket", map[string]string{"route": "/", "code": "404", "le": "+Inf"}, 2},
		{"subzero_store_operation_duration_seconds_count", map[string]string{"backend": "bolt", "op": "audit_append"}, -1},
		{"subzero_store_operation_duration_seconds_count", map[string]string{"backend": "bolt", "op": "audit_put_key"}, 1},
		{"subzero_store_operation_duration_seconds_count", map[string]string{"backend": "bolt", "op": "ping"}, 1},
		{"subzero_audit_events_appended_total", nil, 1}, // the start event
	} {
		got, ok := find(samples, want.name, want.labels)
		switch {
		case !ok:
			t.Errorf("/metrics has no %s%s", want.name, describeLabels(want.labels))
		case want.value < 0 && got <= 0, want.value >= 0 && got != want.value:
			t.Errorf("%s%s = %v, want %v", want.name, describeLabels(want.labels), got, want.value)
		}
	}
	// Unknown paths share one route label: no label per path.
	for _, s := range samples {
		if s.name == "subzero_http_requests_total" && strings.Contains(s.labels["route"], "nope") {
			t.Errorf("unknown path became a route label: %v", s.labels)
		}
	}
}

func TestServeRequestIDFromTrustedProxiesOnly(t *testing.T) {
	long := strings.Repeat("a", 65)
	tests := []struct {
		name    string
		proxies string // server.trusted_proxies
		header  string // incoming X-Request-ID
		forward string // incoming X-Forwarded-For
		wantID  bool   // the incoming ID is kept
		client  string // the client address logged
	}{
		{"trusted proxy", "[127.0.0.1/32]", "proxy-id.1_A", "203.0.113.7", true, "203.0.113.7"},
		{"trusted proxy, list of forwarders", "[127.0.0.0/8]", "abc", "198.51.100.1, 203.0.113.7", true, "203.0.113.7"},
		{"trusted proxy, invalid ID", "[127.0.0.1/32]", "bad id!", "", false, "127.0.0.1"},
		{"trusted proxy, ID too long", "[127.0.0.1/32]", long, "", false, "127.0.0.1"},
		{"other proxies trusted", "[10.0.0.0/8]", "proxy-id-2", "203.0.113.7", false, "127.0.0.1"},
		{"no proxies trusted", "[]", "proxy-id-3", "203.0.113.7", false, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := startNode(t, nodeOptions{yaml: "server:\n  trusted_proxies: " + tt.proxies + "\n"})
			h := http.Header{"X-Request-Id": {tt.header}}
			if tt.forward != "" {
				h.Set("X-Forwarded-For", tt.forward)
			}
			resp, _ := n.get(t, "GET", "/nope", h)
			got := resp.Header.Get("X-Request-ID")
			if (got == tt.header) != tt.wantID {
				t.Errorf("X-Request-ID = %q for incoming %q; want incoming kept: %v", got, tt.header, tt.wantID)
			}
			if !requestIDPattern.MatchString(got) {
				t.Errorf("X-Request-ID = %q, want a valid request ID", got)
			}
			waitFor(t, "the request's log line", func() bool { return strings.Contains(n.logs.String(), `"msg":"request"`) })
			for _, rec := range n.logs.records(t) {
				if rec["msg"] != "request" {
					continue
				}
				if rec["request_id"] != got {
					t.Errorf("log request_id = %v, want %q", rec["request_id"], got)
				}
				if rec["client"] != tt.client {
					t.Errorf("log client = %v, want %q", rec["client"], tt.client)
				}
			}
		})
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "subzero test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	n := startNode(t, nodeOptions{
		yaml:   fmt.Sprintf("server:\n  tls:\n    cert_file: %s\n    key_file: %s\n", certFile, keyFile),
		client: client,
		scheme: "https",
	})

	resp, body := n.get(t, "GET", "/healthz", nil)
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("GET https /healthz: status %d, TLS %v; body %q", resp.StatusCode, resp.TLS != nil, body)
	}
	if resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("TLS version %x, want at least 1.2", resp.TLS.Version)
	}
	if resp.Header.Get("X-Request-ID") == "" {
		t.Error("HTTPS response has no X-Request-ID")
	}

	t.Run("plain HTTP is refused", func(t *testing.T) {
		plain := &http.Client{Transport: &http.Transport{}}
		defer plain.CloseIdleConnections()
		resp, err := plain.Get("http://" + n.addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS port: status %d, want 400", resp.StatusCode)
		}
	})
	t.Run("TLS 1.1 is refused", func(t *testing.T) {
		old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
		defer old.CloseIdleConnections()
		if resp, err := old.Get(n.base + "/healthz"); err == nil {
			resp.Body.Close()
			t.Error("a TLS 1.1 client was served")
		}
	})

	var serving map[string]any
	for _, rec := range n.logs.records(t) {
		if rec["msg"] == "serving" {
			serving = rec
		}
	}
	if serving["tls"] != true {
		t.Errorf(`"serving" log line has tls = %v, want true`, serving["tls"])
	}
}

// holdHandler keeps requests carrying X-Test-Hold in flight: it reports
// each on held and lets it through to the server's handler once release is
// closed.
func holdHandler(held chan<- struct{}, release <-chan struct{}) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Test-Hold") != "" {
				held <- struct{}{}
				<-release
			}
			next.ServeHTTP(w, r)
		})
	}
}

type result struct {
	resp *http.Response
	body []byte
	err  error
}

// sendHeld sends GET path with X-Test-Hold in the background.
func (n *testNode) sendHeld(t *testing.T, path string) <-chan result {
	req, err := http.NewRequestWithContext(t.Context(), "GET", n.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Test-Hold", "1")
	c := make(chan result, 1)
	go func() {
		resp, err := n.client.Do(req)
		if err != nil {
			c <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		c <- result{resp: resp, body: body, err: err}
	}()
	return c
}

func recv[T any](t *testing.T, what string, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// listenerClosed reports whether addr refuses connections.
func listenerClosed(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

func TestServeGracefulShutdown(t *testing.T) {
	held, release := make(chan struct{}, 1), make(chan struct{})
	n := startNode(t, nodeOptions{wrap: holdHandler(held, release)})
	node := n.srv.Node()

	// A request in flight when the context ends: it sees /readyz draining.
	inflight := n.sendHeld(t, "/readyz")
	recv(t, "the request to be in flight", held)
	stopped := make(chan error, 1)
	go func() { stopped <- n.stop() }()
	waitFor(t, "the shutdown to begin", func() bool { return strings.Contains(n.logs.String(), `"msg":"shutting down"`) })
	waitFor(t, "the listener to close", func() bool { return listenerClosed(n.addr) })
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned (%v) while a request was in flight", err)
	default:
	}
	close(release)

	res := recv(t, "the in-flight response", inflight)
	if res.err != nil {
		t.Fatalf("in-flight request failed: %v", res.err)
	}
	if res.resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("in-flight /readyz during shutdown: status %d, want 503", res.resp.StatusCode)
	}
	if diff := cmp.Diff(map[string]string{"status": "draining"}, decodeBody(t, res.body)); diff != "" {
		t.Errorf("in-flight /readyz body (-want +got):\n%s", diff)
	}
	if res.resp.Header.Get("X-Request-ID") == "" {
		t.Error("in-flight response has no X-Request-ID")
	}
	if err := recv(t, "Serve to return", stopped); err != nil {
		t.Fatalf("Serve = %v, want nil", err)
	}

	var msgs []string
	for _, rec := range n.logs.records(t) {
		msgs = append(msgs, fmt.Sprint(rec["msg"]))
	}
	for _, want := range []string{"serving", "request", "shutting down", "stopped"} {
		if !strings.Contains(strings.Join(msgs, "|"), want) {
			t.Errorf("log has no %q line; messages: %q", want, msgs)
		}
	}
	if _, err := os.Stat(n.cfg.AdminSocket()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("admin socket left behind after shutdown: %v", err)
	}

	// The audit trail ends with the stop event, signed, and verifies.
	checkTrailAfterStop(t, n.cfg, node)

	// The store is closed: the file opens again for writing.
	db, err := bolt.Open(n.cfg.BoltPath(), 100*time.Millisecond, false)
	if err != nil {
		t.Fatalf("database still held after Serve returned: %v", err)
	}
	db.Close()
}

// checkTrailAfterStop checks that node's chain is start, stop, with a final
// signed checkpoint, and verifies.
func checkTrailAfterStop(t *testing.T, cfg *broker.Config, node string) {
	t.Helper()
	r, closeFn, err := broker.OpenAuditReader(t.Context(), cfg, nil)
	if err != nil {
		t.Fatalf("OpenAuditReader: %v", err)
	}
	defer closeFn()
	reps, err := audit.Verify(t.Context(), r, audit.VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(reps) != 1 || !reps[0].OK() || reps[0].Node != node {
		t.Fatalf("Verify = %+v, want node %s ok", reps, node)
	}
	if rep := reps[0]; rep.LastSeq != 2 || rep.LastCheckpoint != 2 {
		t.Errorf("chain ends at seq %d, last checkpoint at %d; want both 2 (start, stop, signed on shutdown)", rep.LastSeq, rep.LastCheckpoint)
	}
	events, err := audit.Query(t.Context(), r, audit.Filter{})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	var got []string
	for _, e := range events {
		got = append(got, fmt.Sprintf("%d %s %s %s %s %s", e.Seq, e.Type, e.Action, e.Decision, e.Target, e.Actor.Subject))
	}
	want := []string{
		"1 system start allow node/" + node + " subzero",
		"2 system stop allow node/" + node + " subzero",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
}

// A request still in flight when server.shutdown_timeout passes is cut off;
// the node still records its stop, signs a final checkpoint and closes the
// store.
func TestServeDrainDeadline(t *testing.T) {
	held, release := make(chan struct{}, 1), make(chan struct{})
	defer close(release)
	n := startNode(t, nodeOptions{
		yaml: "server:\n  shutdown_timeout: 200ms\n",
		wrap: holdHandler(held, release),
	})
	node := n.srv.Node()
	inflight := n.sendHeld(t, "/healthz")
	recv(t, "the request to be in flight", held)

	start := time.Now()
	err := n.stop()
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Serve took %s to return with shutdown_timeout 200ms", elapsed)
	}
	if err != nil {
		t.Errorf("Serve = %v, want nil: cutting off a slow client is not a failure of the node", err)
	}
	if res := recv(t, "the cut-off request to fail", inflight); res.err == nil {
		t.Errorf("request in flight past the drain deadline got status %d, want its connection closed", res.resp.StatusCode)
	}
	if !strings.Contains(n.logs.String(), "drain deadline passed") {
		t.Error(`log has no "drain deadline passed" line`)
	}
	if strings.Contains(n.logs.String(), "audit append failed") {
		t.Errorf("audit append failed during shutdown:\n%s", n.logs.String())
	}
	checkTrailAfterStop(t, n.cfg, node)
	db, err := bolt.Open(n.cfg.BoltPath(), 100*time.Millisecond, false)
	if err != nil {
		t.Fatalf("database still held after Serve returned: %v", err)
	}
	db.Close()
}

func TestReadyzStoreUnreachable(t *testing.T) {
	rs := redistest.New(t)
	n := startNode(t, nodeOptions{yaml: fmt.Sprintf(`
server_secret: {file: %s}
store:
  kind: redis
  redis:
    url: %s
    key_prefix: %q
    dial_timeout: 200ms
    read_timeout: 200ms
    write_timeout: 200ms
`, testSecretFile(t), rs.URL(), redistest.Prefix(t))})

	resp, body := n.get(t, "GET", "/readyz", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz with Redis up: status %d, body %q", resp.StatusCode, body)
	}
	if diff := cmp.Diff(map[string]string{"status": "ready", "store": "redis"}, decodeBody(t, body)); diff != "" {
		t.Errorf("/readyz body (-want +got):\n%s", diff)
	}

	rs.Stop()
	resp, body = n.get(t, "GET", "/readyz", nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with Redis down: status %d, want 503; body %q", resp.StatusCode, body)
	}
	if diff := cmp.Diff(map[string]string{"status": "unavailable", "store": "unreachable"}, decodeBody(t, body)); diff != "" {
		t.Errorf("/readyz body (-want +got):\n%s", diff)
	}
	id := resp.Header.Get("X-Request-ID")
	// The warning logged inside the request carries its ID.
	waitFor(t, "the store warning", func() bool { return strings.Contains(n.logs.String(), "store not ready") })
	for _, rec := range n.logs.records(t) {
		if rec["msg"] == "store not ready" && rec["request_id"] != id {
			t.Errorf(`"store not ready" log line has request_id %v, want %q`, rec["request_id"], id)
		}
	}
	// /healthz does not depend on the store.
	if resp, _ := n.get(t, "GET", "/healthz", nil); resp.StatusCode != 200 {
		t.Errorf("/healthz with Redis down: status %d, want 200", resp.StatusCode)
	}
}

// New fails with an error naming the cause, never a panic, and leaves
// nothing open: the database file opens again for writing.
func TestNewFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	badKey := filepath.Join(dir, "bad-key.pem")
	if err := os.WriteFile(badKey, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"unparsable signing key", "audit:\n  signing_key_file: " + badKey + "\n", "audit.signing_key_file"},
		{"missing signing key", "audit:\n  signing_key_file: " + filepath.Join(dir, "absent.pem") + "\n", "audit.signing_key_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			path := writeConfig(t, t.TempDir(), tt.yaml)
			cfg, err := broker.LoadConfig(path, nil, broker.Flags{Addr: "127.0.0.1:0", DataDir: data})
			if err != nil {
				t.Fatal(err)
			}
			err = func() (err error) {
				defer func() {
					if v := recover(); v != nil {
						err = fmt.Errorf("panic: %v", v)
					}
				}()
				srv, err := broker.New(t.Context(), cfg, slog.New(slog.DiscardHandler), nil, "test")
				if err == nil {
					t.Errorf("New = %v, want an error", srv)
				}
				return err
			}()
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.HasPrefix(err.Error(), "panic") {
				t.Fatalf("New: %v; want an error naming %s", err, tt.want)
			}
			db, err := bolt.Open(cfg.BoltPath(), 100*time.Millisecond, false)
			if err != nil {
				t.Fatalf("database left open after New failed: %v", err)
			}
			db.Close()
		})
	}
}
