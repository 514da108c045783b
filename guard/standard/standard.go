// Package standard assembles the guard with its default detectors: prompt
// injection and jailbreaks (guard/injection), personal data and secrets
// (guard/sensitive), unsafe output (guard/output.Detector), system prompt
// leakage (guard/output.Leak) and tool poisoning
// (guard/output.ToolPoisoning, reusing the injection detector). The
// broker, the proxy and the evaluation harness build their guard here.
package standard

import (
	"fmt"

	"github.com/subzero-gateway/subzero/guard"
	"github.com/subzero-gateway/subzero/guard/injection"
	"github.com/subzero-gateway/subzero/guard/output"
	"github.com/subzero-gateway/subzero/guard/sensitive"
)

// Option changes what New assembles.
type Option func(*options)

type options struct {
	injection *injection.Config
	sensitive *sensitive.Config
	leak      *output.Leak
	extra     []guard.Detector
}

// WithInjection configures the injection detector (default
// injection.Default()).
func WithInjection(c injection.Config) Option { return func(o *options) { o.injection = &c } }

// WithSensitive configures the PII and secrets detector (default
// sensitive.Default()).
func WithSensitive(c sensitive.Config) Option { return func(o *options) { o.sensitive = &c } }

// WithLeak uses l as the system prompt leak detector, so that the caller
// can register system prompts with it; by default New makes its own.
func WithLeak(l *output.Leak) Option { return func(o *options) { o.leak = l } }

// WithDetectors adds detectors after the standard ones.
func WithDetectors(ds ...guard.Detector) Option {
	return func(o *options) { o.extra = append(o.extra, ds...) }
}

// New returns a guard running the standard detectors under cfg.
func New(cfg guard.Config, opts ...Option) (*guard.Guard, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	ic := injection.Default()
	if o.injection != nil {
		ic = *o.injection
	}
	sc := sensitive.Default()
	if o.sensitive != nil {
		sc = *o.sensitive
	}
	// The two detectors compile hundreds of patterns each, independently:
	// build them side by side, which halves the node's startup on two
	// cores.
	var (
		inj    *injection.Detector
		injErr error
		done   = make(chan struct{})
	)
	go func() {
		defer close(done)
		inj, injErr = injection.New(ic)
	}()
	sen, err := sensitive.New(sc)
	<-done
	if injErr != nil {
		return nil, fmt.Errorf("guard: %w", injErr)
	}
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}
	out, err := output.New(cfg.Output)
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}
	leak := o.leak
	if leak == nil {
		if leak, err = output.NewLeak(cfg.Output); err != nil {
			return nil, fmt.Errorf("guard: %w", err)
		}
	}
	ds := []guard.Detector{inj, sen, out, leak, output.NewToolPoisoning(inj)}
	return guard.New(cfg, append(ds, o.extra...)...)
}
