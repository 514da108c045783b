package apikey

import (
	"crypto/rand"
	"errors"
	"hash/crc32"
	"strings"
)

// Prefix starts every API key.
const Prefix = "szk_"

// Lengths of a key's parts, in base62 characters.
const (
	idLen     = 16 // 95 bits
	secretLen = 43 // 62^43 > 2^256
	sumLen    = 6  // 62^6 > 2^32
	keyLen    = len(Prefix) + idLen + secretLen + sumLen
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func isBase62(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// Looks reports whether s has the form of an API key: the prefix, the
// length and the alphabet. It does not check the checksum.
func Looks(s string) bool {
	if len(s) != keyLen || !strings.HasPrefix(s, Prefix) {
		return false
	}
	for i := len(Prefix); i < len(s); i++ {
		if !isBase62(s[i]) {
			return false
		}
	}
	return true
}

// randomBase62 returns n uniformly random base62 characters.
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if b < 248 && len(out) < n { // 248 = 4·62: no modulo bias
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out), nil
}

// checksum returns the base62 CRC-32 of s, in sumLen characters.
func checksum(s string) string {
	v := crc32.ChecksumIEEE([]byte(s))
	var out [sumLen]byte
	for i := sumLen - 1; i >= 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return string(out[:])
}

// format returns the key of id and secret.
func format(id, secret string) string {
	s := Prefix + id + secret
	return s + checksum(s)
}

var errMalformed = errors.New("apikey: malformed key")

// parse splits a key into its ID and secret, checking its form and
// checksum.
func parse(s string) (id, secret string, err error) {
	if !Looks(s) {
		return "", "", errMalformed
	}
	body := s[:keyLen-sumLen]
	if checksum(body) != s[keyLen-sumLen:] {
		return "", "", errMalformed
	}
	return body[len(Prefix) : len(Prefix)+idLen], body[len(Prefix)+idLen:], nil
}

// validID reports whether id has the form of a key ID.
func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := range len(id) {
		if !isBase62(id[i]) {
			return false
		}
	}
	return true
}
