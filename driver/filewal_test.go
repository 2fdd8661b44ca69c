package driver

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/wal"
)

func TestFileWALReopenAndTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal")
	w, recs, err := OpenFileWAL(path, wal.SyncPower)
	if err != nil || len(recs) != 0 {
		t.Fatalf("open: %v %d", err, len(recs))
	}
	if err := w.Append([]bft.Record{[]byte("a"), []byte("bb")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Append([]bft.Record{[]byte("ccc")}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	st, _ := os.Stat(path)
	// A crash in the middle of the last group write: half a record.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{0, 0, 0, 9, 1, 2, 3, 4, 'x'})
	f.Close()
	w, recs, err = OpenFileWAL(path, wal.SyncPower)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || string(recs[0]) != "a" || string(recs[1]) != "bb" || string(recs[2]) != "ccc" {
		t.Fatalf("records %q", recs)
	}
	if st2, _ := os.Stat(path); st2.Size() != st.Size() {
		t.Fatalf("torn tail not cut: %d vs %d", st2.Size(), st.Size())
	}
	// A flipped bit in a record ends the log there.
	if err := w.Append([]bft.Record{[]byte("dddd")}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	data, _ := os.ReadFile(path)
	data[len(data)-1] ^= 1
	os.WriteFile(path, data, 0o600)
	w, recs, err = OpenFileWAL(path, wal.SyncPower)
	if err != nil || len(recs) != 3 {
		t.Fatalf("after corruption: %v %d records", err, len(recs))
	}
	w.Close()
}
