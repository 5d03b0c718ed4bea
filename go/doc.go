// Package bitgask is the Go binding of bitgask, a Bitcask-style log-structured key-value store,
// through its C library (cgo).
//
//	db, err := bitgask.Open("app.db", &bitgask.Options{NoSyncOnPut: true, SyncInterval: time.Second})
//	if err != nil { ... }
//	defer db.Close()
//	err = db.Put([]byte("user:1"), []byte("ada"))
//	v, err := db.Get([]byte("user:1"))  // errors.Is(err, bitgask.ErrNotFound) when absent
//
// Batches and transactions: a Batch (NewBatch, Put, Delete) is written all or nothing by
// DB.Write; DB.Begin returns an optimistic Txn (Get, Has, Iter, Put, Delete) whose Commit returns
// ErrConflict, writing nothing, when a key it read changed meanwhile; DB.Update runs the retry loop.
//
// Every failure is an *Error carrying the C status (errors.As), and errors.Is matches it against
// ErrLocked, ErrClosed, ErrCorrupt and the other Err* values by status.
//
// # Linking
//
// By default the package links the installed library through pkg-config (`make install` in the
// bitgask repository installs libbitgask, bitgask.h and bitgask.pc). Inside the repository,
// the build tag bitgask_local links the checkout's build/lib/libbitgask.a instead (make test-go).
package bitgask
