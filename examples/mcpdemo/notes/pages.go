package notes

import (
	"embed"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// The demo pages fetch serves, by URL. Each is a fixture for one of the
// gateway's result checks.
const (
	// URLClean is a help page with nothing a guard should report.
	URLClean = "https://docs.example.com/notes/getting-started"
	// URLInjection is a blog post hiding an indirect prompt injection in
	// an HTML comment: it tells the agent to send the user's notes to
	// attacker@evil.example.
	URLInjection = "https://blog.example.net/2026/productivity-tips"
	// URLPersonalData is a CRM export with an e-mail address, a phone
	// number and a payment card number that passes the Luhn check (Visa's
	// test number).
	URLPersonalData = "https://crm.example.org/contacts/4711"
	// URLSecret is a paste of environment variables with an AWS-style
	// access key ID and secret access key (random, never issued by AWS).
	URLSecret = "https://paste.example.com/p/deploy-env"
)

// MaxURLBytes bounds the URL fetch accepts.
const MaxURLBytes = 2048

//go:embed pages/*.txt
var pageFiles embed.FS

// pageFile maps each demo URL, normalized, to its file under pages/.
var pageFile = map[string]string{
	URLClean:        "pages/getting-started.txt",
	URLInjection:    "pages/productivity-tips.txt",
	URLPersonalData: "pages/contact.txt",
	URLSecret:       "pages/deploy-env.txt",
}

// PageURLs returns the URLs of the demo pages, sorted.
func PageURLs() []string {
	urls := make([]string, 0, len(pageFile))
	for u := range pageFile {
		urls = append(urls, u)
	}
	slices.Sort(urls)
	return urls
}

// Page returns the text fetch serves for rawURL, after [NormalizeURL],
// and whether rawURL is one of the demo pages.
func Page(rawURL string) (string, bool) {
	u, err := NormalizeURL(rawURL)
	if err != nil {
		return "", false
	}
	name, ok := pageFile[u]
	if !ok {
		return "", false
	}
	b, err := pageFiles.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("notes: embedded page %s: %v", name, err)) // the embed pattern covers pageFile
	}
	return string(b), true
}

// ErrBadURL is wrapped by NormalizeURL's errors.
var ErrBadURL = errors.New("notes: bad URL")

// NormalizeURL returns rawURL in the form the demo pages are keyed by:
// an absolute http or https URL with a host; scheme and host lower-cased;
// the scheme's default port, an empty query and the fragment dropped;
// trailing slashes removed from the path, an empty path written "/"; the
// path otherwise escaped as given and a query kept as given. It rejects URLs longer than [MaxURLBytes], URLs
// with user information, control characters or spaces, and anything that
// is not http or https, with an error wrapping [ErrBadURL]. The error
// never quotes rawURL.
//
// NormalizeURL is idempotent: a URL it returns normalizes to itself.
func NormalizeURL(rawURL string) (string, error) {
	if len(rawURL) > MaxURLBytes {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrBadURL, MaxURLBytes)
	}
	if rawURL == "" {
		return "", fmt.Errorf("%w: empty", ErrBadURL)
	}
	for i := 0; i < len(rawURL); i++ {
		if c := rawURL[i]; c <= ' ' || c == 0x7f {
			return "", fmt.Errorf("%w: control character or space at byte %d", ErrBadURL, i)
		}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("%w: does not parse", ErrBadURL)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", fmt.Errorf("%w: scheme must be http or https", ErrBadURL)
	}
	if u.Opaque != "" {
		return "", fmt.Errorf("%w: not a hierarchical URL", ErrBadURL)
	}
	if u.User != nil {
		return "", fmt.Errorf("%w: user information is not allowed", ErrBadURL)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("%w: no host", ErrBadURL)
	}
	if strings.IndexFunc(host, notHostRune) >= 0 {
		return "", fmt.Errorf("%w: host must be letters, digits, '-', '.' or an IPv6 address", ErrBadURL)
	}
	port := u.Port()
	if port == defaultPort[scheme] {
		port = ""
	}
	hostport := host
	switch {
	case port != "":
		hostport = net.JoinHostPort(host, port)
	case strings.Contains(host, ":"):
		hostport = "[" + host + "]"
	}
	path := u.EscapedPath()
	path = strings.TrimRight(path, "/")
	if path == "" {
		path = "/"
	}
	out := scheme + "://" + hostport + path
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	if len(out) > MaxURLBytes {
		// Escaping a path can make it longer than it came.
		return "", fmt.Errorf("%w: longer than %d bytes", ErrBadURL, MaxURLBytes)
	}
	return out, nil
}

var defaultPort = map[string]string{"http": "80", "https": "443"}

// notHostRune reports whether r may not appear in a host NormalizeURL
// accepts (lower-cased, so upper-case letters are not expected).
func notHostRune(r rune) bool {
	return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '.' || r == ':')
}
