package driver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wal"
)

func TestFileWALReopenTornTailAndDamage(t *testing.T) {
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
	if tear := w.Recovery().Tear; tear == nil || tear.Offset != st.Size() || tear.Bytes != 9 {
		t.Fatalf("torn tail not reported: %+v", tear)
	}
	if st2, _ := os.Stat(path); st2.Size() != st.Size() {
		t.Fatalf("torn tail not cut: %d vs %d", st2.Size(), st.Size())
	}
	if err := w.Append([]bft.Record{[]byte("dddd")}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// A flipped bit in a record that other records follow is damage: the
	// open fails, naming file and offset, and the file is left alone.
	data, _ := os.ReadFile(path)
	data[8+1+8] ^= 1 // a byte of record "bb"
	os.WriteFile(path, data, 0o600)
	_, _, err = OpenFileWAL(path, wal.SyncPower)
	var ce *wal.CorruptError
	if !errors.As(err, &ce) || ce.Offset != 9 || !strings.Contains(err.Error(), path) {
		t.Fatalf("damage before the end: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(data) {
		t.Fatal("a damaged WAL was changed")
	}
}

func TestFileWALOwner(t *testing.T) {
	dir := t.TempDir()
	var keys []crypto.PublicKey
	for i := 0; i < 4; i++ {
		seed := make([]byte, 32)
		seed[0] = byte(i + 1)
		k, _ := crypto.KeyFromSeed(seed)
		keys = append(keys, k.Public())
	}
	match := crypto.NewMatchID("owner-test", keys)
	other := crypto.NewMatchID("another-match", keys)
	me := Owner{Match: match, Seat: 1, Key: keys[1]}
	path := filepath.Join(dir, "wal")
	w, _, err := OpenOwnedFileWAL(path, wal.SyncPower, me)
	if err != nil {
		t.Fatal(err)
	}
	w.Append([]bft.Record{[]byte("vote")})
	w.Close()
	w, recs, err := OpenOwnedFileWAL(path, wal.SyncPower, me)
	if err != nil || len(recs) != 1 || string(recs[0]) != "vote" {
		t.Fatalf("own WAL: %v %q", err, recs)
	}
	w.Close()
	for _, tc := range []struct {
		who  Owner
		want string
	}{
		{Owner{Match: match, Seat: 3, Key: keys[3]}, "belongs to seat 1 (key " + keys[1].Hex()[:16] + ")"},
		{Owner{Match: other, Seat: 1, Key: keys[1]}, "belongs to another match"},
		{Owner{Match: match, Seat: 1, Key: keys[2]}, "belongs to another key (" + keys[1].Hex()[:16] + ") at seat 1"},
	} {
		_, _, err := OpenOwnedFileWAL(path, wal.SyncPower, tc.who)
		var we *WrongOwnerError
		if !errors.As(err, &we) || !errors.Is(err, wal.ErrWrongOwner) || !strings.Contains(err.Error(), tc.want) || errors.Is(err, wal.ErrCorrupt) {
			t.Fatalf("opened as %+v: %v (want %q)", tc.who, err, tc.want)
		}
	}
}

// countingWAL checks the driver's side of the one-fsync-per-Ready promise:
// one Append per Ready with records, none without (a compacting Ready is
// one Rewrite instead).
type countingWAL struct {
	*FileWAL
	t                 *testing.T
	appends, rewrites atomic.Int64
}

func (c *countingWAL) Rewrite(recs []bft.Record) error {
	c.rewrites.Add(1)
	return c.FileWAL.Rewrite(recs)
}

func (c *countingWAL) Append(recs []bft.Record) error {
	if len(recs) == 0 {
		c.t.Errorf("Append called with no records")
	}
	c.appends.Add(1)
	return c.FileWAL.Append(recs)
}

// Every seat runs on a SyncPower file WAL: each Append is one group write
// and exactly one fsync (a compaction Rewrite one more), and no Append is
// made for a Ready without records.
// After a restart the seat resumes from its file.
func TestFileWALOneFsyncPerReady(t *testing.T) {
	dir := t.TempDir()
	wals := make([]*countingWAL, 4)
	base := make([]uint64, 4)
	restored := make([]int, 4)
	r := newRig(t, 4, func(r *rig) {
		r.walOf = func(i int) (WAL, []bft.Record) {
			fw, recs, err := OpenOwnedFileWAL(filepath.Join(dir, fmt.Sprintf("wal%d", i)), wal.SyncPower,
				Owner{Match: r.match, Seat: i, Key: r.roster[i]})
			if err != nil {
				t.Fatal(err)
			}
			wals[i], base[i], restored[i] = &countingWAL{FileWAL: fw, t: t}, fw.Stats().Syncs, len(recs)
			return wals[i], recs
		}
	})
	r.propose(0, 30)
	r.waitLogs([]int{0, 1, 2, 3}, 30)
	for i := range wals {
		r.stop(i)
		st := wals[i].Stats()
		n, rw := wals[i].appends.Load(), wals[i].rewrites.Load()
		if n == 0 || st.Groups != uint64(n) || st.Syncs-base[i] != uint64(n+rw) {
			t.Errorf("seat %d: %d appends and %d rewrites, wal stats %+v (%d fsyncs at open)", i, n, rw, st, base[i])
		}
		wals[i].Close()
	}
	r.start(1, true)
	if wals[1].Recovery().Tear != nil {
		t.Fatalf("a clean stop left a torn tail: %+v", wals[1].Recovery().Tear)
	}
	if restored[1] == 0 {
		t.Fatal("the restarted seat found no records in its file")
	}
	r.stop(1)
	wals[1].Close()
}

// failingWAL fails every Append from the n-th on with ENOSPC, as a full
// disk does, and records when it started failing.
type failingWAL struct {
	MemWAL
	n      int
	calls  int
	failed atomic.Bool
	// d, if set, is the driver writing to it: at the failure, inFlight
	// is what its broadcaster had queued (or was sending) from Readies
	// persisted before, which may still leave.
	d        atomic.Pointer[Driver]
	inFlight atomic.Int64
}

func (f *failingWAL) Append(recs []bft.Record) error {
	f.calls++
	if f.calls >= f.n {
		if d := f.d.Load(); d != nil && d.bcast != nil && !f.failed.Load() {
			f.inFlight.Store(int64(len(d.bcast.q)) + 1)
		}
		f.failed.Store(true)
		return fmt.Errorf("wal: write /x/bft.wal: %w", syscall.ENOSPC)
	}
	return f.MemWAL.Append(recs)
}

// watchSends flags any broadcast made after its WAL failed.
type watchSends struct {
	Transport
	w     *failingWAL
	mu    sync.Mutex
	after int
}

func (s *watchSends) Broadcast(env crypto.Envelope) error {
	if s.w.failed.Load() {
		s.mu.Lock()
		s.after++
		s.mu.Unlock()
	}
	return s.Transport.Broadcast(env)
}

// A WAL that cannot write stops the driver: Run returns the error (the
// disk-full case: errors.Is ENOSPC), and nothing is broadcast once the
// write failed, since the votes it would protect are not durable.
func TestWALFailureStopsDriver(t *testing.T) {
	fw := &failingWAL{n: 5}
	var ws *watchSends
	r := newRig(t, 4, func(r *rig) {
		r.walOf = func(i int) (WAL, []bft.Record) {
			if i == 0 {
				return fw, nil
			}
			return r.wals[i], nil
		}
		r.transportOf = func(i int) Transport {
			if i == 0 {
				ws = &watchSends{Transport: r.net.Endpoint(0), w: fw}
				return ws
			}
			return r.net.Endpoint(i)
		}
	})
	fw.d.Store(r.drv[0])
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for k := 0; ; k++ {
		if err := r.drv[0].Propose(ctx, []byte(fmt.Sprintf("v%d", k))); err != nil {
			if !errors.Is(err, ErrStopped) {
				t.Fatalf("propose: %v", err)
			}
			break
		}
	}
	var err error
	select {
	case err = <-r.done[0]:
	case <-ctx.Done():
		t.Fatal("the driver kept running after its WAL failed")
	}
	r.cancel[0]()
	r.cancel[0] = nil
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("Run returned %v, want the WAL's ENOSPC", err)
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	// Broadcasts leave through a sender goroutine: what a Ready persisted
	// before the failure had queued may still go out (it is durable), and
	// nothing else may.
	if ws.after > int(fw.inFlight.Load()) {
		t.Fatalf("%d broadcasts after the WAL failed, %d were queued before it", ws.after, fw.inFlight.Load())
	}
}

// compactingWAL counts the driver's Rewrite calls on a FileWAL.
type compactingWAL struct {
	*FileWAL
	rewrites atomic.Int64
}

func (c *compactingWAL) Rewrite(recs []bft.Record) error {
	c.rewrites.Add(1)
	return c.FileWAL.Rewrite(recs)
}

// After stable checkpoints the driver replaces each file WAL with the
// node's compacted records (Ready.Compact), so the file stays smaller than
// everything appended; a seat restarted from its compacted WAL rejoins and
// agrees.
func TestCompactionRewritesFileWAL(t *testing.T) {
	dir := t.TempDir()
	wals := make([]*compactingWAL, 4)
	restored := make([]int, 4)
	path := func(i int) string { return filepath.Join(dir, fmt.Sprintf("wal%d", i)) }
	r := newRig(t, 4, func(r *rig) {
		r.walOf = func(i int) (WAL, []bft.Record) {
			fw, recs, err := OpenOwnedFileWAL(path(i), wal.SyncProcess, Owner{Match: r.match, Seat: i, Key: r.roster[i]})
			if err != nil {
				t.Fatal(err)
			}
			wals[i], restored[i] = &compactingWAL{FileWAL: fw}, len(recs)
			return wals[i], recs
		}
	})
	r.propose(0, 60)
	r.waitLogs([]int{0, 1, 2, 3}, 60)
	r.stop(2)
	appended := wals[2].Stats().Bytes
	wals[2].Close()
	st, err := os.Stat(path(2))
	if err != nil {
		t.Fatal(err)
	}
	if wals[2].rewrites.Load() == 0 || uint64(st.Size()) >= appended {
		t.Fatalf("seat 2: %d rewrites, file %d bytes after appending %d", wals[2].rewrites.Load(), st.Size(), appended)
	}
	r.net.Reset(2)
	r.start(2, true)
	if restored[2] == 0 {
		t.Fatal("seat 2 restored nothing from its compacted WAL")
	}
	r.propose(60, 80)
	logs := r.waitLogs([]int{0, 1, 2, 3}, 80)
	sameLogs(t, logs, 80)
	for i := range wals {
		r.stop(i)
		wals[i].Close()
	}
}
