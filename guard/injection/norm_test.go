package injection

import "github.com/subzero-gateway/subzero/guard"

// normalize is the scanner's normalization pass.
func normalize(text string) *guard.Normalized { return guard.Normalize(text) }
