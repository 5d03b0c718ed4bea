package bitgask_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bitgask "bitgask/go"
)

func Example() {
	dir, _ := os.MkdirTemp("", "bitgask-example")
	defer os.RemoveAll(dir)

	db, err := bitgask.Open(filepath.Join(dir, "db"), &bitgask.Options{NoSyncOnPut: true})
	if err != nil {
		panic(err)
	}
	defer db.Close()
	db.Put([]byte("user:1"), []byte("ada"))
	db.PutTTL([]byte("session:9"), []byte("token"), 30*time.Second)
	v, _ := db.Get([]byte("user:1"))
	fmt.Printf("user:1 = %s\n", v)
	it := db.Iter([]byte("user:"))
	for it.Next() {
		fmt.Printf("%s -> %s\n", it.Key(), it.Value())
	}
	it.Close()
	_, err = db.Get([]byte("user:2"))
	fmt.Println(errors.Is(err, bitgask.ErrNotFound))
	// Output:
	// user:1 = ada
	// user:1 -> ada
	// true
}
