package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Checkpoint is a signed statement that a node's chain reached Seq with Hash.
// Sig is the base64url (unpadded) Ed25519 signature of [CheckpointMessage]
// made with the key whose ID is KeyID.
type Checkpoint struct {
	Node  string    `json:"node"`
	Seq   uint64    `json:"seq"`
	Hash  string    `json:"hash"`
	Time  time.Time `json:"time"`
	KeyID string    `json:"key_id"`
	Sig   string    `json:"sig"`
}

// CheckpointMessage is the byte string a checkpoint signs:
// "subzero-audit-checkpoint/v1\n" node "\n" seq "\n" hash.
func CheckpointMessage(node string, seq uint64, hash string) []byte {
	m := make([]byte, 0, 40+len(node)+20+len(hash))
	m = append(m, "subzero-audit-checkpoint/v1\n"...)
	m = append(m, node...)
	m = append(m, '\n')
	m = strconv.AppendUint(m, seq, 10)
	m = append(m, '\n')
	return append(m, hash...)
}

// KeyID names a public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Signer signs checkpoints for one node.
type Signer struct {
	key ed25519.PrivateKey
	id  string
}

// NewSigner returns a signer for key.
func NewSigner(key ed25519.PrivateKey) *Signer {
	return &Signer{key: key, id: KeyID(key.Public().(ed25519.PublicKey))}
}

// Public returns the signer's public key.
func (s *Signer) Public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// KeyID returns the ID of the signer's public key.
func (s *Signer) KeyID() string { return s.id }

// LogValue keeps the private key out of logs.
func (s *Signer) String() string { return "audit.Signer(" + s.id + ")" }

func (s *Signer) sign(node string, seq uint64, hash string, now time.Time) Checkpoint {
	sig := ed25519.Sign(s.key, CheckpointMessage(node, seq, hash))
	return Checkpoint{Node: node, Seq: seq, Hash: hash, Time: now.UTC(), KeyID: s.id,
		Sig: base64.RawURLEncoding.EncodeToString(sig)}
}

// verify checks c's signature with pub.
func (c *Checkpoint) verify(pub ed25519.PublicKey) bool {
	sig, err := base64.RawURLEncoding.DecodeString(c.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, CheckpointMessage(c.Node, c.Seq, c.Hash), sig)
}

func encodeCheckpoint(c Checkpoint) []byte {
	b, _ := json.Marshal(c) // cannot fail: strings, integers and a time
	return b
}

func decodeCheckpoint(data []byte) (Checkpoint, error) {
	var c Checkpoint
	err := decodeStrict(data, &c)
	return c, err
}

// LoadOrCreateKey reads the PEM (PKCS #8) Ed25519 private key at path. When
// the file does not exist and create is set, it generates a key and writes
// it with mode 0600.
func LoadOrCreateKey(path string, create bool) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		return createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("audit: signing key: %w", err)
	}
	return parsePrivateKey(path, data)
}

func parsePrivateKey(path string, data []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("audit: signing key %s: want a PEM \"PRIVATE KEY\" block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("audit: signing key %s: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("audit: signing key %s: want an Ed25519 key, got %T", path, k)
	}
	return ek, nil
}

func createKey(path string) (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("audit: generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("audit: encode signing key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: signing key: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: signing key: %w", err)
	}
	err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp, path) // fails if another process created it first
	}
	os.Remove(tmp)
	if err != nil {
		return nil, fmt.Errorf("audit: signing key: %w", err)
	}
	return key, nil
}

// EncodePublicKey returns pub as a PEM "PUBLIC KEY" block (PKIX).
func EncodePublicKey(pub ed25519.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub) // cannot fail for Ed25519
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ParsePublicKeys reads every PEM "PUBLIC KEY" block (Ed25519) in data.
func ParsePublicKeys(data []byte) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		if blk.Type != "PUBLIC KEY" {
			continue
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("audit: public key: %w", err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("audit: public key: want Ed25519, got %T", k)
		}
		keys = append(keys, ek)
	}
	if len(keys) == 0 {
		return nil, errors.New("audit: no PEM \"PUBLIC KEY\" block found")
	}
	return keys, nil
}
