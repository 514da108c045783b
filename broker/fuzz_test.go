package broker_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/subzero-gateway/subzero/broker"
)

// FuzzLoadConfig feeds arbitrary files to the config loader: it must never
// panic, and a config it accepts must dump to YAML that loads again to an
// equal config.
func FuzzLoadConfig(f *testing.F) {
	for _, name := range []string{"single-node.yaml", "redis.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "examples", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"{}",
		"---\n...\n",
		"data_dir: data\nnode: {id: a.b_c-1}\n",
		"server:\n  addr: '[::1]:8080'\n  trusted_proxies: [10.0.0.0/8, 'fd00::/8', 192.168.1.1/32]\n  max_header_bytes: 4096\n",
		"server:\n  shutdown_timeout: 1h2m3.5s\n  read_header_timeout: 1ns\n  idle_timeout: 90s\n",
		"log: {level: debug+2, format: text}\n",
		"log:\n  level: ERROR-4\n",
		"store:\n  kind: redis\n  redis:\n    url: rediss://user@redis.example:6380/15\n    key_prefix: \"a:'b\\\"c\\n\"\n    password: {file: /run/secrets/p}\n",
		"store:\n  kind: redis\n  redis:\n    addrs: [a:1, b:2, 'c:3']\n    cluster: true\n    username: u\n    password: {env: P}\n    pool_size: 3\n",
		"store:\n  kind: redis\n  redis:\n    addrs: [s1:26379]\n    master_name: mymaster\n    db: 15\n    tls: true\n",
		"store:\n  kind: bolt\n  bolt: {path: \"/tmp/x y/\\u00e9.db\", lock_timeout: 250ms}\n",
		"audit: {signing_key_file: k.pem, checkpoint_every: 18446744073709551615, checkpoint_interval: 100ms, max_batch: 65536}\n",
		"a: &a {b: *a}\n",
		"server: !!map {addr: 127.0.0.1:1}\n",
		"data_dir: ~\n",
		"data_dir: 123\n",
		"data_dir: [x]\n",
		"node:\n  id: \"\\u0000\"\n",
	} {
		f.Add([]byte(s))
	}
	// Inputs run one at a time in each process: they can share a directory.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "subzero.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := broker.LoadConfig(path, nil, broker.Flags{})
		if err != nil {
			return
		}
		checkDumpLoads(t, dir, cfg, data)
	})
}
