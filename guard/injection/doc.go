// Package injection detects prompt injection (OWASP LLM01) and jailbreak
// attempts in prompts, tool results and other text an agent reads.
//
// [Detector] implements guard.Detector. It reads the normalized text the
// scanner computes once per string (guard.Normalized: NFKC, lower case,
// confusables folded to their ASCII skeleton, invisible characters
// removed, leetspeak and letter spacing folded) and every payload the
// normalizer decoded from base64, hex, URL encoding or rot13.
//
// # Model
//
// Aho-Corasick automata (guard/internal/termscan) find every term of the
// lexicon (lexicon.go): one for the ASCII terms over every text, and one
// per script over the texts written in it. Terms are grouped into
// concepts, the roles a word plays in an attack: a verb telling the model
// to disregard something, a noun naming its instructions, a request to
// reveal, a chat-template token, a persona name. The lexicon covers
// English, Spanish, German, French, Portuguese, Italian, Russian,
// Chinese and Japanese fully, and Korean, Arabic, Hindi, Bengali, Thai,
// Turkish, Vietnamese, Indonesian, Filipino, Greek, Dutch, Polish and
// Ukrainian for the main families. Terms in scripts written with spaces
// match whole words (or word stems); Han, kana, Hangul, Thai and other
// scripts match anywhere.
//
// Rules (rules.go) turn concepts into evidence for signal families: one
// concept alone ("<|im_start|>", "developer mode"), or two concepts within
// a few bytes of each other, often within one sentence ("ignore" near
// "previous instructions" in either order, so that "前の指示を無視して"
// reads like "ignore the previous instructions"). Each rule has a weight
// in log-odds. A family's evidence is the weight of its strongest rule
// that fired, raised by 20% for each further occurrence (at most four).
// The two scores are logistic:
//
//	score = 1 / (1 + exp(-(bias + Σ_f m_f · evidence_f)))
//
// with bias -3 and m_f the share of family f that counts towards the
// injection or the jailbreak score (familyInfo). The weights were set by
// hand from what each phrase means and checked on the development set,
// tuned on four fifths of it and reported on the fifth held out. A finding
// is reported when its score reaches the threshold (0.5 by default): one
// strong family (an override, a system-prompt request, a fake delimiter)
// is enough, weak ones (role-play set-up, fictional framing, mentions of
// ChatGPT) only count together. In tool results and tool descriptions
// the indirect-injection, exfiltration and tool-call families weigh 1.3
// times as much.
//
// # Second stage
//
// Texts where some family fired but the score stayed below the threshold
// go to an embedded logistic-regression classifier over hashed byte
// 4-grams, words and word pairs of the folded text (classifier.go,
// model.bin, 512 KiB). It reports a text when its probability reaches
// Config.ModelThreshold (0.85); the finding's Rule then starts with
// "classifier". It was trained on the development set less a held-out
// fifth (testdata/TRAINING.md) by [Train], which the command
//
//	go run ./guard/injection/internal/train
//
// runs from the repository root to write model.bin and print the 5-fold
// cross-validated figures. Training is deterministic, and a test retrains
// on the checked-in data and compares the result with model.bin. Its
// training data adds hand-written benign questions in every language of
// the lexicon (testdata/benign_multilingual.jsonl), since the development
// set's non-English rows are all attacks. It still only sees texts the rules
// found suspicious: asked about every text it adds about two points of
// recall in cross-validation, for half a point of false positives and a
// model pass (tens of µs per 4 KiB) on every clean text.
//
// # Planted tasks
//
// A question or order planted in an e-mail or a page for whoever reads
// it ("Analyze the trend of electric car sales.") has no attack phrase;
// plant.go reads its place instead: a text with e-mail furniture
// (headers, salutation, sign-off, footer), a sentence after the document
// has begun that opens like a request to an assistant, is not about the
// document ("summarize this email"), is not addressed to a correspondent
// (you, we, us) and shares almost no content words with the rest. That
// is the planted_task family, strong enough alone.
//
// A finding's Rule lists the families that fired, strongest first
// ("override+system_prompt"); Start and End are the strongest evidence in
// the original text, or the encoded run it was decoded from.
//
// # Security
//
// Detection is lexical: it catches the phrasing attacks share, in the
// languages and obfuscations the normalizer folds, and misses attacks
// that look like ordinary requests (a question planted in an e-mail, a
// polite request for a password, persuasion). Those need the text's
// context; the classifier recovers some of them, on data like its
// training data.
//
// Work per string is linear in its length: one pass of each automaton
// that applies over at most 16 KiB at a time, at most 64 occurrences kept per concept and
// payload, and rules that look at pairs with a moving window. Detect
// never retains its arguments.
package injection
