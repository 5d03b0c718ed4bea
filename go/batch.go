package bitgask

// #include "bitgask.h"
import "C"

import (
	"runtime"
	"sync"
	"time"
)

// Batch collects puts and deletes that DB.Write writes all or nothing: readers never see some of
// them without the others, and after a crash either all are there or none.
//
//	b := bitgask.NewBatch()
//	defer b.Close()
//	b.Put([]byte("a"), []byte("1"))
//	b.Delete([]byte("b"))
//	err := db.Write(b)
//
// The bytes are copied when added; sizes are checked against the library's limits when added and
// against the database's when written. A key added twice ends with its last operation. A Batch is
// safe for concurrent use (a mutex orders the calls). Its C memory is freed by Close, or by a
// finalizer; after Close every call returns ErrClosed. Make one with NewBatch: a zero Batch
// behaves as a closed one.
type Batch struct {
	mu sync.Mutex
	b  *C.bitgask_batch
}

// NewBatch returns an empty batch.
func NewBatch() *Batch {
	b := &Batch{b: C.bitgask_batch_new()}
	runtime.SetFinalizer(b, (*Batch).Close)
	return b
}

// with runs f on the open C batch, under the batch's mutex.
func (b *Batch) with(f func(c *C.bitgask_batch) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b == nil {
		return &Error{Status: StatusClosed, Message: "closed: the batch was closed"}
	}
	return f(b.b)
}

func (b *Batch) add(f func(c *C.bitgask_batch, e **C.bitgask_error) C.bitgask_status) error {
	return b.with(func(c *C.bitgask_batch) error {
		var e *C.bitgask_error
		if s := f(c, &e); s < 0 {
			return newError(s, e)
		}
		return nil
	})
}

// Put adds a put of value under key.
func (b *Batch) Put(key, value []byte) error {
	k, kl := bytesArg(key)
	v, vl := bytesArg(value)
	return b.add(func(c *C.bitgask_batch, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_batch_put(c, k, kl, v, vl, e)
	})
}

// PutTTL adds a put of value under key, expiring ttl (positive) after the batch is written.
func (b *Batch) PutTTL(key, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return invalid("ttl must be positive")
	}
	k, kl := bytesArg(key)
	v, vl := bytesArg(value)
	return b.add(func(c *C.bitgask_batch, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_batch_put_ttl(c, k, kl, v, vl, C.uint64_t(durationMS(ttl)), e)
	})
}

// Delete adds a delete of key (a key absent when the batch is written is not an error).
func (b *Batch) Delete(key []byte) error {
	k, kl := bytesArg(key)
	return b.add(func(c *C.bitgask_batch, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_batch_delete(c, k, kl, e)
	})
}

// Len is the number of operations added since the batch was made or cleared (0 once closed).
func (b *Batch) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return int(C.bitgask_batch_count(b.b)) // NULL (closed) counts 0
}

// Clear removes every operation, so the batch can be reused.
func (b *Batch) Clear() error {
	return b.with(func(c *C.bitgask_batch) error {
		C.bitgask_batch_clear(c)
		return nil
	})
}

// Close frees the batch; later calls return ErrClosed. It always returns nil.
func (b *Batch) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b != nil {
		C.bitgask_batch_free(b.b)
		b.b = nil
		runtime.SetFinalizer(b, nil)
	}
	return nil
}

// Write writes every operation of b all or nothing. b is unchanged: it can be written again.
func (db *DB) Write(b *Batch) error {
	return b.with(func(c *C.bitgask_batch) error {
		_, err := db.call(func(h *C.bitgask_db, e **C.bitgask_error) C.bitgask_status {
			return C.bitgask_write(h, c, e)
		})
		return err
	})
}
