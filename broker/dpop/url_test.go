package dpop

import (
	"net/url"
	"testing"
)

func TestNormalURI(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://as.example.com/oauth2/token", "https://as.example.com/oauth2/token"},
		{"HTTPS://AS.EXAMPLE.COM/oauth2/token", "https://as.example.com/oauth2/token"},
		{"https://as.example.com:443/x", "https://as.example.com/x"},
		{"https://as.example.com:/x", "https://as.example.com/x"},
		{"http://as.example.com:80/x", "http://as.example.com/x"},
		{"http://as.example.com:443/x", "http://as.example.com:443/x"},
		{"https://as.example.com:8443/x", "https://as.example.com:8443/x"},
		{"https://as.example.com", "https://as.example.com/"},
		{"https://as.example.com?q#f", "https://as.example.com/"},
		{"https://as.example.com/x?q=1#f", "https://as.example.com/x"},
		{"https://[::1]:443/x", "https://[::1]/x"},
		{"https://[FE80::1]:8443/x", "https://[fe80::1]:8443/x"},
		{"https://h/%7euser/%2f%2F%41", "https://h/~user/%2F%2FA"},
		{"https://h/a/./b/../c", "https://h/a/c"},
		{"https://h/a/b/..", "https://h/a/"},
		{"https://h/../../a", "https://h/a"},
		{"https://h/a//b", "https://h/a//b"},
		{"https://h/Path/Case", "https://h/Path/Case"},
	} {
		u, err := url.Parse(tc.in)
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", tc.in, err)
		}
		if got, ok := normalURI(u); !ok || got != tc.want {
			t.Errorf("normalURI(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	for _, in := range []string{"/x", "ftp://h/x", "https:///x", "https://u:p@h/x", "mailto:a@b", "urn:x:y", "https:opaque"} {
		if got, ok := parseURI(in); ok {
			t.Errorf("parseURI(%q) = %q, want not ok", in, got)
		}
	}
}

func TestRemoveDotSegments(t *testing.T) {
	// RFC 3986 §5.2.4 and §5.4.
	for in, want := range map[string]string{
		"/a/b/c/./../../g": "/a/g",
		"/b/c/../../../g":  "/g",
		"/b/c/./g/.":       "/b/c/g/",
		"/b/c/g/..":        "/b/c/",
		"/b/c/..g":         "/b/c/..g",
		"/b/c/.g":          "/b/c/.g",
		"/.":               "/",
		"/..":              "/",
		"/":                "/",
		"/a/.../b":         "/a/.../b",
	} {
		if got := removeDotSegments(in); got != want {
			t.Errorf("removeDotSegments(%q) = %q, want %q", in, got, want)
		}
	}
}
