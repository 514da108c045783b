package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// sigKind is a family of signature algorithms.
type sigKind uint8

const (
	kindECDSA sigKind = iota + 1
	kindEdDSA
	kindPKCS1
	kindPSS
)

// alg describes one supported JWS algorithm.
type alg struct {
	name    string
	kind    sigKind
	hash    crypto.Hash      // 0 for EdDSA, which hashes internally
	newHash func() hash.Hash // nil for EdDSA
	curve   elliptic.Curve   // ECDSA only
	size    int              // ECDSA: bytes of r and of s
}

var algs = []*alg{
	{name: "ES256", kind: kindECDSA, hash: crypto.SHA256, newHash: sha256.New, curve: elliptic.P256(), size: 32},
	{name: "ES384", kind: kindECDSA, hash: crypto.SHA384, newHash: sha512.New384, curve: elliptic.P384(), size: 48},
	{name: "ES512", kind: kindECDSA, hash: crypto.SHA512, newHash: sha512.New, curve: elliptic.P521(), size: 66},
	{name: "EdDSA", kind: kindEdDSA},
	{name: "RS256", kind: kindPKCS1, hash: crypto.SHA256, newHash: sha256.New},
	{name: "RS384", kind: kindPKCS1, hash: crypto.SHA384, newHash: sha512.New384},
	{name: "RS512", kind: kindPKCS1, hash: crypto.SHA512, newHash: sha512.New},
	{name: "PS256", kind: kindPSS, hash: crypto.SHA256, newHash: sha256.New},
	{name: "PS384", kind: kindPSS, hash: crypto.SHA384, newHash: sha512.New384},
	{name: "PS512", kind: kindPSS, hash: crypto.SHA512, newHash: sha512.New},
}

func lookupAlg(name string) *alg {
	for _, a := range algs {
		if a.name == name {
			return a
		}
	}
	return nil
}

// RSA modulus bounds: below the minimum is weak, above the maximum makes
// verification a denial-of-service lever.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// publicKey is a parsed, validated jwk and its thumbprint.
type publicKey struct {
	ec  *ecdsa.PublicKey
	ed  ed25519.PublicKey
	rsa *rsa.PublicKey
	alg string // the jwk's own alg member, if any
	jkt string // RFC 7638 SHA-256 thumbprint, base64url
}

// privateMembers are the JWK members that carry private or symmetric key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// parseKey validates and parses a jwk header value: an asymmetric public
// key of a supported type. The thumbprint is jwx's.
func parseKey(raw []byte) (*publicKey, *Error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, invalid("jwk is not a JSON object")
	}
	for _, m := range privateMembers {
		if _, ok := members[m]; ok {
			return nil, invalid("jwk contains private key material")
		}
	}
	var kty string
	if json.Unmarshal(members["kty"], &kty) != nil {
		return nil, invalid("jwk kty is missing")
	}
	switch kty {
	case "EC", "OKP", "RSA":
	case "oct":
		return nil, invalid("jwk must be an asymmetric public key")
	default:
		return nil, invalid("jwk kty is not supported")
	}
	k := &publicKey{}
	if a, ok := members["alg"]; ok && json.Unmarshal(a, &k.alg) != nil {
		return nil, invalid("jwk alg is not a string")
	}
	key, err := jwk.ParseKey(raw)
	if err != nil {
		return nil, invalid("jwk is not a valid public key")
	}
	switch key.(type) {
	case jwk.ECDSAPublicKey:
		var pub ecdsa.PublicKey
		if key.Raw(&pub) != nil || pub.Curve == nil {
			return nil, invalid("jwk is not a valid public key")
		}
		if _, err := pub.ECDH(); err != nil { // unsupported curve or point off the curve
			return nil, invalid("jwk is not a valid public key")
		}
		k.ec = &pub
	case jwk.OKPPublicKey:
		var raw any
		if key.Raw(&raw) != nil {
			return nil, invalid("jwk is not a valid public key")
		}
		pub, ok := raw.(ed25519.PublicKey)
		if !ok {
			return nil, invalid("jwk curve cannot sign")
		}
		if len(pub) != ed25519.PublicKeySize {
			return nil, invalid("jwk is not a valid public key")
		}
		k.ed = pub
	case jwk.RSAPublicKey:
		var pub rsa.PublicKey
		if key.Raw(&pub) != nil || pub.N == nil {
			return nil, invalid("jwk is not a valid public key")
		}
		switch bits := pub.N.BitLen(); {
		case bits < minRSABits:
			return nil, invalid("jwk RSA modulus is shorter than 2048 bits")
		case bits > maxRSABits:
			return nil, invalid("jwk RSA modulus is longer than 8192 bits")
		case pub.E < 3 || pub.E&1 == 0:
			return nil, invalid("jwk RSA exponent is invalid")
		}
		k.rsa = &pub
	default: // a private key that slipped past the member check
		return nil, invalid("jwk contains private key material")
	}
	tp, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, invalid("jwk is not a valid public key")
	}
	k.jkt = base64.RawURLEncoding.EncodeToString(tp)
	return k, nil
}

// fits reports whether alg a can be used with k: the key type, and for
// ECDSA the curve, must match, and so must the jwk's own alg if it has one.
func (k *publicKey) fits(a *alg) bool {
	if k.alg != "" && k.alg != a.name {
		return false
	}
	switch a.kind {
	case kindECDSA:
		return k.ec != nil && k.ec.Curve.Params().Name == a.curve.Params().Name
	case kindEdDSA:
		return k.ed != nil
	default:
		return k.rsa != nil
	}
}

// verify checks sig over input with k, which fits a.
func (k *publicKey) verify(a *alg, input, sig []byte) bool {
	if a.kind == kindEdDSA {
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.ed, input, sig)
	}
	h := a.newHash()
	h.Write(input)
	var sum [sha512.Size]byte
	digest := h.Sum(sum[:0])
	switch a.kind {
	case kindECDSA:
		if len(sig) != 2*a.size { // JWS uses raw r || s, not ASN.1
			return false
		}
		var der [2*maxECSize + 9]byte
		return ecdsa.VerifyASN1(k.ec, digest, asn1Signature(der[:0], sig[:a.size], sig[a.size:]))
	case kindPKCS1:
		return rsa.VerifyPKCS1v15(k.rsa, a.hash, digest, sig) == nil
	case kindPSS:
		return rsa.VerifyPSS(k.rsa, a.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: a.hash}) == nil
	}
	return false
}

// maxECSize is the byte length of a P-521 scalar.
const maxECSize = 66

// asn1Signature appends to dst the DER encoding of the ECDSA signature
// (r, s), each given as big-endian bytes of at most maxECSize:
// SEQUENCE { INTEGER r, INTEGER s }.
func asn1Signature(dst, r, s []byte) []byte {
	r, s = derInt(r), derInt(s)
	n := derIntLen(r) + derIntLen(s) // at most 2 * (2 + 67) = 138
	dst = append(dst, 0x30)
	if n >= 0x80 {
		dst = append(dst, 0x81)
	}
	dst = append(dst, byte(n))
	dst = appendDERInt(dst, r)
	return appendDERInt(dst, s)
}

// derInt strips the leading zeros of a non-negative big-endian integer,
// keeping one byte for zero.
func derInt(b []byte) []byte {
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// derPad reports whether b needs a leading zero to stay positive.
func derPad(b []byte) bool { return len(b) > 0 && b[0]&0x80 != 0 }

// derIntLen is the encoded length of INTEGER b.
func derIntLen(b []byte) int {
	n := 2 + len(b)
	if derPad(b) {
		n++
	}
	return n
}

func appendDERInt(dst, b []byte) []byte {
	dst = append(dst, 0x02, byte(derIntLen(b)-2))
	if derPad(b) {
		dst = append(dst, 0)
	}
	return append(dst, b...)
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint, base64url without
// padding, of a public JWK given as JSON: the value a DPoP-bound token
// carries as cnf.jkt and an authorization request as dpop_jkt. It refuses
// the keys a proof may not carry: private or symmetric keys, unsupported
// types and curves, and short RSA keys.
func Thumbprint(jwkJSON []byte) (string, error) {
	k, e := parseKey(jwkJSON)
	if e != nil {
		return "", errors.New("dpop: " + e.Description)
	}
	return k.jkt, nil
}

// Matches reports whether the proof was made with the key whose thumbprint
// is jkt, such as an access token's cnf.jkt. It compares in constant time
// and is false for an empty jkt or a nil proof.
func (p *Proof) Matches(jkt string) bool {
	if p == nil || jkt == "" || p.JKT == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(p.JKT), []byte(jkt)) == 1
}
