package bitgask

// #include "bitgask.h"
import "C"

import (
	"runtime"
	"unsafe"
)

// Iterator walks keys in byte order over a snapshot of the key set taken when it was created:
//
//	it := db.Iter([]byte("user:"))
//	defer it.Close()
//	for it.Next() {
//		use(it.Key(), it.Value())
//	}
//	if err := it.Err(); err != nil { ... }
//
// Key and Value are copies owned by the caller. An Iterator is for one goroutine at a time.
// Used after its DB was closed, Next returns false and Err returns ErrClosed.
type Iterator struct {
	db         *DB
	it         *C.bitgask_iter
	key, value []byte
	err        error
}

// Iter returns an iterator over the keys starting with prefix (all keys for nil or empty).
// A failure to create it is reported by the iterator's Err.
func (db *DB) Iter(prefix []byte) *Iterator {
	p, pl := bytesArg(prefix)
	return db.newIterator(func(h *C.bitgask_db, out **C.bitgask_iter, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_iter_new(h, p, pl, out, e)
	})
}

// Range returns an iterator over the keys in [start, end); a nil end means no upper bound.
func (db *DB) Range(start, end []byte) *Iterator {
	s, sl := bytesArg(start)
	en, el := bytesArg(end)
	if end != nil && en == nil {
		en = (*C.uint8_t)(&emptyBound) // an empty end is a bound (nothing is below it): not "none"
	}
	return db.newIterator(func(h *C.bitgask_db, out **C.bitgask_iter, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_iter_range(h, s, sl, en, el, out, e)
	})
}

var emptyBound C.uint8_t

func (db *DB) newIterator(f func(*C.bitgask_db, **C.bitgask_iter, **C.bitgask_error) C.bitgask_status) *Iterator {
	it := &Iterator{db: db}
	var c *C.bitgask_iter
	_, it.err = db.call(func(h *C.bitgask_db, e **C.bitgask_error) C.bitgask_status { return f(h, &c, e) })
	it.own(c)
	return it
}

// own takes c (NULL when creating it failed), freed by Close or a finalizer.
func (it *Iterator) own(c *C.bitgask_iter) {
	it.it = c
	if c != nil {
		runtime.SetFinalizer(it, (*Iterator).Close)
	}
}

// Next advances to the next key; false at the end or on an error (see Err).
func (it *Iterator) Next() bool {
	if it.it == nil || it.err != nil {
		return false
	}
	var k, v *C.uint8_t
	var kl, vl C.size_t
	var done bool
	_, it.err = it.db.call(func(_ *C.bitgask_db, e **C.bitgask_error) C.bitgask_status {
		s := C.bitgask_iter_next(it.it, &k, &kl, &v, &vl, e)
		if s == C.BITGASK_OK {
			it.key, it.value = copyOut(k, kl), copyOut(v, vl)
		}
		done = s == C.BITGASK_ITER_DONE
		return s
	})
	if it.err != nil || done {
		it.free()
		return false
	}
	return true
}

func copyOut(p *C.uint8_t, n C.size_t) []byte {
	out := make([]byte, int(n))
	if n > 0 {
		copy(out, unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)))
	}
	return out
}

// Key is the current key (a copy).
func (it *Iterator) Key() []byte { return it.key }

// Value is the current value (a copy).
func (it *Iterator) Value() []byte { return it.value }

// Err is the error that ended the iteration, if any.
func (it *Iterator) Err() error { return it.err }

// Close frees the iterator; Next returns false afterwards. It always returns nil.
func (it *Iterator) Close() error {
	it.free()
	return nil
}

func (it *Iterator) free() {
	if it.it != nil {
		C.bitgask_iter_free(it.it)
		it.it = nil
		runtime.SetFinalizer(it, nil)
	}
}
