package bitgask

// #include <stdlib.h>
// #include "bitgask.h"
import "C"

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// DB is an open database. It is safe for concurrent use by many goroutines; Close waits for the
// calls in flight, and calls after it return ErrClosed. A DB that becomes unreachable without
// Close is closed by a finalizer, as an *os.File is; call Close to see its error.
type DB struct {
	mu sync.RWMutex // held shared by every call, exclusively by Close
	h  *C.bitgask_db
}

// Open opens (creating if missing) the database in directory dir. opts may be nil for the
// defaults. It fails with ErrLocked while another handle, in this or another process, has it open.
func Open(dir string, opts *Options) (*DB, error) {
	o, err := opts.build()
	if err != nil {
		return nil, err
	}
	defer C.bitgask_options_free(o)
	path := C.CString(dir)
	defer C.free(unsafe.Pointer(path))
	var h *C.bitgask_db
	var e *C.bitgask_error
	if s := C.bitgask_open(path, o, &h, &e); s < 0 {
		return nil, newError(s, e)
	}
	db := &DB{h: h}
	runtime.SetFinalizer(db, (*DB).Close)
	return db, nil
}

// call runs f on the open handle with an error slot; an error status becomes an *Error.
func (db *DB) call(f func(h *C.bitgask_db, e **C.bitgask_error) C.bitgask_status) (C.bitgask_status, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.h == nil {
		return 0, closedError()
	}
	var e *C.bitgask_error
	s := f(db.h, &e)
	if s < 0 {
		return s, newError(s, e)
	}
	return s, nil
}

// bytesArg passes a Go slice to C for the duration of a call (it holds no Go pointers).
func bytesArg(b []byte) (*C.uint8_t, C.size_t) {
	if len(b) == 0 {
		return nil, 0
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0])), C.size_t(len(b))
}

// Put stores value under key.
func (db *DB) Put(key, value []byte) error {
	k, kl := bytesArg(key)
	v, vl := bytesArg(value)
	_, err := db.call(func(h *C.bitgask_db, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_put(h, k, kl, v, vl, e)
	})
	return err
}

// PutTTL stores value under key, expiring ttl from now (rounded up to the millisecond; ttl
// must be positive).
func (db *DB) PutTTL(key, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return invalid("ttl must be positive")
	}
	k, kl := bytesArg(key)
	v, vl := bytesArg(value)
	_, err := db.call(func(h *C.bitgask_db, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_put_ttl(h, k, kl, v, vl, C.uint64_t(durationMS(ttl)), e)
	})
	return err
}

// Get returns a copy of key's value, or ErrNotFound when it is absent or expired.
func (db *DB) Get(key []byte) ([]byte, error) {
	k, kl := bytesArg(key)
	return copyValue(func(v **C.uint8_t, vl *C.size_t) (C.bitgask_status, error) {
		return db.call(func(h *C.bitgask_db, e **C.bitgask_error) C.bitgask_status {
			return C.bitgask_get(h, k, kl, v, vl, e)
		})
	})
}

// copyValue runs get, a get call that hands back a value the library allocated, and returns a Go
// copy of it (freeing the library's), or ErrNotFound when get found no key. DB.Get and Txn.Get
// share it so that both free and copy the same way.
func copyValue(get func(v **C.uint8_t, vl *C.size_t) (C.bitgask_status, error)) ([]byte, error) {
	var v *C.uint8_t
	var vl C.size_t
	s, err := get(&v, &vl)
	if err != nil {
		return nil, err
	}
	if s == C.BITGASK_NOT_FOUND {
		return nil, ErrNotFound
	}
	defer C.bitgask_free(unsafe.Pointer(v))
	return C.GoBytes(unsafe.Pointer(v), C.int(vl)), nil
}

// Has reports whether key is present and not expired (one index lookup).
func (db *DB) Has(key []byte) (bool, error) {
	k, kl := bytesArg(key)
	var out C.bool
	_, err := db.call(func(h *C.bitgask_db, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_exists(h, k, kl, &out, e)
	})
	return bool(out), err
}

// Delete removes key; ErrNotFound when it was absent or expired (like os.Remove of a missing file).
func (db *DB) Delete(key []byte) error {
	k, kl := bytesArg(key)
	return notFound(db.call(func(h *C.bitgask_db, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_delete(h, k, kl, e)
	}))
}

// Expire makes key expire ttl from now (ttl > 0, as for PutTTL), keeping its value; ErrNotFound
// when absent, an error with the invalid-argument status for a ttl of 0.
func (db *DB) Expire(key []byte, ttl time.Duration) error {
	if ttl < 0 {
		return invalid("ttl is negative")
	}
	k, kl := bytesArg(key)
	return notFound(db.call(func(h *C.bitgask_db, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_expire(h, k, kl, C.uint64_t(durationMS(ttl)), e)
	}))
}

// Persist removes key's expiry; ErrNotFound when absent.
func (db *DB) Persist(key []byte) error {
	k, kl := bytesArg(key)
	return notFound(db.call(func(h *C.bitgask_db, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_persist(h, k, kl, e)
	}))
}

// NoExpiry is what TTL returns for a key that never expires.
const NoExpiry time.Duration = -1

// TTL returns the time until key expires (rounded up to the millisecond), NoExpiry when it never
// expires, or ErrNotFound when it is absent.
func (db *DB) TTL(key []byte) (time.Duration, error) {
	k, kl := bytesArg(key)
	var ms C.int64_t
	err := notFound(db.call(func(h *C.bitgask_db, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_ttl_ms(h, k, kl, &ms, e)
	}))
	if err != nil {
		return 0, err
	}
	if ms < 0 {
		return NoExpiry, nil
	}
	return time.Duration(ms) * time.Millisecond, nil
}

func notFound(s C.bitgask_status, err error) error {
	if err == nil && s == C.BITGASK_NOT_FOUND {
		return ErrNotFound
	}
	return err
}

// Stats are a database's size and garbage figures.
type Stats struct {
	Keys       uint64 // keys in the index (expired keys not yet read or collected still count)
	DataFiles  uint64
	TotalBytes uint64
	DeadBytes  uint64 // what a merge would reclaim
	Merges     uint64 // merges completed by this handle
	LastMerge  time.Time
}

// Stats returns the key count and the data files' total and dead bytes.
func (db *DB) Stats() (Stats, error) {
	var s C.bitgask_stats
	_, err := db.call(func(h *C.bitgask_db, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_stats_get(h, &s, e)
	})
	out := Stats{uint64(s.keys), uint64(s.data_files), uint64(s.total_bytes), uint64(s.dead_bytes), uint64(s.merges), time.Time{}}
	if s.last_merge_unix_nano != 0 {
		out.LastMerge = time.Unix(0, int64(s.last_merge_unix_nano))
	}
	return out, err
}

// Space is the reserve file's state and whether the disk is full.
type Space struct {
	ReserveSize   uint64 // the configured reserve (Options.ReserveBytes)
	ReserveBytes  uint64 // what the reserve file holds now; 0 once given back on a full disk
	FreeBytes     uint64 // bytes available on the database's file system (0 when unknown)
	NoSpaceErrors uint64 // writes failed or refused with ErrNoSpace since the handle opened
	Full          bool   // puts are refused with ErrNoSpace; deletes and merges run
	Low           bool   // full, or less free than twice the reserve: merges run file by file
}

// Space reports the reserve, the free space, and whether the handle is full.
func (db *DB) Space() (Space, error) {
	var s C.bitgask_space
	_, err := db.call(func(h *C.bitgask_db, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_space_get(h, &s, e)
	})
	return Space{uint64(s.reserve_size), uint64(s.reserve_bytes), uint64(s.free_bytes), uint64(s.no_space_errors),
		s.full != 0, s.low != 0}, err
}

// Sync makes every write so far durable (needed only with NoSyncOnPut or NoSyncOnDelete).
func (db *DB) Sync() error {
	_, err := db.call(func(h *C.bitgask_db, e **C.bitgask_error) C.bitgask_status { return C.bitgask_sync(h, e) })
	return err
}

// Merge runs a full merge when its trigger holds, or always with force; it reports whether one ran.
func (db *DB) Merge(force bool) (bool, error) {
	var merged C.bool
	_, err := db.call(func(h *C.bitgask_db, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_merge(h, C.bool(force), &merged, e)
	})
	return bool(merged), err
}

// Backup copies the open database into directory dest (which must not exist, or be empty).
func (db *DB) Backup(dest string) error {
	path := C.CString(dest)
	defer C.free(unsafe.Pointer(path))
	_, err := db.call(func(h *C.bitgask_db, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_backup(h, path, e)
	})
	return err
}

// closeStatus, when set (only by the package's tests, export_test.go), replaces the status
// bitgask_close returned: the release library cannot be poisoned from outside, so the tests
// stand in a poisoned close this way. Atomic: finalizers close DBs on their own goroutine.
var closeStatus atomic.Pointer[func(Status) Status]

// Close waits for calls in flight, syncs, writes the hint, releases the LOCK and frees the
// handle. It frees the handle and releases the LOCK even when it returns an error (ErrPoisoned
// when an fsync failure or a panic poisoned the handle: writes since the last good fsync may be
// lost). Closing a closed DB returns nil. The finalizer of an unclosed DB drops the error.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	h := db.h
	if h == nil {
		return nil
	}
	db.h = nil
	runtime.SetFinalizer(db, nil)
	var e *C.bitgask_error
	s := C.bitgask_close(h, &e)
	if f := closeStatus.Load(); f != nil {
		s = C.bitgask_status((*f)(Status(s)))
	}
	if s < 0 {
		return newError(s, e)
	}
	return nil
}
