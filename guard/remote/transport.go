package remote

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Bounds on what crosses the wire.
const (
	// maxResponseBytes bounds an HTTP response body, error bodies too.
	maxResponseBytes = 64 << 10
	// maxRequestBytes bounds the request body the transport rewrites:
	// MaxChars characters of at most 4 bytes, JSON-escaped (6 bytes per
	// control character), plus the system prompt.
	maxRequestBytes = 6*4*maxMaxChars + 16<<10
)

var (
	errTooLarge = errors.New("remote: response too large")
	errRedirect = errors.New("remote: redirect not followed")
)

// doer is the HTTP client go-openai sends through. It
//
//   - adds "temperature": 0 to the request body: go-openai's
//     ChatCompletionRequest.Temperature is `omitempty`, so a zero
//     temperature is never sent and servers apply their default (1 on
//     OpenAI, 0.8 on llama.cpp and Ollama);
//   - refuses redirects, so that neither the text nor the key follows one;
//   - bounds response bodies to maxResponseBytes, which go-openai reads
//     without a limit.
type doer struct {
	c *http.Client
}

func newDoer(timeout time.Duration, maxConns int) *doer {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = maxConns
	t.ResponseHeaderTimeout = timeout
	return &doer{c: &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (d *doer) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		body, err := io.ReadAll(io.LimitReader(req.Body, maxRequestBytes+1))
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		if len(body) > maxRequestBytes {
			return nil, errors.New("remote: request too large")
		}
		body = withZeroTemperature(body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.ContentLength = int64(len(body))
	}
	res, err := d.c.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode >= 300 && res.StatusCode < 400 {
		res.Body.Close()
		return nil, fmt.Errorf("%w (status %d)", errRedirect, res.StatusCode)
	}
	res.Body = &limitedBody{rc: res.Body, n: maxResponseBytes}
	return res, nil
}

// withZeroTemperature returns the JSON object body with "temperature": 0
// as its first member, unless it already has a temperature. A '"' inside a
// JSON string is escaped, so `"temperature":` can only be a key.
func withZeroTemperature(body []byte) []byte {
	if len(body) < 2 || body[0] != '{' || bytes.Contains(body, []byte(`"temperature":`)) {
		return body
	}
	const member = `"temperature":0`
	out := make([]byte, 0, len(body)+len(member)+1)
	out = append(out, '{')
	out = append(out, member...)
	if rest := bytes.TrimSpace(body[1:]); len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, body[1:]...)
}

// limitedBody fails, rather than truncates, past n bytes.
type limitedBody struct {
	rc io.ReadCloser
	n  int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// One more byte tells a body of exactly the limit from a longer one.
		var one [1]byte
		k, err := l.rc.Read(one[:])
		if k > 0 {
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.rc.Read(p)
	l.n -= int64(k)
	return k, err
}

func (l *limitedBody) Close() error { return l.rc.Close() }
