package redistest_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/subzero-gateway/subzero/internal/redistest"
)

// command sends one inline command and returns the first reply line.
func command(t *testing.T, addr, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

func TestStartStop(t *testing.T) {
	s, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	host, _, err := net.SplitHostPort(s.Addr())
	if err != nil || host != "127.0.0.1" {
		t.Errorf("Addr() = %q, want 127.0.0.1:<port>", s.Addr())
	}
	if got, want := s.URL(), "redis://"+s.Addr(); got != want {
		t.Errorf("URL() = %q, want %q", got, want)
	}
	if got := command(t, s.Addr(), "PING"); got != "+PONG" {
		t.Errorf("PING = %q, want +PONG", got)
	}
	for cmd, want := range map[string]string{"CONFIG GET save": "", "CONFIG GET appendonly": "no"} {
		if got := configValue(t, s.Addr(), cmd); got != want {
			t.Errorf("%s = %q, want %q", cmd, got, want)
		}
	}
	s.Stop()
	s.Stop()
	if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		c.Close()
		t.Errorf("server still answers after Stop")
	}
}

// configValue returns the value CONFIG GET replies with (a two-item array).
func configValue(t *testing.T, addr, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte(cmd + "\r\n"))
	r := bufio.NewReader(c)
	var lines []string
	for range 5 { // *2, $n, name, $n, value
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.TrimRight(line, "\r\n"))
	}
	return lines[4]
}

func TestNewWithArgs(t *testing.T) {
	s := redistest.New(t, "--requirepass", "pw")
	if got := command(t, s.Addr(), "PING"); !strings.HasPrefix(got, "-NOAUTH") {
		t.Errorf("PING without AUTH = %q, want -NOAUTH", got)
	}
	if got := command(t, s.Addr(), "AUTH pw"); got != "+OK" {
		t.Errorf("AUTH = %q, want +OK", got)
	}
}

func TestMissingBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := redistest.Start()
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y redis-server") {
		t.Errorf("Start() without redis-server = %v; want the install hint", err)
	}
}

func TestBadArgs(t *testing.T) {
	start := time.Now()
	_, err := redistest.Start("--no-such-option", "x")
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("Start(bad option) = %v; want an exit error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Start(bad option) took %s", d)
	}
}

func TestPrefix(t *testing.T) {
	a, b := redistest.Prefix(t), redistest.Prefix(t)
	if a == b || !strings.HasPrefix(a, "t:") || !strings.HasSuffix(a, ":") || len(a) != len("t:")+16+1 {
		t.Errorf("Prefix() = %q, %q; want two distinct t:<16 hex>:", a, b)
	}
	if strings.ContainsAny(a, "{}") {
		t.Errorf("Prefix() = %q contains a brace", a)
	}
}
