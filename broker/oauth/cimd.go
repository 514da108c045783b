package oauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/maypok86/otter/v2"
)

// CIMDConfig configures Client ID Metadata Documents: clients whose
// client_id is an https URL serving their metadata.
type CIMDConfig struct {
	// Enabled accepts URL client IDs.
	Enabled bool `yaml:"enabled"`
	// AllowedNetworks are private or local networks a document may be
	// fetched from anyway (by default only public addresses are).
	AllowedNetworks []netip.Prefix `yaml:"allowed_networks"`
	// Timeout bounds one fetch, connection included.
	Timeout time.Duration `yaml:"timeout"`
	// MaxBytes bounds a document.
	MaxBytes int `yaml:"max_bytes"`
	// MinCache and MaxCache bound how long a fetched document is reused,
	// whatever its Cache-Control says.
	MinCache time.Duration `yaml:"min_cache"`
	MaxCache time.Duration `yaml:"max_cache"`
}

// DefaultCIMD returns the default configuration.
func DefaultCIMD() CIMDConfig {
	return CIMDConfig{Enabled: true, Timeout: 5 * time.Second, MaxBytes: 5 << 10, MinCache: 5 * time.Minute, MaxCache: 24 * time.Hour}
}

// Validate reports the first invalid field.
func (c CIMDConfig) Validate() error {
	switch {
	case c.Timeout <= 0 || c.Timeout > time.Minute:
		return errors.New("timeout: must be between 1ns and 1m")
	case c.MaxBytes < 512 || c.MaxBytes > MaxMetadataBytes:
		return fmt.Errorf("max_bytes: must be between 512 and %d", MaxMetadataBytes)
	case c.MinCache < 0 || c.MaxCache < c.MinCache:
		return errors.New("min_cache, max_cache: want 0 <= min_cache <= max_cache")
	}
	return nil
}

// ErrCIMD wraps every failure to obtain a client's metadata document.
var ErrCIMD = errors.New("oauth: client metadata document")

// IsClientIDURL reports whether clientID names a metadata document: an
// https URL with a path, and no fragment, user info or dot segments.
func IsClientIDURL(clientID string) bool { return checkClientIDURL(clientID) == nil }

func checkClientIDURL(clientID string) error {
	u, err := url.Parse(clientID)
	switch {
	case err != nil, u.Scheme != "https", u.Host == "", u.Opaque != "":
		return fmt.Errorf("%w: client_id must be an https URL", ErrCIMD)
	case u.User != nil, u.Fragment != "", strings.Contains(clientID, "#"):
		return fmt.Errorf("%w: client_id URL must not have user info or a fragment", ErrCIMD)
	case u.Path == "" || u.Path == "/":
		return fmt.Errorf("%w: client_id URL must have a path", ErrCIMD)
	case len(clientID) > maxURILen:
		return fmt.Errorf("%w: client_id URL too long", ErrCIMD)
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("%w: client_id URL must not have dot segments", ErrCIMD)
		}
	}
	return nil
}

// CIMDFetcher fetches and caches Client ID Metadata Documents.
//
// # Security
//
// The document URL comes from an unauthenticated client, so fetching it is
// a server-side request forgery risk. The fetcher connects only to public
// unicast addresses (unless AllowedNetworks says otherwise), checking the
// address actually dialled, so DNS rebinding cannot steer it; it ignores
// proxy settings, follows no redirects, and bounds time and size.
type CIMDFetcher struct {
	cfg    CIMDConfig
	client *http.Client
	cache  *otter.Cache[string, *Client]
	now    func() time.Time
}

// NewCIMDFetcher returns a fetcher. rootCAs verifies servers (nil: the
// system's roots).
func NewCIMDFetcher(cfg CIMDConfig, rootCAs *x509.CertPool) (*CIMDFetcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("oauth: cimd: %w", err)
	}
	f := &CIMDFetcher{cfg: cfg, now: time.Now}
	dialer := &net.Dialer{Timeout: cfg.Timeout, Control: f.checkDial}
	f.client = &http.Client{
		Timeout: cfg.Timeout,
		Transport: &http.Transport{
			Proxy:                  nil, // a proxy would dial for us, past the guard
			DialContext:            dialer.DialContext,
			TLSClientConfig:        &tls.Config{RootCAs: rootCAs, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:    cfg.Timeout,
			ResponseHeaderTimeout:  cfg.Timeout,
			MaxResponseHeaderBytes: 16 << 10,
			DisableCompression:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("redirects are not followed")
		},
	}
	f.cache = otter.Must(&otter.Options[string, *Client]{
		MaximumSize:      10_000,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *Client]) time.Duration { return cfg.MinCache }),
	})
	return f, nil
}

// checkDial refuses connections to addresses a client may not make us
// reach.
func (f *CIMDFetcher) checkDial(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("unexpected address %q", address)
	}
	ip := ap.Addr().Unmap()
	for _, p := range f.cfg.AllowedNetworks {
		if p.Contains(ip) {
			return nil
		}
	}
	if !isPublic(ip) {
		return fmt.Errorf("%s is not a public address", ip)
	}
	return nil
}

// nonPublic lists special-purpose ranges that netip's predicates miss.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 can reach private IPv4
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"), // 6to4 embeds any IPv4
}

func isPublic(ip netip.Addr) bool {
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Fetch returns the client that clientID's metadata document describes,
// from the cache when fresh. The document must be JSON, valid client
// metadata, name clientID as its client_id, and use no shared secret.
func (f *CIMDFetcher) Fetch(ctx context.Context, clientID string, allowedScopes []string) (*Client, error) {
	if !f.cfg.Enabled {
		return nil, fmt.Errorf("%w: URL client IDs are disabled", ErrCIMD)
	}
	if err := checkClientIDURL(clientID); err != nil {
		return nil, err
	}
	if c, ok := f.cache.GetIfPresent(clientID); ok {
		return c, nil
	}
	c, ttl, err := f.fetch(ctx, clientID, allowedScopes)
	if err != nil {
		return nil, err
	}
	f.cache.Set(clientID, c)
	f.cache.SetExpiresAfter(clientID, ttl)
	return c, nil
}

func (f *CIMDFetcher) fetch(ctx context.Context, clientID string, allowedScopes []string) (*Client, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, clientID, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrCIMD, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: fetch %s: %v", ErrCIMD, clip(clientID), unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("%w: %s answered %s", ErrCIMD, clip(clientID), resp.Status)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return nil, 0, fmt.Errorf("%w: %s is not application/json", ErrCIMD, clip(clientID))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(f.cfg.MaxBytes)+1))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: read %s: %v", ErrCIMD, clip(clientID), err)
	}
	if len(body) > f.cfg.MaxBytes {
		return nil, 0, fmt.Errorf("%w: document larger than %d bytes", ErrCIMD, f.cfg.MaxBytes)
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) == nil {
		if _, ok := members["client_secret"]; ok {
			return nil, 0, fmt.Errorf("%w: a metadata document must not carry client secrets", ErrCIMD)
		}
	}
	c, err := ParseMetadata(body, allowedScopes)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrCIMD, err)
	}
	switch {
	case c.ID != clientID:
		return nil, 0, fmt.Errorf("%w: document's client_id %q is not its URL", ErrCIMD, clip(c.ID))
	case c.TokenEndpointAuthMethod != AuthNone && c.TokenEndpointAuthMethod != AuthPrivateKeyJWT:
		return nil, 0, fmt.Errorf("%w: token_endpoint_auth_method must be none or private_key_jwt", ErrCIMD)
	}
	c.Source = SourceCIMD
	return c, f.cacheFor(resp.Header.Get("Cache-Control")), nil
}

// cacheFor reads max-age from Cache-Control, bounded by the config.
func (f *CIMDFetcher) cacheFor(cc string) time.Duration {
	ttl := f.cfg.MinCache
	for _, d := range strings.Split(cc, ",") {
		d = strings.TrimSpace(strings.ToLower(d))
		if v, ok := strings.CutPrefix(d, "max-age="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				ttl = time.Duration(n) * time.Second
			}
		}
	}
	return min(max(ttl, f.cfg.MinCache), f.cfg.MaxCache)
}

// unwrapURLError drops *url.Error's repetition of the method and URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
