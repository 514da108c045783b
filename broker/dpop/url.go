package dpop

import (
	"net/url"
	"strings"
)

// normalURI returns u's scheme, authority and path, without query and
// fragment, in the form RFC 9449 §4.3 compares: scheme and host
// lower-cased, the scheme's default port dropped, an empty path made "/",
// percent-encodings upper-cased, unreserved characters decoded and dot
// segments removed (RFC 3986 §6.2.2 and §6.2.3). ok is false unless u is an
// absolute http or https URI with a host and without user information.
func normalURI(u *url.URL) (s string, ok bool) {
	scheme := strings.ToLower(u.Scheme)
	var defaultPort string
	switch scheme {
	case "https":
		defaultPort = "443"
	case "http":
		defaultPort = "80"
	default:
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	if host == "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(scheme) + len(u.Host) + len(u.Path) + 8)
	b.WriteString(scheme)
	b.WriteString("://")
	if strings.IndexByte(host, ':') >= 0 {
		b.WriteByte('[')
		b.WriteString(host)
		b.WriteByte(']')
	} else {
		b.WriteString(host)
	}
	if port := u.Port(); port != "" && port != defaultPort {
		b.WriteByte(':')
		b.WriteString(port)
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	b.WriteString(removeDotSegments(normalPercent(p)))
	return b.String(), true
}

// parseURI parses and normalizes an htu claim.
func parseURI(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil {
		return "", false
	}
	return normalURI(u)
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// normalPercent decodes percent-encoded unreserved characters and
// upper-cases the hex digits of the other percent-encodings.
func normalPercent(p string) string {
	if strings.IndexByte(p, '%') < 0 {
		return p
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' && i+2 < len(p) {
			hi, ok1 := unhex(p[i+1])
			lo, ok2 := unhex(p[i+2])
			if ok1 && ok2 {
				if d := hi<<4 | lo; unreserved(d) {
					b = append(b, d)
				} else {
					b = append(b, '%', hex[hi], hex[lo])
				}
				i += 2
				continue
			}
		}
		b = append(b, c)
	}
	return string(b)
}

// removeDotSegments is RFC 3986 §5.2.4 for an absolute path.
func removeDotSegments(p string) string {
	if !strings.Contains(p, "/.") {
		return p
	}
	var out []string // output segments, each starting with "/"
	for in := p; in != ""; {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"):
			in = in[3:]
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "/..":
			in = "/"
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "." || in == "..":
			in = ""
		default:
			i := strings.IndexByte(in[1:], '/')
			if i < 0 {
				out, in = append(out, in), ""
			} else {
				out, in = append(out, in[:i+1]), in[i+1:]
			}
		}
	}
	return strings.Join(out, "")
}
