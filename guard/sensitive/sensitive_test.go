package sensitive

import (
	"strings"
	"testing"

	"github.com/subzero-gateway/subzero/guard"
)

func newDefault(t testing.TB) *Detector {
	t.Helper()
	d, err := New(Default())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// found returns "detector=value" for each finding.
func found(d *Detector, text string) []string {
	var out []string
	for _, f := range d.Detect(nil, text, nil, guard.Prompt) {
		out = append(out, f.Detector+"="+text[f.Start:f.End])
	}
	return out
}

func TestEntities(t *testing.T) {
	d := newDefault(t)
	tests := []struct {
		name, text string
		want       string // "detector=value", "" for no finding
	}{
		// e-mail
		{"email", "write to jane.doe+tag@example.co.uk today", "pii.email=jane.doe+tag@example.co.uk"},
		{"email idn", "mail: josé@correo.españa.es", "pii.email=josé@correo.españa.es"},
		{"email obfuscated", "john.doe@protectai[DOT]com", "pii.email=john.doe@protectai[DOT]com"},
		{"email bracket at", "reach jane [at] example.org", "pii.email=jane [at] example.org"},
		{"version pin", "npm i lodash@4.17.21", ""},
		{"handle", "thanks @octocat and @team.lead", ""},
		{"retina file", "icon@2x.png", ""},
		{"ssh remote", "git clone git@github.com:org/repo.git", ""},
		{"no tld", "root@localhost", ""},
		// cards
		{"visa spaced", "card 4111 1111 1111 1111 exp", "pii.card=4111 1111 1111 1111"},
		{"amex", "Amex 378282246310005.", "pii.card=378282246310005"},
		{"mastercard 2-series", "pay with 2223003122003222", "pii.card=2223003122003222"},
		{"luhn fails", "card 4111 1111 1111 1112", ""},
		{"no iin no context", "id 9999999999999995", ""},
		{"maestro by context", "credit card 060426070011 lost", "pii.card=060426070011"},
		// SSN
		{"ssn", "SSN: 123-45-6788", "pii.ssn=123-45-6788"},
		{"ssn keyword 9 digits", "social security number 536225566", "pii.ssn=536225566"},
		{"ssn area 000", "000-12-3456", ""},
		{"ssn area 666", "666-12-3456", ""},
		{"ssn area 9xx", "912-12-3456", ""},
		{"ssn group 00", "123-00-4567", ""},
		{"ssn serial 0000", "123-45-0000", ""},
		{"ssn woolworth", "078-05-1120", ""},
		{"bare 9 digits", "order 536225566", ""},
		// IBAN
		{"iban", "IBAN DE89 3704 0044 0532 0130 00.", "pii.iban=DE89 3704 0044 0532 0130 00"},
		{"iban compact lower", "my iban is gb82west12345698765432", "pii.iban=gb82west12345698765432"},
		{"iban bad check", "IBAN DE88 3704 0044 0532 0130 00", ""},
		{"iban bad length", "GB82WEST1234569876543", ""},
		// IP
		{"ipv4", "blocked from 41.173.96.26 again", "pii.ip=41.173.96.26"},
		{"ipv4 private", "router at 192.168.1.100", "pii.ip=192.168.1.100"},
		{"ipv6", "from 2001:db8:85a3::8a2e:370:7334 now", "pii.ip=2001:db8:85a3::8a2e:370:7334"},
		{"version not ip", "upgrade to version 1.2.3.4", ""},
		{"v-prefixed", "release v10.2.0.1", ""},
		{"too many parts", "1.2.3.4.5", ""},
		{"octet range", "300.1.2.3", ""},
		{"loopback", "listen on 127.0.0.1", ""},
		{"netmask", "mask 255.255.255.0", ""},
		{"python slice", "a[1::2]", ""},
		{"time", "at 10:30:00 UTC", ""},
		// phone
		{"e164", "call +41 44 668 18 00 now", "pii.phone=+41 44 668 18 00"},
		{"us national", "stop texting 618-226-1460", "pii.phone=618-226-1460"},
		{"phone context", "Phone: 358 0594", "pii.phone=358 0594"},
		{"date", "on 2021-03-04 we met", ""},
		{"decimal", "returns 4294967296.0", ""},
		{"money", "cost $1,234,567", ""},
		{"bare digits", "the answer is 1234567", ""},
		// driver licence and address
		{"license", "my driver's license number is F162823540116", "pii.driver_license=F162823540116"},
		{"address en", "ship it to 1600 Pennsylvania Avenue, Washington", "pii.address=1600 Pennsylvania Avenue"},
		{"address de", "Wir wohnen in der Feldstrasse 42 seit Mai", "pii.address=Feldstrasse 42"},
		{"address pt", "Rua do Arenque 1634, Goiânia", "pii.address=Rua do Arenque 1634"},
		{"po box", "write to P.O. Box 287 please", "pii.address=P.O. Box 287"},
		{"military", "PSC 4095, Box 8316 APO AE 85103", "pii.address=PSC 4095, Box 8316 APO AE 85103"},
		{"key points", "Here are 3 Key Points to remember", ""},
		// secrets
		{"github pat", "token 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", "secret.github-pat=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"},
		{"aws example key", "AKIAIOSFODNN7EXAMPLE", ""},
		{"jwt", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
			"secret.jwt=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"},
		{"not jwt header", "eyJ0eXAiOiAiVENWMiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc", ""},
		{"url credentials", "postgres://app:s3cr3t@db.internal:5432/x", "secret.url-credentials=s3cr3t"},
		{"url template", "postgres://app:${DB_PASS}@db/x", ""},
		{"bcrypt", "hash $2y$10$LhayLxezLhK1LhWvKxCyLOj0j1u.Kj0jZ0pEmm134uzrQlFvQJLF6 ok", "secret.password-hash=$2y$10$LhayLxezLhK1LhWvKxCyLOj0j1u.Kj0jZ0pEmm134uzrQlFvQJLF6"},
		{"argon2", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG", "secret.password-hash=$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"},
		{"bearer", "Authorization: Bearer mF_9.B5f-4.1JqM", "secret.authorization-header=mF_9.B5f-4.1JqM"},
		{"bearer prose", "the bearer of this letter", ""},
		{"password assignment", "password = 'open sesame'", "secret.keyword-assignment=open sesame"},
		{"password env", "DB_PASSWORD=hunter22", "secret.keyword-assignment=hunter22"},
		{"password placeholder", `password: "YOUR_PASSWORD"`, ""},
		{"password code ref", "password = request.form", ""},
		{"password type", "password: str", ""},
		{"password prose", "Password: choose one you remember", ""},
		{"api key entropy", `API_KEY = "951bc382db9abad29c68634761dd6e19"`, "secret.keyword-assignment=951bc382db9abad29c68634761dd6e19"},
		{"api key low entropy", `api_key = "aaaaaaaaaaaaaaaa"`, ""},
		{"bare uuid", "request 2755dad4-cc12-94bb-a894-ba0f85c3fdbf done", ""},
		{"uuid under token", `MYAPP_API_TOKEN: c55dbac4-e0e8-4a06-b892-75cac2387ce5`, "secret.keyword-assignment=c55dbac4-e0e8-4a06-b892-75cac2387ce5"},
		{"monkey is no key", "monkey = 'bananas-and-more-123'", ""},
		{"cli -u -p", "mysql -u root -p Sup3rSecret db", "secret.keyword-assignment=Sup3rSecret"},
		{"docker port", "docker run -u 1000 -p 8080:80 img", ""},
		{"hex in prose", "commit 3f9a1c2e4b5d6f7a8b9c0d1e2f3a4b5c6d7e8f90 fixed it", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(found(d, tt.text), ",")
			if got != tt.want {
				t.Errorf("Detect(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestPEM(t *testing.T) {
	d := newDefault(t)
	body := strings.Repeat("MIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n", 3)
	for _, text := range []string{
		"key:\n-----BEGIN RSA PRIVATE KEY-----\n" + body + "-----END RSA PRIVATE KEY-----\nbye",
		"-----BEGIN OPENSSH PRIVATE KEY-----\n" + body, // cut off before END
	} {
		fs := d.Detect(nil, text, nil, guard.Prompt)
		if len(fs) != 1 || fs[0].Detector != "secret.private-key" {
			t.Fatalf("Detect(PEM) = %+v", fs)
		}
		if v := text[fs[0].Start:fs[0].End]; !strings.HasPrefix(v, "-----BEGIN") || !strings.Contains(v, body[:64]) {
			t.Errorf("span %q", v)
		}
	}
	if fs := d.Detect(nil, "grep for -----BEGIN RSA PRIVATE KEY----- in the repo", nil, guard.Prompt); len(fs) != 0 {
		t.Errorf("a mention of the header is reported: %+v", fs)
	}
}

func TestPlaceholderNumbering(t *testing.T) {
	d := newDefault(t)
	text := "a@example.com, B@Example.com, a@example.com, card 4111-1111-1111-1111 and 4111 1111 1111 1111"
	fs := d.Detect(nil, text, nil, guard.Prompt)
	var got []string
	for _, f := range fs {
		got = append(got, f.Placeholder)
	}
	want := "[EMAIL_1] [EMAIL_2] [EMAIL_1] [CARD_1] [CARD_1]"
	if strings.Join(got, " ") != want {
		t.Errorf("placeholders = %v, want %s", got, want)
	}
	// Per call: a new call starts again at 1.
	if fs := d.Detect(nil, "c@example.com", nil, guard.Prompt); len(fs) != 1 || fs[0].Placeholder != "[EMAIL_1]" {
		t.Errorf("second call: %+v", fs)
	}
}

func TestFindingFields(t *testing.T) {
	d := newDefault(t)
	text := "Mail jane@example.com now"
	fs := d.Detect([]guard.Finding{{Detector: "other"}}, text, nil, guard.Completion)
	if len(fs) != 2 || fs[0].Detector != "other" {
		t.Fatalf("Detect did not append: %+v", fs)
	}
	f := fs[1]
	if f.Class != guard.ClassSensitive || f.Category != guard.LLM02SensitiveInfo || f.Detector != "pii.email" {
		t.Errorf("finding = %+v", f)
	}
	if text[f.Start:f.End] != "jane@example.com" || f.Score <= 0 || f.Score > 1 {
		t.Errorf("span or score: %+v", f)
	}
	if f.Excerpt != "Mail [EMAIL_1] now" {
		t.Errorf("excerpt = %q", f.Excerpt)
	}
}

// TestNoValueInExcerpt plants secrets and PII and checks that no finding
// carries a value in its excerpt or rule.
func TestNoValueInExcerpt(t *testing.T) {
	d := newDefault(t)
	planted := []string{
		"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", "jane@example.com", "4111111111111111",
		"s3cr3tPassw0rd", "DE89370400440532013000", "123-45-6788", "xoxb-47834520726-N3otsrwj8Cf99cs8GhiRZsX1",
	}
	text := "GITHUB_TOKEN=" + planted[0] + " mail " + planted[1] + " card " + planted[2] +
		"\npassword: " + planted[3] + "\nIBAN " + planted[4] + " SSN " + planted[5] + "\nslack " + planted[6] + " " +
		strings.Repeat("filler text ", 20) + planted[1]
	fs := d.Detect(nil, text, nil, guard.Prompt)
	if len(fs) < len(planted) {
		t.Fatalf("found %d values, planted %d: %+v", len(fs), len(planted), fs)
	}
	for _, f := range fs {
		if len(f.Excerpt) > excerptMax {
			t.Errorf("excerpt of %d bytes", len(f.Excerpt))
		}
		for _, p := range planted {
			if strings.Contains(f.Excerpt, p) || strings.Contains(f.Rule, p) || strings.Contains(f.Detector, p) {
				t.Errorf("%s leaks %q: excerpt %q rule %q", f.Detector, p, f.Excerpt, f.Rule)
			}
		}
	}
}

func TestConfig(t *testing.T) {
	cfg := Default()
	cfg.Disabled = []string{"pii.email", "secret.github-pat", "secret.np.github.1"}
	cfg.AllowValues = []string{"support@example.com"}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := found(d, "x@example.com 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"); len(got) != 0 {
		t.Errorf("disabled detectors fired: %v", got)
	}
	cfg = Default()
	cfg.AllowValues = []string{"support@example.com"}
	cfg.AllowPatterns = []string{`.*@corp\.example`}
	d, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := found(d, "support@example.com ann@corp.example bob@example.org"); strings.Join(got, ",") != "pii.email=bob@example.org" {
		t.Errorf("allowlist: %v", got)
	}
	cfg = Default()
	cfg.SkipPrivateIPs = true
	d, _ = New(cfg)
	if got := found(d, "10.1.2.3 and 8.8.8.8"); strings.Join(got, ",") != "pii.ip=8.8.8.8" {
		t.Errorf("skip private: %v", got)
	}
	for _, bad := range []Config{
		{Disabled: []string{"pii.nope"}},
		{AllowPatterns: []string{"("}},
		{KeyNames: []string{"Token"}},
		{PhoneRegions: []string{"XX"}},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", bad)
		}
	}
	var off Config
	d, _ = New(off)
	if got := found(d, "x@example.com 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"); len(got) != 0 {
		t.Errorf("zero config fired: %v", got)
	}
}

func TestKey(t *testing.T) {
	d := newDefault(t)
	a, b := "card 4111-1111-1111-1111", "4111 1111 1111 1111 is it"
	fa, fb := d.Detect(nil, a, nil, guard.Prompt), d.Detect(nil, b, nil, guard.Prompt)
	if len(fa) != 1 || len(fb) != 1 || Key(fa[0], a) != Key(fb[0], b) || Key(fa[0], a) == "" {
		t.Errorf("keys differ: %+v %+v", fa, fb)
	}
}

func TestValidators(t *testing.T) {
	if !luhn([]byte("79927398713")) || luhn([]byte("79927398710")) {
		t.Error("luhn")
	}
	if !mod97([]byte("GB82WEST12345698765432")) || mod97([]byte("GB82WEST12345698765433")) {
		t.Error("mod97")
	}
	if maxMatchLen(mustSyntax(t, `ab[cd]{2,5}`)) != 7 || maxMatchLen(mustSyntax(t, `a+`)) != -1 {
		t.Error("maxMatchLen")
	}
}
