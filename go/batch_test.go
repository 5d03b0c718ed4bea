package bitgask_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	bitgask "bitgask/go"
)

func get(t *testing.T, db *bitgask.DB, key string) string {
	t.Helper()
	v, err := db.Get([]byte(key))
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return string(v)
}

func absent(t *testing.T, db *bitgask.DB, key string) {
	t.Helper()
	if _, err := db.Get([]byte(key)); !errors.Is(err, bitgask.ErrNotFound) {
		t.Fatalf("Get(%q) = %v, want ErrNotFound", key, err)
	}
}

// keysOf drains it and returns its keys.
func keysOf(t *testing.T, it *bitgask.Iterator) []string {
	t.Helper()
	defer it.Close()
	var out []string
	for it.Next() {
		out = append(out, string(it.Key()))
	}
	must(t, it.Err())
	return out
}

func TestWriteAppliesEveryOperationOfABatch(t *testing.T) {
	db, _ := open(t, fast)
	must(t, db.Put([]byte("gone"), []byte("x")))
	b := bitgask.NewBatch()
	defer b.Close()
	must(t, b.Put([]byte("a"), []byte("1")))
	must(t, b.PutTTL([]byte("b"), []byte("2"), time.Minute))
	must(t, b.Delete([]byte("gone")))
	must(t, b.Delete([]byte("never-there")))
	if b.Len() != 4 {
		t.Fatalf("Len = %d", b.Len())
	}
	absent(t, db, "a") // nothing is written before Write
	must(t, db.Write(b))
	if get(t, db, "a") != "1" || get(t, db, "b") != "2" {
		t.Fatal("batch not written")
	}
	absent(t, db, "gone")
	if ttl, err := db.TTL([]byte("b")); err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("TTL = %v, %v", ttl, err)
	}
}

func TestABatchWithNulByteKeys(t *testing.T) {
	db, _ := open(t, fast)
	keys := [][]byte{{0}, {0, 0}, {'a', 0, 'b'}, {'a', 0, 'c'}, {0xff, 0}}
	b := bitgask.NewBatch()
	defer b.Close()
	for _, k := range keys {
		must(t, b.Put(k, append(append([]byte{}, k...), 0)))
	}
	must(t, b.Delete([]byte{'a', 0, 'c'}))
	must(t, db.Write(b))
	got := keysOf(t, db.Iter(nil))
	want := []string{"\x00", "\x00\x00", "a\x00b", "\xff\x00"}
	if len(got) != len(want) {
		t.Fatalf("keys = %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("keys = %q, want %q", got, want)
		}
	}
	v, err := db.Get([]byte{'a', 0, 'b'})
	if err != nil || !bytes.Equal(v, []byte{'a', 0, 'b', 0}) {
		t.Fatalf("Get = %q, %v", v, err)
	}
}

func TestABatchIsUnchangedByWriteAndCanBeCleared(t *testing.T) {
	db, _ := open(t, fast)
	b := bitgask.NewBatch()
	defer b.Close()
	must(t, b.Put([]byte("k"), []byte("v")))
	must(t, db.Write(b))
	must(t, db.Delete([]byte("k")))
	must(t, db.Write(b))
	if get(t, db, "k") != "v" {
		t.Fatal("second write")
	}
	must(t, b.Clear())
	if b.Len() != 0 {
		t.Fatal("Clear")
	}
	must(t, db.Write(b)) // empty: writes nothing
}

func TestABatchAboveTheLimitsWritesNothing(t *testing.T) {
	db, _ := open(t, &bitgask.Options{NoSyncOnPut: true, MaxValueSize: 8})
	b := bitgask.NewBatch()
	defer b.Close()
	must(t, b.Put([]byte("small"), []byte("v")))
	must(t, b.Put([]byte("big"), bytes.Repeat([]byte("v"), 9)))
	if err := db.Write(b); !errors.Is(err, bitgask.ErrTooLarge) {
		t.Fatalf("Write = %v", err)
	}
	absent(t, db, "small")
	if err := b.Put(nil, []byte("v")); !errors.Is(err, bitgask.ErrInvalidArg) {
		t.Fatalf("Put of an empty key = %v", err)
	}
	if err := b.PutTTL([]byte("k"), nil, 0); !errors.Is(err, bitgask.ErrInvalidArg) {
		t.Fatalf("PutTTL 0 = %v", err)
	}
	if b.Len() != 2 {
		t.Fatalf("a refused operation changed the batch: Len = %d", b.Len())
	}
}

func TestABatchAfterCloseAndAWriteToAClosedDBAreErrClosed(t *testing.T) {
	db, err := bitgask.Open(filepath.Join(t.TempDir(), "db"), fast)
	must(t, err)
	b := bitgask.NewBatch()
	must(t, b.Put([]byte("k"), []byte("v")))
	must(t, db.Close())
	if err := db.Write(b); !errors.Is(err, bitgask.ErrClosed) {
		t.Fatalf("Write after DB.Close = %v", err)
	}
	must(t, b.Close())
	must(t, b.Close())
	for name, err := range map[string]error{
		"Put":    b.Put([]byte("k"), []byte("v")),
		"Delete": b.Delete([]byte("k")),
		"Clear":  b.Clear(),
		"Write":  db.Write(b),
	} {
		if !errors.Is(err, bitgask.ErrClosed) {
			t.Errorf("%s after Batch.Close = %v", name, err)
		}
	}
	if b.Len() != 0 {
		t.Fatal("Len after Close")
	}
}

// Batch n sets all ten keys to n. Reads in any order then never go down: a later read sees the
// database at or after an earlier one, where (batches being whole) every key was already >= it.
func TestReadersNeverSeePartOfABatch(t *testing.T) {
	db, _ := open(t, fast)
	var keys [][]byte
	for i := 0; i < 10; i++ {
		keys = append(keys, []byte("k"+strconv.Itoa(i)))
	}
	write := func(n int) {
		b := bitgask.NewBatch()
		defer b.Close()
		for _, k := range keys {
			must(t, b.Put(k, []byte(strconv.Itoa(n))))
		}
		must(t, db.Write(b))
	}
	write(0)
	reversed := make([][]byte, len(keys))
	for i, k := range keys {
		reversed[len(keys)-1-i] = k
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	torn := make(chan []int, 1)
	for _, order := range [][][]byte{keys, reversed} {
		order := order
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				seen := make([]int, 0, len(order))
				for _, k := range order {
					v, err := db.Get(k)
					if err != nil {
						panic(err)
					}
					n, _ := strconv.Atoi(string(v))
					seen = append(seen, n)
				}
				for i := 1; i < len(seen); i++ {
					if seen[i] < seen[i-1] {
						select {
						case torn <- seen:
						default:
						}
					}
				}
			}
		}()
	}
	for n := 1; n < 300; n++ {
		write(n)
	}
	close(stop)
	wg.Wait()
	select {
	case seen := <-torn:
		t.Fatalf("a reader saw part of a batch: %v", seen)
	default:
	}
}
