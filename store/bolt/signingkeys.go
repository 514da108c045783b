package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/subzero-gateway/subzero/broker/token"
)

// Layout: bucket "signing_keys" maps a key's generation, 8 bytes
// big-endian, to its record as JSON; the bucket's sequence is the highest
// generation ever added.
var bucketSigningKeys = []byte("signing_keys")

// SigningKeyStore implements [token.KeyStore] in a bbolt file. Each
// AddKey is one fsynced transaction that checks the generation and writes
// the record.
type SigningKeyStore struct {
	db *bbolt.DB
}

var _ token.KeyStore = (*SigningKeyStore)(nil)

// SigningKeys returns the token signing key store kept in this file.
func (d *DB) SigningKeys() *SigningKeyStore { return &SigningKeyStore{db: d.db} }

// keyRecord is the stored form of a token.KeyRecord.
type keyRecord struct {
	ID         string    `json:"id"`
	Generation uint64    `json:"generation"`
	Data       []byte    `json:"data"`
	Created    time.Time `json:"created"`
	Activate   time.Time `json:"activate"`
}

// Keys implements [token.KeyStore].
func (s *SigningKeyStore) Keys(ctx context.Context) ([]token.KeyRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []token.KeyRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSigningKeys)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var r keyRecord
			if err := json.Unmarshal(v, &r); err != nil { // copies v, which is valid only in the transaction
				return fmt.Errorf("record %x: %w", k, err)
			}
			out = append(out, token.KeyRecord(r))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: signing keys: %w", err)
	}
	return out, nil
}

// AddKey implements [token.KeyStore].
func (s *SigningKeyStore) AddKey(ctx context.Context, rec token.KeyRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if rec.ID == "" {
		return errors.New("bolt: signing keys: empty key ID")
	}
	v, err := json.Marshal(keyRecord(rec))
	if err != nil {
		return fmt.Errorf("bolt: signing keys: %w", err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketSigningKeys)
		if err != nil {
			return err
		}
		if rec.Generation != b.Sequence()+1 {
			return token.ErrConflict
		}
		if _, ok, err := findKey(b, rec.ID); err != nil || ok {
			return errors.Join(err, token.ErrConflict)
		}
		if err := b.Put(binary.BigEndian.AppendUint64(nil, rec.Generation), v); err != nil {
			return err
		}
		return b.SetSequence(rec.Generation)
	})
	if errors.Is(err, token.ErrConflict) {
		return token.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("bolt: signing keys: %w", err)
	}
	return nil
}

// DeleteKey implements [token.KeyStore].
func (s *SigningKeyStore) DeleteKey(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSigningKeys)
		if b == nil {
			return nil
		}
		k, ok, err := findKey(b, id)
		if err != nil || !ok {
			return err
		}
		return b.Delete(k)
	})
	if err != nil {
		return fmt.Errorf("bolt: signing keys: %w", err)
	}
	return nil
}

// findKey returns the bucket key of the record with the given ID. There
// are few keys, so a scan is cheap.
func findKey(b *bbolt.Bucket, id string) (k []byte, ok bool, err error) {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var r struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, false, fmt.Errorf("record %x: %w", k, err)
		}
		if r.ID == id {
			return k, true, nil
		}
	}
	return nil, false, nil
}
