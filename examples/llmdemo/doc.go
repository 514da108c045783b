// Package llmdemo is a small OpenAI-compatible model server for tests and
// demos: deterministic, on loopback, with no model behind it. It serves
//
//	POST /v1/chat/completions   non-streaming and SSE streaming
//	POST /v1/embeddings         8-dimensional vectors derived from a hash of the input
//	GET  /v1/models             the configured models
//
// The answer to a chat request is chosen by the last user message:
//
//	say: <text>     answer exactly <text> (planted PII, injection text, ...)
//	say reversed: <text>
//	                answer <text> reversed, rune by rune: plants in the
//	                answer what the proxy's input guard would have
//	                redacted or blocked in the prompt
//	tool call reversed: <a> || <b>
//	                call the tool "lookup" with <a> reversed as its
//	                arguments, and in parallel with <b>, ... (streamed in
//	                chunks like content, one call after the other)
//	say each: <a> || <b>
//	                with n choices: choice i answers the i-th text
//	                (round robin); streamed choices are interleaved chunk
//	                by chunk
//	refuse: <text>  answer with <text> as the refusal, no content
//	stream no-done: <text>
//	                stream <text> and the finish reason, without [DONE]
//	stream error: <text>
//	                stream <text>, then an error event
//	stream crlf: <text>
//	                stream <text> with CRLF line ends
//	stream think <duration>: <text>
//	                send SSE comments (heartbeats) for <duration>, then
//	                stream <text>
//	reversed: <directive reversed>
//	                any of these written backwards, so that what an input
//	                guard would redact reaches the server
//	leak canary     answer with the canary token found in the system
//	                prompt ("The reference is <canary>."), or "no canary"
//	fail            answer 500 with an OpenAI-style server_error
//	hang            never answer; wait for the client to go away
//	hang after: <text>
//	                stream <text>, then hang until the client goes away
//	anything else   "Hello from llmdemo. You sent N messages."
//
// A streamed answer is cut into chunks of [Options.ChunkBytes] bytes of
// content (default 4), so that a token planted in an answer arrives split
// across several chunks. The first chunk carries the role and empty
// content, as OpenAI's do; with stream_options.include_usage the last
// chunk carries the usage and no choices, and the others "usage": null.
//
// The server can be told to fail every request ([Server.SetMode] with
// ModeFail, ModeHang) for fallback and timeout tests. It records the body
// and the Authorization header of the last request it received
// ([Server.LastRequest], [Server.LastAuthorization]), so that a test can
// assert what reached the upstream, and it reports every request whose
// client went away before the answer was complete on
// [Server.Cancellations].
//
// "n" (up to 16) asks for several choices. Usage comes with OpenAI's
// prompt_tokens_details and completion_tokens_details. Embeddings take a
// string, strings, token IDs or arrays of them, and "encoding_format":
// "base64" (little-endian float32s, as OpenAI's); [Embedding] returns
// an input's vector.
//
// With "logprobs": true, answers carry logprobs with one token per word
// (per chunk's words when streamed). Usage counts words, not tokens; [Options.NoUsage] leaves usage out of
// the answers so that a proxy must compute it. When [Options.APIKey] is
// set, requests without "Authorization: Bearer <APIKey>" get 401.
//
// The command examples/llmdemo/cmd/llmdemo serves it on an address.
package llmdemo
