package bitgask_test

import (
	"errors"
	"reflect"
	"testing"

	bitgask "bitgask/go"
)

func filled(t *testing.T) *bitgask.DB {
	db, _ := open(t, fast)
	for _, k := range []string{"d", "c", "ba", "b\x00x", "b", "a"} {
		must(t, db.Put([]byte(k), []byte(k+"!")))
	}
	return db
}

func drain(t *testing.T, it *bitgask.Iterator) []string {
	t.Helper()
	defer it.Close()
	var out []string
	for it.Next() {
		if string(it.Value()) != string(it.Key())+"!" {
			t.Fatalf("value of %q is %q", it.Key(), it.Value())
		}
		out = append(out, string(it.Key()))
	}
	must(t, it.Err())
	return out
}

func TestIterIsInByteOrder(t *testing.T) {
	db := filled(t)
	if got := drain(t, db.Iter(nil)); !reflect.DeepEqual(got, []string{"a", "b", "b\x00x", "ba", "c", "d"}) {
		t.Fatalf("got %q", got)
	}
}

func TestIterWithAPrefix(t *testing.T) {
	db := filled(t)
	if got := drain(t, db.Iter([]byte("b"))); !reflect.DeepEqual(got, []string{"b", "b\x00x", "ba"}) {
		t.Fatalf("got %q", got)
	}
	if got := drain(t, db.Iter([]byte("z"))); got != nil {
		t.Fatalf("got %q", got)
	}
}

func TestRangeIsStartInclusiveEndExclusive(t *testing.T) {
	db := filled(t)
	for _, c := range []struct {
		start, end []byte
		want       []string
	}{
		{[]byte("b"), []byte("c"), []string{"b", "b\x00x", "ba"}},
		{[]byte("c"), nil, []string{"c", "d"}},
		{nil, []byte("b"), []string{"a"}},
		{[]byte("a"), []byte{}, nil}, // an empty end is a bound, not "none"
	} {
		if got := drain(t, db.Range(c.start, c.end)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Range(%q, %q) = %q, want %q", c.start, c.end, got, c.want)
		}
	}
}

func TestKeyAndValueAreCopies(t *testing.T) {
	db := filled(t)
	it := db.Iter(nil)
	defer it.Close()
	it.Next()
	k := it.Key()
	it.Next()
	if string(k) != "a" {
		t.Fatalf("an earlier key changed to %q", k)
	}
}

func TestAnIteratorUsedAfterCloseReportsErrClosed(t *testing.T) {
	db := filled(t)
	it := db.Iter(nil)
	defer it.Close()
	if !it.Next() {
		t.Fatal("no first key")
	}
	must(t, db.Close())
	if it.Next() {
		t.Fatal("Next after Close returned true")
	}
	if !errors.Is(it.Err(), bitgask.ErrClosed) {
		t.Fatalf("Err = %v", it.Err())
	}
}

func TestAClosedIteratorEnds(t *testing.T) {
	db := filled(t)
	it := db.Iter(nil)
	must(t, it.Close())
	if it.Next() || it.Err() != nil {
		t.Fatalf("Next after Close: err %v", it.Err())
	}
}
