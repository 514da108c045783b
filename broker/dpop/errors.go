package dpop

import (
	"errors"
	"strings"
)

// Error codes of RFC 9449 that a rejected proof carries.
const (
	// CodeInvalidProof says the proof is missing, malformed, replayed or
	// does not fit the request.
	CodeInvalidProof = "invalid_dpop_proof"
	// CodeUseNonce says the proof lacks a valid server nonce; the client
	// retries with the one in the DPoP-Nonce response header.
	CodeUseNonce = "use_dpop_nonce"
)

// Error is a rejected proof. Code and Description may be sent to the
// client: Description is a fixed text, naming at most a well-known JWS
// algorithm, that never contains the proof, the access token or claim
// values.
type Error struct {
	// Code is CodeInvalidProof or CodeUseNonce.
	Code string
	// Description says which check failed.
	Description string
	// Nonce is, with CodeUseNonce, a fresh nonce for the DPoP-Nonce
	// response header.
	Nonce string
}

// Error returns "dpop: <code>: <description>".
func (e *Error) Error() string { return "dpop: " + e.Code + ": " + e.Description }

func invalid(desc string) *Error { return &Error{Code: CodeInvalidProof, Description: desc} }

// Challenge returns the value of the WWW-Authenticate header with which a
// protected resource answers a request that failed DPoP authentication
// (RFC 9449 §7.1): the DPoP scheme, the error and its description when err
// is an [*Error], and the algorithms the resource accepts. For any other
// err, including nil, it carries no error, as for a request without
// credentials.
func Challenge(err error, algs []string) string {
	var b strings.Builder
	b.WriteString("DPoP")
	sep := " "
	param := func(name, value string) {
		b.WriteString(sep)
		b.WriteString(name)
		b.WriteString(`="`)
		b.WriteString(value)
		b.WriteByte('"')
		sep = ", "
	}
	if e, ok := errors.AsType[*Error](err); ok {
		param("error", quotable(e.Code))
		if e.Description != "" {
			param("error_description", quotable(e.Description))
		}
	}
	if len(algs) > 0 {
		param("algs", quotable(strings.Join(algs, " ")))
	}
	return b.String()
}

// quotable keeps the characters RFC 6750 §3 allows in error and
// error_description values, which are also safe inside a quoted string:
// printable ASCII except '"' and '\'.
func quotable(s string) string {
	ok := func(c byte) bool { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' }
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			b := make([]byte, 0, len(s))
			for j := 0; j < len(s); j++ {
				if ok(s[j]) {
					b = append(b, s[j])
				}
			}
			return string(b)
		}
	}
	return s
}
