package bitgask

// #include "bitgask.h"
import "C"

import (
	"errors"
	"runtime"
	"sync"
	"time"
)

// Txn is an optimistic transaction. Reads see the database as it is now merged with the
// transaction's own writes; writes are buffered and written all or nothing by Commit, which
// returns ErrConflict (writing nothing) when a key the transaction read, even one it found
// absent, was written by someone else since. Keys written without being read never conflict.
//
//	t := db.Begin()
//	defer t.Discard() // a no-op after Commit
//	v, err := t.Get([]byte("n"))
//	...
//	t.Put([]byte("n"), next)
//	err = t.Commit() // errors.Is(err, bitgask.ErrConflict): run it again (see DB.Update)
//
// A Txn holds no lock. After Commit or Discard, and once its DB is closed, every call returns
// ErrClosed. A Txn is safe for concurrent use (a mutex orders the calls), but it is one unit of
// work: give each goroutine its own. A Txn that becomes unreachable unended is discarded by a
// finalizer.
type Txn struct {
	db  *DB
	mu  sync.Mutex
	t   *C.bitgask_txn
	err error // why Begin failed: every call returns it
}

// Begin starts a transaction. A failure to start it (ErrClosed, ErrPoisoned) is returned by each
// of the transaction's calls, Commit included.
func (db *DB) Begin() *Txn {
	t := &Txn{db: db}
	var c *C.bitgask_txn
	_, t.err = db.call(func(h *C.bitgask_db, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_txn_begin(h, &c, e)
	})
	if c != nil {
		t.t = c
		runtime.SetFinalizer(t, (*Txn).Discard)
	}
	return t
}

func endedError() error {
	return &Error{Status: StatusClosed, Message: "closed: the transaction has ended (committed or discarded)"}
}

// call runs f on the open C transaction, under the transaction's mutex and as a call on its DB
// (so it returns ErrClosed once the DB is closed, and Close waits for it).
func (t *Txn) call(f func(c *C.bitgask_txn, e **C.bitgask_error) C.bitgask_status) (C.bitgask_status, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return 0, t.err
	}
	if t.t == nil {
		return 0, endedError()
	}
	return t.db.call(func(_ *C.bitgask_db, e **C.bitgask_error) C.bitgask_status { return f(t.t, e) })
}

// Get returns a copy of key's value as the transaction sees it, or ErrNotFound.
func (t *Txn) Get(key []byte) ([]byte, error) {
	k, kl := bytesArg(key)
	return copyValue(func(v **C.uint8_t, vl *C.size_t) (C.bitgask_status, error) {
		return t.call(func(c *C.bitgask_txn, e **C.bitgask_error) C.bitgask_status {
			return C.bitgask_txn_get(c, k, kl, v, vl, e)
		})
	})
}

// Has reports whether key exists as the transaction sees it.
func (t *Txn) Has(key []byte) (bool, error) {
	k, kl := bytesArg(key)
	var out C.bool
	_, err := t.call(func(c *C.bitgask_txn, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_txn_exists(c, k, kl, &out, e)
	})
	return bool(out), err
}

// Put buffers a put of value under key.
func (t *Txn) Put(key, value []byte) error {
	k, kl := bytesArg(key)
	v, vl := bytesArg(value)
	_, err := t.call(func(c *C.bitgask_txn, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_txn_put(c, k, kl, v, vl, e)
	})
	return err
}

// PutTTL buffers a put of value under key, expiring ttl (positive) after the commit.
func (t *Txn) PutTTL(key, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return invalid("ttl must be positive")
	}
	k, kl := bytesArg(key)
	v, vl := bytesArg(value)
	_, err := t.call(func(c *C.bitgask_txn, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_txn_put_ttl(c, k, kl, v, vl, C.uint64_t(durationMS(ttl)), e)
	})
	return err
}

// Delete buffers a delete of key (an absent key is fine).
func (t *Txn) Delete(key []byte) error {
	k, kl := bytesArg(key)
	_, err := t.call(func(c *C.bitgask_txn, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_txn_delete(c, k, kl, e)
	})
	return err
}

// Iter returns an iterator over the keys starting with prefix: the database's merged with the
// transaction's writes so far. Each key it returns counts as read; keys others add to the range
// meanwhile are not detected (no phantom protection). It may outlive the transaction.
func (t *Txn) Iter(prefix []byte) *Iterator {
	p, pl := bytesArg(prefix)
	it := &Iterator{db: t.db}
	var c *C.bitgask_iter
	_, it.err = t.call(func(tx *C.bitgask_txn, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_txn_iter_new(tx, p, pl, &c, e)
	})
	it.own(c)
	return it
}

// Commit writes the buffered writes as one batch, or returns ErrConflict and writes nothing.
// The transaction has ended either way.
func (t *Txn) Commit() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return t.err
	}
	c := t.t
	if c == nil {
		return endedError()
	}
	t.t = nil
	runtime.SetFinalizer(t, nil)
	ran := false
	_, err := t.db.call(func(_ *C.bitgask_db, e **C.bitgask_error) C.bitgask_status {
		ran = true
		return C.bitgask_txn_commit(c, e) // frees c whatever the result
	})
	if !ran {
		C.bitgask_txn_discard(c) // the DB was closed: free it, and return that error
	}
	return err
}

// Discard ends the transaction without writing anything. A no-op once it has ended, so
// `defer t.Discard()` is the usual guard.
func (t *Txn) Discard() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.t != nil {
		C.bitgask_txn_discard(t.t)
		t.t = nil
		runtime.SetFinalizer(t, nil)
	}
}

// Update runs fn in a new transaction and commits it; when the commit returns ErrConflict it
// runs fn again in a fresh transaction, up to attempts runs in all, then returns that
// ErrConflict. An error from fn discards the transaction and is returned as it is. fn may run
// more than once, so it should do nothing outside the transaction that it cannot repeat.
func (db *DB) Update(attempts int, fn func(t *Txn) error) error {
	if attempts < 1 {
		return invalid("attempts must be at least 1")
	}
	var err error
	for i := 0; i < attempts; i++ {
		if err = db.runOnce(fn); !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return err
}

func (db *DB) runOnce(fn func(t *Txn) error) error {
	t := db.Begin()
	defer t.Discard()
	if err := fn(t); err != nil {
		return err
	}
	return t.Commit()
}
