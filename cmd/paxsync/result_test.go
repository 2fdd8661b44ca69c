package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/roster"
	"github.com/paxsync/paxsync/wire"
)

// resultFixture writes a roster file and a replay that ends with a
// result certificate of a 4-seat arena match's initial state, signed by
// seats 0, 1 and 3; it returns their paths and the certificate's bytes.
func resultFixture(t *testing.T) (dir, rosterPath, replayPath string, cert []byte) {
	t.Helper()
	dir = t.TempDir()
	keys := make([]*crypto.PrivateKey, 4)
	pubs := make([]crypto.PublicKey, 4)
	hexes := make([]string, 4)
	for i := range keys {
		k, err := crypto.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys[i], pubs[i], hexes[i] = k, k.Public(), k.Public().Hex()
	}
	data, _ := json.Marshal(roster.File{Match: "ladder-final", Players: hexes})
	rosterPath = filepath.Join(dir, "roster.json")
	if err := os.WriteFile(rosterPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	h := &gamestate.Header{Name: "ladder-final", Roster: pubs, TickRate: 60, InputDelay: 2, HashInterval: 30, Game: arena.Params(4, 1)}
	game, _ := arena.New(4, 1)
	eng, err := gamestate.NewEngine(game, h.Config())
	if err != nil {
		t.Fatal(err)
	}
	snap := eng.Snapshot()
	w := wire.NewWriter(nil)
	w.Uvarint(64)
	w.Bytes32(crypto.Sum(snap))
	w.Uvarint(0)
	body := w.Bytes()
	var sigs []crypto.Envelope
	for _, s := range []int{0, 1, 3} {
		sigs = append(sigs, crypto.NewSigner(keys[s], h.MatchID(), uint16(s)).Sign(wire.TypeCheckpoint, body))
	}
	var buf bytes.Buffer
	rw, err := gamestate.NewReplayWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := rw.WriteResult(body, sigs, snap); err != nil {
		t.Fatal(err)
	}
	replayPath = filepath.Join(dir, "match.replay")
	if err := os.WriteFile(replayPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &gamestate.ResultCertificate{Name: h.Name, Roster: pubs, Checkpoint: body, Cert: sigs, Snapshot: snap}
	return dir, rosterPath, replayPath, c.Encode()
}

// TestResultVerifyCommand: extract takes the certificate out of a replay,
// verify accepts it against its roster (exit 0, printing the result) and
// refuses a changed copy (exit 1) or another match's roster (exit 1);
// missing arguments exit 2.
func TestResultVerifyCommand(t *testing.T) {
	dir, rosterPath, replayPath, cert := resultFixture(t)
	out := filepath.Join(dir, "final.cert")
	if code, stdout, stderr := cmdline("result", "extract", "-o", out, replayPath); code != 0 || !strings.Contains(stdout, "wrote "+out) {
		t.Fatalf("extract: exit %d, %q %q", code, stdout, stderr)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, cert) {
		t.Fatal("extracted certificate differs from the one recorded")
	}
	code, stdout, stderr := cmdline("result", "verify", "--roster", rosterPath, out)
	if code != 0 {
		t.Fatalf("verify: exit %d, %q", code, stderr)
	}
	for _, want := range []string{`result verified: match "ladder-final"`, "signed by seats [0 1 3] (quorum 3)", "flagged: none", "verdicts: 0"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("verify output lacks %q:\n%s", want, stdout)
		}
	}
	dec, _ := gamestate.DecodeResultCertificate(cert)
	id := crypto.Digest(dec.MatchID()).Hex()
	if code, _, stderr := cmdline("result", "verify", "--roster", rosterPath, "--match-id", id, out); code != 0 {
		t.Errorf("--match-id of its own instance: exit %d, %q", code, stderr)
	}
	if code, _, stderr := cmdline("result", "verify", "--roster", rosterPath, "--match-id", strings.Repeat("ab", 32), out); code != 1 || !strings.Contains(stderr, "match instance") {
		t.Errorf("--match-id of a rematch: exit %d, %q", code, stderr)
	}
	bad := bytes.Clone(cert)
	bad[len(bad)-1] ^= 1
	badPath := filepath.Join(dir, "bad.cert")
	_ = os.WriteFile(badPath, bad, 0o600)
	if code, _, stderr := cmdline("result", "verify", "--roster", rosterPath, badPath); code != 1 || !strings.Contains(stderr, "does not verify") {
		t.Errorf("a changed certificate: exit %d, %q", code, stderr)
	}
	_, other, _, _ := resultFixture(t)
	if code, _, stderr := cmdline("result", "verify", "--roster", other, out); code != 1 {
		t.Errorf("another match's roster: exit %d, %q", code, stderr)
	}
	if code, _, _ := cmdline("result", "verify", out); code != 2 {
		t.Errorf("no --roster: exit %d, want 2", code)
	}
	if code, _, _ := cmdline("result", "verify", "--roster", rosterPath, filepath.Join(dir, "missing")); code != 2 {
		t.Errorf("a missing file: exit %d, want 2", code)
	}
	if code, _, _ := cmdline("result"); code != 2 {
		t.Errorf("no subcommand: exit %d, want 2", code)
	}
}
