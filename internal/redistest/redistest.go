// Package redistest runs a real redis-server for tests: from PATH, on a free
// loopback port, in a temporary directory, without persistence. It imports
// testing and is only for tests.
//
// A package starts one server for its whole run and gives each test its own
// key prefix:
//
//	var srv *redistest.Server
//
//	func TestMain(m *testing.M) { os.Exit(redistest.Main(m, &srv)) }
//
//	func TestX(t *testing.T) {
//		prefix := redistest.Prefix(t) // "t:<random hex>:"
//		... connect to srv.URL() and keep every key under prefix ...
//	}
//
// A test that needs a differently configured server starts its own with
// [New], for example redistest.New(t, "--requirepass", pw).
//
// When redis-server is not in PATH, [Start] fails with the command that
// installs it, and so does the test run: these tests never skip.
package redistest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InstallHint is the command that installs redis-server on Debian and
// Ubuntu; errors about a missing binary include it.
const InstallHint = "apt-get install -y redis-server"

const (
	startTimeout = 10 * time.Second
	stopTimeout  = 10 * time.Second
	attempts     = 5 // a free port may be taken before the server binds it
)

// Server is a running redis-server.
type Server struct {
	addr   string
	dir    string
	cmd    *exec.Cmd
	out    *logBuffer
	exited chan struct{}
	stop   sync.Once
}

// Start starts redis-server from PATH with extra command-line arguments
// (such as "--requirepass", "pw") and returns once it answers PING.
func Start(args ...string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redistest: redis-server not found in PATH; install it with `%s`", InstallHint)
	}
	for i := 1; ; i++ {
		s, err := start(bin, args)
		if err == nil || i == attempts {
			return s, err
		}
	}
}

func start(bin string, args []string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("redistest: pick a port: %w", err)
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	s := &Server{
		addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		dir:    dir,
		out:    &logBuffer{},
		exited: make(chan struct{}),
	}
	s.cmd = exec.Command(bin, append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", "",
	}, args...)...)
	s.cmd.Dir, s.cmd.Stdout, s.cmd.Stderr = dir, s.out, s.out
	setPdeathsig(s.cmd)
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("redistest: start redis-server: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()

	deadline := time.Now().Add(startTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !ping(s.addr) {
		select {
		case <-s.exited:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("redistest: redis-server on %s exited: %s", s.addr, s.out)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("redistest: redis-server on %s did not answer PING within %s: %s", s.addr, startTimeout, s.out)
		}
	}
	return s, nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ping reports whether a server answers PING at addr; a server that
// requires a password answers NOAUTH, which counts.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH")
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.addr }

// URL returns the server's address as a URL, "redis://127.0.0.1:<port>".
func (s *Server) URL() string { return "redis://" + s.addr }

// Stop terminates the server (SIGTERM, then SIGKILL after 10s), waits for
// it to exit and removes its directory. It may be called more than once.
func (s *Server) Stop() {
	if s == nil {
		return
	}
	s.stop.Do(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			s.cmd.Process.Kill()
			<-s.exited
		}
		os.RemoveAll(s.dir)
	})
}

// Main starts one server, stores it in *srv, runs the package's tests and
// stops the server. It returns the exit code for os.Exit; when the server
// does not start it prints why and returns 1, so the run fails.
func Main(m *testing.M, srv **Server) int {
	s, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Stop()
	*srv = s
	return m.Run()
}

// New starts a server for one test with extra redis-server arguments and
// stops it when the test ends. It fails the test when the server does not
// start.
func New(t testing.TB, args ...string) *Server {
	t.Helper()
	s, err := Start(args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Prefix returns a key prefix unique to this test, "t:<16 hex digits>:",
// so that tests sharing a server do not see each other's keys.
func Prefix(t testing.TB) string {
	var b [8]byte
	rand.Read(b[:])
	return "t:" + hex.EncodeToString(b[:]) + ":"
}

// logBuffer keeps the first 8 KiB the server writes, for error messages.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 8<<10 - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.buf.String())
}
