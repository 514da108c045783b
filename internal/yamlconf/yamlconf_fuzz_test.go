package yamlconf

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecode checks that Decode never panics and that whatever it accepts
// survives an Encode and Decode round trip unchanged.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		"",
		"name: edge\ndebug: true\nint8: -1\nuint64: 0x10\nfloat: .nan\ntimeout: 1m30s\n",
		"upstream: https://u:p@h:1/p?q#f\nproxy: ''\ntrusted: 10.0.0.0/8\nbind: ::1\nlisten: '[::1]:80'\n",
		"level: warn\nmode: open\nmax_conns: 3\ntags: [a, 'b, c']\nports: [1, 2]\nnets: []\nwaits: [1s]\n",
		"store: {kind: redis, redis: {url: 'redis://c:6379', db: 2}}\naudit: {checkpoint_every: 5}\n",
		"routes:\n  a: &r {timeout: 1s, methods: [GET]}\n  b: *r\n  c: {upstream: 'http://c'}\nlabels: {x: y}\n",
		"labels: {<<: x}\nregion: eu\nNote: x\n",
		"name: a\nname: b\n",
		"tags: &t [*t]\n",
		"- a\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := defaults()
		err := Decode(data, got)
		if err != nil {
			if strings.Contains(err.Error(), "internal error") {
				t.Fatalf("Decode(%q): %v", data, err)
			}
			return
		}
		out, err := Encode(got)
		if err != nil {
			t.Fatalf("Encode after Decode(%q): %v", data, err)
		}
		again := defaults()
		if err := Decode(out, again); err != nil {
			t.Fatalf("Decode(Encode(Decode(%q))): %v\n%s", data, err, out)
		}
		if diff := cmp.Diff(got, again, cmpOpts); diff != "" {
			t.Fatalf("round trip of %q mismatch (-first +second):\n%s\n%s", data, diff, out)
		}
	})
}
