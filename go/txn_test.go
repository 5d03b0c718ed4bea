package bitgask_test

import (
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bitgask "bitgask/go"
)

func TestCommitWritesEverythingAtOnce(t *testing.T) {
	db, _ := open(t, fast)
	must(t, db.Put([]byte("n"), []byte("1")))
	tx := db.Begin()
	defer tx.Discard()
	v, err := tx.Get([]byte("n"))
	must(t, err)
	must(t, tx.Put([]byte("n"), append(v, '1')))
	must(t, tx.PutTTL([]byte("m"), []byte("x"), time.Minute))
	if get(t, db, "n") != "1" {
		t.Fatal("written before the commit")
	}
	absent(t, db, "m")
	must(t, tx.Commit())
	if get(t, db, "n") != "11" || get(t, db, "m") != "x" {
		t.Fatal("commit")
	}
}

func TestReadsSeeTheTransactionsOwnWritesFirst(t *testing.T) {
	db, _ := open(t, fast)
	must(t, db.Put([]byte("a"), []byte("db")))
	must(t, db.Put([]byte("b"), []byte("db")))
	tx := db.Begin()
	defer tx.Discard()
	must(t, tx.Put([]byte("a"), []byte("mine")))
	must(t, tx.Delete([]byte("b")))
	must(t, tx.Put([]byte("c\x00"), []byte("new")))
	if v, err := tx.Get([]byte("a")); err != nil || string(v) != "mine" {
		t.Fatalf("Get(a) = %q, %v", v, err)
	}
	if _, err := tx.Get([]byte("b")); err != bitgask.ErrNotFound {
		t.Fatalf("Get(b) = %v", err)
	}
	if ok, err := tx.Has([]byte("b")); ok || err != nil {
		t.Fatalf("Has(b) = %v, %v", ok, err)
	}
	if got := fmt.Sprint(keysOf(t, tx.Iter(nil))); got != "[a c\x00]" {
		t.Fatalf("Iter = %q", got)
	}
	must(t, tx.Commit())
	absent(t, db, "b")
}

func TestAConflictingCommitIsErrConflictAndWritesNothing(t *testing.T) {
	db, _ := open(t, fast)
	must(t, db.Put([]byte("k"), []byte("1")))
	tx := db.Begin()
	if _, err := tx.Get([]byte("k")); err != nil {
		t.Fatal(err)
	}
	must(t, db.Put([]byte("k"), []byte("changed")))
	must(t, tx.Put([]byte("k"), []byte("mine")))
	must(t, tx.Put([]byte("other"), []byte("x")))
	err := tx.Commit()
	var e *bitgask.Error
	if !errors.Is(err, bitgask.ErrConflict) || !errors.As(err, &e) || e.Status != bitgask.StatusConflict {
		t.Fatalf("Commit = %v", err)
	}
	if get(t, db, "k") != "changed" {
		t.Fatal("the conflicting write landed")
	}
	absent(t, db, "other")
}

func TestAReadThatFoundNothingConflictsToo(t *testing.T) {
	db, _ := open(t, fast)
	tx := db.Begin()
	if ok, err := tx.Has([]byte("k")); ok || err != nil {
		t.Fatal(ok, err)
	}
	must(t, db.Put([]byte("k"), []byte("v")))
	must(t, tx.Put([]byte("flag"), []byte("1")))
	if err := tx.Commit(); !errors.Is(err, bitgask.ErrConflict) {
		t.Fatalf("Commit = %v", err)
	}
}

func TestBlindWritesNeverConflict(t *testing.T) {
	db, _ := open(t, fast)
	tx := db.Begin()
	must(t, tx.Put([]byte("k"), []byte("mine")))
	must(t, db.Put([]byte("k"), []byte("theirs")))
	must(t, tx.Commit())
	if get(t, db, "k") != "mine" {
		t.Fatal("last commit should win")
	}
}

func TestDiscardWritesNothingAndIsIdempotent(t *testing.T) {
	db, _ := open(t, fast)
	tx := db.Begin()
	must(t, tx.Put([]byte("k"), []byte("v")))
	tx.Discard()
	tx.Discard()
	absent(t, db, "k")
}

func TestUseAfterTheEndIsErrClosed(t *testing.T) {
	for _, end := range []string{"commit", "discard", "conflict"} {
		t.Run(end, func(t *testing.T) {
			db, _ := open(t, fast)
			tx := db.Begin()
			_, _ = tx.Get([]byte("k"))
			switch end {
			case "commit":
				must(t, tx.Commit())
			case "discard":
				tx.Discard()
			case "conflict":
				must(t, db.Put([]byte("k"), []byte("x")))
				if err := tx.Commit(); !errors.Is(err, bitgask.ErrConflict) {
					t.Fatal(err)
				}
			}
			_, getErr := tx.Get([]byte("k"))
			_, hasErr := tx.Has([]byte("k"))
			it := tx.Iter(nil)
			for name, err := range map[string]error{
				"Get": getErr, "Has": hasErr, "Put": tx.Put([]byte("k"), nil), "Delete": tx.Delete([]byte("k")),
				"Iter": it.Err(), "Commit": tx.Commit(),
			} {
				if !errors.Is(err, bitgask.ErrClosed) {
					t.Errorf("%s after the end = %v", name, err)
				}
			}
			if it.Next() {
				t.Fatal("an iterator that failed to start stepped")
			}
			tx.Discard()
		})
	}
}

func TestUseAfterTheDBClosedIsErrClosed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db, err := bitgask.Open(dir, fast)
	must(t, err)
	tx := db.Begin()
	must(t, tx.Put([]byte("k"), []byte("v")))
	it := tx.Iter(nil)
	must(t, db.Close())
	if _, err := tx.Get([]byte("k")); !errors.Is(err, bitgask.ErrClosed) {
		t.Fatalf("Get = %v", err)
	}
	if it.Next() || !errors.Is(it.Err(), bitgask.ErrClosed) {
		t.Fatalf("Next after close: %v", it.Err())
	}
	if err := tx.Commit(); !errors.Is(err, bitgask.ErrClosed) {
		t.Fatalf("Commit = %v", err)
	}
	if err := tx.Commit(); !errors.Is(err, bitgask.ErrClosed) { // ended: still a clean error
		t.Fatalf("second Commit = %v", err)
	}
	tx = db.Begin() // on a closed DB: every call returns the reason
	if err := tx.Put([]byte("k"), nil); !errors.Is(err, bitgask.ErrClosed) {
		t.Fatalf("Put on a transaction begun after close = %v", err)
	}
	if err := tx.Commit(); !errors.Is(err, bitgask.ErrClosed) {
		t.Fatalf("Commit of a transaction begun after close = %v", err)
	}
	tx.Discard()
	db, err = bitgask.Open(dir, fast)
	must(t, err)
	defer db.Close()
	absent(t, db, "k")
}

func TestAnUnreachableTransactionIsFreedWritingNothing(t *testing.T) {
	db, _ := open(t, fast)
	func() {
		tx := db.Begin()
		must(t, tx.Put([]byte("k"), []byte("v")))
	}()
	runtime.GC()
	runtime.GC()
	absent(t, db, "k")
}

func TestUpdateRunsAgainAfterAConflict(t *testing.T) {
	db, _ := open(t, fast)
	must(t, db.Put([]byte("n"), []byte("0")))
	var runs []string
	err := db.Update(10, func(tx *bitgask.Txn) error {
		v, err := tx.Get([]byte("n"))
		if err != nil {
			return err
		}
		runs = append(runs, string(v))
		if len(runs) == 1 {
			must(t, db.Put([]byte("n"), []byte("10"))) // the first run conflicts
		}
		n, _ := strconv.Atoi(string(v))
		return tx.Put([]byte("n"), []byte(strconv.Itoa(n+1)))
	})
	must(t, err)
	if fmt.Sprint(runs) != "[0 10]" || get(t, db, "n") != "11" {
		t.Fatalf("runs %v, n = %s", runs, get(t, db, "n"))
	}
}

func TestUpdateGivesUpAndPassesErrorsThrough(t *testing.T) {
	db, _ := open(t, fast)
	runs := 0
	err := db.Update(3, func(tx *bitgask.Txn) error {
		runs++
		_, _ = tx.Get([]byte("k"))
		must(t, db.Put([]byte("k"), []byte(strconv.Itoa(runs))))
		return tx.Put([]byte("mine"), []byte("x"))
	})
	if !errors.Is(err, bitgask.ErrConflict) || runs != 3 {
		t.Fatalf("Update = %v after %d runs", err, runs)
	}
	absent(t, db, "mine")
	mine := errors.New("mine")
	err = db.Update(3, func(tx *bitgask.Txn) error {
		must(t, tx.Put([]byte("mine"), []byte("x")))
		return mine
	})
	if err != mine {
		t.Fatalf("Update = %v", err)
	}
	absent(t, db, "mine")
	if err := db.Update(0, func(*bitgask.Txn) error { return nil }); !errors.Is(err, bitgask.ErrInvalidArg) {
		t.Fatalf("Update(0) = %v", err)
	}
}

// Eight goroutines move amounts between ten accounts with Update; an auditor's transactions
// (reads only, committed: so all still current at once) always find the same total.
func TestTransfersUnderGoroutinesKeepTheTotal(t *testing.T) {
	db, _ := open(t, fast)
	const accounts, start = 10, 100
	b := bitgask.NewBatch()
	defer b.Close()
	for i := 0; i < accounts; i++ {
		must(t, b.Put([]byte(fmt.Sprintf("acct:%d", i)), []byte(strconv.Itoa(start))))
	}
	must(t, db.Write(b))
	readInt := func(tx *bitgask.Txn, key []byte) (int, error) {
		v, err := tx.Get(key)
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(string(v))
	}
	stop := make(chan struct{})
	audit := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				audit <- nil
				return
			default:
			}
			total := 0
			err := db.Update(1000, func(tx *bitgask.Txn) error {
				total = 0
				it := tx.Iter([]byte("acct:"))
				defer it.Close()
				for it.Next() {
					n, err := strconv.Atoi(string(it.Value()))
					if err != nil {
						return err
					}
					total += n
				}
				return it.Err()
			})
			if err == nil && total != accounts*start {
				err = fmt.Errorf("total %d", total)
			}
			if err != nil {
				audit <- err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	var runs atomic.Int64
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			for i := 0; i < 100; i++ {
				src := []byte(fmt.Sprintf("acct:%d", rng.Intn(accounts)))
				dst := []byte(fmt.Sprintf("acct:%d", rng.Intn(accounts)))
				amount := rng.Intn(5) + 1
				err := db.Update(1000, func(tx *bitgask.Txn) error {
					runs.Add(1)
					s, err := readInt(tx, src)
					if err != nil {
						return err
					}
					runtime.Gosched() // another goroutine in between the read and the write: conflicts
					if err := tx.Put(src, []byte(strconv.Itoa(s-amount))); err != nil {
						return err
					}
					d, err := readInt(tx, dst) // after the put: src == dst reads its own write
					if err != nil {
						return err
					}
					return tx.Put(dst, []byte(strconv.Itoa(d+amount)))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}(int64(g))
	}
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := <-audit; err != nil {
		t.Fatal(err)
	}
	total := 0
	for i := 0; i < accounts; i++ {
		n, _ := strconv.Atoi(get(t, db, fmt.Sprintf("acct:%d", i)))
		total += n
	}
	if total != accounts*start {
		t.Fatalf("total %d", total)
	}
	if runs.Load() <= 800 {
		t.Fatalf("%d runs for 800 transfers: no conflict was exercised", runs.Load())
	}
}
