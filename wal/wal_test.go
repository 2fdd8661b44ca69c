package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

func open(t *testing.T, path string, opts Options) (*Log, [][]byte) {
	t.Helper()
	l, recs, err := Open(path, opts)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return l, recs
}

// writeLog makes a closed log at path holding groups, and returns the
// file's bytes and the offset of every frame (header first, if any).
func writeLog(t *testing.T, path string, owner []byte, groups ...[][]byte) ([]byte, []int) {
	t.Helper()
	l, _ := open(t, path, Options{Policy: SyncProcess, Owner: owner})
	for _, g := range groups {
		if err := l.Append(g...); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var starts []int
	for off := 0; off < len(data); {
		n, ok := intactAt(data, off)
		if !ok {
			t.Fatalf("freshly written log not intact at %d", off)
		}
		starts = append(starts, off)
		off += headerSize + n
	}
	return data, starts
}

func TestRoundTripAllPolicies(t *testing.T) {
	for _, p := range []Policy{SyncNone, SyncProcess, SyncPower} {
		t.Run(p.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			l, got := open(t, path, Options{Policy: p})
			if len(got) != 0 {
				t.Fatalf("fresh open: %d records", len(got))
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
			l, got = open(t, path, Options{Policy: p})
			if !equal(got, want) {
				t.Fatalf("reopen: %d records", len(got))
			}
			if err := l.Append([]byte("more")); err != nil {
				t.Fatal(err)
			}
			l.Close()
			l, got = open(t, path, Options{Policy: p})
			l.Close()
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
// must reopen to the complete records before the cut, report the cut
// exactly (offset and length), and take later appends after them.
func TestTornTailEveryCut(t *testing.T) {
	dir := t.TempDir()
	first := recsN(3, 7)
	last := [][]byte{[]byte("last-group-a"), []byte("last-group-b")}
	full, starts := writeLog(t, filepath.Join(dir, "log"), []byte("me"), first, last)
	bounds := append([]int{0}, starts[1:]...) // file start, end of the header, end of each record
	bounds = append(bounds, len(full))
	for cut := 0; cut <= len(full); cut++ {
		p := filepath.Join(dir, fmt.Sprintf("cut%d", cut))
		os.WriteFile(p, full[:cut], 0o600)
		l, got := open(t, p, Options{Policy: SyncProcess, Owner: []byte("me")})
		complete, end := 0, 0
		for i, b := range bounds {
			if b <= cut {
				end = b
				if i >= 2 {
					complete++
				}
			}
		}
		if len(got) != complete {
			t.Fatalf("cut %d: %d records, want %d", cut, len(got), complete)
		}
		tear := l.Recovery().Tear
		switch {
		case end == cut && tear != nil:
			t.Fatalf("cut %d at a frame boundary reported a tear: %+v", cut, tear)
		case end != cut && (tear == nil || tear.Offset != int64(end) || tear.Bytes != int64(cut-end) || tear.Reason == ""):
			t.Fatalf("cut %d: tear %+v, want offset %d, %d bytes", cut, tear, end, cut-end)
		}
		if err := l.Append([]byte("after")); err != nil {
			t.Fatal(err)
		}
		l.Close()
		l, got2 := open(t, p, Options{Policy: SyncProcess, Owner: []byte("me")})
		l.Close()
		if len(got2) != complete+1 || string(got2[complete]) != "after" || l.Recovery().Tear != nil {
			t.Fatalf("cut %d: append after torn tail not readable", cut)
		}
	}
}

// A power loss may leave the unacknowledged last group zero-filled or
// half on disk: with nothing intact after it, that is a tear.
func TestZeroFilledAndDamagedTailIsATear(t *testing.T) {
	dir := t.TempDir()
	full, starts := writeLog(t, filepath.Join(dir, "log"), nil, recsN(4, 30))
	for name, data := range map[string][]byte{
		"zeros":     append(bytes.Clone(full), make([]byte, 700)...),
		"last-flip": func() []byte { b := bytes.Clone(full); b[len(b)-5] ^= 0x10; return b }(),
		"huge-len":  append(bytes.Clone(full), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 2),
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o600)
		l, got := open(t, p, Options{Policy: SyncPower})
		want := 4
		if name == "last-flip" {
			want = 3
		}
		tear := l.Recovery().Tear
		l.Close()
		if len(got) != want || tear == nil {
			t.Fatalf("%s: %d records, tear %+v", name, len(got), tear)
		}
		if st, _ := os.Stat(p); st.Size() != tear.Offset {
			t.Fatalf("%s: file is %d bytes after cutting at %d", name, st.Size(), tear.Offset)
		}
		if name == "last-flip" && tear.Offset != int64(starts[3]) {
			t.Fatalf("last-flip cut at %d, want %d", tear.Offset, starts[3])
		}
	}
}

// A flipped byte anywhere before the last frame is damage, never a tear:
// Open names the file and the damaged frame's offset and leaves the file
// alone. A flip in the last frame is indistinguishable from a torn write
// and is cut, and reported.
func TestFlippedByteAnywhere(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	full, starts := writeLog(t, path, []byte("owner"), recsN(3, 5), recsN(2, 9))
	frameOf := func(off int) int {
		k := 0
		for i, s := range starts {
			if s <= off {
				k = i
			}
		}
		return k
	}
	last := len(starts) - 1
	for off := range full {
		for _, bit := range []byte{0x01, 0x80} {
			data := bytes.Clone(full)
			data[off] ^= bit
			os.WriteFile(path, data, 0o600)
			l, got, err := Open(path, Options{Policy: SyncProcess, Owner: []byte("owner")})
			k := frameOf(off)
			if k == last {
				if err != nil || len(got) != last-1 || l.Recovery().Tear == nil || l.Recovery().Tear.Offset != int64(starts[last]) {
					t.Fatalf("flip at %d (last frame): %v, %d records", off, err, len(got))
				}
				l.Close()
				continue
			}
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("flip at %d (frame %d): got %v, want a CorruptError", off, k, err)
			}
			if ce.Path != path || ce.Offset != int64(starts[k]) || ce.Next != int64(starts[k+1]) {
				t.Fatalf("flip at %d: %+v, want offset %d next %d", off, ce, starts[k], starts[k+1])
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprintf("byte %d", starts[k])) {
				t.Fatalf("error does not name the file and offset: %v", err)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
				t.Fatalf("flip at %d: Open changed a corrupt log", off)
			}
		}
	}
}

// The issue 12 case: one flipped byte at 1% of a ~296 KB log. The old Open
// returned the 10 records before it and truncated the other 997 away.
func TestFlippedByteAtOnePercentIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	recs := make([][]byte, 1007)
	for i := range recs {
		recs[i] = bytes.Repeat([]byte{byte(i), byte(i >> 8)}, 143)
	}
	full, _ := writeLog(t, path, nil, recs)
	at := len(full) / 100
	full[at] ^= 0x04
	os.WriteFile(path, full, 0o600)
	_, got, err := Open(path, Options{Policy: SyncProcess})
	var ce *CorruptError
	if !errors.As(err, &ce) || got != nil {
		t.Fatalf("got %d records, err %v; want a CorruptError", len(got), err)
	}
	if ce.Offset > int64(at) || ce.Offset+int64(headerSize+286) <= int64(at) {
		t.Fatalf("damage reported at %d, byte %d was flipped", ce.Offset, at)
	}
	if st, _ := os.Stat(path); st.Size() != int64(len(full)) {
		t.Fatalf("corrupt log truncated to %d bytes", st.Size())
	}
}

func TestOwnerHeader(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	want := recsN(3, 4)
	data, _ := writeLog(t, path, []byte("seat-1"), want)
	l, got := open(t, path, Options{Policy: SyncPower, Owner: []byte("seat-1")})
	if !equal(got, want) || !bytes.Equal(l.Recovery().Owner, []byte("seat-1")) || l.Recovery().Legacy {
		t.Fatalf("own log: %d records, recovery %+v", len(got), l.Recovery())
	}
	l.Close()
	_, _, err := Open(path, Options{Policy: SyncPower, Owner: []byte("seat-3")})
	var oe *OwnerError
	if !errors.As(err, &oe) || !errors.Is(err, ErrWrongOwner) || string(oe.Have) != "seat-1" || oe.Path != path {
		t.Fatalf("foreign owner: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
		t.Fatal("Open changed a foreign log")
	}
	// No expected owner: no check, the header is still not a record.
	l, got = open(t, path, Options{Policy: SyncPower})
	l.Close()
	if !equal(got, want) || string(l.Recovery().Owner) != "seat-1" {
		t.Fatalf("unchecked open: %d records, %+v", len(got), l.Recovery())
	}
	// A log written without a header is accepted as legacy.
	legacy := filepath.Join(dir, "legacy")
	writeLog(t, legacy, nil, want)
	l, got = open(t, legacy, Options{Policy: SyncPower, Owner: []byte("seat-1")})
	l.Close()
	if !equal(got, want) || !l.Recovery().Legacy || l.Recovery().Owner != nil {
		t.Fatalf("legacy: %d records, %+v", len(got), l.Recovery())
	}
	// Its first compaction stamps it.
	l, _ = open(t, legacy, Options{Policy: SyncPower, Owner: []byte("seat-1")})
	if err := l.Rewrite(want[:1]); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, _, err := Open(legacy, Options{Policy: SyncPower, Owner: []byte("seat-2")}); !errors.Is(err, ErrWrongOwner) {
		t.Fatalf("a compacted legacy log has no owner header: %v", err)
	}
}

func TestAppendRejectsUnreadableRecords(t *testing.T) {
	l, _ := open(t, filepath.Join(t.TempDir(), "log"), Options{Policy: SyncProcess})
	defer l.Close()
	for _, r := range [][]byte{{}, append(bytes.Clone(ownerMagic), 'x')} {
		if err := l.Append([]byte("ok"), r); err == nil {
			t.Fatalf("record %q accepted", r)
		}
	}
	if st := l.Stats(); st.Groups != 0 || st.Bytes != 0 {
		t.Fatalf("a rejected group was written: %+v", st)
	}
}

// Under SyncPower each group is one write and one fsync, and an empty
// group costs nothing; the other policies never fsync on Append.
func TestOneFsyncPerGroup(t *testing.T) {
	for _, p := range []Policy{SyncNone, SyncProcess, SyncPower} {
		l, _ := open(t, filepath.Join(t.TempDir(), "log"), Options{Policy: p, Owner: []byte("o")})
		base := l.Stats().Syncs
		for i := 1; i <= 7; i++ {
			if err := l.Append(recsN(i, 100)...); err != nil {
				t.Fatal(err)
			}
			if err := l.Append(); err != nil {
				t.Fatal(err)
			}
		}
		st := l.Stats()
		l.Close()
		wantSyncs := uint64(0)
		if p == SyncPower {
			wantSyncs = 7
		}
		if st.Groups != 7 || st.Syncs-base != wantSyncs {
			t.Fatalf("%v: %+v (base %d syncs), want 7 groups, %d fsyncs", p, st, base, wantSyncs)
		}
	}
}

// After a failed write the log refuses to append after a possibly partial
// frame.
func TestWriteErrorIsSticky(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	l, _ := open(t, path, Options{Policy: SyncProcess})
	ro, err := os.Open(path) // a descriptor that cannot write, as a full disk cannot
	if err != nil {
		t.Fatal(err)
	}
	l.f.Close()
	l.f = ro
	first := l.Append([]byte("a"))
	if first == nil {
		t.Fatal("write through a read-only descriptor succeeded")
	}
	if err := l.Append([]byte("b")); err != first {
		t.Fatalf("second append: %v, want the first error %v", err, first)
	}
	if err := l.Rewrite([][]byte{[]byte("c")}); err != first {
		t.Fatalf("rewrite after a failed write: %v", err)
	}
	l.Close()
}

func TestRewriteCompacts(t *testing.T) {
	for _, p := range []Policy{SyncNone, SyncProcess, SyncPower} {
		path := filepath.Join(t.TempDir(), "log")
		l, _ := open(t, path, Options{Policy: p, Owner: []byte("me")})
		l.Append(recsN(10, 100)...)
		keep := recsN(2, 5)
		syncs := l.Stats().Syncs
		if err := l.Rewrite(keep); err != nil {
			t.Fatal(err)
		}
		if l.Stats().Syncs != syncs+1 {
			t.Fatalf("%v: rewrite made %d fsyncs of the log, want 1", p, l.Stats().Syncs-syncs)
		}
		l.Append([]byte("tail"))
		l.Close()
		if _, err := os.Stat(path + TempSuffix); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v: temp file left after a rewrite: %v", p, err)
		}
		l, got := open(t, path, Options{Policy: p, Owner: []byte("me")})
		l.Close()
		if !equal(got, append(keep, []byte("tail"))) || string(l.Recovery().Owner) != "me" {
			t.Fatalf("%v: rewrite: got %d records, owner %q", p, len(got), l.Recovery().Owner)
		}
	}
}

// A crash after the new content is written and synced but before the
// rename leaves the old log complete; the next Open removes the temp file.
func TestRewriteCrashBeforeRenameKeepsOldLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	old := recsN(6, 50)
	l, _ := open(t, path, Options{Policy: SyncPower, Owner: []byte("me")})
	l.Append(old[:3]...)
	l.Append(old[3:]...)
	crashPoint = func() { panic("crash") }
	defer func() { crashPoint = nil }()
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("crash point not reached")
			}
		}()
		l.Rewrite(recsN(1, 5))
	}()
	crashPoint = nil
	if _, err := os.Stat(path + TempSuffix); err != nil {
		t.Fatalf("the simulated crash left no temp file: %v", err)
	}
	// The crashed process's descriptors die with it; a new one opens.
	l2, got := open(t, path, Options{Policy: SyncPower, Owner: []byte("me")})
	l2.Close()
	l.Close()
	if !equal(got, old) || !l2.Recovery().RemovedTemp || l2.Recovery().Tear != nil {
		t.Fatalf("after a crash before rename: %d records, recovery %+v", len(got), l2.Recovery())
	}
	if _, err := os.Stat(path + TempSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover temp file not removed: %v", err)
	}
}

// A rewrite that fails before its rename leaves the old log in place and
// appendable.
func TestRewriteFailureKeepsOldLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	l, _ := open(t, path, Options{Policy: SyncProcess})
	l.Append([]byte("one"))
	if err := os.Mkdir(path+TempSuffix, 0o700); err != nil { // the temp file cannot be created
		t.Fatal(err)
	}
	if err := l.Rewrite([][]byte{[]byte("new")}); err == nil {
		t.Fatal("rewrite over a directory succeeded")
	}
	if err := l.Append([]byte("two")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	os.Remove(path + TempSuffix)
	_, got := open(t, path, Options{Policy: SyncProcess})
	if !equal(got, [][]byte{[]byte("one"), []byte("two")}) {
		t.Fatalf("after a failed rewrite: %q", got)
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

// FuzzScan: Scan never panics, its records re-encode to exactly the valid
// prefix, and it reports a tear only when no intact frame follows.
func FuzzScan(f *testing.F) {
	var l Log
	l.encode(nil, recsN(3, 9))
	f.Add(bytes.Clone(l.buf))
	f.Add(append(bytes.Clone(l.buf[:20]), l.buf[30:]...))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, good, err := Scan(data)
		var re []byte
		for _, r := range recs {
			re = appendFrame(re, r)
		}
		if !bytes.Equal(re, data[:good]) {
			t.Fatalf("records do not re-encode to the %d-byte prefix", good)
		}
		found := -1
		for y := good + 1; y < len(data); y++ {
			if _, ok := intactAt(data, y); ok {
				found = y
				break
			}
		}
		var ce *CorruptError
		switch {
		case found < 0 && err != nil:
			t.Fatalf("damage reported with no intact frame after it: %v", err)
		case found >= 0 && (!errors.As(err, &ce) || ce.Next != int64(found) || ce.Offset != int64(good)):
			t.Fatalf("intact frame at %d after damage at %d, got %v", found, good, err)
		}
	})
}

// BenchmarkAppend measures one group write per policy for Ready groups of
// typical sizes: one ~200-byte vote, a Verify + Confirm + prepared
// certificate (~1.2 KB), and four ~2 KB records (a batch-heavy Ready).
func BenchmarkAppend(b *testing.B) {
	groups := []struct {
		name  string
		sizes []int
	}{
		{"1x200B", []int{200}},
		{"3rec-1200B", []int{200, 200, 800}},
		{"4x2000B", []int{2000, 2000, 2000, 2000}},
	}
	for _, p := range []Policy{SyncNone, SyncProcess, SyncPower} {
		for _, g := range groups {
			b.Run(p.String()+"/"+g.name, func(b *testing.B) {
				l, _, err := Open(filepath.Join(b.TempDir(), "log"), Options{Policy: p})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				var recs [][]byte
				total := 0
				for _, n := range g.sizes {
					recs = append(recs, bytes.Repeat([]byte{1}, n))
					total += n + headerSize
				}
				b.SetBytes(int64(total))
				b.ReportAllocs()
				for b.Loop() {
					if err := l.Append(recs...); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func TestMkdirAll(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "a", "b", "c")
	if err := MkdirAll(dir); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		t.Fatalf("created %v %v", st, err)
	}
	if err := MkdirAll(dir); err != nil {
		t.Fatalf("existing directory: %v", err)
	}
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o600)
	if err := MkdirAll(filepath.Join(file, "sub")); err == nil {
		t.Fatal("a directory under a file was created")
	}
}
