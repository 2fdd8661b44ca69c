package tests

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/roster"
)

// TestDemoSpectate: four players of a LAN match (sessions in this test,
// configured as paxsync-demo configures a LAN match: the arena seed from
// the match ID, 30 Hz, input delay 2, one tick of grace, a shared
// --start-at) serve spectators; `paxsync-demo --spectate` watches the
// match from one of them under Xvfb for 150 frames and writes its
// screenshot.
func TestDemoSpectate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the Ebiten demo; skipped with -short")
	}
	display := startXvfb(t, 1280, 800)
	bin := filepath.Join(t.TempDir(), "paxsync-demo")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/paxsync-demo").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/paxsync-demo: %v\n%s", err, out)
	}
	const name = "lan-watch"
	start := time.Now().Add(3 * time.Second).Truncate(time.Second)
	keys := make([]*crypto.PrivateKey, 4)
	pubs := make([]crypto.PublicKey, 4)
	rs := roster.File{Match: name}
	for i := range keys {
		k, err := crypto.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		keys[i], pubs[i] = k, k.Public()
		rs.Players = append(rs.Players, k.Public().Hex())
	}
	data, _ := json.Marshal(rs)
	rosterFile := filepath.Join(t.TempDir(), "roster.json")
	if err := os.WriteFile(rosterFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	id := crypto.NewMatchID(name, pubs)
	seed := uint64(0)
	for i := 0; i < 8; i++ {
		seed = seed<<8 | uint64(id[i])
	}
	params := arena.Params(4, seed)
	var sess []*paxsync.Session
	defer func() {
		for _, s := range sess {
			s.Close()
		}
	}()
	var addrs []string
	for i := range keys {
		s, err := paxsync.Join(context.Background(), paxsync.Config{Key: keys[i], MatchName: name, Roster: pubs, GameParams: params,
			NewGame:  func() (gamestate.Game, error) { return arena.New(4, seed) },
			TickRate: 30, InputDelay: 2, Grace: time.Second / 30, Epoch: start, WALDir: paxsync.MemoryWAL,
			Network: paxsync.NetworkConfig{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: addrs,
				SpectatorAddrs: []string{"/ip4/127.0.0.1/tcp/0"}}})
		if err != nil {
			t.Fatalf("join %d: %v", i, err)
		}
		sess = append(sess, s)
		addrs = append(addrs, s.Addrs()...)
	}
	shot := filepath.Join(t.TempDir(), "watch.png")
	code, stdout, stderr := runDemo(t, bin, displayEnv(display), "--spectate", sess[1].SpectatorAddrs()[0], "--roster", rosterFile,
		"--start-at", start.UTC().Format(time.RFC3339), "--ticks", "150", "--screenshot", shot)
	if code != 0 {
		t.Fatalf("paxsync-demo --spectate: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "forged") {
		t.Errorf("an honest player was taken for a forger:\n%s\n%s", stdout, stderr)
	}
	img := readPNG(t, shot)
	colours := map[uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[(r>>8)<<16|(g>>8)<<8|bl>>8] = true
		}
	}
	if len(colours) < 20 {
		t.Errorf("screenshot looks blank: %d distinct colours", len(colours))
	}
}
