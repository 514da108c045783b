package notes

import _ "embed"

// AuthzModel is the demo's OpenFGA model: users, agents, the notes server
// and its tools ("tool:notes.<tool>"), prompts and resources
// ("resource:notes"), and models ("model:<name>"), with the relations the
// gateway and the LLM proxy check by default (can_invoke, can_get,
// can_read, can_use).
//
//go:embed authz.fga
var AuthzModel []byte

// AuthzTuples are the demo's relationships (the YAML list `subzero authz
// tuples write` reads): the user "demo" may use every notes tool and the
// demo model, and lets any agent they authorize act for them.
//
//go:embed tuples.yaml
var AuthzTuples []byte
