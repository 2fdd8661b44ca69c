package paxsync

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/driver"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wal"
)

// counter is the smallest deterministic game: it counts ticks and the
// inputs' bytes. (The arena needs two seats.)
type counter struct{ ticks, bytes uint64 }

func (g *counter) NumSeats() int                             { return 1 }
func (g *counter) Validate(int, []byte) *gamestate.Violation { return nil }
func (g *counter) Advance(_ uint64, in []gamestate.SeatInput) {
	g.ticks++
	g.bytes += uint64(len(in[0].Data))
}
func (g *counter) Snapshot() []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, g.ticks), g.bytes)
}
func (g *counter) Hash() crypto.Digest { return crypto.Sum(g.Snapshot()) }
func (g *counter) Restore(b []byte) error {
	if len(b) != 16 {
		return errors.New("counter: bad snapshot")
	}
	g.ticks, g.bytes = binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])
	return nil
}

// soloConfig is a one-seat match on 127.0.0.1: it decides on its own, so
// it writes its WAL without any peer.
func soloConfig(key *crypto.PrivateKey, dir string) Config {
	return Config{Key: key, MatchName: "wal-test", Roster: []crypto.PublicKey{key.Public()},
		NewGame: func() (gamestate.Game, error) { return &counter{}, nil }, TickRate: 60, WALDir: dir,
		Network: NetworkConfig{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}}}
}

// playTicks runs a session until it applied n ticks, then closes it.
func playTicks(t *testing.T, cfg Config, n uint64) {
	t.Helper()
	s, err := Join(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(60 * time.Second)
	for done := false; !done; {
		select {
		case ev := <-s.Events():
			if te, ok := ev.(TickEvent); ok && te.Tick+1 >= n {
				done = true
			}
		case <-deadline:
			s.Close()
			t.Fatalf("fewer than %d ticks in 60s", n)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func walPath(dir string) string { return filepath.Join(dir, "bft.wal") }

// A WAL damaged in the middle is not silently shortened: Join fails with
// the wal's CorruptError (file and offset) and leaves the file as it was.
func TestJoinRefusesDamagedWAL(t *testing.T) {
	keys, _ := testRoster(t, 1)
	dir := t.TempDir()
	playTicks(t, soloConfig(keys[0], dir), 40)
	data, err := os.ReadFile(walPath(dir))
	if err != nil || len(data) < 1000 {
		t.Fatalf("WAL after 40 ticks: %d bytes, %v", len(data), err)
	}
	data[len(data)/2] ^= 0x20
	os.WriteFile(walPath(dir), data, 0o600)
	_, err = Join(context.Background(), soloConfig(keys[0], dir))
	var ce *wal.CorruptError
	if !errors.Is(err, wal.ErrCorrupt) || !errors.As(err, &ce) || ce.Offset > int64(len(data)/2) ||
		!strings.Contains(err.Error(), walPath(dir)) || !strings.Contains(err.Error(), fmt.Sprintf("byte %d", ce.Offset)) {
		t.Fatalf("Join on a damaged WAL: %v", err)
	}
	if after, _ := os.ReadFile(walPath(dir)); !bytes.Equal(after, data) {
		t.Fatal("Join changed a damaged WAL")
	}
}

// A WAL directory of another match (or seat, or key) is named as such.
func TestJoinRefusesForeignWAL(t *testing.T) {
	keys, _ := testRoster(t, 2)
	dir := t.TempDir()
	playTicks(t, soloConfig(keys[0], dir), 5)
	_, err := Join(context.Background(), soloConfig(keys[1], dir))
	if !errors.Is(err, wal.ErrWrongOwner) || !strings.Contains(err.Error(), "belongs to another match") || errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("Join on another match's WAL: %v", err)
	}
}

// syncBuffer is a log sink safe for the session's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A torn final write (what a crash leaves) is cut, logged with its offset,
// and the session restores everything before it.
func TestJoinCutsAndLogsTornTail(t *testing.T) {
	keys, _ := testRoster(t, 1)
	dir := t.TempDir()
	playTicks(t, soloConfig(keys[0], dir), 10)
	st, _ := os.Stat(walPath(dir))
	f, _ := os.OpenFile(walPath(dir), os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{0, 0, 1, 0, 9, 9, 9, 9, 1, 2, 3}) // a frame of 256 bytes, 3 present
	f.Close()
	var logs syncBuffer
	cfg := soloConfig(keys[0], dir)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s, err := Join(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	out := logs.String()
	if !strings.Contains(out, "cut a torn final write") || !strings.Contains(out, fmt.Sprintf("offset=%d bytes=11", st.Size())) {
		t.Fatalf("torn tail not logged:\n%s", out)
	}
}

// diskFull is a WAL that fails like a full disk from its n-th Append on.
type diskFull struct {
	driver.WAL
	mu sync.Mutex
	n  int
}

func (d *diskFull) Append(recs []bft.Record) error {
	d.mu.Lock()
	d.n--
	fail := d.n <= 0
	d.mu.Unlock()
	if fail {
		return fmt.Errorf("wal: write bft.wal: %w", syscall.ENOSPC)
	}
	return d.WAL.Append(recs)
}

// When the WAL cannot write, the session ends: a FatalEvent is the last
// event, Events closes, Err and Close return the error, and input is
// refused.
func TestWALFailureEndsSession(t *testing.T) {
	walWrapper = func(w driver.WAL) driver.WAL { return &diskFull{WAL: w, n: 20} }
	defer func() { walWrapper = nil }()
	keys, _ := testRoster(t, 1)
	cfg := soloConfig(keys[0], t.TempDir())
	cfg.EventBuffer = 1 // the FatalEvent must get through a full buffer
	s, err := Join(context.Background(), cfg)
	walWrapper = nil
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var last Event
	deadline := time.After(60 * time.Second)
	for open := true; open; {
		select {
		case ev, ok := <-s.Events():
			if ok {
				last = ev
			}
			open = ok
		case <-deadline:
			t.Fatal("the session did not end after its WAL failed")
		}
	}
	fe, ok := last.(FatalEvent)
	if !ok || !errors.Is(fe.Err, syscall.ENOSPC) || !strings.Contains(fe.Err.Error(), "no space left on device") {
		t.Fatalf("last event %T %v, want a FatalEvent with ENOSPC", last, last)
	}
	if s.Err() != fe.Err {
		t.Fatalf("Err() = %v, want %v", s.Err(), fe.Err)
	}
	if err := s.SubmitInput(nil); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("SubmitInput after the fatal error: %v", err)
	}
	if err := s.Close(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Close: %v", err)
	}
}

// The default WALDir is per match and seat under $XDG_STATE_HOME; a
// restarted session finds its votes there. MemoryWAL writes no file.
func TestDefaultWALDir(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	keys, _ := testRoster(t, 1)
	cfg := soloConfig(keys[0], MemoryWAL)
	playTicks(t, cfg, 3)
	if ents, _ := os.ReadDir(state); len(ents) != 0 {
		t.Fatalf("MemoryWAL wrote %d entries under the state directory", len(ents))
	}
	// With no start time nothing tells this match from an earlier one of
	// the same name and roster: no default directory.
	cfg.WALDir = ""
	playTicks(t, cfg, 3)
	if ents, _ := os.ReadDir(state); len(ents) != 0 {
		t.Fatalf("a match without Epoch wrote %d entries under the state directory", len(ents))
	}
	cfg.Epoch = time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	playTicks(t, cfg, 3)
	match := crypto.NewMatchID(cfg.MatchName, cfg.Roster)
	dir := filepath.Join(state, "paxsync", fmt.Sprintf("wal-test-%x-20261201T200000.000000000Z", match[:8]), "seat0-"+keys[0].Public().Hex()[:16])
	st, err := os.Stat(walPath(dir))
	if err != nil || st.Size() == 0 {
		t.Fatalf("default WAL: %v", err)
	}
	var logs syncBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	playTicks(t, cfg, 3)
	if !strings.Contains(logs.String(), "path="+walPath(dir)) || strings.Contains(logs.String(), "restored_records=0") {
		t.Fatalf("restart did not restore from the default WAL:\n%s", logs.String())
	}
}

func TestWALSyncConfig(t *testing.T) {
	keys, _ := testRoster(t, 1)
	cfg := soloConfig(keys[0], MemoryWAL)
	if c, _, err := cfg.withDefaults(); err != nil || c.WALSync != WALSyncPower {
		t.Fatalf("default WALSync: %q %v", c.WALSync, err)
	}
	cfg.WALSync = "fast"
	if _, _, err := cfg.withDefaults(); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "WALSync") {
		t.Fatalf("unknown WALSync: %v", err)
	}
}

// RecoverLostWAL is the way back from a damaged WAL: Join keeps the
// damaged file aside (unchanged) and starts a new log that records the
// recovery, so this seat never votes again in the match, even after a
// later restart without the flag.
func TestRecoverLostWALKeepsDamagedFileAndMarksNewLog(t *testing.T) {
	keys, _ := testRoster(t, 1)
	dir := t.TempDir()
	playTicks(t, soloConfig(keys[0], dir), 40)
	data, _ := os.ReadFile(walPath(dir))
	data[len(data)/2] ^= 0x20
	os.WriteFile(walPath(dir), data, 0o600)
	cfg := soloConfig(keys[0], dir)
	cfg.RecoverLostWAL = true
	s, err := Join(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Join with RecoverLostWAL on a damaged WAL: %v", err)
	}
	s.Close()
	aside, _ := filepath.Glob(walPath(dir) + ".damaged-*")
	if len(aside) != 1 {
		t.Fatalf("damaged WAL not kept aside: %v", aside)
	}
	if kept, _ := os.ReadFile(aside[0]); !bytes.Equal(kept, data) {
		t.Fatal("the damaged WAL kept aside differs from what was on disk")
	}
	l, recs, err := wal.Open(walPath(dir), wal.Options{Policy: wal.SyncProcess})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	marked := false
	for _, r := range recs {
		marked = marked || bytes.Equal(r, []byte{6})
	}
	if !marked {
		t.Fatalf("the new WAL (%d records) does not record the recovery", len(recs))
	}
}

// The same players replaying a match of the same name and roster make the
// same match ID; an explicit WALDir reused for the second match must not
// restore the first one's votes (they would block every slot, or replay
// the old log): the start time in the WAL's owner tells them apart.
func TestJoinRefusesWALOfEarlierMatchInstance(t *testing.T) {
	keys, _ := testRoster(t, 1)
	dir := t.TempDir()
	cfg := soloConfig(keys[0], dir)
	cfg.Epoch = time.Now().Add(-time.Hour)
	playTicks(t, cfg, 3)
	cfg.Epoch = time.Now()
	_, err := Join(context.Background(), cfg)
	if !errors.Is(err, wal.ErrWrongOwner) || !strings.Contains(err.Error(), "an earlier match with the same name and roster") {
		t.Fatalf("Join with the WAL of an earlier match of the same name: %v", err)
	}
}
