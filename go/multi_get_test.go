package bitgask_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bitgask "bitgask/go"
)

func TestMultiGetAnswersAsGetDoes(t *testing.T) {
	db, _ := open(t, fast)
	var keys [][]byte
	for i := 0; i < 50; i++ {
		keys = append(keys, []byte(fmt.Sprintf("key%d", i)))
		if i%4 != 3 {
			must(t, db.Put(keys[i], []byte(fmt.Sprintf("value %d", i))))
		}
	}
	must(t, db.Delete(keys[5]))
	must(t, db.Put([]byte("empty"), nil))
	must(t, db.PutTTL([]byte("brief"), []byte("v"), time.Millisecond))
	time.Sleep(5 * time.Millisecond)
	keys = append(keys, []byte("empty"), []byte("brief"), keys[1])
	got, err := db.MultiGet(keys)
	must(t, err)
	for i, k := range keys {
		v, err := db.Get(k)
		if errors.Is(err, bitgask.ErrNotFound) {
			if got[i] != nil {
				t.Fatalf("key %s: MultiGet %q, Get not found", k, got[i])
			}
			continue
		}
		must(t, err)
		if got[i] == nil || !bytes.Equal(got[i], v) {
			t.Fatalf("key %s: MultiGet %q, Get %q", k, got[i], v)
		}
	}
	if got[50] == nil || len(got[50]) != 0 || string(got[52]) != "value 1" {
		t.Fatalf("empty value %q, repeated key %q", got[50], got[52])
	}
}

func TestMultiGetOfNoKeysAndOfBadKeys(t *testing.T) {
	db, _ := open(t, fast)
	got, err := db.MultiGet(nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("no keys: %v %v", got, err)
	}
	if _, err := db.MultiGet([][]byte{[]byte("k"), nil}); !errors.Is(err, bitgask.ErrInvalidArg) {
		t.Fatalf("an empty key: %v", err)
	}
	must(t, db.Close())
	if _, err := db.MultiGet([][]byte{[]byte("k")}); !errors.Is(err, bitgask.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestMultiGetOfAFlippedBitIsCorrupt(t *testing.T) {
	db, dir := open(t, fast)
	for i := 0; i < 10; i++ {
		must(t, db.Put([]byte(fmt.Sprintf("key%d", i)), []byte(fmt.Sprintf("value number %d", i))))
	}
	must(t, db.Close())
	file := filepath.Join(dir, "data", "000000001.data")
	raw, err := os.ReadFile(file)
	must(t, err)
	raw[bytes.Index(raw, []byte("value number 4"))+13] ^= 1
	must(t, os.WriteFile(file, raw, 0o644))
	db, err = bitgask.Open(dir, fast)
	must(t, err)
	defer db.Close()
	if _, err := db.MultiGet([][]byte{[]byte("key3"), []byte("key4")}); !errors.Is(err, bitgask.ErrCorrupt) {
		t.Fatalf("a damaged record: %v", err)
	}
	got, err := db.MultiGet([][]byte{[]byte("key3"), []byte("key5")})
	must(t, err)
	if string(got[0]) != "value number 3" || string(got[1]) != "value number 5" {
		t.Fatalf("the others: %q", got)
	}
}
