package rebac

// This file fixes the engine's public surface; the decision point
// (delegation), the broker's admin API and the CLI are written against it.

import (
	"context"
	"time"

	"github.com/subzero-gateway/subzero/delegation/rebac/tuplestore"
)

// TupleStore is where the engine keeps tuples, models and the change log:
// store/bolt and store/redis implement it.
type TupleStore = tuplestore.Store

// Tuple is one relationship: User has Relation on Object, optionally under
// a condition. User is "type:id", "type:*" or "type:id#relation"; Object
// is "type:id".
type Tuple struct {
	User      string          `json:"user" yaml:"user"`
	Relation  string          `json:"relation" yaml:"relation"`
	Object    string          `json:"object" yaml:"object"`
	Condition *TupleCondition `json:"condition,omitempty" yaml:"condition,omitempty"`
}

// TupleCondition names a condition of the model and binds some of its
// parameters at write time.
type TupleCondition struct {
	Name    string         `json:"name" yaml:"name"`
	Context map[string]any `json:"context,omitempty" yaml:"context,omitempty"`
}

// ErrorCode classifies engine errors; the values are OpenFGA's, so that
// the conformance matrix's expected codes compare directly.
type ErrorCode int

// The error codes.
const (
	CodeValidation       ErrorCode = 2000 // bad input: missing condition parameter, wrong type, bad model
	CodeTooComplex       ErrorCode = 2002 // depth, fan-out or cycle bound reached
	CodeTypeNotFound     ErrorCode = 2021
	CodeRelationNotFound ErrorCode = 2022
	CodeInvalidTuple     ErrorCode = 2027
	CodeConflict         ErrorCode = 2017 // tuple already exists / does not exist (write)
	CodeStale            ErrorCode = 4000 // AtLeast revision not reached in time
	CodeNoModel          ErrorCode = 2020 // no authorization model written yet
)

// Error is an engine error with a code and a message that names the
// offending field, line or tuple; it never holds condition context values.
type Error struct {
	Code  ErrorCode
	Field string // e.g. "tuples[3].user", "model:12:5", "" when none
	Msg   string
	Err   error // cause, for errors.Is; not shown to clients
}

// Options bound the engine.
type Options struct {
	MaxDepth      int           `yaml:"max_depth"`        // resolution depth; default 25
	MaxFanOut     int           `yaml:"max_fanout"`       // subjects expanded per node; default 1000 (ListObjects/ListUsers excluded)
	MaxListResult int           `yaml:"max_list_results"` // most results ListObjects/ListUsers return; default 1000
	MaxBatch      int           `yaml:"max_batch"`        // most checks in one BatchCheck; default 100
	SyncWait      time.Duration `yaml:"sync_wait"`        // how long Check waits for AtLeast; default 2s
}

// CheckRequest asks whether User has Relation on Object.
type CheckRequest struct {
	User             string
	Relation         string
	Object           string
	Context          map[string]any // request context for conditions
	ContextualTuples []Tuple        // extra tuples for this request only
	AtLeast          string         // revision token; "" = whatever the index holds
}

// CheckResult answers a CheckRequest. Path, when allowed, lists the steps
// that granted it, outermost first, e.g. ["repo:x#reader", "repo:x#writer
// (computed)", "team:y#member (from owner)", "user:anne"].
type CheckResult struct {
	Allowed  bool
	Path     []string
	Revision string // the revision token the answer was computed at
}

// ExpandRequest asks for the userset tree of Object#Relation.
type ExpandRequest struct {
	Object           string
	Relation         string
	ContextualTuples []Tuple
}

// Tree is an Expand result node: a leaf of users, or an operation over
// children.
type Tree struct {
	Name     string   `json:"name"`               // "document:1#viewer"
	Op       string   `json:"op,omitempty"`       // "union", "intersection", "exclusion", "computed", "tupleset"
	Users    []string `json:"users,omitempty"`    // leaf: direct users, usersets and wildcards
	Children []*Tree  `json:"children,omitempty"` // op's operands, in model order
}

// ListObjectsRequest asks which objects of Type User has Relation on.
type ListObjectsRequest struct {
	User             string
	Relation         string
	Type             string
	Context          map[string]any
	ContextualTuples []Tuple
	AtLeast          string
}

// ListUsersRequest asks which users of the filter types (and usersets
// "type#relation") have Relation on Object.
type ListUsersRequest struct {
	Object           string
	Relation         string
	Filters          []string // "user", "group#member"
	Context          map[string]any
	ContextualTuples []Tuple
	AtLeast          string
}

// ModelInfo describes the current model.
type ModelInfo struct {
	ID       string `json:"id"`
	DSL      string `json:"dsl"`
	Revision string `json:"revision"`
}

// Interface is the engine's full surface, for documentation: *Engine
// implements it. Callers declare the smaller interfaces they use.
type Interface interface {
	Check(ctx context.Context, req CheckRequest) (CheckResult, error)
	BatchCheck(ctx context.Context, reqs []CheckRequest) ([]CheckResult, []error, error)
	Expand(ctx context.Context, req ExpandRequest) (*Tree, error)
	ListObjects(ctx context.Context, req ListObjectsRequest) ([]string, error)
	ListUsers(ctx context.Context, req ListUsersRequest) ([]string, error)
	WriteModel(ctx context.Context, src []byte) (ModelInfo, error)
	Model() (ModelInfo, error)
	Write(ctx context.Context, writes, deletes []Tuple) (revision string, err error)
	Read(ctx context.Context, filter Tuple, limit int) ([]Tuple, error)
	Sync(ctx context.Context) error
	Generation() uint64
}
