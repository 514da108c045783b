// Package redis is the networked storage backend: Redis 7 or later, as one
// server, a Sentinel-managed primary or a Cluster. Several nodes share one
// store; each writes only its own audit chain.
//
// # Key layout
//
// Every key starts with the configured key prefix (default "subzero:"):
//
//	<prefix>audit:nodes                SET of node IDs
//	<prefix>audit:{<node>}:events      ZSET, score = seq, member = seq || record
//	<prefix>audit:{<node>}:checkpoints ZSET, like events
//	<prefix>audit:{<node>}:keys        HASH, key ID -> public key
//
// A member is the record's seq as 8 big-endian bytes followed by the
// record's bytes, so that equal records at different seqs stay distinct
// members. The hash tag {<node>} keeps one node's keys in one Cluster slot,
// which lets [AuditStore.Append] check the chain head and write events and
// checkpoints in one atomic Lua script; the nodes set lives in another slot
// and is written separately. Scores are doubles: seqs are exact up to 2^53.
//
// # Durability
//
// A write returns when the server acknowledges it. Whether it survives a
// crash of the server depends on the server's persistence: with
// "appendonly yes" and "appendfsync always" nothing acknowledged is lost;
// "everysec" can lose the last second.
package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/subzero-gateway/subzero/internal/secret"
)

// Config configures the connection to Redis. Exactly one of URL and Addrs
// is set.
type Config struct {
	// URL is one server: redis://host:port/db, or rediss:// for TLS. It
	// must not carry a password.
	URL *url.URL `yaml:"url"`
	// Addrs seeds a Cluster (two or more addresses, or Cluster set) or, with
	// MasterName, lists the Sentinels; each is host:port.
	Addrs []string `yaml:"addrs"`
	// MasterName is the name of the Sentinel-managed primary.
	MasterName string `yaml:"master_name"`
	// Cluster forces a Cluster client, even with one address.
	Cluster bool `yaml:"cluster"`
	// Username is the ACL user; empty means the default user.
	Username string `yaml:"username"`
	// Password refers to the password of the Redis servers (Sentinels are
	// reached without one).
	Password secret.Ref `yaml:"password"`
	// DB is the database number, 0 to 15; it must be 0 for a Cluster.
	DB int `yaml:"db"`
	// TLS turns on TLS for Addrs; with URL the scheme decides.
	TLS bool `yaml:"tls"`
	// KeyPrefix starts every key, so that several deployments can share a
	// database. It must not contain braces, which would change Cluster
	// hash slots.
	KeyPrefix string `yaml:"key_prefix"`
	// DialTimeout bounds connecting, and the PING with which Open checks
	// the server.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// ReadTimeout and WriteTimeout bound each socket read and write.
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// PoolSize is the number of connections per server; 0 means the
	// client's default (10 per CPU).
	PoolSize int `yaml:"pool_size"`
}

// Default returns the default configuration. It sets no address, so it does
// not validate until URL or Addrs is set.
func Default() Config {
	return Config{
		KeyPrefix:    "subzero:",
		DialTimeout:  2 * time.Second,
		ReadTimeout:  3 * time.Second,
		WriteTimeout: 3 * time.Second,
	}
}

// Validate reports the first invalid field, named by its key.
func (c Config) Validate() error {
	switch {
	case c.URL == nil && len(c.Addrs) == 0:
		return errors.New("url: set url or addrs")
	case c.URL != nil && len(c.Addrs) > 0:
		return errors.New("addrs: must not be set with url")
	}
	urlDB := false
	if u := c.URL; u != nil {
		var err error
		if urlDB, err = validateURL(u); err != nil {
			return err
		}
		if u.User != nil && u.User.Username() != "" && c.Username != "" {
			return errors.New("username: must not be set with a username in url")
		}
	}
	for _, a := range c.Addrs {
		if !validAddr(a) {
			return fmt.Errorf("addrs: %q is not host:port", a)
		}
	}
	cluster := c.Cluster || (len(c.Addrs) > 1 && c.MasterName == "")
	switch {
	case c.MasterName != "" && len(c.Addrs) == 0:
		return errors.New("master_name: requires addrs")
	case c.Cluster && len(c.Addrs) == 0:
		return errors.New("cluster: requires addrs")
	case c.Cluster && c.MasterName != "":
		return errors.New("cluster: must not be set with master_name")
	case c.DB < 0 || c.DB > 15:
		return errors.New("db: must be between 0 and 15")
	case c.DB != 0 && cluster:
		return errors.New("db: must be 0 with a cluster")
	case c.DB != 0 && urlDB:
		return errors.New("db: must not be set with a database in url")
	case c.TLS && c.URL != nil:
		return errors.New("tls: must not be set with url; use the rediss scheme")
	case c.KeyPrefix == "":
		return errors.New("key_prefix: must not be empty")
	case strings.ContainsAny(c.KeyPrefix, "{}"):
		return errors.New("key_prefix: must not contain { or }")
	case c.DialTimeout <= 0:
		return errors.New("dial_timeout: must be positive")
	case c.ReadTimeout <= 0:
		return errors.New("read_timeout: must be positive")
	case c.WriteTimeout <= 0:
		return errors.New("write_timeout: must be positive")
	case c.PoolSize < 0:
		return errors.New("pool_size: must not be negative")
	}
	if err := c.Password.Validate(); err != nil {
		return fmt.Errorf("password.%w", err)
	}
	return nil
}

// validateURL checks a server URL and reports whether its path names a
// database.
func validateURL(u *url.URL) (db bool, err error) {
	switch {
	case u.Scheme != "redis" && u.Scheme != "rediss":
		return false, errors.New("url: scheme must be redis or rediss")
	case u.User != nil && hasPassword(u.User):
		return false, errors.New("url: must not contain a password; use password")
	case u.Hostname() == "":
		return false, errors.New("url: must have a host")
	case u.Port() != "" && !validPort(u.Port()):
		return false, fmt.Errorf("url: bad port %q", u.Port())
	case u.RawQuery != "" || u.Fragment != "":
		return false, errors.New("url: must not have a query or fragment; use the other keys")
	}
	switch p := strings.TrimPrefix(u.Path, "/"); {
	case p == "":
		return false, nil
	case validDB(p):
		return true, nil
	}
	return false, errors.New("url: path must be empty or /<db> with db 0 to 15")
}

func hasPassword(u *url.Userinfo) bool { _, ok := u.Password(); return ok }

func validDB(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 15 && strconv.Itoa(n) == s
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0 && n < 1<<16
}

func validAddr(a string) bool {
	host, port, err := net.SplitHostPort(a)
	return err == nil && host != "" && validPort(port)
}

// universalOptions maps a valid c onto the client's options.
func universalOptions(c Config, password string) (*goredis.UniversalOptions, error) {
	o := &goredis.UniversalOptions{
		Addrs:                 c.Addrs,
		MasterName:            c.MasterName,
		IsClusterMode:         c.Cluster,
		Username:              c.Username,
		Password:              password,
		DB:                    c.DB,
		DialTimeout:           c.DialTimeout,
		ReadTimeout:           c.ReadTimeout,
		WriteTimeout:          c.WriteTimeout,
		PoolSize:              c.PoolSize,
		ContextTimeoutEnabled: true,
	}
	if c.URL != nil {
		u, err := goredis.ParseURL(c.URL.String()) // holds no password: Validate refuses one
		if err != nil {
			return nil, err
		}
		o.Addrs, o.TLSConfig = []string{u.Addr}, u.TLSConfig
		if u.Username != "" {
			o.Username = u.Username
		}
		if u.DB != 0 {
			o.DB = u.DB
		}
	} else if c.TLS {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return o, nil
}

var quietOnce sync.Once

// quietLogger drops go-redis's internal log lines.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// DB is a connection pool to Redis.
type DB struct {
	client goredis.UniversalClient
	audit  *AuditStore
}

// Open validates cfg, resolves the password through getenv, connects and
// checks the server with a PING bounded by the dial timeout.
func Open(ctx context.Context, cfg Config, getenv func(string) string) (*DB, error) {
	// go-redis prints connection errors with the standard logger, which
	// would break the node's JSON logs; every error reaches us as a return
	// value instead.
	quietOnce.Do(func() { goredis.SetLogger(quietLogger{}) })
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	password, err := cfg.Password.Resolve(getenv)
	if err != nil {
		return nil, fmt.Errorf("redis: password: %w", err)
	}
	opts, err := universalOptions(cfg, password)
	if err != nil {
		return nil, fmt.Errorf("redis: url: %w", err)
	}
	client := goredis.NewUniversalClient(opts)
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		client.Close()
		addrs := strings.Join(opts.Addrs, ",")
		var rerr goredis.Error
		switch {
		case errors.As(err, &rerr): // the server answered, with an error
			return nil, fmt.Errorf("redis: %s: %w", addrs, err)
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			return nil, fmt.Errorf("redis: cannot reach %s: no answer within %s", addrs, cfg.DialTimeout)
		}
		return nil, fmt.Errorf("redis: cannot reach %s: %w", addrs, err)
	}
	return &DB{client: client, audit: newAuditStore(client, cfg.KeyPrefix)}, nil
}

// Ping checks that the server answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// Close closes the connections.
func (d *DB) Close() error { return d.client.Close() }

// Audit returns the audit store kept in this database.
func (d *DB) Audit() *AuditStore { return d.audit }
