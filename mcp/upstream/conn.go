package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// clientInfo is how the broker introduces itself to upstreams.
var clientInfo = mcp.Implementation{Name: "subzero", Version: "1"}

// childGrace is how long a stdio child has to exit after its stdin closes,
// before it is killed.
const childGrace = 2 * time.Second

// conn is one connection to the upstream: an initialized mcp-go client, and
// for stdio the child process.
type conn struct {
	client  *client.Client
	caps    mcp.ServerCapabilities
	version string
	legacy  bool // a protocol version before 2026-07-28

	// ctx lives as long as the connection: the child, the notification
	// streams.
	ctx    context.Context
	cancel context.CancelFunc

	// lost is told when the connection breaks.
	lost func(*conn)

	deadOnce sync.Once
	isDead   atomic.Bool
	why      atomic.Pointer[error]
	tooLarge atomic.Bool

	// poster posts tools/call over Streamable HTTP; nil over stdio.
	poster *httpPoster
	// note is the connection's notification handler.
	note func(mcp.JSONRPCNotification)

	proc      *exec.Cmd
	exited    chan struct{}
	closeOnce sync.Once
	closeErr  error
	listening sync.WaitGroup
}

func newConn(parent context.Context, lost func(*conn)) *conn {
	c := &conn{lost: lost}
	c.ctx, c.cancel = context.WithCancel(parent)
	return c
}

func (c *conn) dead() bool { return c.isDead.Load() }

func (c *conn) cause() error {
	if p := c.why.Load(); p != nil {
		return *p
	}
	return errors.New("connection lost")
}

// kill marks the connection broken: the next call makes a new one.
func (c *conn) kill(why error) {
	c.deadOnce.Do(func() {
		c.why.Store(&why)
		c.isDead.Store(true)
		if c.lost != nil {
			go c.lost(c)
		}
	})
}

// close ends the connection and, for stdio, stops and reaps the child:
// stdin closes, and after childGrace the process group is killed.
func (c *conn) close() error {
	c.closeOnce.Do(func() {
		c.kill(errors.New("closed"))
		c.cancel()
		if c.client != nil {
			c.closeErr = c.client.Close()
		}
		c.listening.Wait()
		if c.proc != nil {
			t := time.NewTimer(childGrace)
			select {
			case <-c.exited:
			case <-t.C:
				killGroup(c.proc)
				<-c.exited
			}
			t.Stop()
		}
	})
	return c.closeErr
}

// initialize runs the handshake (server/discover on 2026-07-28, else
// initialize at the newest version the server speaks; mcp-go negotiates)
// and opens the notification stream when the server has lists that change.
func (u *Upstream) initialize(ctx context.Context, c *conn) error {
	cl := c.client
	if err := cl.Start(c.ctx); err != nil {
		return err
	}
	acked := make(chan struct{})
	var ackOnce sync.Once
	c.note = func(n mcp.JSONRPCNotification) {
		switch n.Method {
		case mcp.MethodNotificationToolsListChanged:
			u.listChanged(0)
		case mcp.MethodNotificationResourcesListChanged:
			u.listChanged(1)
		case mcp.MethodNotificationPromptsListChanged:
			u.listChanged(2)
		case mcp.MethodNotificationSubscriptionsAcknowledged:
			ackOnce.Do(func() { close(acked) })
		}
	}
	cl.OnNotification(c.note)
	var req mcp.InitializeRequest
	req.Params.ClientInfo = clientInfo
	res, err := cl.Initialize(ctx, req)
	if err != nil {
		return err
	}
	c.caps, c.version = res.Capabilities, res.ProtocolVersion
	c.legacy = !mcp.IsModernProtocol(res.ProtocolVersion)
	filter := mcp.SubscriptionFilter{
		ToolsListChanged:     c.caps.Tools != nil && c.caps.Tools.ListChanged,
		ResourcesListChanged: c.caps.Resources != nil && c.caps.Resources.ListChanged,
		PromptsListChanged:   c.caps.Prompts != nil && c.caps.Prompts.ListChanged,
	}
	if c.legacy || filter.IsEmpty() {
		return nil
	}
	// 2026-07-28: notifications come on a subscriptions/listen stream. Wait
	// for its acknowledgement, so that no change is missed after Start.
	c.listening.Go(func() {
		err := cl.Listen(c.ctx, filter)
		if c.proc != nil {
			// The stream ends first when the child exits: let the exit
			// be the reason given.
			t := time.NewTimer(childGrace)
			select {
			case <-c.exited:
			case <-c.ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
		if c.ctx.Err() == nil {
			if err == nil {
				err = errors.New("the server ended the notification stream")
			}
			c.kill(fmt.Errorf("notification stream: %w", err))
		}
	})
	select {
	case <-acked:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("no acknowledgement of subscriptions/listen: %w", ctx.Err())
	}
}

// hasListChanged reports whether the capabilities announce a list that
// changes.
func hasListChanged(caps mcp.ServerCapabilities) bool {
	return caps.Tools != nil && caps.Tools.ListChanged ||
		caps.Resources != nil && caps.Resources.ListChanged ||
		caps.Prompts != nil && caps.Prompts.ListChanged
}

// dialHTTP connects to a Streamable HTTP upstream. A server that settles on
// a protocol version before 2026-07-28 and announces lists that change is
// connected again with the standalone GET stream, which such versions use
// for notifications; that version is remembered for later connections.
func (u *Upstream) dialHTTP(ctx context.Context) (*conn, error) {
	u.mu.Lock()
	legacy := u.legacy
	u.mu.Unlock()
	c, err := u.dialHTTPOnce(ctx, legacy)
	if err != nil || legacy != "" || !c.legacy || !hasListChanged(c.caps) {
		return c, err
	}
	version := c.version
	c.close()
	return u.dialHTTPOnce(ctx, version)
}

// maxIdleConnsPerUpstream bounds the idle connections kept to an HTTP
// upstream.
const maxIdleConnsPerUpstream = 256

func (u *Upstream) dialHTTPOnce(ctx context.Context, legacy string) (*conn, error) {
	c := newConn(u.life, u.lost)
	base := http.DefaultTransport.(*http.Transport).Clone()
	// Calls to one upstream run concurrently: keep their connections
	// (the default keeps 2 idle per host, so a busy gateway dialled a new
	// connection for nearly every call).
	base.MaxIdleConnsPerHost = maxIdleConnsPerUpstream
	hc := &http.Client{
		Transport:     &limitTransport{base: base, max: u.cfg.MaxResultBytes + envelopeBytes},
		CheckRedirect: noRedirect,
	}
	opts := []transport.StreamableHTTPCOption{
		transport.WithHTTPBasicClient(hc),
		transport.WithHTTPLogger(u.log),
	}
	if len(u.headers) > 0 {
		opts = append(opts, transport.WithHTTPHeaders(u.headers))
	}
	var copts []client.ClientOption
	if legacy != "" {
		// Versions before 2026-07-28 deliver notifications only on the
		// standalone GET stream, which this option opens.
		//lint:ignore SA1019 needed for servers on a legacy version
		opts = append(opts, transport.WithContinuousListening())
		copts = append(copts, client.WithProtocolVersion(legacy))
	}
	copts = append(copts, client.WithDiscoverTimeout(u.cfg.ConnectTimeout))
	tr, err := transport.NewStreamableHTTP(u.cfg.URL.String(), opts...)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.client = client.NewClient(tr, copts...)
	if err := u.initialize(ctx, c); err != nil {
		c.close()
		return nil, err
	}
	c.poster = newHTTPPoster(hc, u.cfg.URL.String(), tr, c.client.ProtocolVersion(), u.headers, c.note, c.ctx)
	return c, nil
}

// dialStdio starts the child with only the configured environment and
// PATH, and talks to it over pipes. Its stdout is read through a limit on
// the length of a message; its stderr is discarded, since it may echo the
// child's secrets.
func (u *Upstream) dialStdio(ctx context.Context) (*conn, error) {
	c := newConn(u.life, u.lost)
	cmd := exec.Command(u.cfg.Command, u.cfg.Args...)
	cmd.Env = u.env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stderr = io.Discard
	cmd.WaitDelay = childGrace
	setProcAttrs(cmd)
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout = inR, outW
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		c.cancel()
		return nil, fmt.Errorf("start %s: %w", u.cfg.Command, errors.Unwrap(err))
	}
	c.proc, c.exited = cmd, make(chan struct{})
	go func() {
		err := cmd.Wait()
		if err == nil {
			err = errors.New("exit status 0")
		}
		c.kill(fmt.Errorf("child exited: %w", err))
		close(c.exited)
		outR.Close()
	}()
	lim := &lineLimit{r: outR, max: u.cfg.MaxResultBytes + envelopeBytes, over: func() {
		c.tooLarge.Store(true)
		c.kill(errors.New("a message was larger than max_result_bytes"))
	}}
	c.client = client.NewClient(transport.NewIO(lim, inW, nil),
		client.WithDiscoverTimeout(u.cfg.ConnectTimeout))
	if err := u.initialize(ctx, c); err != nil {
		if c.dead() {
			err = fmt.Errorf("%w (%v)", err, c.cause())
		}
		c.close()
		return nil, err
	}
	return c, nil
}

// lineLimit reads r, failing once a line is longer than max bytes.
type lineLimit struct {
	r    io.Reader
	max  int64
	line int64
	over func()
}

var errLineTooLong = errors.New("message longer than max_result_bytes")

func (l *lineLimit) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for rest := p[:n]; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			l.line += int64(len(rest))
			break
		}
		l.line += int64(i)
		if l.line > l.max {
			break
		}
		l.line = 0
		rest = rest[i+1:]
	}
	if l.line > l.max {
		l.over()
		return 0, errLineTooLong
	}
	return n, err
}

// limitTransport bounds response bodies: the body of a request made for a
// call to max bytes in all, any other (a notification stream) to max bytes
// a line. It records the status of a call's response.
type limitTransport struct {
	base http.RoundTripper
	max  int64
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	a, _ := req.Context().Value(attemptKey{}).(*attempt)
	if a == nil {
		resp.Body = &bodyLimit{ReadCloser: resp.Body, lines: &lineLimit{r: resp.Body, max: t.max, over: func() {}}}
		return resp, nil
	}
	a.status.Store(int32(resp.StatusCode))
	resp.Body = &bodyLimit{ReadCloser: resp.Body, left: t.max, a: a}
	return resp, nil
}

// bodyLimit fails a body past its limit.
type bodyLimit struct {
	io.ReadCloser
	left  int64
	a     *attempt
	lines *lineLimit
}

func (b *bodyLimit) Read(p []byte) (int, error) {
	if b.lines != nil {
		return b.lines.Read(p)
	}
	if b.left <= 0 {
		// Look one byte further: a body of exactly the limit is fine.
		var one [1]byte
		if n, _ := b.ReadCloser.Read(one[:]); n > 0 {
			b.a.tooLarge.Store(true)
			return 0, errLineTooLong
		}
		return b.ReadCloser.Read(p)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
