// Package apikey issues and verifies the API keys that LLM apps present to
// the proxy at /v1 instead of an OAuth access token.
//
// A key is shown once, when [Keys.Create] makes it, and has the form
//
//	szk_<ID: 16 base62><secret: 43 base62><checksum: 6 base62>
//
// 69 characters in all: the prefix "szk_" names it (for secret scanners
// and for [Looks], which routes a bearer string here rather than to JWT
// validation), the ID names its record, the secret is 43 uniformly random
// base62 characters (256 bits), and the checksum is the CRC-32 of
// everything before it, so that a typo or a scanner's candidate is told
// apart without a store lookup. Base62 keeps the key one word for a
// double click.
//
// # Security
//
// The store keeps, per key, its name, models, times and a keyed hash:
// HMAC-SHA-256, under a key derived from the node's server secret with
// HKDF-SHA-256 (label "subzero api keys v1"), of the ID and the secret.
// The plaintext key is never stored, logged or put in an error; a
// database dump gives no key, and without the server secret not even a
// way to test guesses offline. [Keys.Verify] compares hashes in constant
// time and answers [ErrInvalid] alike for a malformed, unknown, revoked or
// wrong key (store failures are other errors, so that callers fail
// closed without blaming the caller).
//
// Verify keeps successful verifications for [CacheTTL] (by ID, with the
// hash, never the plaintext), so most calls cost one HMAC and no store
// round trip. A revocation on this node takes effect at once; one made by
// another node sharing the store (Redis) takes effect here within
// CacheTTL.
package apikey
