package notes

import _ "embed"

// AuthzModel is the demo's OpenFGA model: users, agents, the notes server
// and its tools ("tool:notes.<tool>"), prompts and resources
// ("resource:notes"), with the relations the gateway checks by default
// (can_invoke, can_get, can_read).
//
//go:embed authz.fga
var AuthzModel []byte

// AuthzTuples are the demo's relationships (the YAML list `subzero authz
// tuples write` reads): the user "demo" may use every notes tool, and
// lets any agent they authorize act for them.
//
//go:embed tuples.yaml
var AuthzTuples []byte
