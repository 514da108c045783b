package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// A nonce is base64url(bucket || mac): an 8-byte big-endian time bucket
// and the first nonceMACBytes of HMAC-SHA-256(secret, bucket).
const (
	nonceMACBytes = 16
	nonceLen      = 8 + nonceMACBytes
	nonceTextLen  = (nonceLen*8 + 5) / 6 // unpadded base64url
)

// MinNonceSecretBytes is the shortest nonce secret [New] accepts.
const MinNonceSecretBytes = 32

// nonceSet holds the nonces of one bucket and its predecessor.
type nonceSet struct {
	bucket    uint64
	cur, prev string
}

// bucket returns the nonce bucket of t.
func (v *Verifier) bucket(t time.Time) uint64 {
	n := t.UnixNano()
	if n < 0 {
		return 0
	}
	return uint64(n / int64(v.cfg.NonceLifetime))
}

// makeNonce returns the nonce of bucket b.
func (v *Verifier) makeNonce(b uint64) string {
	var buf [8 + sha256.Size]byte
	binary.BigEndian.PutUint64(buf[:8], b)
	m := hmac.New(sha256.New, v.secret)
	m.Write(buf[:8])
	m.Sum(buf[:8])
	return base64.RawURLEncoding.EncodeToString(buf[:nonceLen])
}

// nonces returns the nonces valid now, computing them once per bucket.
func (v *Verifier) nonces() *nonceSet {
	b := v.bucket(v.now())
	if s := v.nonceSet.Load(); s != nil && s.bucket == b {
		return s
	}
	s := &nonceSet{bucket: b, cur: v.makeNonce(b)}
	if b > 0 {
		s.prev = v.makeNonce(b - 1)
	}
	v.nonceSet.Store(s)
	return s
}

// Nonce returns a nonce for the DPoP-Nonce response header, valid on every
// node sharing the secret for at least Config.NonceLifetime.
func (v *Verifier) Nonce() string { return v.nonces().cur }

// checkNonce verifies a nonce claim against the current and previous
// buckets, and on failure says why.
func (v *Verifier) checkNonce(nonce string) *Error {
	s := v.nonces()
	if len(nonce) == nonceTextLen &&
		(subtle.ConstantTimeCompare([]byte(nonce), []byte(s.cur)) == 1 ||
			s.prev != "" && subtle.ConstantTimeCompare([]byte(nonce), []byte(s.prev)) == 1) {
		return nil
	}
	e := &Error{Code: CodeUseNonce, Description: "nonce is invalid", Nonce: s.cur}
	if len(nonce) != nonceTextLen {
		return e
	}
	var raw [nonceLen]byte // nonceTextLen decodes to exactly nonceLen bytes
	if _, err := base64.RawURLEncoding.Strict().Decode(raw[:], []byte(nonce)); err != nil {
		return e
	}
	b := binary.BigEndian.Uint64(raw[:8])
	if subtle.ConstantTimeCompare([]byte(nonce), []byte(v.makeNonce(b))) != 1 {
		return e
	}
	if b < s.bucket {
		e.Description = "nonce has expired"
	} else {
		e.Description = "nonce is not valid yet"
	}
	return e
}
