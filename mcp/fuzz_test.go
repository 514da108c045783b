package mcp

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// FuzzMatch checks Match against a regular expression that means the same.
func FuzzMatch(f *testing.F) {
	for _, seed := range [][2]string{
		{"notes__*", "notes__search"},
		{"*", ""},
		{"a*b*c", "aXbYbZc"},
		{"a*b", "ab"},
		{"**", "x"},
		{"*__delete_*", "github__delete_repo"},
		{"exact", "exacT"},
		{"a*a*a*a*b", strings.Repeat("a", 40)},
		{"\xff*", "\xff\x00"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if len(pattern) > 64 || len(name) > 256 {
			return
		}
		parts := strings.Split(pattern, "*")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		re, err := regexp.Compile(`(?s)\A` + strings.Join(parts, ".*") + `\z`)
		if err != nil {
			return // QuoteMeta of invalid UTF-8 cannot be compiled
		}
		// regexp reads invalid UTF-8 as U+FFFD, one rune for one byte;
		// compare only where that does not change the answer.
		if !validUTF8(pattern) || !validUTF8(name) {
			_ = Match(pattern, name) // must not panic
			return
		}
		if got, want := Match(pattern, name), re.MatchString(name); got != want {
			t.Errorf("Match(%q, %q) = %v, want %v", pattern, name, got, want)
		}
	})
}

func validUTF8(s string) bool { return strings.ToValidUTF8(s, "\x00\x00") == s }

// FuzzSplitKey checks that splitKey's answer, when it has one, is the only
// split of key into a configured upstream, "__" and a tool name.
func FuzzSplitKey(f *testing.F) {
	f.Add("notes__search", "notes,github")
	f.Add("a__b__c", "a,a__b")
	f.Add("a__", "a")
	f.Add("__x", "")
	f.Add("github__delete_repo", "git,github")
	f.Fuzz(func(t *testing.T, key, list string) {
		ups := strings.Split(list, ",")
		up, tool, ok := splitKey(key, ups)
		var splits int
		for _, u := range ups {
			if rest, found := strings.CutPrefix(key, u+"__"); found && rest != "" {
				splits++
			}
		}
		if !ok {
			if splits == 1 {
				t.Errorf("splitKey(%q, %q) found nothing; there is one split", key, ups)
			}
			return
		}
		if up+"__"+tool != key || tool == "" || !slices.Contains(ups, up) {
			t.Errorf("splitKey(%q, %q) = %q, %q", key, ups, up, tool)
		}
		if splits != 1 {
			t.Errorf("splitKey(%q, %q) chose among %d splits", key, ups, splits)
		}
	})
}

// FuzzCheckOrigin checks that an origin checkOrigin accepts is exactly
// scheme://host[:port], in lower case.
func FuzzCheckOrigin(f *testing.F) {
	for _, s := range []string{"https://app.example", "http://127.0.0.1:8080", "https://a.example/", "https://u@a.example",
		"https://A.example", "https://a.example?", "https://a.example#", "null", "ftp://x", "https://[::1]:443", "https://a.example:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, o string) {
		if checkOrigin(o) != nil {
			return
		}
		scheme, host, ok := strings.Cut(o, "://")
		if !ok || (scheme != "https" && scheme != "http") || host == "" || strings.ContainsAny(host, "/?#@") || o != strings.ToLower(o) {
			t.Errorf("checkOrigin accepted %q", o)
		}
	})
}
