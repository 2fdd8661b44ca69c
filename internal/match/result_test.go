package match

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/wire"
)

// certFile writes a result certificate of slot 64 over a fresh arena
// engine (seed picks its game state), signed by seats 0..2, for the
// match name and keys.
func certFile(t *testing.T, path, name string, keys []*crypto.PrivateKey, seed uint64) {
	t.Helper()
	pubs := make([]crypto.PublicKey, len(keys))
	for i, k := range keys {
		pubs[i] = k.Public()
	}
	h := &gamestate.Header{Name: name, Roster: pubs, TickRate: 60, InputDelay: 2, HashInterval: 30}
	game, _ := arena.New(len(keys), seed)
	eng, err := gamestate.NewEngine(game, h.Config())
	if err != nil {
		t.Fatal(err)
	}
	snap := eng.Snapshot()
	w := wire.NewWriter(nil)
	w.Uvarint(64)
	w.Bytes32(crypto.Sum(snap))
	w.Uvarint(0)
	c := &gamestate.ResultCertificate{Name: name, Roster: pubs, Checkpoint: w.Bytes(), Snapshot: snap}
	for s := 0; s < 3; s++ {
		c.Cert = append(c.Cert, crypto.NewSigner(keys[s], h.MatchID(), uint16(s)).Sign(wire.TypeCheckpoint, c.Checkpoint))
	}
	if err := os.WriteFile(path, c.Encode(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCheckResults: the runner accepts honest peers' certificates of one
// result, and fails the run for a certificate that does not verify, for
// two honest certificates of one slot that differ, and (results_verify)
// for an honest peer that wrote none.
func TestCheckResults(t *testing.T) {
	dir := t.TempDir()
	keys := make([]*crypto.PrivateKey, 4)
	hexes := make([]string, 4)
	for i := range keys {
		keys[i], _ = crypto.GenerateKey(rand.Reader)
		hexes[i] = keys[i].Public().Hex()
	}
	run := func(seeds []uint64, tamper int, expect bool) []string {
		sc := &Scenario{Peers: 4}
		sc.Expect.ResultsVerify = expect
		var procs []*proc
		rep := &Report{}
		for i := 0; i < 4; i++ {
			p := &proc{seat: i, cfg: PeerConfig{Seat: i, MatchName: "m", Roster: hexes, ResultFile: filepath.Join(dir, "r.cert."+string(rune('0'+i)))}}
			os.Remove(p.cfg.ResultFile)
			if seeds[i] != 0 {
				certFile(t, p.cfg.ResultFile, "m", keys, seeds[i])
			}
			if i == tamper {
				b, _ := os.ReadFile(p.cfg.ResultFile)
				b[len(b)-3] ^= 0x10
				os.WriteFile(p.cfg.ResultFile, b, 0o600)
			}
			procs = append(procs, p)
			rep.Peers = append(rep.Peers, PeerResult{Index: i})
		}
		var failed []string
		newRunState(sc, procs).checkResults(rep, func(f string, a ...any) { failed = append(failed, f) })
		var buf bytes.Buffer
		rep.printResults(&buf)
		if tamper < 0 && seeds[2] != 0 && strings.Count(buf.String(), "verified") != 4 {
			t.Errorf("all verified, but the report says:\n%s", buf.String())
		}
		return failed
	}
	if f := run([]uint64{1, 1, 1, 1}, -1, true); len(f) != 0 {
		t.Fatalf("four certificates of one result: %v", f)
	}
	if f := run([]uint64{1, 1, 1, 1}, 2, false); len(f) != 1 || !strings.Contains(f[0], "does not verify") {
		t.Fatalf("a tampered certificate: %v", f)
	}
	if f := run([]uint64{1, 2, 1, 1}, -1, false); len(f) != 1 || !strings.Contains(f[0], "certify different results") {
		t.Fatalf("two results of one slot: %v", f)
	}
	if f := run([]uint64{1, 1, 0, 1}, -1, true); len(f) != 1 || !strings.Contains(f[0], "wrote no result certificate") {
		t.Fatalf("a missing certificate under results_verify: %v", f)
	}
	if f := run([]uint64{1, 1, 0, 1}, -1, false); len(f) != 0 {
		t.Fatalf("a missing certificate without results_verify: %v", f)
	}
}
