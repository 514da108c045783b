package injection

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Config configures the detector.
type Config struct {
	// Threshold is the score at or above which an "injection" finding is
	// reported; JailbreakThreshold the same for "jailbreak". Both in (0, 1].
	Threshold          float64 `yaml:"threshold"`
	JailbreakThreshold float64 `yaml:"jailbreak_threshold"`
	// Disabled names signal families (see [FamilyNames]) that contribute
	// nothing to the scores, e.g. "fiction_frame" where fiction is the
	// application's business.
	Disabled []string `yaml:"disabled_families"`
	// Classifier is an optional second stage, off by default.
	Classifier ClassifierConfig `yaml:"classifier"`
}

// ClassifierConfig configures a second-stage classifier reached through an
// OpenAI-compatible chat completions endpoint. It is asked only about
// texts whose rule score falls in [MinScore, threshold): the gray zone the
// rules cannot decide.
type ClassifierConfig struct {
	Enabled bool `yaml:"enabled"`
	// BaseURL is the API base, e.g. "http://127.0.0.1:8000/v1".
	BaseURL *URL `yaml:"base_url"`
	// Model is the model name sent with each request.
	Model string `yaml:"model"`
	// APIKeyFile names a file holding the bearer token; empty for none.
	APIKeyFile string `yaml:"api_key_file"`
	// Timeout bounds each call.
	Timeout time.Duration `yaml:"timeout"`
	// FailClosed reports a finding when the classifier cannot be reached
	// or answers nonsense; otherwise such texts pass (fail open).
	FailClosed bool `yaml:"fail_closed"`
	// MinScore is the lower end of the gray zone.
	MinScore float64 `yaml:"min_score"`
}

// URL is a URL parsed when the configuration is loaded.
type URL struct{ url.URL }

// UnmarshalText parses an absolute URL.
func (u *URL) UnmarshalText(b []byte) error {
	p, err := url.Parse(string(b))
	if err != nil {
		return err
	}
	u.URL = *p
	return nil
}

// MarshalText returns the URL as text.
func (u URL) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// Default returns the configuration the guard ships with.
func Default() Config {
	return Config{
		Threshold:          0.5,
		JailbreakThreshold: 0.5,
		Classifier: ClassifierConfig{
			Timeout:  2 * time.Second,
			MinScore: 0.2,
		},
	}
}

// Validate reports the first invalid setting, naming its key.
func (c Config) Validate() error {
	if !(c.Threshold > 0 && c.Threshold <= 1) {
		return fmt.Errorf("injection.threshold: %v not in (0, 1]", c.Threshold)
	}
	if !(c.JailbreakThreshold > 0 && c.JailbreakThreshold <= 1) {
		return fmt.Errorf("injection.jailbreak_threshold: %v not in (0, 1]", c.JailbreakThreshold)
	}
	for _, name := range c.Disabled {
		if _, ok := familyByName(name); !ok {
			return fmt.Errorf("injection.disabled_families: unknown family %q", name)
		}
	}
	cl := c.Classifier
	if !cl.Enabled {
		return nil
	}
	switch {
	case cl.BaseURL == nil:
		return errors.New("injection.classifier.base_url: required when enabled")
	case cl.BaseURL.Scheme != "http" && cl.BaseURL.Scheme != "https":
		return fmt.Errorf("injection.classifier.base_url: scheme %q is not http or https", cl.BaseURL.Scheme)
	case cl.Model == "":
		return errors.New("injection.classifier.model: required when enabled")
	case cl.Timeout <= 0:
		return errors.New("injection.classifier.timeout: must be positive")
	case !(cl.MinScore >= 0 && cl.MinScore < c.Threshold):
		return fmt.Errorf("injection.classifier.min_score: %v not in [0, threshold)", cl.MinScore)
	}
	return nil
}
