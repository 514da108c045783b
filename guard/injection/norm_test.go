package injection

import "github.com/subzero-gateway/subzero/guard"

// normalize stands in for guard.Normalize until it lands.
func normalize(text string) *guard.Normalized {
	return &guard.Normalized{Folded: fold(text)}
}
