package tests

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/internal/adversary"
	"github.com/paxsync/paxsync/wire"
)

// rawRecords splits a replay file into its magic and its whole records
// (length | kind | body | checksum), the header first, so a test can drop
// or replace one exactly as an attacker editing the file would.
func rawRecords(t *testing.T, file []byte) (magic []byte, recs [][]byte) {
	t.Helper()
	const magicLen = len("paxsync-replay\x00\x02")
	magic, rest := file[:magicLen], file[magicLen:]
	for len(rest) >= 4 {
		n := int(binary.BigEndian.Uint32(rest)) + 8
		if n > len(rest) {
			t.Fatalf("torn record in a whole file")
		}
		recs, rest = append(recs, rest[:n]), rest[n:]
	}
	return magic, recs
}

// decodedRecords reads the records after the header, aligned with
// rawRecords' recs[1:].
func decodedRecords(t *testing.T, file []byte) []gamestate.ReplayRecord {
	t.Helper()
	rr, err := gamestate.NewReplayReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	var out []gamestate.ReplayRecord
	for {
		rec, err := rr.Next()
		if err != nil {
			return out
		}
		out = append(out, rec)
	}
}

func joinRecords(magic []byte, recs [][]byte) []byte {
	out := bytes.Clone(magic)
	for _, r := range recs {
		out = append(out, r...)
	}
	return out
}

// runReplayVerify runs `paxsync replay verify FILE` and returns its exit
// status, stdout and stderr.
func runReplayVerify(t *testing.T, exe string, file []byte) (int, string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.replay")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "replay", "verify", path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("replay verify: %v", err)
	return 0, "", ""
}

// recordCheaterMatch plays a 4-seat match over memnet in which seat 3
// speed-hacks (invalid-move) from tick 30, and returns honest seat 0's
// replay, as its session recorded it.
func recordCheaterMatch(t *testing.T) []byte {
	t.Helper()
	o := matchOpts{peers: 4, ticks: 120, rate: 60, seed: 5, net: overMemnet}
	o.cheat = map[int]*adversary.Cheat{3: {Kind: adversary.InvalidMove, FromTick: 30, Mutate: func(in []byte) []byte {
		c, err := arena.DecodeInput(in)
		if err != nil {
			return in
		}
		return arena.SpeedHackInput(c)
	}}}
	peers := runSessionMatch(t, o)
	return bytes.Clone(peers[0].rec.Bytes())
}

// TestReplayProvesInvalidMoveFromFileAlone is issue 14's property 5: a
// real session's replay proves the invalid-move verdict with nothing but
// the file (commit certificates, signed end record); the same file with
// one entry dropped, with one entry's inputs changed, or cut before its
// end record is rejected or reported incomplete, never verified.
func TestReplayProvesInvalidMoveFromFileAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("session test")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	file := recordCheaterMatch(t)
	exe := buildPaxsync(t)

	rep, err := gamestate.VerifyReplay(bytes.NewReader(file), arena.NewGame)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Proves() || rep.Entries == 0 || rep.EndSeat != 0 {
		t.Fatalf("replay is no proof: %+v (incomplete: %v)", rep, rep.Incomplete())
	}
	invalid := 0
	for _, v := range rep.Verdicts {
		if v.Kind == gamestate.InvalidMove && v.Offender == 3 {
			invalid++
		}
	}
	if invalid == 0 {
		t.Fatalf("no invalid-move verdict against seat 3 re-derived: %v", rep.Verdicts)
	}
	code, out, errOut := runReplayVerify(t, exe, file)
	if code != 0 || !strings.Contains(out, "proof: every verdict") || !strings.Contains(out, "seat 3 invalid-move") {
		t.Fatalf("intact replay: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	magic, recs := rawRecords(t, file)
	dec := decodedRecords(t, file)
	if len(dec) != len(recs)-1 {
		t.Fatalf("%d raw records, %d decoded", len(recs), len(dec))
	}
	// The entry whose batch holds the first invalid move: the one a
	// cheater's accomplice would drop.
	victim := -1
	for i, r := range dec {
		// An entry past tick 40 in which seat 1 has an entry to remove (on a
		// loaded machine some batches hold none of its inputs, and
		// "altering" those would change nothing).
		if r.Kind == "entry" && r.Batch != nil && len(r.Batch.Ticks) > 0 && r.Batch.First+uint64(len(r.Batch.Ticks)) > 40 && seatHasEntry(r.Batch, 1) {
			victim = i
			break
		}
	}
	if victim < 0 {
		t.Fatal("no entry past tick 40")
	}
	slot := dec[victim].Slot

	t.Run("dropped entry", func(t *testing.T) {
		cut := append(append([][]byte{}, recs[:victim+1]...), recs[victim+2:]...)
		code, out, errOut := runReplayVerify(t, exe, joinRecords(magic, cut))
		want := fmt.Sprintf("entry for slot %d missing", slot)
		if code != 1 || !strings.Contains(errOut, want) {
			t.Fatalf("exit %d, want 1 and %q\nstdout:\n%s\nstderr:\n%s", code, want, out, errOut)
		}
	})

	t.Run("altered entry", func(t *testing.T) {
		// Seat 1's inputs in the victim batch become "no input" (nil,
		// unsigned): what a forger would do to make an honest state hash
		// diverge. The certificate is kept; nobody can re-sign it.
		e := dec[victim]
		b := e.Batch
		for i := range b.Ticks {
			b.Ticks[i].Seats[1] = nil
		}
		r := wire.NewReader(e.Value)
		r.Blob("payload", wire.MaxMessageSize)
		tail := e.Value[len(e.Value)-r.Remaining():]
		w := wire.NewWriter(nil)
		w.Blob(b.Encode())
		value := append(w.Bytes(), tail...)
		var one bytes.Buffer
		rw, err := gamestate.NewReplayWriter(&one, &gamestate.Header{Name: "x", Roster: rep.Header.Roster, TickRate: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := rw.WriteEntry(e.Slot, e.View, value, e.Cert); err != nil {
			t.Fatal(err)
		}
		_, single := rawRecords(t, one.Bytes())
		forged := append([][]byte{}, recs...)
		forged[victim+1] = single[1]
		code, out, errOut := runReplayVerify(t, exe, joinRecords(magic, forged))
		want := fmt.Sprintf("entry for slot %d (record #%d) was not decided", slot, victim+1)
		if code != 1 || !strings.Contains(errOut, want) {
			t.Fatalf("exit %d, want 1 and %q\nstdout:\n%s\nstderr:\n%s", code, want, out, errOut)
		}
	})

	t.Run("truncated", func(t *testing.T) {
		if dec[len(dec)-1].Kind != "end" {
			t.Fatalf("last record is %s, want end", dec[len(dec)-1].Kind)
		}
		// Cut exactly before the end record, and inside the last record.
		for name, f := range map[string][]byte{
			"at a record boundary": joinRecords(magic, recs[:len(recs)-1]),
			"inside a record":      file[:len(file)-7],
		} {
			code, out, errOut := runReplayVerify(t, exe, f)
			if code != 3 || !strings.Contains(errOut, "incomplete") || strings.Contains(out, "proof:") {
				t.Errorf("%s: exit %d, want 3 and incomplete\nstdout:\n%s\nstderr:\n%s", name, code, out, errOut)
			}
		}
	})

	t.Run("dropped hash record", func(t *testing.T) {
		// A record the slot sequence does not cover is still named by
		// the end record's count and hash chain.
		for i, r := range dec {
			if r.Kind == "hash" {
				cut := append(append([][]byte{}, recs[:i+1]...), recs[i+2:]...)
				code, _, errOut := runReplayVerify(t, exe, joinRecords(magic, cut))
				if code != 1 || !strings.Contains(errOut, "end record") {
					t.Fatalf("exit %d, want 1 naming the end record\nstderr:\n%s", code, errOut)
				}
				return
			}
		}
		t.Fatal("no hash record")
	})
}

// lockedBuffer is a replay buffer the session writes on its driver
// goroutine and the test reads after Close.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// checkModeReplay closes s and checks the replay it recorded: with crash
// consensus a proof whose certificates hold f+1 Confirms of the 2f+1
// acceptors (the header says so); in broadcast mode nothing is agreed, so
// the batches are verified but uncertified, and the replay proves nothing.
func checkModeReplay(t *testing.T, s *paxsync.Session, rec *lockedBuffer, certified bool) {
	t.Helper()
	s.Close()
	rep, err := gamestate.VerifyReplay(bytes.NewReader(rec.bytes()), arena.NewGame)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if !rep.Ended || rep.Ticks == 0 {
		t.Fatalf("replay not complete: %+v", rep)
	}
	if certified && (!rep.Proves() || rep.Uncertified != 0 || rep.Header.CertQuorum() != 2) {
		t.Errorf("crash mode: want a proof with quorum 2: %+v", rep)
	}
	if !certified && (rep.Proves() || rep.Uncertified == 0 || rep.Entries != 0) {
		t.Errorf("broadcast mode: want uncertified batches only: %+v", rep)
	}
}

// seatHasEntry reports whether some tick of b holds an entry for seat.
func seatHasEntry(b *gamestate.Batch, seat int) bool {
	for _, t := range b.Ticks {
		if seat < len(t.Seats) && t.Seats[seat] != nil {
			return true
		}
	}
	return false
}
