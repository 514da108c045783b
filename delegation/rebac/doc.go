// Package rebac is Subzero's relationship-based authorization engine: an
// in-process implementation of OpenFGA's model (schema 1.1), answering
// Check, ListObjects, ListUsers and Expand over tuples kept in a
// [TupleStore].
//
// A model is written in the OpenFGA DSL or JSON and compiled by
// [ParseModel]: parsed with OpenFGA's own language package, type-checked
// with OpenFGA's rules (see [Model]), and put in a canonical form whose
// DSL and JSON ([Model.DSL], [Model.JSON]) describe the same model. The
// store keeps the JSON; [LoadModel] reads it back. Conditions are CEL
// expressions over typed parameters, compiled once per model, with
// OpenFGA's ipaddress type and its in_cidr member function. Tuples are
// checked against the model by [Model.ValidateTuple] before they are
// written or used as contextual tuples; [ParseTuples] reads tuple files.
//
// # Security
//
//   - A condition never decides by default: a parameter without a value
//     in the tuple's or the request's context, a value of the wrong type,
//     a run-time error and a cost over [ConditionCostLimit] are errors,
//     which callers treat as a denial. On a key present in both contexts
//     the tuple's value wins, so a request cannot override what was
//     written with the tuple.
//   - Condition context values never appear in error messages: errors
//     name the condition and parameter and the expected type, and CEL's
//     run-time errors, which can quote values, are replaced by
//     [ErrConditionEval].
//   - Inputs are bounded: model size, types, relations, rewrite size and
//     depth, conditions, parameters and expression length (the Max*
//     constants), tuple field lengths, tuple files, and CEL evaluation
//     cost. Models whose relations can never be satisfied or that loop
//     through computed relations are rejected, as OpenFGA rejects them.
//   - Type restrictions are enforced on every tuple, including the
//     condition bound to each user facet: a tuple cannot borrow the
//     condition of another restriction, and a wildcard or userset is only
//     accepted where the model allows exactly that.
package rebac
