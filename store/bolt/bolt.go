// Package bolt is the embedded storage backend: one bbolt file, no other
// process. A write returns only after bbolt has fsynced its transaction.
package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"
)

// Config configures the embedded store.
type Config struct {
	// Path is the database file. Empty means <data dir>/subzero.db.
	Path string `yaml:"path"`
	// LockTimeout bounds the wait for the file lock another process holds.
	LockTimeout time.Duration `yaml:"lock_timeout"`
}

// Default returns the default configuration.
func Default() Config { return Config{LockTimeout: time.Second} }

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.LockTimeout <= 0 {
		return errors.New("lock_timeout: must be positive")
	}
	return nil
}

// ErrLocked is returned by [Open] when another process holds the file.
var ErrLocked = errors.New("bolt: database is locked by another process")

// DB is an open database file.
type DB struct {
	db  *bbolt.DB
	wal *auditWAL
}

// Open opens (creating when absent, with its directory) the database at
// path. With readOnly it takes a shared lock, which fails with ErrLocked
// while a writer such as `subzero serve` has the file open.
func Open(path string, lockTimeout time.Duration, readOnly bool) (*DB, error) {
	return open(path, lockTimeout, readOnly, defaultWAL())
}

func open(path string, lockTimeout time.Duration, readOnly bool, wo walOptions) (*DB, error) {
	if !readOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("bolt: %w", err)
		}
	} else if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("bolt: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:        lockTimeout,
		ReadOnly:       readOnly,
		NoFreelistSync: true, // the freelist is rebuilt on open; commits write less
		FreelistType:   bbolt.FreelistMapType,
	})
	if errors.Is(err, bberrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	wal, err := openAuditWAL(db, path, readOnly, wo)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &DB{db: db, wal: wal}, nil
}

// Path returns the database file's path.
func (d *DB) Path() string { return d.db.Path() }

// Ping checks that the database answers a read transaction and that the
// audit write-ahead files take appends and drain into it.
func (d *DB) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !d.wal.readOnly {
		if err := d.wal.health(); err != nil {
			return err
		}
	}
	return d.db.View(func(*bbolt.Tx) error { return nil })
}

// Close moves what the audit write-ahead files hold into the database and
// closes the files. The audit logs writing to it must be closed first.
func (d *DB) Close() error {
	return errors.Join(d.wal.close(), d.db.Close())
}

// Audit returns the audit store kept in this file and its write-ahead
// files.
func (d *DB) Audit() *AuditStore { return &AuditStore{db: d.db, wal: d.wal} }
