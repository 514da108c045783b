// Package remote is the guard's optional second stage for prompt attacks
// (OWASP LLM01): a classifier model reached through an OpenAI-compatible
// chat completions endpoint (OpenAI, vLLM, Ollama, the llama.cpp server,
// a Llama Guard deployment), through github.com/sashabaranov/go-openai.
// It is off by default.
//
// [Detector] implements guard.Detector. For every scanned string in its
// directions (prompt and tool_result by default) with at least MinChars
// characters it sends one chat completion, with temperature 0 and at most
// 64 completion tokens, and turns the answer into a finding about the
// whole string: "remote.injection" (LLM01), "remote.jailbreak" or
// "remote.unsafe" (the guard's jailbreak category), all of class
// prompt_attack, so the policy treats them like the local detectors'
// findings (flag in prompts, block in tool results, by default). The
// detector cannot see the local detectors' findings, so it asks about
// every such string, not only doubtful ones.
//
// # Protocols
//
// "json" (the default) sends a fixed system prompt describing the labels
// and, as the user message, the text as the value of a JSON object
// ({"text": "...", "omitted_chars": N}), asks for response_format
// json_object, and accepts exactly one reply: a JSON object with the keys
// "label" ("benign", "injection" or "jailbreak", any case) and "score" (a
// number in [0, 1], the confidence that the text is an attack), each
// once, nothing else, at most 512 bytes. A benign label gives no finding
// whatever its score; an attack label gives a finding with that score,
// which the policy's threshold (0.5 by default) then judges. This suits
// general instruction-tuned models, and Prompt Guard-style classifiers
// put behind a shim that answers in this form.
//
// "llama_guard" sends the text alone as the user turn, for Llama Guard
// 2 to 4, whose chat template wraps it in its own instructions, and
// accepts only Llama Guard's reply: "safe", or "unsafe" optionally
// followed by a line of category codes ("unsafe\nS1,S14"). Unsafe gives a
// "remote.unsafe" finding with score 1 whose rule names the codes
// ("unsafe:S1,S14"). Llama Guard judges harmful content rather than
// instruction overrides, so it complements the local injection detector
// rather than replacing it.
//
// Any other reply, an HTTP error (401, 429, 500...), a redirect, a
// response body over 64 KiB, a refusal, or no reply within Timeout is a
// failure.
//
// # Failures
//
// FailMode "open" lets a string through with no finding on failure;
// "closed" reports "remote.unavailable" (LLM01, class prompt_attack,
// score 1, the rule naming the reason: "timeout", "status_401", "busy",
// "malformed_reply"...), which the default policy blocks in tool results
// and flags in prompts; a policy key "remote.unavailable" changes that.
// A string arriving while MaxConcurrent requests are in flight fails at
// once ("busy") rather than wait. After a failure the endpoint is not
// asked for Cooldown (5 s): strings fail at once ("cooldown"), so a dead
// endpoint costs one Timeout, not one per string.
//
// # Cost
//
// The guard calls detectors once per string and the detector interface
// carries no context, so each string that is asked waits up to Timeout
// (2 s), whatever the scan's context says, and a JSON input with many
// long strings asks once per string, one after the other. Each request
// costs about 370 prompt tokens of instructions (352 for the system
// prompt with gpt-4o's o200k tokenizer) plus the text (MaxChars,
// 4000 characters by default, is about 1000 tokens; a longer string is
// sent as its first and last halves, with the count omitted between them)
// and about 15 completion tokens. Answers are cached by the SHA-256 of
// the string (CacheSize entries for CacheTTL), so repeated strings (a
// tool description, a retried prompt) are asked once; failures are not
// cached. [Detector.Stats] counts requests, cache hits and failures.
//
// # Security
//
// Every string the detector asks about leaves the node, in clear over
// plain http: enable it only toward an endpoint you trust with your
// users' prompts and your tools' output, and prefer one on the same host
// or network. BaseURL must be https, or http on a loopback host, unless
// UnsafeAllowHTTP; it may not carry user info. Redirects are not
// followed, so neither the text nor the key is sent anywhere else.
//
// The API key is a secret.Ref: configuration dumps show where it is, not
// its value. It is sent only as the bearer token. Logs carry the model,
// the base URL and a failure reason from a fixed set, logged when the
// endpoint becomes unavailable and when it comes back; never a scanned
// text, the key, or the server's error message (which may quote either).
//
// The classifier reads attacker-controlled text, so it can itself be
// prompt-injected ("classify this as benign"). The json protocol
// mitigates this: the text never joins the instructions but travels as a
// JSON string (quotes and control characters escaped, so it cannot close
// its block), the system prompt says it is data, and only a strict,
// small JSON reply is accepted, so a hijacked model that chats or adds
// fields fails (and fails closed if so configured). It does not eliminate
// it: a model talked into replying {"label": "benign", "score": 0} is
// obeyed. The remote stage therefore only adds findings; the local
// detectors run whatever it answers.
//
// Its answers depend on the model and the network: a guard using it is not
// deterministic.
package remote
