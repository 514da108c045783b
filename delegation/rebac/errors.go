package rebac

import (
	"errors"
	"fmt"
)

// Error formats the error as "rebac: <field>: <msg>", or "rebac: <msg>"
// when Field is empty. The cause (Err) is not part of the text.
func (e *Error) Error() string {
	if e.Field == "" {
		return "rebac: " + e.Msg
	}
	return "rebac: " + e.Field + ": " + e.Msg
}

// Unwrap returns the cause, for [errors.Is] and [errors.As].
func (e *Error) Unwrap() error { return e.Err }

// Causes carried in [Error.Err]; check them with [errors.Is].
var (
	// ErrMissingParameter: a condition was evaluated without a value for
	// one of its parameters in either the tuple's or the request's context.
	ErrMissingParameter = errors.New("rebac: missing condition parameter")
	// ErrConditionEval: a condition's expression failed at run time
	// (overflow, a malformed in_cidr prefix, the cost limit, ...). The
	// CEL error itself is dropped because it may quote context values.
	ErrConditionEval = errors.New("rebac: condition evaluation failed")
	// ErrConditionNotAllowed: a tuple names a condition that the model
	// defines, but no type restriction of the tuple's user facet (plain
	// type, wildcard or userset) allows that condition. OpenFGA reports
	// this as 2027 from Check and as 2000 from ListObjects and ListUsers;
	// ValidateTuple reports 2000.
	ErrConditionNotAllowed = errors.New("rebac: condition not allowed by the type restriction")
)

func newError(code ErrorCode, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// invalidTuple wraps a tuple validation error as CodeInvalidTuple, as
// OpenFGA's write validation does; the original error stays reachable
// through Err, so callers can still tell an undefined type (2021) from an
// undefined relation (2022).
func invalidTuple(e *Error) *Error {
	if e.Code == CodeInvalidTuple {
		return e
	}
	return &Error{Code: CodeInvalidTuple, Field: e.Field, Msg: e.Msg, Err: e}
}

// asError returns err as an *Error; the package's own functions return
// nothing else, but a stray error still becomes CodeValidation rather
// than a panic.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeValidation, Msg: err.Error(), Err: err}
}
