package sensitive

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Config configures the detector. The zero value turns every detector
// off; start from [Default].
type Config struct {
	// PII turns the personal-data detectors (the "pii.*" names) on.
	PII bool `yaml:"pii"`
	// Secrets turns the secret detectors (the "secret.*" names) on.
	Secrets bool `yaml:"secrets"`
	// Disabled names detectors to leave out: a whole family ("pii",
	// "secret") or one detector ("pii.phone", "secret.generic-api-key").
	Disabled []string `yaml:"disabled"`
	// AllowValues are literal values never reported, compared with the
	// matched value after trimming (case-sensitive), e.g. a support
	// address the application prints on purpose.
	AllowValues []string `yaml:"allow_values"`
	// AllowPatterns are RE2 expressions; a value any of them matches in
	// full is never reported.
	AllowPatterns []string `yaml:"allow_patterns"`
	// KeyNames are the secret-like key names (lower case) whose values are
	// reported by "secret.keyword-assignment" when they look like secrets:
	// "api_key = ...", "token: ...". Matching ignores case and treats "-",
	// "_" and "." alike; a name also matches as the end of a longer key
	// ("db_password").
	KeyNames []string `yaml:"key_names"`
	// PhoneRegions are the ISO 3166 regions whose national formats are
	// tried for phone numbers written without a "+" country code.
	PhoneRegions []string `yaml:"phone_regions"`
	// SkipPrivateIPs leaves out private, link-local and unique-local
	// addresses (RFC 1918, RFC 3927, RFC 4193): only public addresses are
	// reported. Loopback and unspecified addresses are never reported.
	SkipPrivateIPs bool `yaml:"skip_private_ips"`
}

// piiNames are the personal-data detectors.
var piiNames = []string{
	"pii.email", "pii.phone", "pii.card", "pii.ssn", "pii.iban", "pii.ip",
	"pii.address", "pii.driver_license",
}

// Indexes in ownSecretNames.
const (
	ownPEM = iota
	ownJWT
	ownURL
	ownHash
	ownAuth
	ownKey
)

// ownSecretNames are the secret detectors written here rather than taken
// from the gitleaks rule set.
var ownSecretNames = []string{
	"secret.private-key", "secret.jwt", "secret.url-credentials",
	"secret.password-hash", "secret.authorization-header", "secret.keyword-assignment",
}

// Default returns the configuration the guard ships with: every detector
// on, private IP addresses reported (they map internal networks, which a
// security team does not want sent to a third-party model either).
func Default() Config {
	return Config{
		PII:     true,
		Secrets: true,
		KeyNames: []string{
			"password", "passwd", "passphrase", "pwd", "pass", "secret",
			"token", "api_key", "apikey", "access_key", "secret_key",
			"private_key", "client_secret", "auth", "credential", "credentials",
			"access_token", "refresh_token", "auth_token", "session_token",
			"bearer", "key", "signing_key", "encryption_key", "master_key",
			"account_key", "shared_access_key", "connection_string", "pat",
		},
		PhoneRegions: []string{"US", "GB", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "SE", "DK", "NO", "FI", "PL", "PT", "IE", "BR", "IN", "AU", "CA", "MX", "CN", "JP"},
	}
}

// Validate reports the first invalid setting, naming its key.
func (c Config) Validate() error {
	for _, n := range c.Disabled {
		if !knownName(n) {
			return fmt.Errorf("sensitive.disabled: unknown detector %q", n)
		}
	}
	for i, p := range c.AllowPatterns {
		if _, err := regexp.Compile(p); err != nil {
			return fmt.Errorf("sensitive.allow_patterns[%d]: %w", i, err)
		}
	}
	for i, k := range c.KeyNames {
		if k == "" || strings.ToLower(k) != k {
			return fmt.Errorf("sensitive.key_names[%d]: %q must be non-empty lower case", i, k)
		}
	}
	regions := phonenumbers.GetSupportedRegions()
	for i, r := range c.PhoneRegions {
		if !regions[r] {
			return fmt.Errorf("sensitive.phone_regions[%d]: unknown region %q", i, r)
		}
	}
	return nil
}

// knownName reports whether n names a detector or a family. Gitleaks
// rule IDs are checked against the embedded rule set.
func knownName(n string) bool {
	if n == "pii" || n == "secret" || slices.Contains(piiNames, n) || slices.Contains(ownSecretNames, n) {
		return true
	}
	id, ok := strings.CutPrefix(n, "secret.")
	if !ok {
		return false
	}
	rs, err := gitleaksRules()
	if err != nil {
		return false
	}
	if slices.ContainsFunc(rs, func(r gitleaksRule) bool { return r.ID == id }) {
		return true
	}
	nps, err := loadNoseyParker()
	return err == nil && slices.ContainsFunc(nps, func(r npRule) bool { return r.ID == id })
}

// enabled reports whether the detector called name is on.
func (c Config) enabled(name string) bool {
	fam, _, _ := strings.Cut(name, ".")
	switch fam {
	case "pii":
		if !c.PII {
			return false
		}
	case "secret":
		if !c.Secrets {
			return false
		}
	}
	return !slices.Contains(c.Disabled, fam) && !slices.Contains(c.Disabled, name)
}
