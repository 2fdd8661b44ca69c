package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/wire"
)

// recordReplay writes the replay of a 4-seat arena match of the given
// ticks in which seat 2 forges seat 3's input from tick 10 on, every tick:
// the verdict spam a persistent cheater produces. It returns the file.
func recordReplay(t *testing.T, ticks uint64) []byte {
	t.Helper()
	var keys []*crypto.PrivateKey
	var ros []crypto.PublicKey
	for i := 0; i < 4; i++ {
		k, err := crypto.KeyFromSeed(bytes.Repeat([]byte{byte(0x20 + i)}, 32))
		if err != nil {
			t.Fatal(err)
		}
		keys, ros = append(keys, k), append(ros, k.Public())
	}
	h := &gamestate.Header{Name: "replay-cli", Roster: ros, TickRate: 30, InputDelay: 2, HashInterval: 30,
		Game: arena.Params(4, 7)}
	cfg := h.Config()
	var signers []*crypto.Signer
	for i, k := range keys {
		signers = append(signers, crypto.NewSigner(k, h.MatchID(), uint16(i)))
	}
	game, err := arena.FromParams(h.Game)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := gamestate.NewEngine(game, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	rw, err := gamestate.NewReplayWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(signer, seat int, tick uint64, c arena.Controls) crypto.Envelope {
		body := (&gamestate.Input{Seat: uint16(seat), Tick: tick, Data: arena.EncodeInput(c)}).Encode()
		return signers[signer].Sign(wire.TypeInput, body)
	}
	var hashes []crypto.Envelope
	for tick := uint64(0); tick < ticks; tick++ {
		b := &gamestate.Batch{First: tick, Hashes: hashes}
		hashes = nil
		ti := gamestate.TickInputs{Seats: make([]*crypto.Envelope, 4)}
		for s := range ti.Seats {
			e := sign(s, s, tick, arena.Controls{Turn: int8(s%3 - 1)})
			ti.Seats[s] = &e
		}
		b.Ticks = []gamestate.TickInputs{ti}
		if tick >= 10 {
			b.Evidence = []gamestate.Evidence{{Kind: gamestate.ForgedInput,
				Envelopes: []crypto.Envelope{sign(2, 3, tick, arena.Controls{Thrust: 1})}}}
		}
		if err := gamestate.ValidateBatch(b, cfg.Verifier, cfg.Rules()); err != nil {
			t.Fatalf("tick %d: %v", tick, err)
		}
		if err := rw.WriteBatch(b); err != nil {
			t.Fatal(err)
		}
		res, err := eng.Apply(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range res.Ticks {
			if !tr.Checkpoint {
				continue
			}
			if err := rw.WriteHash(tr.Tick, tr.Hash); err != nil {
				t.Fatal(err)
			}
			for s := range signers {
				body := (&gamestate.StateHash{Seat: uint16(s), Tick: tr.Tick, Hash: tr.Hash}).Encode()
				hashes = append(hashes, signers[s].Sign(wire.TypeStateHash, body))
			}
		}
	}
	if err := rw.WriteEnd(signers[0], eng.Next()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, name string, data []byte) string {
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// headerLen is the length of the magic and the header record: what a
// peer that records nothing leaves behind.
func headerLen(file []byte) int {
	const magic = 16
	n := int(file[magic])<<24 | int(file[magic+1])<<16 | int(file[magic+2])<<8 | int(file[magic+3])
	return magic + 4 + n + 4
}

// TestReplayVerifySummarises: a cheater caught every tick gives one line
// per (seat, kind) by default; -v lists every verdict. (It forges from
// tick 10 to the end; the log records the first MaxVerdictsPerKind.)
func TestReplayVerifySummarises(t *testing.T) {
	const ticks = 120
	path := writeFile(t, "m.replay", recordReplay(t, ticks))
	code, stdout, stderr := cmdline("replay", "verify", path)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	const kept = gamestate.MaxVerdictsPerKind
	want := fmt.Sprintf("verdicts: %d, against 1 (seat, kind) pairs, each re-checked\n  seat 2 forged-input: %d times, ticks 10–%d\n",
		kept, kept, 10+kept-1)
	if !strings.Contains(stdout, fmt.Sprintf("ticks: %d in %d batches", ticks, ticks)) || !strings.Contains(stdout, want) {
		t.Fatalf("stdout:\n%s\nwant it to contain:\n%s", stdout, want)
	}
	if n := strings.Count(stdout, "\nverdict: "); n != 0 {
		t.Fatalf("%d single verdict lines without -v", n)
	}
	// -v, before or after FILE.
	for _, args := range [][]string{{"replay", "verify", "-v", path}, {"replay", "verify", path, "-v"}} {
		code, stdout, _ := cmdline(args...)
		if code != 0 || strings.Count(stdout, "\nverdict: forged-input against seat 2 at tick ") != kept || !strings.Contains(stdout, want) {
			t.Fatalf("%v: exit %d, stdout:\n%s", args, code, stdout)
		}
	}
}

// TestReplayVerifyRefusesIncomplete: a replay cut in half, or holding only
// the header (what a crash-restarted peer leaves), proves nothing: it
// fails (exit 3) saying it is incomplete and where it ends, unless
// --allow-partial is given; so does one cut exactly before its end record.
// A version-1 file is refused as such (exit 2).
func TestReplayVerifyRefusesIncomplete(t *testing.T) {
	file := recordReplay(t, 90)
	half := writeFile(t, "half.replay", file[:len(file)/2])
	header := writeFile(t, "header.replay", file[:headerLen(file)])
	noEnd := writeFile(t, "noend.replay", file[:lastRecordStart(t, file)])
	for _, c := range []struct {
		path string
		want []string
	}{
		{half, []string{"is incomplete: it ends inside a record at byte ", ", after tick "}},
		{header, []string{"is incomplete: it holds only the header (", "no tick"}},
		{noEnd, []string{"is incomplete: it has no end record (at byte ", ", tick 89)"}},
	} {
		code, stdout, stderr := cmdline("replay", "verify", c.path)
		if code != 3 || strings.Contains(stdout, "proof:") {
			t.Errorf("%s: exit %d, want 3; stdout %q stderr %q", c.path, code, stdout, stderr)
		}
		for _, w := range append(c.want, "--allow-partial accepts it") {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr %q lacks %q", c.path, stderr, w)
			}
		}
		code, _, stderr = cmdline("replay", "verify", "--allow-partial", c.path)
		if code != 0 || !strings.Contains(stderr, "warning: "+c.path+" is incomplete: ") {
			t.Errorf("%s --allow-partial: exit %d, stderr %q", c.path, code, stderr)
		}
	}
	if code, _, stderr := cmdline("replay", "verify", writeFile(t, "bad.replay", []byte("nope"))); code != 1 || !strings.Contains(stderr, "does not verify") {
		t.Errorf("garbage: exit %d, stderr %q", code, stderr)
	}
	v1 := append([]byte("paxsync-replay\x00\x01"), file[16:]...)
	if code, _, stderr := cmdline("replay", "verify", writeFile(t, "v1.replay", v1)); code != 2 || !strings.Contains(stderr, "format version 1") {
		t.Errorf("version-1 file: exit %d, stderr %q", code, stderr)
	}
}

// lastRecordStart is the offset of a whole replay's last record (its end
// record): cutting there leaves a file of whole records without an end.
func lastRecordStart(t *testing.T, file []byte) int {
	t.Helper()
	off, last := 16, 16
	for off < len(file) {
		n := int(file[off])<<24 | int(file[off+1])<<16 | int(file[off+2])<<8 | int(file[off+3])
		last, off = off, off+4+n+4
	}
	if off != len(file) {
		t.Fatal("not a whole replay")
	}
	return last
}
