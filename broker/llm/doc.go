// Package llm is Subzero's OpenAI-compatible model proxy: an
// http.Handler ([Proxy]) serving POST /v1/chat/completions (plain and SSE
// streaming), POST /v1/embeddings and GET /v1/models, in front of
// configured upstreams (OpenAI, Azure OpenAI, and OpenAI-compatible
// servers such as vLLM or Ollama).
//
// Each call takes the pipeline's steps in order: the caller (set in the
// request context by the node's authentication middleware,
// [WithCaller]), request validation with OpenAI's error bodies, the
// budget ([Limiter]), the model's authorization (the API key's model
// scope, then the [Authorizer]), the input guard, the upstream call with
// fallback, the output guard, and one [Event] for the [Recorder] on every
// exit.
//
// # Routing
//
// A model name is an alias (tried target by target), a model that one or
// more upstreams list (tried in configuration order), or
// "upstream/model". The next target is tried after a 5xx, a timeout, a
// transport error or an open circuit breaker (sony/gobreaker, one per
// upstream) — never once an answer has started. Each upstream has a
// timeout (to the end of a plain answer, to the headers of a stream) and
// a stream idle timeout.
//
// # Fidelity
//
// Requests are forwarded as the client sent them: the JSON object keeps
// its members and their order, and only the members the proxy must
// change are re-encoded (the model name of the target, redacted or
// canaried messages, stream_options.include_usage). Fields the proxy does
// not know pass through untouched. For that reason the upstream call is a
// plain net/http request rather than a go-openai client call, whose typed
// requests would drop unknown fields; go-openai's conventions are kept
// (base URL with /v1, Bearer auth; Azure's deployment path, api-version
// and api-key header) and its types read usage and errors. Answers are
// relayed the same way: a non-streamed answer is re-encoded only when the
// guard redacts it or usage must be added; a streamed chunk only when
// its content is held back or redacted, or its usage stripped.
//
// # Guard
//
// Input: the messages (or the embeddings input) are scanned as one JSON
// document in the prompt direction (route "v1/chat/completions" or
// "v1/embeddings", the caller's client); a block answers 400
// content_policy_violation naming the finding classes, a redaction
// replaces the values before the request leaves. With guard.canary a
// fresh canary token ([output.NewCanary]) is added to the first system
// message (or as one); with guard.system_prompt_leak the system prompts
// are registered with the leak detector for the time of the call
// (reference-counted across concurrent calls). Inline data in content
// parts (an image_url's data URL, input_audio's data, a file's
// file_data) is left out of the scan and forwarded unchanged: it is
// base64 of images, sounds and documents, noise to text detectors, and
// would otherwise take a photo past the guard's size limit.
//
// Output: a plain answer's choices are scanned in the completion
// direction; a block answers 400 content_policy_violation, a redaction
// replaces the values. A streamed answer is scanned incrementally: the
// last guard.hold_back_bytes of each choice's content (its refusal, its
// tool calls' and legacy function_call's arguments, which must be
// strings) are held back and
// every release is preceded by a scan of the held text and the recent
// released context, so a finding split across chunks (a canary in three
// deltas, an e-mail address in two) is caught before its last part is
// sent. Chunks without content (the first chunk's role, tool calls,
// finish reasons) are sent at once, so the first chunk is not delayed. A
// block ends the stream with an error event,
// data: {"error": {...}}, which go-openai's stream reader and the openai
// npm package both raise as an API error, and no [DONE].
//
// The release point never falls inside a word (a run without spaces,
// quotes or brackets), so an address or a key being written is held until
// it is whole, however long the hold-back; a word past four times the
// hold-back is released all the same, redacted where recognized.
// Logprobs, whose tokens spell the answer, are dropped (set to null) from
// streamed chunks when the output guard runs, and from a plain answer the
// guard redacts.
//
// A stream that ends without [DONE] after every choice's finish reason
// ends normally (some servers omit it); one that ends before is an error
// event. Every byte from the upstream, comments (heartbeats) included,
// restarts the stream idle timeout.
//
// # Tokens
//
// Prompt tokens are counted before the call (exactly, with the guard's
// tiktoken-compatible tokenizer, for texts up to 1 KiB; estimated for
// longer ones; an image part as 765 tokens, 85 at low detail) and
// charged with max_tokens for each of n choices to the budget (a request
// without max_tokens is sent with the budget's, when it has one); after the call
// the ticket is settled with the upstream's usage, or with a count of the
// answer when the upstream gives none, which is then added to the answer
// (or as the last chunk of a stream whose client asked for usage). The
// proxy asks a streaming upstream for usage (stream_options.include_usage)
// and strips it from the client's stream unless the client asked too.
//
// # Security
//
// Provider keys come from secret references only; they are sent to their
// upstream alone, never logged, never in errors, and an upstream's 401 or
// 403 (whose message may quote part of the key) reaches the client as a
// 502. Nothing of the client's request but its body goes upstream: not
// its Authorization header, not its other headers. Redirects are not
// followed. Request bodies, messages, upstream answers and event-stream
// lines are bounded (max_body_bytes, max_messages, max_response_bytes,
// max_sse_line_bytes); a body naming a member twice is refused, so that
// the guard and the upstream cannot read different values. Error messages
// name the finding classes, never the content, and events hold a SHA-256
// of the content, not the content, and the guard's findings without
// their excerpts.
package llm
