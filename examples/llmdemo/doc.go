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
//	tool call reversed: <text>
//	                call the tool "lookup" with <text> reversed as its
//	                arguments (streamed in chunks like content)
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
// With "logprobs": true, answers carry logprobs with one token per word
// (per chunk's words when streamed). Usage counts words, not tokens; [Options.NoUsage] leaves usage out of
// the answers so that a proxy must compute it. When [Options.APIKey] is
// set, requests without "Authorization: Bearer <APIKey>" get 401.
//
// The command examples/llmdemo/cmd/llmdemo serves it on an address.
package llmdemo
