// Package dpop verifies DPoP proofs (RFC 9449): the short signed JWTs with
// which an agent shows, on every request, that it holds the private key its
// tokens are bound to.
//
// The token endpoint calls [Verifier.Verify] with an empty access token
// before it issues a DPoP-bound token, and binds the token to the returned
// [Proof.JKT] (cnf.jkt, RFC 7638 thumbprint). Every protected resource calls
// it with the presented access token, which adds the ath check, and then
// compares the token's cnf.jkt with [Proof.Matches].
//
// The package knows nothing of HTTP beyond [url.URL]. The caller passes the
// single DPoP header value, the request method and the absolute request URI
// as this server is reached (scheme and host from configuration, not from
// the Host header), and translates an [*Error]: at the token endpoint an
// OAuth error response with status 400, at a resource status 401 with
// [Challenge] as the WWW-Authenticate value. With [CodeUseNonce] it also
// sends [Error.Nonce] in the DPoP-Nonce response header. Any other error
// (a failing [ReplayStore]) is an internal error.
//
// # Nonces
//
// With Config.Nonce set, proofs carry a nonce the server issued (RFC 9449
// §8). Nonces are stateless: base64url(bucket || HMAC-SHA-256(secret,
// bucket)[:16]), where bucket is the current time divided by
// Config.NonceLifetime as 8 big-endian bytes. A nonce is accepted during its
// own bucket and the next, so it lives between one and two lifetimes, and on
// every node that shares the secret.
//
// # Security
//
//   - Only asymmetric algorithms can be allowed: [Config.Validate] refuses
//     none and the HMAC algorithms, and the verifier never consults a key
//     other than the proof's own jwk.
//   - The jwk must be a public key: a jwk with private members (d, p, q, dp,
//     dq, qi, oth) or a symmetric key (kty oct, k) is refused before it is
//     parsed. The alg must fit the key type and curve; RSA keys have 2048 to
//     8192 bits; EC points must lie on their curve.
//   - Each proof is accepted once. Its jti, keyed by the key's thumbprint
//     and hashed so keys stay short, is recorded in the [ReplayStore] that
//     all nodes share until the proof could no longer be accepted on any
//     node (iat + max_age + max_skew). A store error rejects the proof. A
//     single node's [LocalReplayStore] keeps keys in memory, and writes only
//     those that a restart could let through to its file: the proofs made
//     before it started are refused if an earlier process kept keys in
//     memory, and those made in the first max_skew after its start or ahead
//     of the node's clock are kept in its file.
//   - A proof is bound to one request: htm is the method, htu the URI
//     without query and fragment (normalized per RFC 3986 §6.2.2 and §6.2.3
//     on both sides), iat within [now-max_age, now+max_skew], and ath the
//     hash of the presented access token, compared in constant time.
//   - The parser is bounded and strict: one proof of at most 8 KiB, three
//     unpadded canonical base64url parts, JSON objects for header and
//     claims with claims of the right JSON types, no crit header; expensive
//     checks (key parsing, the signature, the replay store) run only after
//     the cheap ones pass. Header and claims are decoded by encoding/json: a
//     repeated member's last value wins (RFC 7515 §4 allows this) and member
//     names also match in another case, which lets a client confuse only
//     its own proof, since the signature covers them.
//   - Checked headers are cached by their exact encoded text, and parsed
//     keys by their exact JSON text, only after a signature made with them
//     verified, in caches bounded by size. A cached header still has every
//     proof's signature checked.
//   - Error descriptions are fixed texts: they never contain the proof, the
//     access token, claim values or the nonce secret, and name an alg only
//     when it is a well-known one.
//   - The nonce secret must be at least 32 random bytes used for nothing
//     else. Whoever holds it can mint nonces, which makes pre-computed proofs
//     possible, but still cannot make a proof without the agent's key.
//   - [Proof.Matches] compares thumbprints in constant time.
package dpop
