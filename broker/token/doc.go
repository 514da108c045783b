// Package token mints and validates RFC 9068 JWT access tokens signed with
// keys kept in the store.
//
// A [KeySet] holds the signing keys that every node shares through a
// [KeyStore] (store/bolt, store/redis). The first node to start generates
// the first key; [KeySet.Rotate] adds a successor, published in the JWKS
// at once and current for signing after activation_delay, while the key it
// replaces keeps verifying until retire_after later, when every node drops
// it from its JWKS and from the store. Nodes learn of keys another node
// added by calling [KeySet.Refresh], which broker does on a timer and on
// change notifications.
//
// An [Issuer] mints tokens with the current key: compact JWS, header typ
// at+jwt, alg and kid; claims iss, sub, aud, client_id, scope, jti, iat,
// exp, optional nbf, cnf.jkt for DPoP-bound tokens (RFC 9449), act for
// delegation chains (RFC 8693), and extension claims.
//
// A [Validator] checks tokens presented to a resource and returns their
// [Claims]. It knows nothing of HTTP: the caller takes the token from the
// Authorization header and translates an [*Error] into status 401 with a
// WWW-Authenticate challenge carrying its Code and Description (RFC 6750
// §3); any other error is an internal error. Verified tokens are cached
// until they expire, so that a token presented again costs a cache lookup,
// the expiry and audience checks and the revocation check.
//
// # Security
//
//   - Only asymmetric algorithms exist here: ES256 (P-256), EdDSA
//     (Ed25519) and RS256 (RSA of 2048 to 8192 bits). A token's alg must
//     be the alg of the key its kid names, and that key must be one of
//     this set's keys that has not retired; the token never chooses a key
//     or an algorithm beyond that (no jwk, jku or x5u, no none, no HMAC).
//   - The parser is bounded and strict: at most 8 KiB, three non-empty
//     parts of canonical unpadded base64url, JSON objects for header and
//     claims, typ at+jwt (without case, "application/" optional), no crit.
//     Header parameters and registered claims must appear once under their
//     exact names: encoding/json, which decodes them, would otherwise
//     match names in another case or take a repeated member's last value.
//     The claims RFC 9068 requires (iss, sub, aud, client_id, jti, iat,
//     exp) must be present with the right types; cnf may carry jkt only,
//     so that a token bound by an unknown method is not taken as a bearer
//     token; act chains are at most [MaxActorDepth] deep.
//   - iss must be this issuer and the resource's audience one of aud,
//     compared exactly; exp, nbf and iat are checked with a small leeway.
//     Cheap checks run before the signature check, and the revocation
//     check after it.
//   - The cache is keyed by the exact token text and holds only tokens
//     whose signature verified. An entry is used only before the token's
//     exp plus leeway and its key's retirement, and not after a refresh
//     that dropped any key; every hit repeats the audience, expiry and
//     revocation checks, so a revocation takes effect at once. The cache
//     is bounded in bytes.
//   - Error descriptions are fixed texts: they never contain the token or
//     claim values, and name an alg only when it is a well-known one.
//   - Private keys are stored as JWK JSON in the shared store: today in
//     plaintext, later wrapped by the vault's envelope encryption. Whoever
//     can read the store can mint tokens; whoever can write it can add a
//     key. A stored key is used only if its kid is its RFC 7638
//     thumbprint and it fits its alg. The JWKS carries public members
//     only.
//   - Key generations make creation atomic: of nodes starting or rotating
//     at once, exactly one adds a key and the others adopt it, so that no
//     two keys become current together.
//   - Withdrawing a compromised key: rotate, then delete it from the store
//     with [KeyStore.DeleteKey]; each node stops accepting it, cached
//     tokens included, at its next refresh.
package token
