package oauth_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkTokenEndpoint issues DPoP-bound client_credentials tokens over
// loopback HTTP on the bbolt store, from 16 concurrent clients, and
// reports tokens/s. Each token costs a client_secret_basic check, a DPoP
// proof verification with its replay record (one fsynced bbolt write),
// and an ES256 signature. The proofs are made before the timer starts, so
// that the figure is the server's.
func BenchmarkTokenEndpoint(b *testing.B) {
	h := newHarness(b, nil)
	p := newProver(b)
	body := url.Values{"grant_type": {"client_credentials"}, "scope": {"mcp:tools"}}.Encode()
	proofs := make([]string, b.N)
	for i := range proofs {
		proofs[i] = p.proof(b, h.tokenURL, "")
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	b.SetParallelism(8) // 16 clients on 2 cores
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, h.tokenURL, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("DPoP", proofs[next.Add(1)-1])
			req.SetBasicAuth("svc-basic", basicSecret)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tokens/s")
}
