package redis_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/internal/redistest"
	"github.com/subzero-gateway/subzero/internal/secret"
	"github.com/subzero-gateway/subzero/store/redis"
	"github.com/subzero-gateway/subzero/store/storetest"
)

var srv *redistest.Server

func TestMain(m *testing.M) {
	if os.Getenv(storetest.CrashEnv) != "" {
		// The child of TestCrashLosesNoAcknowledgedEvent.
		cfg := redis.Default()
		u, err := url.Parse(os.Getenv("CRASH_REDIS_URL"))
		if err == nil {
			cfg.URL, cfg.KeyPrefix = u, os.Getenv("CRASH_PREFIX")
			var db *redis.DB
			if db, err = redis.Open(context.Background(), cfg, noEnv); err == nil {
				err = storetest.CrashChild(db.Audit())
			}
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	os.Exit(redistest.Main(m, &srv))
}

func TestCrashLosesNoAcknowledgedEvent(t *testing.T) {
	cfg := config(t, srv)
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "CRASH_REDIS_URL="+srv.URL(), "CRASH_PREFIX="+cfg.KeyPrefix)
	storetest.AuditCrash(t, child, func(t *testing.T) audit.Store { return openDB(t, cfg, noEnv).Audit() })
}

func noEnv(string) string { return "" }

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// config returns a configuration for srv with a key prefix of its own.
func config(t testing.TB, s *redistest.Server) redis.Config {
	cfg := redis.Default()
	cfg.URL = mustURL(t, s.URL())
	cfg.KeyPrefix = redistest.Prefix(t)
	return cfg
}

func openDB(t testing.TB, cfg redis.Config, getenv func(string) string) *redis.DB {
	t.Helper()
	db, err := redis.Open(t.Context(), cfg, getenv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func rawClient(t *testing.T) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

func open(t *testing.T) storetest.Backend {
	cfg := config(t, srv)
	db := openDB(t, cfg, noEnv)
	return storetest.Backend{Audit: db.Audit(), Tamper: tamperer{c: rawClient(t), prefix: cfg.KeyPrefix}, Replay: db.Replay(), SigningKeys: db.SigningKeys(), OAuth: db.OAuth(), Tuples: db.Tuples()}
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) audit.Store { return openDB(b, config(b, srv), noEnv).Audit() })
	b.Run("OAuth", benchOAuth)
}

// tamperer edits the real Redis keys with a client of its own, as an
// attacker with access to the server would.
type tamperer struct {
	c      *goredis.Client
	prefix string
}

func (tp tamperer) key(node, kind string) string { return tp.prefix + "audit:{" + node + "}:" + kind }

// member encodes a record as the store does: 8-byte big-endian seq, data.
func member(seq uint64, data []byte) string {
	b := []byte{byte(seq >> 56), byte(seq >> 48), byte(seq >> 40), byte(seq >> 32), byte(seq >> 24), byte(seq >> 16), byte(seq >> 8), byte(seq)}
	return string(append(b, data...))
}

func (tp tamperer) get(t *testing.T, key string, seq uint64) []byte {
	t.Helper()
	s := strconv.FormatUint(seq, 10)
	ms, err := tp.c.ZRangeArgs(t.Context(), goredis.ZRangeArgs{Key: key, Start: s, Stop: s, ByScore: true}).Result()
	if err != nil {
		t.Fatalf("tamper get %s %d: %v", key, seq, err)
	}
	if len(ms) == 0 {
		return nil
	}
	return []byte(ms[0][8:])
}

func (tp tamperer) put(t *testing.T, key string, seq uint64, data []byte) {
	t.Helper()
	tp.delete(t, key, seq)
	if err := tp.c.ZAdd(t.Context(), key, goredis.Z{Score: float64(seq), Member: member(seq, data)}).Err(); err != nil {
		t.Fatalf("tamper put %s %d: %v", key, seq, err)
	}
}

func (tp tamperer) delete(t *testing.T, key string, seq uint64) {
	t.Helper()
	s := strconv.FormatUint(seq, 10)
	if err := tp.c.ZRemRangeByScore(t.Context(), key, s, s).Err(); err != nil {
		t.Fatalf("tamper delete %s %d: %v", key, seq, err)
	}
}

func (tp tamperer) Get(t *testing.T, node string, seq uint64) []byte {
	return tp.get(t, tp.key(node, "events"), seq)
}

func (tp tamperer) Put(t *testing.T, node string, seq uint64, data []byte) {
	tp.put(t, tp.key(node, "events"), seq, data)
}

func (tp tamperer) Delete(t *testing.T, node string, seq uint64) {
	tp.delete(t, tp.key(node, "events"), seq)
}

func (tp tamperer) GetCheckpoint(t *testing.T, node string, seq uint64) []byte {
	return tp.get(t, tp.key(node, "checkpoints"), seq)
}

func (tp tamperer) PutCheckpoint(t *testing.T, node string, seq uint64, data []byte) {
	tp.put(t, tp.key(node, "checkpoints"), seq, data)
}

func TestKeyLayout(t *testing.T) {
	cfg := config(t, srv)
	s := openDB(t, cfg, noEnv).Audit()
	ctx := t.Context()
	if err := s.PutKey(ctx, "n1", "k1", []byte("pub")); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, "n1", 0, []audit.Record{{Seq: 1, Data: []byte("a")}}, []audit.Record{{Seq: 1, Data: []byte("cp")}}); err != nil {
		t.Fatal(err)
	}
	raw := rawClient(t)
	keys, err := raw.Keys(ctx, cfg.KeyPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.KeyPrefix + "audit:"
	want := map[string]string{p + "nodes": "set", p + "{n1}:events": "zset", p + "{n1}:checkpoints": "zset", p + "{n1}:keys": "hash"}
	got := map[string]string{}
	for _, k := range keys {
		got[k] = raw.Type(ctx, k).Val()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	zs := raw.ZRangeWithScores(ctx, p+"{n1}:events", 0, -1).Val()
	if diff := cmp.Diff([]goredis.Z{{Score: 1, Member: member(1, []byte("a"))}}, zs); diff != "" {
		t.Errorf("events ZSET (-want +got):\n%s", diff)
	}
}

func TestEqualRecordsStayDistinct(t *testing.T) {
	s := openDB(t, config(t, srv), noEnv).Audit()
	same := []byte("same bytes")
	evs := []audit.Record{{Seq: 1, Data: same}, {Seq: 2, Data: same}, {Seq: 3, Data: same}}
	if err := s.Append(t.Context(), "n1", 0, evs, nil); err != nil {
		t.Fatal(err)
	}
	var got []audit.Record
	if err := s.Scan(t.Context(), "n1", 0, func(r audit.Record) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(evs, got); diff != "" {
		t.Errorf("Scan (-want +got):\n%s", diff)
	}
}

func TestSeqFromScore(t *testing.T) {
	cfg := config(t, srv)
	s := openDB(t, cfg, noEnv).Audit()
	key := cfg.KeyPrefix + "audit:{n1}:events"
	if err := rawClient(t).ZAdd(t.Context(), key,
		goredis.Z{Score: -3, Member: member(0, []byte("neg"))},
		goredis.Z{Score: 2.5, Member: member(2, []byte("frac"))},
		goredis.Z{Score: 4, Member: "x"}, // shorter than the seq prefix
	).Err(); err != nil {
		t.Fatal(err)
	}
	scan := func(from uint64) []audit.Record {
		var got []audit.Record
		if err := s.Scan(t.Context(), "n1", from, func(r audit.Record) error { got = append(got, r); return nil }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	all := []audit.Record{{Seq: 0, Data: []byte("neg")}, {Seq: 2, Data: []byte("frac")}, {Seq: 4, Data: []byte{}}}
	if diff := cmp.Diff(all, scan(0)); diff != "" {
		t.Errorf("Scan(0) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(all[1:], scan(2)); diff != "" {
		t.Errorf("Scan(2) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(all[2:], scan(3)); diff != "" {
		t.Errorf("Scan(3) (-want +got):\n%s", diff)
	}
}

// countHook counts round trips: one per command or pipeline.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *countHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}

func (h *countHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

func TestAppendOneRoundTrip(t *testing.T) {
	db := openDB(t, config(t, srv), noEnv)
	s, ctx := db.Audit(), t.Context()
	if err := s.PutKey(ctx, "n1", "k1", []byte("pub")); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, "n1", 0, []audit.Record{{Seq: 1, Data: []byte("a")}}, nil); err != nil {
		t.Fatal(err)
	}
	h := &countHook{}
	redis.UnsafeClient(db).AddHook(h)
	var evs, cps []audit.Record
	for seq := uint64(2); seq <= 3001; seq++ {
		evs = append(evs, audit.Record{Seq: seq, Data: []byte(strconv.FormatUint(seq, 10))})
		if seq%1000 == 0 {
			cps = append(cps, audit.Record{Seq: seq, Data: []byte("cp")})
		}
	}
	if err := s.Append(ctx, "n1", 1, evs, cps); err != nil {
		t.Fatal(err)
	}
	if n := h.n.Load(); n != 1 {
		t.Errorf("Append of %d records took %d round trips, want 1", len(evs)+len(cps), n)
	}
	if err := s.Append(ctx, "n1", 3000, evs[:1], nil); !errors.Is(err, audit.ErrConflict) {
		t.Errorf("Append(prev 3000) = %v, want ErrConflict", err)
	}
	last, ok, err := s.Last(ctx, "n1")
	if err != nil || !ok || last.Seq != 3001 {
		t.Errorf("Last = %v %v %v, want seq 3001", last, ok, err)
	}
	if got, err := s.Checkpoints(ctx, "n1"); err != nil || len(got) != 3 {
		t.Errorf("Checkpoints = %v, %v; want 3", got, err)
	}
}

func TestValidate(t *testing.T) {
	valid := redis.Default()
	valid.URL = mustURL(t, "redis://127.0.0.1:6379/2")
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	addrs := func(c *redis.Config, a ...string) { c.URL, c.Addrs = nil, a }
	for _, tc := range []struct {
		name string
		edit func(c *redis.Config)
		want string // "" means valid
	}{
		{"url ok", func(c *redis.Config) {}, ""},
		{"rediss user", func(c *redis.Config) { c.URL = mustURL(t, "rediss://app@redis.example:6380") }, ""},
		{"ipv6", func(c *redis.Config) { c.URL = mustURL(t, "redis://[::1]:6379/") }, ""},
		{"sentinel", func(c *redis.Config) { addrs(c, "s1:26379", "s2:26379"); c.MasterName = "mymaster"; c.DB = 3 }, ""},
		{"cluster one addr", func(c *redis.Config) { addrs(c, "c1:6379"); c.Cluster, c.TLS = true, true }, ""},
		{"password", func(c *redis.Config) { c.Password = secret.Ref{Env: "PW"}; c.Username = "app" }, ""},
		{"default", func(c *redis.Config) { *c = redis.Default() }, "url: set url or addrs"},
		{"both", func(c *redis.Config) { c.Addrs = []string{"a:1"} }, "addrs: must not be set with url"},
		{"scheme", func(c *redis.Config) { c.URL = mustURL(t, "http://127.0.0.1:6379") }, "url: scheme must be redis or rediss"},
		{"unix", func(c *redis.Config) { c.URL = mustURL(t, "unix:///run/redis.sock") }, "url: scheme must be redis or rediss"},
		{"url password", func(c *redis.Config) { c.URL = mustURL(t, "redis://app:hunter2@h:6379") }, "url: must not contain a password; use password"},
		{"url empty password", func(c *redis.Config) { c.URL = mustURL(t, "redis://:@h:6379") }, "url: must not contain a password; use password"},
		{"no host", func(c *redis.Config) { c.URL = mustURL(t, "redis:///0") }, "url: must have a host"},
		{"port", func(c *redis.Config) { c.URL = mustURL(t, "redis://h:70000") }, `url: bad port "70000"`},
		{"query", func(c *redis.Config) { c.URL = mustURL(t, "redis://h:6379?dial_timeout=1") }, "url: must not have a query or fragment; use the other keys"},
		{"fragment", func(c *redis.Config) { c.URL = mustURL(t, "redis://h:6379#x") }, "url: must not have a query or fragment; use the other keys"},
		{"path db 16", func(c *redis.Config) { c.URL = mustURL(t, "redis://h:6379/16") }, "url: path must be empty or /<db> with db 0 to 15"},
		{"path", func(c *redis.Config) { c.URL = mustURL(t, "redis://h:6379/a/b") }, "url: path must be empty or /<db> with db 0 to 15"},
		{"two usernames", func(c *redis.Config) { c.URL = mustURL(t, "redis://app@h:6379"); c.Username = "other" }, "username: must not be set with a username in url"},
		{"addr", func(c *redis.Config) { addrs(c, "h:6379", "h") }, `addrs: "h" is not host:port`},
		{"addr port", func(c *redis.Config) { addrs(c, "h:0") }, `addrs: "h:0" is not host:port`},
		{"master without addrs", func(c *redis.Config) { c.MasterName = "m" }, "master_name: requires addrs"},
		{"cluster without addrs", func(c *redis.Config) { c.Cluster = true }, "cluster: requires addrs"},
		{"cluster and sentinel", func(c *redis.Config) { addrs(c, "h:1"); c.Cluster, c.MasterName = true, "m" }, "cluster: must not be set with master_name"},
		{"db range", func(c *redis.Config) { c.URL, c.DB = mustURL(t, "redis://h:1"), 16 }, "db: must be between 0 and 15"},
		{"db negative", func(c *redis.Config) { c.URL, c.DB = mustURL(t, "redis://h:1"), -1 }, "db: must be between 0 and 15"},
		{"db cluster", func(c *redis.Config) { addrs(c, "h:1"); c.Cluster, c.DB = true, 1 }, "db: must be 0 with a cluster"},
		{"db cluster addrs", func(c *redis.Config) { addrs(c, "h:1", "h:2"); c.DB = 1 }, "db: must be 0 with a cluster"},
		{"db twice", func(c *redis.Config) { c.DB = 1 }, "db: must not be set with a database in url"},
		{"tls with url", func(c *redis.Config) { c.TLS = true }, "tls: must not be set with url; use the rediss scheme"},
		{"prefix empty", func(c *redis.Config) { c.KeyPrefix = "" }, "key_prefix: must not be empty"},
		{"prefix brace", func(c *redis.Config) { c.KeyPrefix = "a{b}:" }, "key_prefix: must not contain { or }"},
		{"dial timeout", func(c *redis.Config) { c.DialTimeout = 0 }, "dial_timeout: must be positive"},
		{"read timeout", func(c *redis.Config) { c.ReadTimeout = -time.Second }, "read_timeout: must be positive"},
		{"write timeout", func(c *redis.Config) { c.WriteTimeout = 0 }, "write_timeout: must be positive"},
		{"pool size", func(c *redis.Config) { c.PoolSize = -1 }, "pool_size: must not be negative"},
		{"password both", func(c *redis.Config) { c.Password = secret.Ref{File: "/pw", Env: "PW"} }, "password.env: must not be set with file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			c.URL = mustURL(t, valid.URL.String())
			tc.edit(&c)
			before, beforeURL := c, urlString(c.URL)
			err := c.Validate()
			if got := errString(err); got != tc.want {
				t.Errorf("Validate() = %q, want %q", got, tc.want)
			}
			samePtr := cmp.Comparer(func(a, b *url.URL) bool { return a == b })
			if diff := cmp.Diff(before, c, samePtr); diff != "" || urlString(c.URL) != beforeURL {
				t.Errorf("Validate mutated the config:\n%s", diff)
			}
		})
	}
}

func urlString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.String()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestUniversalOptions(t *testing.T) {
	base := redis.Default()
	base.Username = "app"
	base.PoolSize = 7
	tlsOn := &tls.Config{MinVersion: tls.VersionTLS12}
	for _, tc := range []struct {
		name   string
		edit   func(c *redis.Config)
		want   goredis.UniversalOptions
		client string // the concrete client NewUniversalClient returns
	}{
		{"url", func(c *redis.Config) { c.URL = mustURL(t, "redis://h:6380/4") },
			goredis.UniversalOptions{Addrs: []string{"h:6380"}, DB: 4}, "*redis.Client"},
		{"url default port, username", func(c *redis.Config) { c.URL, c.Username = mustURL(t, "rediss://u@h"), "" },
			goredis.UniversalOptions{Addrs: []string{"h:6379"}, Username: "u", TLSConfig: &tls.Config{ServerName: "h", MinVersion: tls.VersionTLS12}}, "*redis.Client"},
		{"url db key", func(c *redis.Config) { c.URL, c.DB = mustURL(t, "redis://h:1"), 5 },
			goredis.UniversalOptions{Addrs: []string{"h:1"}, DB: 5}, "*redis.Client"},
		{"sentinel", func(c *redis.Config) { c.Addrs, c.MasterName, c.DB = []string{"s1:26379", "s2:26379"}, "mymaster", 2 },
			goredis.UniversalOptions{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster", DB: 2}, "*redis.Client"},
		{"cluster seeds", func(c *redis.Config) { c.Addrs, c.TLS = []string{"c1:6379", "c2:6379"}, true },
			goredis.UniversalOptions{Addrs: []string{"c1:6379", "c2:6379"}, TLSConfig: tlsOn}, "*redis.ClusterClient"},
		{"cluster forced", func(c *redis.Config) { c.Addrs, c.Cluster = []string{"c1:6379"}, true },
			goredis.UniversalOptions{Addrs: []string{"c1:6379"}, IsClusterMode: true}, "*redis.ClusterClient"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			got, err := redis.UniversalOptions(c, "pw")
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want.Username == "" {
				want.Username = c.Username
			}
			want.Password, want.PoolSize, want.ContextTimeoutEnabled = "pw", 7, true
			want.DialTimeout, want.ReadTimeout, want.WriteTimeout = 2*time.Second, 3*time.Second, 3*time.Second
			if diff := cmp.Diff(&want, got, cmp.Comparer(func(a, b *tls.Config) bool {
				return (a == nil) == (b == nil) && (a == nil || a.ServerName == b.ServerName && a.MinVersion == b.MinVersion)
			})); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			client := goredis.NewUniversalClient(got)
			defer client.Close()
			if typ := typeName(client); typ != tc.client {
				t.Errorf("client = %s, want %s", typ, tc.client)
			}
		})
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *goredis.Client:
		return "*redis.Client"
	case *goredis.ClusterClient:
		return "*redis.ClusterClient"
	}
	return "other"
}

func TestOpenUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const planted = "s3cr3t-planted"
	cfg := redis.Default()
	cfg.URL = mustURL(t, "redis://"+addr)
	cfg.Password = secret.Ref{Env: "PW"}
	start := time.Now()
	_, err = redis.Open(t.Context(), cfg, func(string) string { return planted })
	took := time.Since(start)
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	if want := "redis: cannot reach " + addr + ": "; !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Open error = %q, want %q... connection refused", err, want)
	}
	if strings.Contains(err.Error(), planted) {
		t.Errorf("Open error reveals the password: %v", err)
	}
	if took > cfg.DialTimeout+time.Second {
		t.Errorf("Open took %s, want under %s", took, cfg.DialTimeout+time.Second)
	}
}

func TestPassword(t *testing.T) {
	const pw = "s3cr3t-pw-for-test"
	s := redistest.New(t, "--requirepass", pw)
	env := map[string]string{"REDIS_PW": pw, "WRONG_PW": "not-it"}
	getenv := func(k string) string { return env[k] }
	cfg := config(t, s)
	cfg.Password = secret.Ref{Env: "REDIS_PW"}
	st := openDB(t, cfg, getenv).Audit()
	if err := st.Append(t.Context(), "n1", 0, []audit.Record{{Seq: 1, Data: []byte("a")}}, nil); err != nil {
		t.Fatalf("Append with password: %v", err)
	}
	if nodes, err := st.Nodes(t.Context()); err != nil || len(nodes) != 1 {
		t.Errorf("Nodes = %v, %v", nodes, err)
	}

	for _, tc := range []struct {
		name string
		ref  secret.Ref
		want string
	}{
		{"wrong", secret.Ref{Env: "WRONG_PW"}, "redis: " + s.Addr() + ": WRONGPASS"},
		{"none", secret.Ref{}, "redis: " + s.Addr() + ": NOAUTH"},
		{"unset", secret.Ref{Env: "NOPE"}, "redis: password: secret: env:NOPE is unset or empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			c.Password = tc.ref
			_, err := redis.Open(t.Context(), c, getenv)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Open = %v, want %q...", err, tc.want)
			}
			if err != nil && (strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "not-it")) {
				t.Errorf("Open error reveals a password: %v", err)
			}
		})
	}
}

func TestPingClose(t *testing.T) {
	db, err := redis.Open(t.Context(), config(t, srv), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := db.Ping(t.Context()); err == nil {
		t.Error("Ping after Close succeeded")
	}
}
