package llm

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// apiError is an error as OpenAI's API returns it: the HTTP status and the
// body {"error": {"message", "type", "param", "code"}}. Messages never
// hold prompt or answer text, keys or tokens.
type apiError struct {
	Status  int    `json:"-"`
	Message string `json:"message"`
	Type    string `json:"type"`
	Param   any    `json:"param"` // string or nil
	Code    any    `json:"code"`  // string or nil
	// RetryAfter, when positive, is sent as Retry-After.
	RetryAfter time.Duration `json:"-"`
	// Reason is recorded in the audit event; Message when empty.
	Reason string `json:"-"`
	// Decision is the audit decision; "error" when empty.
	Decision string `json:"-"`
}

func (e *apiError) Error() string { return e.Message }

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// invalid is a 400 invalid_request_error.
func invalid(param, code, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error",
		Message: fmt.Sprintf(format, args...), Param: nullable(param), Code: nullable(code), Decision: "deny"}
}

func missing(param string) *apiError {
	return invalid(param, "missing_required_parameter", "Missing required parameter: '%s'.", param)
}

func wrongType(param, want string, raw json.RawMessage) *apiError {
	return invalid(param, "invalid_type", "Invalid type for '%s': expected %s, but got %s instead.", param, want, kind(raw))
}

// body returns the JSON body of e.
func (e *apiError) body() []byte {
	b, _ := json.Marshal(struct {
		Error *apiError `json:"error"`
	}{e}) // only strings and nils
	return b
}

// write sends e.
func (e *apiError) write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10))
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(e.body(), '\n'))
}
