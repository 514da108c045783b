package main

import (
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// BenchmarkStartup measures how long `subzero serve` takes from exec to
// its first 200 on /healthz, on a fresh data dir (first start: node ID and
// signing key are created) and on one a node has used before.
func BenchmarkStartup(b *testing.B) {
	bin := subzeroBinary(b)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	for _, bc := range []struct {
		name  string
		fresh bool
	}{{"first", true}, {"restart", false}} {
		b.Run(bc.name, func(b *testing.B) {
			data := b.TempDir()
			var total, worst time.Duration
			n := 0
			for b.Loop() {
				if bc.fresh {
					data = b.TempDir()
				}
				d := startOnce(b, bin, data, client)
				total += d
				worst = max(worst, d)
				n++
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(n), "ms/start")
			b.ReportMetric(float64(worst.Microseconds())/1000, "max-ms/start")
		})
	}
}

// startOnce starts a node, polls /healthz every 1ms until it answers 200,
// then stops the node with SIGTERM and waits for it. It returns the time to
// the first 200.
func startOnce(b *testing.B, bin, data string, client *http.Client) time.Duration {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	url := "http://" + addr + "/healthz"

	cmd := exec.Command(bin, "serve", "--addr", addr, "--data", data)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var elapsed time.Duration
	for tick := time.NewTicker(time.Millisecond); ; {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				elapsed = time.Since(start)
				tick.Stop()
				break
			}
		}
		select {
		case err := <-exited:
			b.Fatalf("subzero serve exited before answering: %v", err)
		case <-tick.C:
		}
		if time.Since(start) > 10*time.Second {
			cmd.Process.Kill()
			b.Fatalf("no 200 from %s within 10s", url)
		}
	}
	b.StopTimer()
	defer b.StartTimer()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			b.Fatalf("subzero serve after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		b.Fatal("subzero serve did not exit within 20s of SIGTERM")
	}
	return elapsed
}
