package token

import "errors"

// CodeInvalidToken is the RFC 6750 error code of every rejected token.
const CodeInvalidToken = "invalid_token"

// Error is a rejected token. Code and Description may be sent to the
// client (RFC 6750 §3): Description is a fixed text, naming at most a
// well-known JWS algorithm, that never contains the token or claim values.
type Error struct {
	// Code is CodeInvalidToken.
	Code string
	// Description says which check failed.
	Description string
}

// Error returns "token: <code>: <description>".
func (e *Error) Error() string { return "token: " + e.Code + ": " + e.Description }

func invalid(desc string) *Error { return &Error{Code: CodeInvalidToken, Description: desc} }

// ErrConflict is returned by [KeyStore.AddKey] when the record's generation
// is not the next one or its ID is taken: another node added a key first.
var ErrConflict = errors.New("token: signing key generation or ID is taken")
