package injection

import "fmt"

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
	// ModelThreshold is the probability at or above which the embedded
	// classifier (see classifier.go) reports a text the rules passed; 0
	// turns it off.
	ModelThreshold float64 `yaml:"model_threshold"`
}

// Default returns the configuration the guard ships with.
func Default() Config {
	return Config{
		Threshold:          0.5,
		JailbreakThreshold: 0.5,
		ModelThreshold:     modelThreshold,
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
	if !(c.ModelThreshold >= 0 && c.ModelThreshold <= 1) {
		return fmt.Errorf("injection.model_threshold: %v not in [0, 1]", c.ModelThreshold)
	}
	for _, name := range c.Disabled {
		if _, ok := familyByName(name); !ok {
			return fmt.Errorf("injection.disabled_families: unknown family %q", name)
		}
	}
	return nil
}
