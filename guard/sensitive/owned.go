package sensitive

import (
	"bytes"
	"encoding/base64"
	"math"
	"regexp"
	"strings"
)

// This file holds the secret detectors written here: formats gitleaks
// covers loosely or not at all, each checked against its specification.

// pemMaxBody bounds how far a private key block is followed.
const pemMaxBody = 16 << 10

// pem reports a PEM private key block (RFC 7468; OpenSSH and PGP use the
// same armor): a "-----BEGIN ... PRIVATE KEY-----" line and its base64
// body, up to and including the END line when it is there. A header with
// no body (a mention of the format) is not reported.
func (d *Detector) pem(s *scratch, text string, p int) {
	const begin = "-----BEGIN "
	if len(text)-p < len(begin) || !strings.EqualFold(text[p:p+len(begin)], begin) {
		return
	}
	i := p + len(begin)
	j := strings.Index(text[i:min(len(text), i+80)], "-----")
	if j < 0 {
		return
	}
	label := strings.ToUpper(text[i : i+j])
	if !strings.HasSuffix(label, "PRIVATE KEY") && !strings.HasSuffix(label, "PRIVATE KEY BLOCK") {
		return
	}
	end := i + j + 5
	body := 0
	k := end
	for lim := min(len(text), end+pemMaxBody); k < lim; k++ {
		c := text[k]
		switch {
		case isAlnum(c) || c == '+' || c == '/':
			body++
		case c == '=' || isBlank(c) || c == '"' || c == '\'' || c == '\\' || c == ',' || c == ':' || c == '.':
		case c == '-':
			if strings.HasPrefix(text[k:], "-----") {
				goto done
			}
		default:
			goto done
		}
	}
done:
	if body < 64 {
		return
	}
	if strings.HasPrefix(text[k:], "-----END") {
		if e := strings.Index(text[k+8:min(len(text), k+8+80)], "-----"); e >= 0 {
			k += 8 + e + 5
		}
	}
	for k > end && (isBlank(text[k-1]) || text[k-1] == '"' || text[k-1] == '\'' || text[k-1] == '\\') {
		k--
	}
	s.cands = append(s.cands, cand{start: p, end: k, kind: kindSecret, score: 0.99, detector: "secret.private-key", rule: "pem"})
}

func isB64(c byte) bool { return isAlnum(c) || c == '+' || c == '/' || c == '=' }

// pem64 reports a PEM private key encoded in base64 as a whole, as
// Kubernetes secrets and environment variables hold them: a base64 run
// that decodes to a private key header.
func (d *Detector) pem64(s *scratch, text string, p int) {
	if !strings.HasPrefix(text[p:], "LS0tLS1CRUdJTi") || (p > 0 && isAlnum(text[p-1])) {
		return
	}
	e := p
	for e < len(text) && isB64(text[e]) {
		e++
	}
	if e-p < 128 {
		return
	}
	var buf [96]byte
	n, _ := base64.StdEncoding.Decode(buf[:], []byte(text[p:p+128]))
	hdr := string(buf[:n])
	if !strings.HasPrefix(hdr, "-----BEGIN ") || !strings.Contains(hdr, "PRIVATE KEY") {
		return
	}
	s.cands = append(s.cands, cand{start: p, end: e, kind: kindSecret, score: 0.95, detector: "secret.private-key", rule: "pem-base64"})
}

// cliPassword reports the password of a command line that names a user
// with -u and its password with -p (mysql, docker login, psexec, ...).
func (d *Detector) cliPassword(s *scratch, text string, p int) {
	ls := strings.LastIndexByte(text[:p], '\n') + 1
	if !strings.Contains(string(s.low[ls:p]), " -u ") {
		return
	}
	i := p + 4
	e := i
	for e < len(text) && !isBlank(text[e]) {
		e++
	}
	v := text[i:e]
	if len(v) < 4 || templated(v) || placeholderValue(v, "password") || !strings.ContainsFunc(v, func(r rune) bool { return r < 0x80 && isAlpha(byte(r)) }) {
		return
	}
	s.cands = append(s.cands, cand{start: i, end: e, kind: kindSecret, score: 0.75, detector: "secret.keyword-assignment", rule: "cli:-p"})
}

func isB64URL(c byte) bool { return isWord(c) || c == '-' }

// jwt reports a JSON Web Token (RFC 7519) in compact JWS form: three
// base64url segments whose first decodes to a JSON header naming "alg".
func (d *Detector) jwt(s *scratch, text string, p int) {
	if !strings.HasPrefix(text[p:], "eyJ") || (p > 0 && isB64URL(text[p-1])) {
		return
	}
	var seg [3][2]int
	i := p
	for n := range 3 {
		j := i
		for j < len(text) && isB64URL(text[j]) {
			j++
		}
		seg[n] = [2]int{i, j}
		if n < 2 {
			if j >= len(text) || text[j] != '.' {
				return
			}
			i = j + 1
		} else {
			i = j
		}
	}
	for i < len(text) && text[i] == '=' && i-seg[2][0] < len(text) {
		i++
	}
	h := text[seg[0][0]:seg[0][1]]
	if len(h) < 16 || seg[1][1]-seg[1][0] < 4 || !strings.HasPrefix(text[seg[1][0]:], "ey") {
		return
	}
	var buf [256]byte
	h = h[:min(len(h), 340)&^3]
	n, err := base64.RawURLEncoding.Decode(buf[:], []byte(h))
	if err != nil && n == 0 {
		return
	}
	hdr := strings.TrimLeft(string(buf[:n]), " \t\r\n")
	if !strings.HasPrefix(hdr, "{") || !strings.Contains(hdr, `"alg"`) {
		return
	}
	s.cands = append(s.cands, cand{start: p, end: i, kind: kindSecret, score: 0.95, detector: "secret.jwt", rule: "jwt"})
}

// urlCredentials reports the password of a URL's userinfo (RFC 3986
// scheme://user:password@host), as in database connection strings.
func (d *Detector) urlCredentials(s *scratch, text string, p int) {
	a := p
	for a > 0 && a > p-32 && (isAlnum(text[a-1]) || text[a-1] == '+' || text[a-1] == '.' || text[a-1] == '-') {
		a--
	}
	if p-a < 2 || !isAlpha(text[a]) {
		return
	}
	i := p + 3
	end := i
	for lim := min(len(text), i+256); end < lim; end++ {
		c := text[end]
		if c == '/' || c == '?' || c == '#' || c <= ' ' || c == '"' || c == '\'' || c == '`' || c == '<' || c == '>' {
			break
		}
	}
	at := strings.LastIndexByte(text[i:end], '@')
	if at < 0 || i+at+1 >= end {
		return
	}
	at += i
	colon := strings.IndexByte(text[i:at], ':')
	if colon <= 0 {
		return
	}
	ps := i + colon + 1
	if ps >= at || templated(text[ps:at]) {
		return
	}
	s.cands = append(s.cands, cand{start: ps, end: at, kind: kindSecret, score: 0.85, detector: "secret.url-credentials", rule: "userinfo"})
}

// templated reports whether v is a template or variable reference rather
// than a value: $VAR, ${VAR}, %VAR%, {{ var }}, <password>, or a run of
// masking characters.
func templated(v string) bool {
	if v == "" {
		return true
	}
	switch v[0] {
	case '$', '<', '{', '[':
		return true
	case '%':
		return len(v) > 2 && v[len(v)-1] == '%'
	}
	if strings.HasPrefix(v, "#{") {
		return true
	}
	same := true
	for i := 1; i < len(v); i++ {
		if v[i] != v[0] {
			same = false
			break
		}
	}
	return same && (v[0] == '*' || v[0] == 'x' || v[0] == 'X' || v[0] == '.' || v[0] == '_' || v[0] == '-')
}

// hashPrefixes are the modular crypt formats (and Kerberos roastable
// tickets) that passwordHash knows.
var hashPrefixes = []string{
	"$2a$", "$2b$", "$2x$", "$2y$", "$2$", "$argon2", "$1$", "$apr1$", "$5$", "$6$",
	"$y$", "$7$", "$8$", "$9$", "$krb5asrep$", "$krb5tgs$", "$pbkdf2-",
}

// hashRE matches the formats at the start of its input. Salts and
// digests use crypt's alphabet ./0-9A-Za-z; lengths are each format's.
var hashRE = regexp.MustCompile(`^(?:` +
	`\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}` + // bcrypt
	`|\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]{8,}\$[A-Za-z0-9+/]{16,}` + // PHC argon2
	`|\$(?:1|apr1)\$[./A-Za-z0-9]{1,8}\$[./A-Za-z0-9]{22}` + // MD5-crypt
	`|\$5\$(?:rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{43}` + // SHA-256-crypt
	`|\$6\$(?:rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}` + // SHA-512-crypt
	`|\$y\$[./A-Za-z0-9]+\$[./A-Za-z0-9]{1,86}\$[./A-Za-z0-9]{43}` + // yescrypt
	`|\$7\$[./A-Za-z0-9]{11,}\$[./A-Za-z0-9]{43}` + // scrypt
	`|\$[89]\$[./A-Za-z0-9]{14}\$[./A-Za-z0-9]{43}` + // Cisco type 8 and 9
	`|\$pbkdf2-sha(?:1|256|512)\$\d+\$[./A-Za-z0-9+]{8,}\$[./A-Za-z0-9+]{20,}` + // passlib PBKDF2
	`|\$krb5(?:asrep|tgs)\$\d+\$(?:[^\s$:]+:|[^\s$]+\$|\*[^*\s]+\*\$)?[0-9a-fA-F]{32}\$[0-9a-fA-F]{64,}` + // AS-REP / TGS roasting
	`)`)

// passwordHash reports a password hash in modular crypt format: an
// offline-crackable credential.
func (d *Detector) passwordHash(s *scratch, text string, p int) {
	if p > 0 && (isWord(text[p-1]) || text[p-1] == '$') {
		return
	}
	m := hashRE.FindStringIndex(text[p:min(len(text), p+2048)])
	if m == nil {
		return
	}
	e := p + m[1]
	if e < len(text) && (isWord(text[e]) || text[e] == '/' || text[e] == '.') {
		if !strings.HasPrefix(text[p:], "$krb5") {
			return
		}
		for e < len(text) && isHex(text[e]) {
			e++
		}
	}
	s.cands = append(s.cands, cand{start: p, end: e, kind: kindSecret, score: 0.95, detector: "secret.password-hash", rule: "crypt"})
}

func isHex(c byte) bool { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }

// isToken reports whether c belongs to an RFC 6750 b64token.
func isToken(c byte) bool {
	return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '='
}

// authorization reports the credentials of an HTTP Authorization header
// (RFC 9110): a Bearer token (RFC 6750) or Basic user:password (RFC
// 7617), written as a header or in prose ("Bearer <token>").
func (d *Detector) authorization(s *scratch, text string, p, q int) {
	if p > 0 && isAlnum(text[p-1]) {
		return
	}
	kw := strings.ToLower(text[p:q])
	i := q
	for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
		i++
	}
	if kw == "authorization:" {
		// A scheme follows: Bearer and Basic are handled at their own
		// keyword; "token" (GitHub) and schemeless values here.
		if w := strings.ToLower(text[i:min(len(text), i+7)]); strings.HasPrefix(w, "bearer ") || strings.HasPrefix(w, "basic ") {
			return
		}
		if w := strings.ToLower(text[i:min(len(text), i+6)]); w == "token " {
			i += 6
		}
	}
	j := i
	for j < len(text) && isToken(text[j]) {
		j++
	}
	if j < len(text) && isAlnum(text[j]) { // stopped inside a word of another script
		return
	}
	v := text[i:j]
	if len(v) < 8 || templated(v) || placeholderValue(v, "token") {
		return
	}
	switch kw {
	case "basic ":
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || !strings.Contains(string(b), ":") {
			return
		}
	default:
		if !mixedToken(v) || (kw == "authorization:" && len(v) < 16) {
			return
		}
	}
	s.cands = append(s.cands, cand{start: i, end: j, kind: kindSecret, score: 0.9, detector: "secret.authorization-header", rule: strings.TrimSpace(strings.TrimSuffix(kw, ":"))})
}

// mixedToken reports whether v has a letter and a digit or symbol: a
// word alone is not a token.
func mixedToken(v string) bool {
	letter, other := false, false
	for i := 0; i < len(v); i++ {
		if isAlpha(v[i]) {
			letter = true
		} else {
			other = true
		}
	}
	return letter && other
}

// keyName is one secret-like key name.
type keyName struct {
	name     string
	password bool // a password: reported whatever its entropy
}

func newKeyName(n string) keyName {
	switch n {
	case "password", "passwd", "passphrase", "pwd", "pass", "secret":
		return keyName{name: n, password: true}
	}
	return keyName{name: n}
}

func isKeyChar(c byte) bool { return isWord(c) || c == '-' || c == '.' }

func isQuote(c byte) bool { return c == '"' || c == '\'' || c == '`' }

// assignment reports the value assigned to a secret-like key in code,
// configuration, command lines or prose: api_key = "...", "token":
// "...", PASSWORD=..., --password ..., Password=...; (ODBC), password
// is "...". Passwords are reported whatever they look like, unless they
// are placeholders; other keys only when the value looks random (Shannon
// entropy over its length) or like a UUID.
func (d *Detector) assignment(s *scratch, text string, kn *keyName, p, q int) {
	// The key token must end with the name, which must start a word of it
	// (db_password, dbPassword, DB-PASSWORD; not "bypass").
	ks, ke := p, q
	for ks > 0 && p-ks < 64 && isKeyChar(text[ks-1]) {
		ks--
	}
	if ke < len(text) && isKeyChar(text[ke]) && !(text[ke] == '.' && (ke+1 == len(text) || !isKeyChar(text[ke+1]))) {
		return
	}
	flag := false
	for ks < p && text[ks] == '-' {
		ks++
		flag = true
	}
	if p > ks {
		prev, first := text[p-1], text[p]
		camel := 'A' <= first && first <= 'Z' && ('a' <= prev && prev <= 'z' || isDigit(prev))
		glued := len(kn.name) >= 5 && !kn.password || len(kn.name) >= 6 // jwtsecret, authtoken, dbpassword
		if !camel && !glued && prev != '_' && prev != '-' && prev != '.' {
			return
		}
	}
	i := ke
	if ks > 0 && isQuote(text[ks-1]) && i < len(text) && text[i] == text[ks-1] {
		i++
	}
	sp := i
	for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
		i++
	}
	spaced := i > sp
	op := ""
	if k := xmlValueAttr(text[i:]); k > 0 && ks > 0 && isQuote(text[ks-1]) {
		// <add key="ClearTextPassword" value="..."/>: .NET settings.
		i += k
		op = "="
		i--
	}
	switch {
	case op != "":
	case strings.HasPrefix(text[i:], "!=="), strings.HasPrefix(text[i:], "==="):
		op = text[i : i+3]
	case strings.HasPrefix(text[i:], ":="), strings.HasPrefix(text[i:], "!="), strings.HasPrefix(text[i:], "=>"), strings.HasPrefix(text[i:], "=="), strings.HasPrefix(text[i:], "?="):
		op = text[i : i+2]
	case i < len(text) && (text[i] == '=' || text[i] == ':'):
		op = text[i : i+1]
	}
	lineStart := max(ks-64, 0)
	if nl := strings.LastIndexByte(text[lineStart:ks], '\n'); nl >= 0 {
		lineStart += nl + 1
	} else if lineStart > 0 {
		lineStart = -1 // a long line: not at its start
	}
	atLineStart := lineStart >= 0 && (strings.TrimLeft(text[lineStart:ks], " \t#/-*>") == "" || strings.TrimSpace(text[lineStart:ks]) == "export")
	isForm := false
	switch {
	case op != "":
		i += len(op)
		if op == ":" && strings.HasPrefix(text[i:], "//") {
			return // a URL scheme, not an assignment
		}
	case !spaced:
		return
	case bytes.HasPrefix(s.low[i:], []byte("is ")) || bytes.HasPrefix(s.low[i:], []byte("was ")):
		// "the password is 'x'": prose, the value must be quoted.
		i += strings.IndexByte(text[i:], ' ') + 1
		isForm = true
	case flag, atLineStart:
		// --password x; netrc and HCL-like "password x".
	case i < len(text) && isQuote(text[i]):
		// username 'u' / password 'p' (Gradle, Groovy).
	default:
		return
	}
	for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
		i++
	}
	if i >= len(text) {
		return
	}
	vs, ve := i, i
	escaped := text[i] == '\\' && i+1 < len(text) && isQuote(text[i+1]) // \"value\" inside a string
	quoted := isQuote(text[i]) || escaped
	if escaped {
		i++
	}
	if quoted {
		qc := text[i]
		vs = i + 1
		ve = vs
		for ve < len(text) && ve-vs < 512 && text[ve] != qc && text[ve] != '\n' {
			if text[ve] == '\\' {
				if escaped && ve+1 < len(text) && text[ve+1] == qc {
					break
				}
				ve++
			}
			ve++
		}
		if ve >= len(text) || text[ve] != qc && !(escaped && text[ve] == '\\') {
			return
		}
	} else {
		if isForm {
			return
		}
		for ve < len(text) && ve-vs < 512 && !stopsValue(text[ve]) {
			ve++
		}
		// An unquoted value must end its statement: prose goes on.
		k := ve
		for k < len(text) && (text[k] == ' ' || text[k] == '\t') {
			k++
		}
		if k < len(text) && !(text[k] == '\n' || text[k] == '\r' || text[k] == ';' || text[k] == ',' || text[k] == '&' || text[k] == '#' || text[k] == '}' || text[k] == ')' || isQuote(text[k]) || (text[k] == '\\' && k+1 < len(text) && (text[k+1] == 'n' || text[k+1] == 'r'))) {
			if !(flag && k > ve) {
				return
			}
		}
		if !flag && codeRef(text[vs:ve]) {
			return
		}
	}
	v := text[vs:ve]
	if len(v) < 4 || templated(v) || placeholderValue(v, kn.name) {
		return
	}
	score := 0.75
	if !kn.password {
		if !randomLooking(v) && !(isUUID(v) && kn.name != "key") {
			return
		}
		score = 0.8
	}
	s.cands = append(s.cands, cand{start: vs, end: ve, kind: kindSecret, score: score, detector: "secret.keyword-assignment", rule: "key:" + kn.name})
}

// xmlValueAttr returns the length of `" value="` (the closing quote of a
// key attribute, then a value attribute up to its opening quote), or 0.
func xmlValueAttr(t string) int {
	i := 0
	for i < len(t) && (t[i] == ' ' || t[i] == '\t') {
		i++
	}
	if !strings.HasPrefix(t[i:], "value") {
		return 0
	}
	i += 5
	for i < len(t) && t[i] == ' ' {
		i++
	}
	if i >= len(t) || t[i] != '=' {
		return 0
	}
	i++
	for i < len(t) && t[i] == ' ' {
		i++
	}
	if i >= len(t) || !isQuote(t[i]) {
		return 0
	}
	return i
}

// stopsValue reports whether c ends an unquoted value.
func stopsValue(c byte) bool {
	return c <= ' ' || c == ';' || c == ',' || c == '&' || isQuote(c) || c == ')' || c == ']' || c == '}' || c == '<' || c == '>'
}

// codeRef reports whether an unquoted value is an expression of code
// (a call, a member or an index) rather than a literal.
func codeRef(v string) bool {
	if strings.ContainsAny(v, "(") {
		return true
	}
	i := 0
	for i < len(v) && (isWord(v[i])) {
		i++
	}
	return i > 0 && i < len(v) && (v[i] == '.' || v[i] == '[') && !isDigit(v[0])
}

// placeholderValue reports values that stand for a secret rather than
// being one: types, literals, the key's own name, an env-var constant
// (SOME_PASSWORD), "your_token_here".
func placeholderValue(v, key string) bool {
	l := strings.ToLower(v)
	switch l {
	case "null", "none", "nil", "true", "false", "undefined", "string", "str", "bool",
		"boolean", "int", "integer", "number", "any", "bytes", "object", "required",
		"optional", "empty", "secret", "password", "passwd", "token", "redacted",
		"hidden", "masked", "example", "sample", "dummy", "placeholder", "value",
		"default", "string?", "str,", "char", "text", "varchar", "nullable":
		return true
	}
	if l == key || strings.HasPrefix(l, "your") || strings.HasPrefix(l, "my_") || strings.HasPrefix(l, "enter") ||
		strings.Contains(l, "xxxx") || strings.Contains(l, "****") || strings.Contains(l, "...") ||
		strings.Contains(l, "placeholder") || strings.Contains(l, "here") && strings.ContainsAny(l, "_- ") {
		return true
	}
	upperSnake := strings.Contains(v, "_")
	for i := 0; i < len(v) && upperSnake; i++ {
		c := v[i]
		upperSnake = 'A' <= c && c <= 'Z' || c == '_' || isDigit(c)
	}
	return upperSnake
}

// randomLooking reports whether v looks machine-generated: long enough,
// and with the entropy of random text in its alphabet (hex strings need
// 16 characters, others 12 and a mix of letters with digits or symbols).
func randomLooking(v string) bool {
	if len(v) < 12 {
		return false
	}
	hex := true
	for i := 0; i < len(v) && hex; i++ {
		hex = isHex(v[i])
	}
	h := entropy(v)
	if hex {
		return len(v) >= 16 && h >= 3.0 && mixedToken(v)
	}
	if !mixedToken(v) {
		return false
	}
	return h >= math.Min(3.5, math.Log2(float64(len(v)))-0.6)
}

// isUUID reports whether v is a UUID in its 8-4-4-4-12 form.
func isUUID(v string) bool {
	if len(v) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		switch i {
		case 8, 13, 18, 23:
			if v[i] != '-' {
				return false
			}
		default:
			if !isHex(v[i]) {
				return false
			}
		}
	}
	return true
}
