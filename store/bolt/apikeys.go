package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/subzero-gateway/subzero/broker/apikey"
)

// APIKeyStore implements [apikey.Store] in the bucket
//
//	api_keys  ID -> record
//
// Every Insert and Replace is one fsynced transaction; bbolt runs them one
// at a time, which makes the check and the write atomic.
type APIKeyStore struct{ db *bbolt.DB }

var _ apikey.Store = (*APIKeyStore)(nil)

var bucketAPIKeys = []byte("api_keys")

// maxAPIKeyID bounds IDs.
const maxAPIKeyID = 128

// APIKeys returns the API key store kept in this file.
func (d *DB) APIKeys() *APIKeyStore { return &APIKeyStore{db: d.db} }

var errAPIKeyArgs = errors.New("empty or oversized ID or record")

func checkAPIKey(id string, rec []byte) error {
	if id == "" || len(id) > maxAPIKeyID || len(rec) > apikey.MaxRecordBytes {
		return errAPIKeyArgs
	}
	return nil
}

func apiKeyWrap(op string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("bolt: api keys: %s: %w", op, err)
}

// put writes rec under id in one transaction when the presence of a
// record there is want.
func (s *APIKeyStore) put(ctx context.Context, op, id string, rec []byte, want bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := checkAPIKey(id, rec); err != nil {
		return false, apiKeyWrap(op, err)
	}
	stored := false
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketAPIKeys)
		if err != nil {
			return err
		}
		if (b.Get([]byte(id)) != nil) != want {
			return nil
		}
		stored = true
		return b.Put([]byte(id), rec)
	})
	if err != nil {
		return false, apiKeyWrap(op, err)
	}
	return stored, nil
}

// Insert implements [apikey.Store].
func (s *APIKeyStore) Insert(ctx context.Context, id string, rec []byte) (bool, error) {
	return s.put(ctx, "insert", id, rec, false)
}

// Replace implements [apikey.Store].
func (s *APIKeyStore) Replace(ctx context.Context, id string, rec []byte) (bool, error) {
	return s.put(ctx, "replace", id, rec, true)
}

// Get implements [apikey.Store].
func (s *APIKeyStore) Get(ctx context.Context, id string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if err := checkAPIKey(id, nil); err != nil {
		return nil, false, apiKeyWrap("get", err)
	}
	var rec []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketAPIKeys); b != nil {
			rec = bytes.Clone(b.Get([]byte(id)))
		}
		return nil
	})
	if err != nil {
		return nil, false, apiKeyWrap("get", err)
	}
	return rec, rec != nil, nil
}

// List implements [apikey.Store].
func (s *APIKeyStore) List(ctx context.Context, after string, limit int) ([]string, [][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if limit < 1 || limit > apikey.MaxListPage || len(after) > maxAPIKeyID {
		return nil, nil, apiKeyWrap("list", fmt.Errorf("limit %d not in [1, %d], or oversized after", limit, apikey.MaxListPage))
	}
	var ids []string
	var recs [][]byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketAPIKeys)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, v := c.First()
		if after != "" {
			k, v = c.Seek([]byte(after))
			if k != nil && string(k) == after {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(ids) < limit; k, v = c.Next() {
			ids, recs = append(ids, string(k)), append(recs, bytes.Clone(v))
		}
		return nil
	})
	if err != nil {
		return nil, nil, apiKeyWrap("list", err)
	}
	return ids, recs, nil
}
