// Package sensitive is the guard's detector of sensitive information
// (OWASP LLM02): personal data and secrets in prompts, answers and tool
// traffic.
//
// [Detector] reports, with [guard.ClassSensitive] and
// [guard.LLM02SensitiveInfo]:
//
//   - pii.email: addresses with a real top-level domain (public suffix
//     list, IDN included) and the "[at]"/"[dot]" obfuscations; not
//     version pins, handles, retina file names or SSH remotes.
//   - pii.phone: numbers with a "+" country code that libphonenumber finds
//     valid, grouped national numbers valid in one of the configured
//     regions, and 7 to 15 digits right after a phone word; not dates,
//     decimals, paths, amounts or ISBNs.
//   - pii.card: 12 to 19 digits (spaces or dashes allowed) passing Luhn in
//     a network's IIN range with one of its lengths, or after a card word.
//   - pii.ssn: AAA-GG-SSSS, or nine digits after an SSN word, outside the
//     ranges the SSA never issues.
//   - pii.iban: country code, check digits and the country's length, mod
//     97 equal to 1.
//   - pii.ip: IPv4 and IPv6 host addresses, not after version words, not
//     loopback, unspecified, broadcast, multicast or netmasks. Private
//     addresses are reported by default (they map internal networks);
//     Config.SkipPrivateIPs leaves them out.
//   - pii.driver_license: a licence-shaped token after a driver's-licence
//     phrase (US formats vary by state: the phrase is required).
//   - pii.address: street addresses in English and continental orders,
//     post office boxes and US military addresses, built from USPS
//     Publication 28 street suffixes and European and Latin American
//     street types.
//   - secret.<gitleaks rule id>: gitleaks' default rule set (v8.30.1,
//     MIT, embedded from gitleaks.toml with LICENSE.gitleaks), with its
//     keywords, secret groups, entropy floors and allowlists. Rules bound
//     to file paths do not apply to scanned strings. gitleaks' "jwt" and
//     "private-key" rules are replaced by secret.jwt and
//     secret.private-key.
//   - secret.np.<rule>: Nosey Parker's rule set (Apache-2.0, embedded
//     unchanged from rules/noseyparker with its LICENSE, NOTICE and
//     provenance), vendor token formats gitleaks lacks (Tavily, Twitch,
//     TrueNAS, Doppler, Dependency-Track, NuGet, Salesforce, Azure
//     DevOps PATs, Telegram, Teams webhooks ...), connection strings,
//     netrc, PsExec and PowerCLI command lines, password hashes and
//     prose ("the password is '...'"). Patterns are Hyperscan syntax,
//     compiled to RE2 after extended-mode whitespace and comments are
//     removed; the one RE2 cannot compile is listed in a test. A rule's
//     secret is its last capture group (the password of a connection
//     URI); identifiers (bucket names, client IDs) score 0.5.
//   - secret.private-key (PEM armor, also cut off before its END line,
//     and base64-encoded PEM), secret.jwt (header decodes to JSON with
//     "alg"), secret.url-credentials (scheme://user:password@host),
//     secret.password-hash (bcrypt, argon2, crypt $1$/$5$/$6$, yescrypt,
//     scrypt, Cisco 8/9, PBKDF2, Kerberos AS-REP/TGS), secret.authorization-
//     header (Bearer and Basic), and secret.keyword-assignment: values of
//     secret-like keys (Config.KeyNames) in code, configuration, command
//     lines and prose; passwords whatever they look like unless they are
//     placeholders, other keys only when the value looks random (Shannon
//     entropy for its length and alphabet) or is a UUID.
//
// No secret rule reports a placeholder: a template or variable
// reference ("${SECRET}", "<token>"), a documentation value
// ("YOUR_API_KEY", "xxxx…") or a value made mostly of one repeated
// character.
//
// Documented example keys are treated as gitleaks treats them: the AWS
// example access key ID AKIAIOSFODNN7EXAMPLE is not reported (the rule's
// allowlist), while a random-looking value assigned to a secret-like key
// is, even if it ends in EXAMPLEKEY. A bare UUID is not a secret; a UUID
// assigned to a secret-like key other than plain "key" is.
//
// # Spans and placeholders
//
// Values are matched on the original text, never on the normalized one,
// so that checksums hold and spans are byte offsets in the scanned string.
// Overlapping candidates keep the strongest kind (a secret over a card
// over an IBAN over an SSN over an e-mail address ...). Each finding
// carries a typed placeholder numbered per kind by order of first
// appearance in the string: the first distinct e-mail address is
// "[EMAIL_1]", and the same value (compared as [Key] does) gets the same
// number. Numbering is per Detect call; [Key] lets the scanner renumber
// consistently across the strings of one JSON document.
//
// # Performance
//
// One keyword automaton (Aho-Corasick), run once over the lower-cased
// text, gates every secret detector and finds the street words of
// addresses: a gitleaks rule's regex runs only in windows
// around its keywords, and rules of gitleaks' keyword-assignment family
// only where an operator and a value follow the keyword. A Nosey Parker
// rule's keywords are derived from its pattern: literals one of which
// starts every match at a fixed offset (the rule then runs anchored at
// each hit, and only where the run of token characters its pattern
// requires follows), else literals every match contains (the rule runs
// in windows around them). Before an anchored regex runs, a prefilter
// runs the rule's program over the first 32 characters as a set of
// states (assertions taken as holding) and rejects where no match can
// start; a regex with repetitions of more than 64 runs, on a text
// shorter than that bound, as the same regex with the bound dropped,
// whose smaller program the regexp package runs with its backtracker
// instead of its NFA. An anchored run reads at most its longest match,
// or 1 KB for unbounded patterns, and at most 8 bytes per byte of text
// in all. PII scanners start from byte scans ('@', digit runs found
// eight bytes at a time, letter pairs before check digits, street
// words); libphonenumber parses a national number for a region only
// where the region's metadata (prefixes, lengths, general pattern)
// allows it to be valid. Regexes are Go RE2: linear time.
//
// # Security
//
// A finding's Excerpt shows the context with every reported value in
// view replaced by its placeholder, and its Rule names the rule, never
// the value. Detectors keep no reference to the scanned text. The
// detector finds values written plainly; encoded values are the
// normalizer's decoded payloads' business.
package sensitive
