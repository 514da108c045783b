package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
)

// sigKind is a family of signature algorithms.
type sigKind uint8

const (
	kindECDSA sigKind = iota + 1
	kindEdDSA
	kindRSA
)

// alg is one supported JWS algorithm.
type alg struct {
	name string
	kind sigKind
}

// algs are the algorithms of signing keys. Only asymmetric algorithms are
// possible; the verifier knows no others.
var algs = [...]alg{
	{name: "ES256", kind: kindECDSA},
	{name: "EdDSA", kind: kindEdDSA},
	{name: "RS256", kind: kindRSA},
}

func lookupAlg(name string) *alg {
	for i := range algs {
		if algs[i].name == name {
			return &algs[i]
		}
	}
	return nil
}

// wellKnownAlgs are JWS algorithm names that error descriptions may
// repeat: never arbitrary header text.
var wellKnownAlgs = []string{
	"none", "HS256", "HS384", "HS512", "ES256", "ES384", "ES512", "ES256K", "EdDSA", "Ed25519",
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
}

const (
	es256Size  = 32   // bytes of r and of s in an ES256 signature
	minRSABits = 2048 // shorter RSA keys are refused
	maxRSABits = 8192 // longer ones make verification a denial-of-service lever
	newRSABits = 2048 // generated RSA keys
)

// sign signs input with priv, a key of a's kind, and returns the JWS
// signature: raw r || s for ES256.
func sign(a *alg, priv crypto.Signer, input []byte) ([]byte, error) {
	switch a.kind {
	case kindECDSA:
		k, ok := priv.(*ecdsa.PrivateKey)
		if !ok {
			return nil, errors.New("token: key does not fit ES256")
		}
		digest := sha256.Sum256(input)
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 2*es256Size)
		r.FillBytes(sig[:es256Size])
		s.FillBytes(sig[es256Size:])
		return sig, nil
	case kindEdDSA:
		k, ok := priv.(ed25519.PrivateKey)
		if !ok {
			return nil, errors.New("token: key does not fit EdDSA")
		}
		return ed25519.Sign(k, input), nil
	case kindRSA:
		k, ok := priv.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("token: key does not fit RS256")
		}
		digest := sha256.Sum256(input)
		return rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:])
	}
	return nil, errors.New("token: unknown algorithm")
}

// publicKey is the verifying half of a signing key.
type publicKey struct {
	ec  *ecdsa.PublicKey
	ed  ed25519.PublicKey
	rsa *rsa.PublicKey
}

// verify checks sig over input with k under a, which fits k.
func (k *publicKey) verify(a *alg, input, sig []byte) bool {
	switch a.kind {
	case kindECDSA:
		if len(sig) != 2*es256Size || k.ec == nil { // JWS uses raw r || s, not ASN.1
			return false
		}
		digest := sha256.Sum256(input)
		var der [2*es256Size + 8]byte
		return ecdsa.VerifyASN1(k.ec, digest[:], asn1Signature(der[:0], sig[:es256Size], sig[es256Size:]))
	case kindEdDSA:
		return len(sig) == ed25519.SignatureSize && k.ed != nil && ed25519.Verify(k.ed, input, sig)
	case kindRSA:
		if k.rsa == nil {
			return false
		}
		digest := sha256.Sum256(input)
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, digest[:], sig) == nil
	}
	return false
}

// asn1Signature appends to dst the DER encoding of the ECDSA signature
// (r, s), each given as 32 big-endian bytes: SEQUENCE { INTEGER r,
// INTEGER s }, at most 2 + 2 * 35 = 72 bytes.
func asn1Signature(dst, r, s []byte) []byte {
	r, s = derInt(r), derInt(s)
	dst = append(dst, 0x30, byte(derIntLen(r)+derIntLen(s)))
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

// derIntLen is the encoded length of INTEGER b, which gets a leading zero
// when its high bit is set.
func derIntLen(b []byte) int {
	if b[0]&0x80 != 0 {
		return 3 + len(b)
	}
	return 2 + len(b)
}

func appendDERInt(dst, b []byte) []byte {
	dst = append(dst, 0x02, byte(derIntLen(b)-2))
	if b[0]&0x80 != 0 {
		dst = append(dst, 0)
	}
	return append(dst, b...)
}
