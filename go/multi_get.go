package bitgask

// #include <stdlib.h>
// #include <string.h>
// #include "bitgask.h"
import "C"

import "unsafe"

// MultiGet returns copies of the values of keys, in their order, read in one call
// (bitgask_multi_get: their lookups overlap, faster than as many Gets). The entry of an absent
// or expired key is nil (a present empty value is an empty, non-nil slice). Keys may repeat. A
// key whose read fails makes MultiGet return the error Get of that key returns, and no values.
func (db *DB) MultiGet(keys [][]byte) ([][]byte, error) {
	n := len(keys)
	// The keys are copied into C memory: the array of their pointers that C reads must not
	// hold Go pointers (cgo's rules).
	total := 0
	for _, k := range keys {
		total += len(k)
	}
	block := (*C.uint8_t)(C.malloc(C.size_t(total + 1)))
	defer C.free(unsafe.Pointer(block))
	ptrs := make([]*C.uint8_t, n+1)
	klens := make([]C.size_t, n+1)
	vals := make([]*C.uint8_t, n+1)
	vlens := make([]C.size_t, n+1)
	statuses := make([]C.bitgask_status, n+1)
	at := 0
	for i, k := range keys {
		if len(k) > 0 {
			ptrs[i] = (*C.uint8_t)(unsafe.Add(unsafe.Pointer(block), at))
			C.memcpy(unsafe.Pointer(ptrs[i]), unsafe.Pointer(&k[0]), C.size_t(len(k)))
		}
		klens[i] = C.size_t(len(k))
		at += len(k)
	}
	_, err := db.call(func(h *C.bitgask_db, e **C.bitgask_error) C.bitgask_status {
		return C.bitgask_multi_get(h, C.size_t(n), &ptrs[0], &klens[0], &vals[0], &vlens[0], &statuses[0], e)
	})
	if err != nil {
		return nil, err
	}
	out := make([][]byte, n)
	failed := -1
	for i := 0; i < n; i++ {
		switch statuses[i] {
		case C.BITGASK_OK:
			out[i] = C.GoBytes(unsafe.Pointer(vals[i]), C.int(vlens[i]))
			C.bitgask_free(unsafe.Pointer(vals[i]))
		case C.BITGASK_NOT_FOUND:
		default:
			if failed < 0 {
				failed = i
			}
		}
	}
	if failed >= 0 {
		return nil, db.keyError(keys[failed], statuses[failed])
	}
	return out, nil
}

// keyError is the error of a key bitgask_multi_get could not read: Get's, with its detail, or
// one with the status's text if the key reads by now.
func (db *DB) keyError(key []byte, s C.bitgask_status) error {
	if _, err := db.Get(key); err != nil && err != ErrNotFound {
		return err
	}
	return newError(s, nil)
}
