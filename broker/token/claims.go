package token

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Bounds of the token format.
const (
	// MaxTokenBytes bounds an access token.
	MaxTokenBytes = 8 << 10
	// MaxActorDepth bounds the nesting of act claims: the length of a
	// delegation chain a token can carry.
	MaxActorDepth = 16
	// maxJTIBytes bounds a jti given to Mint.
	maxJTIBytes = 256
)

// Claims are the claims of an access token (RFC 9068 §2.2, RFC 8693 §4.1).
//
// Claims returned by [Validator.Validate] are shared with its cache and
// with other callers: they must not be modified, and neither may the
// slices, maps and actors they refer to.
type Claims struct {
	// Issuer (iss) is the authorization server's issuer identifier.
	Issuer string
	// Subject (sub) is the resource owner, or the client itself for
	// client credentials.
	Subject string
	// Audience (aud) lists the resources (RFC 8707) the token is for; one
	// audience is encoded as a string, several as an array.
	Audience []string
	// ClientID (client_id) is the client the token was issued to.
	ClientID string
	// Scope (scope) lists the granted scopes; on the wire they are one
	// space-separated string.
	Scope []string
	// JTI (jti) identifies the token, for revocation.
	JTI string
	// IssuedAt (iat) is when the token was issued.
	IssuedAt time.Time
	// Expiry (exp) is when the token expires.
	Expiry time.Time
	// NotBefore (nbf), when not zero, is when the token becomes valid.
	NotBefore time.Time
	// JKT (cnf.jkt), when not empty, binds the token to the DPoP key with
	// this RFC 7638 thumbprint (RFC 9449 §6).
	JKT string
	// Act (act), when not nil, is the actor acting for the subject; its own
	// Act is the actor before it, and so on down the delegation chain.
	Act *Actor
	// Extra holds further top-level claims by name, as JSON values. It
	// must not name a claim that has a field above.
	Extra map[string]json.RawMessage
}

// Actor is an RFC 8693 act claim: who acts for the subject (or for the
// actor it is nested in).
type Actor struct {
	// Sub identifies the actor.
	Sub string `json:"sub"`
	// ClientID is the client the actor used, if any.
	ClientID string `json:"client_id,omitempty"`
	// Act is the actor before this one in the delegation chain, if any.
	Act *Actor `json:"act,omitempty"`
}

// HasAudience reports whether aud is one of the token's audiences, by
// exact comparison.
func (c *Claims) HasAudience(aud string) bool {
	for _, a := range c.Audience {
		if a == aud {
			return true
		}
	}
	return false
}

// HasScope reports whether scope was granted.
func (c *Claims) HasScope(scope string) bool {
	return slices.Contains(c.Scope, scope)
}

// registered are the claim names that have a field in Claims, in the
// order of their bits in a scan.
var registered = []string{"iss", "sub", "aud", "client_id", "scope", "jti", "iat", "exp", "nbf", "cnf", "act"}

// NewJTI returns a fresh token identifier: 128 random bits, base64url. It
// is what Mint uses when Claims.JTI is empty.
func NewJTI() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// outClaims is the JSON form Mint encodes.
type outClaims struct {
	Iss      string     `json:"iss"`
	Sub      string     `json:"sub"`
	Aud      any        `json:"aud"`
	ClientID string     `json:"client_id"`
	Scope    string     `json:"scope,omitempty"`
	JTI      string     `json:"jti"`
	IAT      int64      `json:"iat"`
	EXP      int64      `json:"exp"`
	NBF      int64      `json:"nbf,omitempty"`
	Cnf      *cnfClaims `json:"cnf,omitempty"`
	Act      *Actor     `json:"act,omitempty"`
}

type cnfClaims struct {
	JKT string `json:"jkt"`
}

// encodeClaims returns the JSON claims of a token minted from c, whose
// Issuer, JTI, IssuedAt and Expiry are set and whose other fields
// checkClaims accepted. Extra members follow, sorted by name.
func encodeClaims(c *Claims) ([]byte, error) {
	out := outClaims{
		Iss: c.Issuer, Sub: c.Subject, ClientID: c.ClientID, Scope: strings.Join(c.Scope, " "),
		JTI: c.JTI, IAT: c.IssuedAt.Unix(), EXP: c.Expiry.Unix(), Act: c.Act,
	}
	if len(c.Audience) == 1 {
		out.Aud = c.Audience[0]
	} else {
		out.Aud = c.Audience
	}
	if !c.NotBefore.IsZero() {
		out.NBF = c.NotBefore.Unix()
	}
	if c.JKT != "" {
		out.Cnf = &cnfClaims{JKT: c.JKT}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	if len(c.Extra) == 0 {
		return b, nil
	}
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1]) // without the closing brace
	for _, name := range slices.Sorted(maps.Keys(c.Extra)) {
		n, err := json.Marshal(name)
		if err != nil {
			return nil, err
		}
		buf.WriteByte(',')
		buf.Write(n)
		buf.WriteByte(':')
		if err := json.Compact(&buf, c.Extra[name]); err != nil {
			return nil, fmt.Errorf("extra claim %s: %w", n, err)
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// checkClaims checks what the caller of Mint sets in c.
func checkClaims(c *Claims) error {
	switch {
	case c.Subject == "":
		return errors.New("sub is empty")
	case c.ClientID == "":
		return errors.New("client_id is empty")
	case len(c.Audience) == 0:
		return errors.New("aud is empty")
	case slices.Contains(c.Audience, ""):
		return errors.New("aud contains an empty audience")
	case len(c.JTI) > maxJTIBytes:
		return fmt.Errorf("jti is longer than %d bytes", maxJTIBytes)
	case c.JKT != "" && !isThumbprint(c.JKT):
		return errors.New("cnf.jkt is not a base64url SHA-256 thumbprint")
	}
	for _, s := range c.Scope {
		if !isScopeToken(s) {
			return errors.New("scope contains an invalid scope token")
		}
	}
	if err := checkActor(c.Act); err != nil {
		return err
	}
	for name, v := range c.Extra {
		switch {
		case name == "":
			return errors.New("extra claim with an empty name")
		case slices.Contains(registered, name):
			return fmt.Errorf("extra claim %q has a field of its own", name)
		case !json.Valid(v):
			return fmt.Errorf("extra claim %q is not valid JSON", name)
		}
	}
	return nil
}

// checkActor checks an act claim chain: every actor has a sub, and the
// chain is at most MaxActorDepth long.
func checkActor(a *Actor) error {
	for depth := 0; a != nil; a, depth = a.Act, depth+1 {
		switch {
		case depth == MaxActorDepth:
			return fmt.Errorf("act is nested deeper than %d", MaxActorDepth)
		case a.Sub == "":
			return errors.New("act has an actor without sub")
		}
	}
	return nil
}

// isScopeToken reports whether s is an RFC 6749 §3.3 scope-token:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// isThumbprint reports whether s is an unpadded base64url SHA-256 digest.
func isThumbprint(s string) bool {
	if len(s) != 43 {
		return false
	}
	var b [32]byte
	n, err := base64.RawURLEncoding.Strict().Decode(b[:], []byte(s))
	return err == nil && n == 32
}

// wireClaims are the claims as decoded. Absent and null members, and
// zero or empty values, decode alike: each required claim must be
// non-zero.
type wireClaims struct {
	Iss      string          `json:"iss"`
	Sub      string          `json:"sub"`
	Aud      audience        `json:"aud"`
	ClientID string          `json:"client_id"`
	Scope    string          `json:"scope"`
	JTI      string          `json:"jti"`
	IAT      float64         `json:"iat"`
	EXP      float64         `json:"exp"`
	NBF      float64         `json:"nbf"`
	Cnf      json.RawMessage `json:"cnf"`
	Act      *Actor          `json:"act"`
}

// audience decodes aud: a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if s, ok := plainString(b); ok { // the common case, without a second decode
		*a = audience{s}
		return nil
	}
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	case len(b) > 0 && b[0] == '[':
		var l []string
		if err := json.Unmarshal(b, &l); err != nil {
			return err
		}
		*a = l
		return nil
	case string(b) == "null":
		return nil
	}
	return errors.New("aud is not a string or an array")
}

// decodeClaims decodes and checks the form of a token's claims: a JSON
// object whose registered claims appear once, with their exact names and
// the right types, and carry every claim RFC 9068 requires.
func decodeClaims(raw []byte) (*Claims, *Error) {
	var w wireClaims
	if !isObject(raw) || json.Unmarshal(raw, &w) != nil {
		return nil, invalid("token claims are not a valid JSON object")
	}
	_, other, ok := scanNames(raw, registered)
	if !ok {
		return nil, invalid("token claims repeat a claim or vary its name")
	}
	c := &Claims{Issuer: w.Iss, Subject: w.Sub, Audience: w.Aud, ClientID: w.ClientID, JTI: w.JTI, Act: w.Act}
	switch {
	case w.Iss == "":
		return nil, invalid("iss claim is missing")
	case w.Sub == "":
		return nil, invalid("sub claim is missing")
	case len(w.Aud) == 0:
		return nil, invalid("aud claim is missing")
	case w.ClientID == "":
		return nil, invalid("client_id claim is missing")
	case w.JTI == "":
		return nil, invalid("jti claim is missing")
	case w.EXP == 0:
		return nil, invalid("exp claim is missing")
	case w.IAT == 0:
		return nil, invalid("iat claim is missing")
	}
	var okExp, okIat, okNbf bool
	c.Expiry, okExp = numericDate(w.EXP)
	c.IssuedAt, okIat = numericDate(w.IAT)
	c.NotBefore, okNbf = time.Time{}, true
	if w.NBF != 0 {
		c.NotBefore, okNbf = numericDate(w.NBF)
	}
	if !okExp || !okIat || !okNbf {
		return nil, invalid("exp, iat or nbf claim is not a valid time")
	}
	if w.Scope != "" {
		c.Scope = strings.Fields(w.Scope)
	}
	if jkt, ok := plainCnf(w.Cnf); ok {
		c.JKT = jkt
	} else if len(w.Cnf) > 0 && string(w.Cnf) != "null" {
		seen, other, ok := scanNames(w.Cnf, []string{"jkt"})
		if !ok || other || seen == 0 {
			return nil, invalid("cnf claim has an unsupported confirmation method")
		}
		var cnf cnfClaims
		if json.Unmarshal(w.Cnf, &cnf) != nil || !isThumbprint(cnf.JKT) {
			return nil, invalid("cnf claim is malformed")
		}
		c.JKT = cnf.JKT
	}
	if checkActor(c.Act) != nil {
		return nil, invalid("act claim is malformed or nested too deeply")
	}
	if other {
		if err := json.Unmarshal(raw, &c.Extra); err != nil {
			return nil, invalid("token claims are not a valid JSON object")
		}
		for _, name := range registered {
			delete(c.Extra, name)
		}
	}
	return c, nil
}

// plainString returns the value of b, a JSON string, when it holds only
// printable ASCII without escapes, so that its value is its text.
func plainString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	for _, c := range b[1 : len(b)-1] {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return "", false
		}
	}
	return string(b[1 : len(b)-1]), true
}

// plainCnf returns the thumbprint of a cnf claim in the form Mint writes,
// {"jkt":"<thumbprint>"}; other forms take the general path.
func plainCnf(b []byte) (string, bool) {
	const prefix, suffix = `{"jkt":"`, `"}`
	if len(b) != len(prefix)+43+len(suffix) || string(b[:len(prefix)]) != prefix || string(b[len(b)-len(suffix):]) != suffix {
		return "", false
	}
	jkt := string(b[len(prefix) : len(prefix)+43])
	return jkt, isThumbprint(jkt)
}

// numericDate converts a JWT NumericDate, which may have a fraction. It
// refuses dates before 1970 and after 2242 (2^33 seconds), whose Unix
// nanoseconds overflow an int64 before 2262.
func numericDate(f float64) (time.Time, bool) {
	if math.IsNaN(f) || f <= 0 || f > 1<<33 {
		return time.Time{}, false
	}
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64((f-sec)*1e9)), true
}

// scanNames reads the top-level member names of obj, a JSON object that
// encoding/json accepted. It returns a bit per name of known that appears
// and whether any other name appears. ok is false when obj is not an
// object, a name is escaped, a known name appears twice, or a name differs
// from a known one only in case (which encoding/json would match).
func scanNames(obj []byte, known []string) (seen uint32, other, ok bool) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return 0, false, false
	}
	i++
	for {
		i = skipSpace(obj, i)
		if i < len(obj) && obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
		if i >= len(obj) {
			return 0, false, false
		}
		if obj[i] == '}' {
			return seen, other, true
		}
		if obj[i] != '"' {
			return 0, false, false
		}
		j := i + 1
		for j < len(obj) && obj[j] != '"' {
			if obj[j] == '\\' {
				return 0, false, false
			}
			j++
		}
		if j >= len(obj) {
			return 0, false, false
		}
		name, match := obj[i+1:j], -1
		for k, kn := range known {
			if string(name) == kn {
				match = k
				break
			}
		}
		switch {
		case match >= 0 && seen&(1<<match) != 0:
			return 0, false, false
		case match >= 0:
			seen |= 1 << match
		default:
			for _, kn := range known {
				if bytes.EqualFold(name, []byte(kn)) {
					return 0, false, false
				}
			}
			other = true
		}
		i = skipSpace(obj, j+1)
		if i >= len(obj) || obj[i] != ':' {
			return 0, false, false
		}
		i = skipValue(obj, i+1)
	}
}

// isObject reports whether b starts like a JSON object, which tells an
// object from null before encoding/json, which accepts null for a struct.
func isObject(b []byte) bool {
	i := skipSpace(b, 0)
	return i < len(b) && b[i] == '{'
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index of the ',' or '}' that ends the value
// starting at b[i].
func skipValue(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
		case ']':
			depth--
		case '}':
			if depth == 0 {
				return i
			}
			depth--
		case ',':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}
