package bitgask_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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

func ExampleDB_Update() {
	dir, _ := os.MkdirTemp("", "bitgask-example")
	defer os.RemoveAll(dir)
	db, err := bitgask.Open(filepath.Join(dir, "db"), &bitgask.Options{NoSyncOnPut: true})
	if err != nil {
		panic(err)
	}
	defer db.Close()

	b := bitgask.NewBatch() // all or nothing
	defer b.Close()
	b.Put([]byte("acct:a"), []byte("10"))
	b.Put([]byte("acct:b"), []byte("0"))
	if err := db.Write(b); err != nil {
		panic(err)
	}

	// Moves 3 from a to b; runs again (up to 10 times) when the commit returns ErrConflict.
	err = db.Update(10, func(t *bitgask.Txn) error {
		a, err := t.Get([]byte("acct:a"))
		if err != nil {
			return err
		}
		bal, _ := strconv.Atoi(string(a))
		t.Put([]byte("acct:a"), []byte(strconv.Itoa(bal-3)))
		v, err := t.Get([]byte("acct:b"))
		if err != nil {
			return err
		}
		bal, _ = strconv.Atoi(string(v))
		return t.Put([]byte("acct:b"), []byte(strconv.Itoa(bal+3)))
	})
	fmt.Println(err)
	it := db.Iter([]byte("acct:"))
	for it.Next() {
		fmt.Printf("%s = %s\n", it.Key(), it.Value())
	}
	it.Close()
	// Output:
	// <nil>
	// acct:a = 7
	// acct:b = 3
}
