package bitgask_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bitgask "bitgask/go"
)

// fast: per-write sync off; the tests are about the binding, not the disk.
var fast = &bitgask.Options{NoSyncOnPut: true, NoSyncOnDelete: true}

func open(t *testing.T, opts *bitgask.Options) (*bitgask.DB, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	db, err := bitgask.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestPutThenGet(t *testing.T) {
	db, _ := open(t, fast)
	must(t, db.Put([]byte("k"), []byte("v")))
	v, err := db.Get([]byte("k"))
	if err != nil || string(v) != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
}

func TestGetOfAnAbsentKeyIsErrNotFound(t *testing.T) {
	db, _ := open(t, fast)
	_, err := db.Get([]byte("nope"))
	if !errors.Is(err, bitgask.ErrNotFound) || err != bitgask.ErrNotFound {
		t.Fatalf("err = %v", err)
	}
}

func TestKeysAndValuesWithNulBytes(t *testing.T) {
	db, _ := open(t, fast)
	key, value := []byte{0, 'a', 0, 0xff}, []byte{0, 1, 0}
	must(t, db.Put(key, value))
	v, err := db.Get(key)
	if err != nil || !bytes.Equal(v, value) {
		t.Fatalf("Get = %v, %v", v, err)
	}
	if has, _ := db.Has([]byte{0, 'a'}); has {
		t.Fatal("a prefix of the key is present")
	}
}

func TestEmptyValueRoundTrips(t *testing.T) {
	db, _ := open(t, fast)
	must(t, db.Put([]byte("k"), nil))
	v, err := db.Get([]byte("k"))
	if err != nil || v == nil || len(v) != 0 {
		t.Fatalf("Get = %v (nil: %v), %v", v, v == nil, err)
	}
}

func TestHasAndDelete(t *testing.T) {
	db, _ := open(t, fast)
	must(t, db.Put([]byte("k"), []byte("v")))
	if has, err := db.Has([]byte("k")); !has || err != nil {
		t.Fatalf("Has = %v, %v", has, err)
	}
	must(t, db.Delete([]byte("k")))
	if has, _ := db.Has([]byte("k")); has {
		t.Fatal("deleted key still present")
	}
	if err := db.Delete([]byte("k")); !errors.Is(err, bitgask.ErrNotFound) {
		t.Fatalf("second Delete = %v", err)
	}
}

func TestAnEmptyKeyIsInvalid(t *testing.T) {
	db, _ := open(t, fast)
	var be *bitgask.Error
	err := db.Put(nil, []byte("v"))
	if !errors.As(err, &be) || be.Status != bitgask.StatusInvalidArg || !errors.Is(err, bitgask.ErrInvalidArg) {
		t.Fatalf("err = %v", err)
	}
}

func TestATooLargeKeyCarriesItsStatusAndMessage(t *testing.T) {
	db, _ := open(t, &bitgask.Options{MaxKeySize: 4})
	err := db.Put([]byte("12345"), []byte("v"))
	var be *bitgask.Error
	if !errors.As(err, &be) || be.Status != bitgask.StatusTooLarge || !bytes.Contains([]byte(be.Message), []byte("max_key_size")) {
		t.Fatalf("err = %#v", err)
	}
}

func TestPutTTLExpires(t *testing.T) {
	db, _ := open(t, fast)
	must(t, db.PutTTL([]byte("k"), []byte("v"), 30*time.Millisecond))
	if has, _ := db.Has([]byte("k")); !has {
		t.Fatal("key missing before its TTL")
	}
	time.Sleep(80 * time.Millisecond)
	if _, err := db.Get([]byte("k")); !errors.Is(err, bitgask.ErrNotFound) {
		t.Fatalf("Get after TTL = %v", err)
	}
}

func TestTTLExpirePersist(t *testing.T) {
	db, _ := open(t, fast)
	must(t, db.Put([]byte("k"), []byte("v")))
	if ttl, err := db.TTL([]byte("k")); ttl != bitgask.NoExpiry || err != nil {
		t.Fatalf("TTL = %v, %v", ttl, err)
	}
	must(t, db.Expire([]byte("k"), 10*time.Second))
	if ttl, _ := db.TTL([]byte("k")); ttl <= 9*time.Second || ttl > 10*time.Second {
		t.Fatalf("TTL after Expire = %v", ttl)
	}
	must(t, db.Persist([]byte("k")))
	if ttl, _ := db.TTL([]byte("k")); ttl != bitgask.NoExpiry {
		t.Fatalf("TTL after Persist = %v", ttl)
	}
	for name, err := range map[string]error{
		"TTL":     func() error { _, err := db.TTL([]byte("absent")); return err }(),
		"Expire":  db.Expire([]byte("absent"), time.Second),
		"Persist": db.Persist([]byte("absent")),
	} {
		if !errors.Is(err, bitgask.ErrNotFound) {
			t.Errorf("%s of an absent key = %v", name, err)
		}
	}
}

func TestBadTTLsAreInvalidAndWriteNothing(t *testing.T) {
	db, _ := open(t, fast)
	for _, ttl := range []time.Duration{0, -time.Second} {
		if err := db.PutTTL([]byte("k"), []byte("v"), ttl); !errors.Is(err, bitgask.ErrInvalidArg) {
			t.Errorf("PutTTL(%v) = %v", ttl, err)
		}
	}
	if has, _ := db.Has([]byte("k")); has {
		t.Fatal("a refused PutTTL wrote")
	}
}

func TestASecondOpenIsLocked(t *testing.T) {
	_, dir := open(t, nil)
	_, err := bitgask.Open(dir, nil)
	var be *bitgask.Error
	if !errors.Is(err, bitgask.ErrLocked) || !errors.As(err, &be) || be.Status != bitgask.StatusLocked {
		t.Fatalf("err = %v", err)
	}
}

func TestCloseReleasesTheLockAndIsIdempotent(t *testing.T) {
	db, dir := open(t, nil)
	must(t, db.Put([]byte("k"), []byte("v")))
	must(t, db.Close())
	must(t, db.Close())
	db2, err := bitgask.Open(dir, nil)
	must(t, err)
	defer db2.Close()
	if v, _ := db2.Get([]byte("k")); string(v) != "v" {
		t.Fatalf("after reopen: %q", v)
	}
}

func TestCallsAfterCloseAreErrClosed(t *testing.T) {
	db, _ := open(t, nil)
	must(t, db.Close())
	_, getErr := db.Get([]byte("k"))
	_, hasErr := db.Has([]byte("k"))
	for name, err := range map[string]error{
		"Put": db.Put([]byte("k"), nil), "Get": getErr, "Has": hasErr, "Delete": db.Delete([]byte("k")),
		"Sync": db.Sync(), "Iter": db.Iter(nil).Err(),
	} {
		if !errors.Is(err, bitgask.ErrClosed) {
			t.Errorf("%s after Close = %v", name, err)
		}
	}
}

func TestBadOptionsAreInvalid(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []*bitgask.Options{
		{MaxFileSize: 10}, {MergeTriggerRatio: 2}, {Compression: 7}, {SyncInterval: -time.Second},
	} {
		if _, err := bitgask.Open(filepath.Join(dir, "db"), o); !errors.Is(err, bitgask.ErrInvalidArg) {
			t.Errorf("Open(%+v) = %v", *o, err)
		}
	}
}

func TestEveryOptionIsAccepted(t *testing.T) {
	db, _ := open(t, &bitgask.Options{
		NoSyncOnPut: true, NoSyncOnDelete: true, SyncInterval: 100 * time.Millisecond, MaxFileSize: 1 << 20,
		MaxKeySize: 1024, MaxValueSize: 1 << 20, DefaultTTL: time.Hour, NoHintFiles: true,
		Compression: bitgask.CodecSnappy, CompressionThreshold: 64, LockTimeout: 10 * time.Millisecond,
		MergeTriggerRatio: 0.5, MergeMinTotal: 1 << 20, MergeInterval: -1, MergeOnOpen: true,
		MergeMaxFileSize: 1 << 20, GarbageRatio: 0.3, MinMergeFiles: 2, MaxMergeFiles: 4,
		MinMergeTotal: 1 << 20, MaxMergeBytes: 1 << 30,
	})
	big := bytes.Repeat([]byte("z"), 10000)
	must(t, db.Put([]byte("k"), big))
	if v, _ := db.Get([]byte("k")); !bytes.Equal(v, big) {
		t.Fatal("value changed")
	}
	if ttl, _ := db.TTL([]byte("k")); ttl <= 59*time.Minute {
		t.Fatalf("DefaultTTL not applied: %v", ttl)
	}
}

func TestEightGoroutinesShareOneDB(t *testing.T) {
	db, _ := open(t, fast)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				k := []byte(fmt.Sprintf("g%d-%03d", g, i))
				if err := db.Put(k, k); err != nil {
					errs <- err
					return
				}
				if v, err := db.Get(k); err != nil || !bytes.Equal(v, k) {
					errs <- fmt.Errorf("Get(%s) = %q, %v", k, v, err)
					return
				}
				if i%2 == 1 {
					if err := db.Delete(k); err != nil {
						errs <- err
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s, _ := db.Stats(); s.Keys != 8*100 {
		t.Fatalf("keys = %d", s.Keys)
	}
}

func TestCloseWaitsForCallsInFlight(t *testing.T) {
	db, _ := open(t, fast)
	var wg sync.WaitGroup
	started := make(chan struct{}, 8)
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			k := []byte(fmt.Sprintf("k%d", g))
			for i := 0; ; i++ {
				err := db.Put(k, []byte("v"))
				if i == 0 {
					started <- struct{}{}
				}
				if errors.Is(err, bitgask.ErrClosed) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	for i := 0; i < 8; i++ {
		<-started
	}
	must(t, db.Close())
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestSpaceReportsTheReserveAndRoom(t *testing.T) {
	db, dir := open(t, &bitgask.Options{ReserveBytes: 64 << 10, MergeInterval: -1})
	s, err := db.Space()
	if err != nil || s.ReserveSize != 64<<10 || s.ReserveBytes != 64<<10 || s.Full || s.NoSpaceErrors != 0 || s.FreeBytes == 0 {
		t.Fatalf("Space = %+v, %v", s, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "bitgask.reserve")); err != nil || fi.Size() != 64<<10 {
		t.Fatalf("reserve file: %v, %v", fi, err)
	}
}

func TestStatsSyncMergeBackup(t *testing.T) {
	db, dir := open(t, &bitgask.Options{NoSyncOnPut: true, MaxFileSize: 256, MergeInterval: -1})
	for round := 0; round < 5; round++ {
		for i := 0; i < 10; i++ {
			must(t, db.Put([]byte(fmt.Sprintf("k%d", i)), bytes.Repeat([]byte{byte('0' + round)}, 20)))
		}
	}
	must(t, db.Sync())
	before, err := db.Stats()
	if err != nil || before.Keys != 10 || before.DataFiles < 2 || before.DeadBytes == 0 || !before.LastMerge.IsZero() {
		t.Fatalf("Stats = %+v, %v", before, err)
	}
	if merged, err := db.Merge(true); !merged || err != nil {
		t.Fatalf("Merge = %v, %v", merged, err)
	}
	after, _ := db.Stats()
	if after.Merges != 1 || after.DeadBytes >= before.DeadBytes || after.LastMerge.IsZero() {
		t.Fatalf("after merge: %+v", after)
	}
	copyDir := filepath.Join(filepath.Dir(dir), "copy")
	must(t, db.Backup(copyDir))
	if err := db.Backup(copyDir); !errors.Is(err, bitgask.ErrInvalidArg) {
		t.Fatalf("Backup onto a backup = %v", err)
	}
	c, err := bitgask.Open(copyDir, nil)
	must(t, err)
	defer c.Close()
	if v, _ := c.Get([]byte("k3")); !bytes.Equal(v, bytes.Repeat([]byte("4"), 20)) {
		t.Fatalf("backup has %q", v)
	}
}

func TestCloseOfAPoisonedHandleReturnsErrPoisonedOnceAndReleasesTheLock(t *testing.T) {
	restore := bitgask.PoisonCloses()
	defer restore()
	dir := filepath.Join(t.TempDir(), "db")
	db, err := bitgask.Open(dir, fast)
	must(t, err)
	must(t, db.Put([]byte("k"), []byte("v")))
	err = db.Close()
	var e *bitgask.Error
	if !errors.Is(err, bitgask.ErrPoisoned) || !errors.As(err, &e) || e.Status != bitgask.StatusPoisoned {
		t.Fatalf("Close = %v", err)
	}
	must(t, db.Close()) // closed already: nil
	if _, err := db.Get([]byte("k")); !errors.Is(err, bitgask.ErrClosed) {
		t.Fatalf("Get after Close = %v", err)
	}
	again, err := bitgask.Open(dir, fast) // the LOCK was released
	must(t, err)
	restore()
	must(t, again.Close())
}
