// Package storetest is the conformance suite every storage backend passes:
// one suite per interface a domain package declares, run by [Run].
package storetest

import (
	"testing"

	"github.com/subzero-gateway/subzero/audit"
	"github.com/subzero-gateway/subzero/broker/dpop"
	"github.com/subzero-gateway/subzero/broker/oauth"
	"github.com/subzero-gateway/subzero/broker/token"
	"github.com/subzero-gateway/subzero/delegation/rebac/tuplestore"
)

// Backend is what a storage package hands the suite: its implementations of
// the domain interfaces and raw access for tamper tests.
type Backend struct {
	Audit  audit.Store
	Tamper Tamperer
	Replay dpop.ReplayStore

	SigningKeys token.KeyStore
	OAuth       oauth.Store
	Tuples      tuplestore.Store
}

// Tamperer edits stored audit records directly, behind the store's back, as
// an attacker with write access to the database would.
type Tamperer interface {
	// Get returns the event record stored at seq, or nil.
	Get(t *testing.T, node string, seq uint64) []byte
	// Put stores data at seq, replacing what is there.
	Put(t *testing.T, node string, seq uint64, data []byte)
	// Delete removes the event record at seq.
	Delete(t *testing.T, node string, seq uint64)
	// GetCheckpoint and PutCheckpoint read and replace the checkpoint
	// record at seq.
	GetCheckpoint(t *testing.T, node string, seq uint64) []byte
	PutCheckpoint(t *testing.T, node string, seq uint64, data []byte)
}

// Run runs every suite against fresh backends from open. Each call to open
// must return an empty, isolated backend that is closed by t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) Backend) {
	t.Run("AuditStore", func(t *testing.T) { AuditStore(t, func(t *testing.T) audit.Store { return open(t).Audit }) })
	t.Run("AuditLog", func(t *testing.T) { AuditLog(t, func(t *testing.T) audit.Store { return open(t).Audit }) })
	t.Run("AuditTamper", func(t *testing.T) { AuditTamper(t, open) })
	t.Run("Replay", func(t *testing.T) { Replay(t, func(t *testing.T) dpop.ReplayStore { return open(t).Replay }) })
	t.Run("SigningKeys", func(t *testing.T) { SigningKeys(t, func(t *testing.T) token.KeyStore { return open(t).SigningKeys }) })
	t.Run("OAuth", func(t *testing.T) { OAuthStore(t, func(t *testing.T) oauth.Store { return open(t).OAuth }) })
	t.Run("Tuples", func(t *testing.T) { Tuples(t, func(t *testing.T) tuplestore.Store { return open(t).Tuples }) })
}
