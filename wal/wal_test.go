package wal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func recsN(n, size int) [][]byte {
	var out [][]byte
	for i := 0; i < n; i++ {
		out = append(out, bytes.Repeat([]byte{byte(i + 1)}, size+i))
	}
	return out
}

func equal(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestRoundTripAllPolicies(t *testing.T) {
	for _, p := range []Policy{SyncNone, SyncProcess, SyncPower} {
		t.Run(p.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			l, got, err := Open(path, p)
			if err != nil || len(got) != 0 {
				t.Fatalf("fresh open: %v %d", err, len(got))
			}
			want := recsN(5, 10)
			if err := l.Append(want[:2]...); err != nil {
				t.Fatal(err)
			}
			if err := l.Append(want[2:]...); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l, got, err = Open(path, p)
			if err != nil || !equal(got, want) {
				t.Fatalf("reopen: %v, %d records", err, len(got))
			}
			if err := l.Append([]byte("more")); err != nil {
				t.Fatal(err)
			}
			l.Close()
			_, got, _ = Open(path, p)
			if !equal(got, append(want, []byte("more"))) {
				t.Fatalf("append after reopen lost data: %d records", len(got))
			}
			if err := l.Append([]byte("x")); err != ErrClosed {
				t.Fatalf("append after close: %v", err)
			}
		})
	}
}

// A crash can cut the last group write anywhere: every prefix of the file
// must reopen to the complete records before the cut, and later appends
// must land after them.
func TestTornTailEveryCut(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	l, _, _ := Open(path, SyncProcess)
	first := recsN(3, 7)
	l.Append(first...)
	l.Append([]byte("last-group-a"), []byte("last-group-b"))
	l.Close()
	full, _ := os.ReadFile(path)
	var boundaries []int
	off := 0
	for _, r := range append(first, []byte("last-group-a"), []byte("last-group-b")) {
		off += headerSize + len(r)
		boundaries = append(boundaries, off)
	}
	for cut := 0; cut <= len(full); cut++ {
		p := filepath.Join(dir, fmt.Sprintf("cut%d", cut))
		os.WriteFile(p, full[:cut], 0o600)
		l, got, err := Open(p, SyncProcess)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		complete := 0
		for _, b := range boundaries {
			if b <= cut {
				complete++
			}
		}
		if len(got) != complete {
			t.Fatalf("cut %d: %d records, want %d", cut, len(got), complete)
		}
		l.Append([]byte("after"))
		l.Close()
		_, got2, _ := Open(p, SyncProcess)
		if len(got2) != complete+1 || string(got2[complete]) != "after" {
			t.Fatalf("cut %d: append after torn tail not readable", cut)
		}
	}
}

func TestCorruptRecordEndsLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	l, _, _ := Open(path, SyncProcess)
	l.Append(recsN(4, 20)...)
	l.Close()
	b, _ := os.ReadFile(path)
	b[headerSize+20+headerSize+3] ^= 0x40 // inside record 2's data
	os.WriteFile(path, b, 0o600)
	_, got, err := Open(path, SyncProcess)
	if err != nil || len(got) != 1 {
		t.Fatalf("want 1 record before the corrupt one, got %d (%v)", len(got), err)
	}
	// A huge length field is damage, not an allocation.
	bad := []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 2}
	if recs, good := Scan(bad); len(recs) != 0 || good != 0 {
		t.Fatalf("huge length accepted")
	}
}

func TestRewriteCompacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	l, _, _ := Open(path, SyncPower)
	l.Append(recsN(10, 100)...)
	keep := recsN(2, 5)
	if err := l.Rewrite(keep); err != nil {
		t.Fatal(err)
	}
	l.Append([]byte("tail"))
	l.Close()
	_, got, _ := Open(path, SyncPower)
	if !equal(got, append(keep, []byte("tail"))) {
		t.Fatalf("rewrite: got %d records", len(got))
	}
}

func TestParsePolicy(t *testing.T) {
	for _, p := range []Policy{SyncNone, SyncProcess, SyncPower} {
		if q, err := ParsePolicy(p.String()); err != nil || q != p {
			t.Fatalf("%v: %v", p, err)
		}
	}
	if _, err := ParsePolicy("fast"); err == nil {
		t.Fatal("unknown policy accepted")
	}
}

// BenchmarkAppend measures one group write of a typical bft Ready (a
// Verify, a Confirm and a prepared-certificate record) per policy.
func BenchmarkAppend(b *testing.B) {
	group := [][]byte{make([]byte, 120), make([]byte, 120), make([]byte, 700)}
	for _, p := range []Policy{SyncNone, SyncProcess, SyncPower} {
		b.Run(p.String(), func(b *testing.B) {
			l, _, err := Open(filepath.Join(b.TempDir(), "log"), p)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.SetBytes(int64(940 + 3*headerSize))
			b.ReportAllocs()
			for b.Loop() {
				if err := l.Append(group...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
