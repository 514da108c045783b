package broker

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/broker/oauth"
	"github.com/subzero-gateway/subzero/guard/standard"
	"github.com/subzero-gateway/subzero/internal/secret"
	"github.com/subzero-gateway/subzero/internal/yamlconf"
	"github.com/subzero-gateway/subzero/store/bolt"
	"github.com/subzero-gateway/subzero/store/redis"
)

// EnvPrefix starts every environment variable that overrides a config key:
// store.redis.url is SUBZERO_STORE_REDIS_URL.
const EnvPrefix = "SUBZERO"

// MaxConfigBytes bounds the config file.
const MaxConfigBytes = 1 << 20

// Config is the whole configuration of a node. Load it with [LoadConfig].
type Config struct {
	// DataDir holds the embedded database, the node ID, the audit signing
	// key and the local admin socket.
	DataDir string          `yaml:"data_dir"`
	Node    NodeConfig      `yaml:"node"`
	Server  ServerConfig    `yaml:"server"`
	Log     LogConfig       `yaml:"log"`
	Store   StoreConfig     `yaml:"store"`
	Audit   audit.Config    `yaml:"audit"`
	OAuth   oauth.Config    `yaml:"oauth"`
	Authz   AuthzConfig     `yaml:"authz"`
	Guard   standard.Config `yaml:"guard"`
	MCP     MCPConfig       `yaml:"mcp"`
	LLM     LLMConfig       `yaml:"llm"`
	// ServerSecret keys the node's HMACs (authorization codes, refresh
	// tokens, DPoP nonces, client secret hashes): 32 bytes or more, the same
	// on every node. Empty: generated once in <data_dir>/server-secret,
	// which only a single embedded node may do.
	ServerSecret secret.Ref `yaml:"server_secret"`

	// Explicit is set when a config file was given. Without one the node
	// runs on development defaults and binds loopback addresses only.
	Explicit bool `yaml:"-"`
}

// NodeConfig names this node.
type NodeConfig struct {
	// ID names the node's audit chain. It must stay the same across
	// restarts and differ between nodes sharing a store. Empty means the ID
	// kept in <data_dir>/node-id, generated on first start.
	ID string `yaml:"id"`
}

// ServerConfig configures the HTTP listener.
type ServerConfig struct {
	Addr              string         `yaml:"addr"`
	TLS               TLSConfig      `yaml:"tls"`
	ShutdownTimeout   time.Duration  `yaml:"shutdown_timeout"`
	ReadHeaderTimeout time.Duration  `yaml:"read_header_timeout"`
	IdleTimeout       time.Duration  `yaml:"idle_timeout"`
	MaxHeaderBytes    int            `yaml:"max_header_bytes"`
	TrustedProxies    []netip.Prefix `yaml:"trusted_proxies"`
	// GCPercent is the garbage collector's target percentage
	// (runtime/debug.SetGCPercent), applied when the GOGC environment
	// variable is unset: 200 trades about one more live heap of memory
	// for roughly half the collections of Go's default, 100.
	GCPercent int `yaml:"gc_percent"`
}

// TLSConfig turns on TLS when both files are set.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// LogConfig configures logging.
type LogConfig struct {
	Level  slog.Level `yaml:"level"`
	Format string     `yaml:"format"`
}

// StoreConfig picks the storage backend.
type StoreConfig struct {
	Kind  string       `yaml:"kind"`
	Bolt  bolt.Config  `yaml:"bolt"`
	Redis redis.Config `yaml:"redis"`
}

// DefaultConfig returns the development defaults: embedded store under
// ./data, loopback only.
func DefaultConfig() Config {
	return Config{
		DataDir: "data",
		Server: ServerConfig{
			Addr:              "127.0.0.1:8080",
			ShutdownTimeout:   15 * time.Second,
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			GCPercent:         200,
		},
		Log:   LogConfig{Level: slog.LevelInfo, Format: "json"},
		Store: StoreConfig{Kind: "bolt", Bolt: bolt.Default(), Redis: redis.Default()},
		Audit: audit.Default(),
		OAuth: oauth.Default(),
		Authz: defaultAuthz(),
		Guard: standard.Default(),
		MCP:   defaultMCP(),
		LLM:   defaultLLM(),
	}
}

var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate reports the first invalid key, by its path. It does not mutate.
func (c *Config) Validate() error {
	prefix := func(p string, err error) error {
		if err == nil {
			return nil
		}
		return fmt.Errorf("%s.%w", p, err)
	}
	switch {
	case c.DataDir == "":
		return errors.New("data_dir: must not be empty")
	case c.Node.ID != "" && !nodeIDPattern.MatchString(c.Node.ID):
		return errors.New("node.id: must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	if err := c.Server.validate(c.Explicit); err != nil {
		return prefix("server", err)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		return fmt.Errorf("log.format: must be json or text, got %q", c.Log.Format)
	}
	switch c.Store.Kind {
	case "bolt":
		if err := c.Store.Bolt.Validate(); err != nil {
			return prefix("store.bolt", err)
		}
	case "redis":
		if err := c.Store.Redis.Validate(); err != nil {
			return prefix("store.redis", err)
		}
	default:
		return fmt.Errorf("store.kind: must be bolt or redis, got %q", c.Store.Kind)
	}
	if err := c.Audit.Validate(); err != nil {
		return prefix("audit", err)
	}
	if err := c.ServerSecret.Validate(); err != nil {
		return prefix("server_secret", err)
	}
	if err := c.Guard.Validate(); err != nil {
		return err // guard's errors name guard.<key>
	}
	if err := c.Authz.validate(); err != nil {
		return prefix("authz", err)
	}
	if err := c.MCP.validate(); err != nil {
		return err // mcp's errors name mcp.<key>
	}
	if err := c.LLM.validate(); err != nil {
		return err
	}
	if c.Store.Kind == "redis" && c.ServerSecret.IsZero() {
		return errors.New("server_secret: required with store.kind redis: every node must share it ({file: ...} or {env: ...})")
	}
	o := c.OAuth
	if o.Issuer == nil {
		if host, _, _ := net.SplitHostPort(c.Server.Addr); !isLoopback(host) {
			return errors.New("oauth.issuer: required when server.addr is not loopback: the public https URL clients reach this node at")
		}
		o.Issuer = c.defaultIssuer(c.Server.Addr)
	}
	return prefix("oauth", o.Validate())
}

// defaultIssuer is the issuer when oauth.issuer is not set: this node's
// own address.
func (c *Config) defaultIssuer(addr string) *url.URL {
	scheme := "http"
	if c.Server.TLS.CertFile != "" {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: addr}
}

func (s *ServerConfig) validate(explicit bool) error {
	host, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return fmt.Errorf("addr: want host:port, got %q", s.Addr)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("addr: bad port %q", port)
	}
	if !explicit && !isLoopback(host) {
		return fmt.Errorf("addr: %s is not a loopback address; binding beyond this host needs an explicit config file (--config)", s.Addr)
	}
	switch {
	case (s.TLS.CertFile == "") != (s.TLS.KeyFile == ""):
		return errors.New("tls: cert_file and key_file must be set together")
	case s.ShutdownTimeout <= 0:
		return errors.New("shutdown_timeout: must be positive")
	case s.ReadHeaderTimeout <= 0:
		return errors.New("read_header_timeout: must be positive")
	case s.IdleTimeout <= 0:
		return errors.New("idle_timeout: must be positive")
	case s.MaxHeaderBytes < 4096 || s.MaxHeaderBytes > 1<<20:
		return errors.New("max_header_bytes: must be between 4096 and 1048576")
	case s.GCPercent < 50 || s.GCPercent > 1000:
		return fmt.Errorf("gc_percent: must be between 50 and 1000, got %d", s.GCPercent)
	}
	for _, f := range []string{s.TLS.CertFile, s.TLS.KeyFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("tls: %w", err)
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// Flags are the command-line overrides of `subzero serve`.
type Flags struct {
	Addr    string
	DataDir string
}

// LoadConfig builds the configuration: defaults, then the YAML file at path
// (when not empty), then SUBZERO_* variables from environ, then flags. It
// validates the result; errors name the key path.
func LoadConfig(path string, environ []string, flags Flags) (*Config, error) {
	cfg := DefaultConfig()
	if path != "" {
		data, err := readConfigFile(path)
		if err != nil {
			return nil, err
		}
		if err := yamlconf.Decode(data, &cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		cfg.Explicit = true
	}
	referenced := secretEnvNames(&cfg)
	ignore := func(name string) bool { return referenced[name] || name == EnvPrefix+"_CONFIG" }
	if err := yamlconf.ApplyEnv(&cfg, EnvPrefix, environ, ignore); err != nil {
		return nil, err
	}
	if flags.Addr != "" {
		cfg.Server.Addr = flags.Addr
	}
	if flags.DataDir != "" {
		cfg.DataDir = flags.DataDir
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("config: %s is larger than %d bytes", path, MaxConfigBytes)
	}
	return data, nil
}

// secretEnvNames lists the environment variables that secrets refer to, so
// that they are not mistaken for unknown SUBZERO_* overrides.
func secretEnvNames(c *Config) map[string]bool {
	names := map[string]bool{}
	for _, ref := range []secret.Ref{c.Store.Redis.Password, c.ServerSecret} {
		if ref.Env != "" {
			names[ref.Env] = true
		}
	}
	for _, sc := range c.OAuth.Clients {
		if sc.Secret.Env != "" {
			names[sc.Secret.Env] = true
		}
	}
	return names
}

// Dump renders the effective configuration; secrets appear as references,
// never values.
func (c *Config) Dump() ([]byte, error) { return yamlconf.Encode(c) }

// BoltPath returns the embedded database file.
func (c *Config) BoltPath() string {
	if c.Store.Bolt.Path != "" {
		return c.Store.Bolt.Path
	}
	return filepath.Join(c.DataDir, "subzero.db")
}

// SigningKeyPath returns the audit signing key file and whether it may be
// created (only at the default path).
func (c *Config) SigningKeyPath() (string, bool) {
	if c.Audit.SigningKeyFile != "" {
		return c.Audit.SigningKeyFile, false
	}
	return filepath.Join(c.DataDir, "audit-signing-key.pem"), true
}

// AdminSocket returns the path of the local admin socket.
func (c *Config) AdminSocket() string { return filepath.Join(c.DataDir, "admin.sock") }

// NodeID returns the configured node ID, or the one kept in the data
// directory, generating it on first use.
func (c *Config) NodeID() (string, error) {
	if c.Node.ID != "" {
		return c.Node.ID, nil
	}
	id, err := c.dataDirID("node-id", "node-")
	if err != nil {
		return "", fmt.Errorf("node.id: %w", err)
	}
	return id, nil
}

// InstanceID returns the ID of this data directory, generating it on first
// use: the owner of the node's audit chain lease. A node that restarts on
// its data directory takes its chain back at once; a second process with
// the same node ID and another data directory is refused.
func (c *Config) InstanceID() (string, error) {
	id, err := c.dataDirID("instance-id", "")
	if err != nil {
		return "", fmt.Errorf("data_dir: %w", err)
	}
	return id, nil
}

// dataDirID reads the ID kept in <data_dir>/name, or creates one.
func (c *Config) dataDirID(name, prefix string) (string, error) {
	path := filepath.Join(c.DataDir, name)
	data, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(data))
		if !nodeIDPattern.MatchString(id) {
			return "", fmt.Errorf("%s holds an invalid ID", path)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	n := len(b) // instance IDs: 16 hex digits
	if prefix != "" {
		n = 4 // node IDs stay short: node-1a2b3c4d
	}
	id := prefix + hex.EncodeToString(b[:n])
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return "", err
	}
	if err := writeFileSync(path, []byte(id+"\n")); err != nil {
		return "", err
	}
	return id, nil
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// serverSecret resolves server_secret, or reads (creating it on first use)
// the embedded node's <data_dir>/server-secret.
func (c *Config) serverSecret(getenv func(string) string) ([]byte, error) {
	if !c.ServerSecret.IsZero() {
		v, err := c.ServerSecret.Resolve(getenv)
		if err != nil {
			return nil, fmt.Errorf("server_secret: %w", err)
		}
		if len(v) < 32 {
			return nil, fmt.Errorf("server_secret: %d bytes, want at least 32", len(v))
		}
		return []byte(v), nil
	}
	path := filepath.Join(c.DataDir, "server-secret")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		var b [32]byte
		rand.Read(b[:])
		data = []byte(hex.EncodeToString(b[:]))
		if err := writeFileSync(path, data); err != nil {
			return nil, fmt.Errorf("server_secret: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("server_secret: %w", err)
	}
	if len(data) < 32 {
		return nil, fmt.Errorf("server_secret: %s is shorter than 32 bytes", path)
	}
	return data, nil
}
