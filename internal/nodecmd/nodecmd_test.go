package nodecmd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/netp2p"
)

// lockedBuffer is a bytes.Buffer safe for the node's logging goroutines
// and the test reading it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNodePrintsFullAddrs: once listening, the node prints every listen
// address complete with /p2p/<its peer ID>, the form --peer takes, so no
// one has to assemble it by hand.
func TestNodePrintsFullAddrs(t *testing.T) {
	dir := t.TempDir()
	r := Roster{Match: "addrs"}
	var me *crypto.PrivateKey
	for i := 0; i < 4; i++ {
		k, err := crypto.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			me = k
		}
		r.Players = append(r.Players, k.Public().Hex())
	}
	keyFile, rosterFile := filepath.Join(dir, "me.key"), filepath.Join(dir, "match.json")
	if err := crypto.WriteKeyFile(keyFile, me, false); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(r)
	if err := os.WriteFile(rosterFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	id, err := netp2p.PeerIDOf(me.Public())
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`msg=listening addr=/ip4/127\.0\.0\.1/tcp/\d+/p2p/` + id + `\n`)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"--key", keyFile, "--roster", rosterFile, "--wal", filepath.Join(dir, "wal"),
			"--listen", "/ip4/127.0.0.1/tcp/0", "--fsync", "none"}, &logs)
	}()
	// The line comes as soon as the host listens; the deadline only stops
	// a broken build from hanging the test.
	deadline := time.After(60 * time.Second)
	for !want.MatchString(logs.String()) {
		select {
		case err := <-done:
			t.Fatalf("node stopped before printing its addresses: %v\n%s", err, logs.String())
		case <-deadline:
			t.Fatalf("no address with /p2p/%s printed:\n%s", id, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("node: %v", err)
	}
}

// TestOutHoldsExactlySlots: with --slots N the --out file holds the first
// N decided slots, even when more were decided before it was written.
func TestOutHoldsExactlySlots(t *testing.T) {
	l := &decidedLog{}
	for i := 0; i < 13; i++ {
		l.lines = append(l.lines, strings.Repeat("x", i+1))
	}
	path := filepath.Join(t.TempDir(), "out")
	for _, c := range []struct{ limit, want int }{{10, 10}, {-1, 13}, {20, 13}} {
		if err := l.write(path, c.limit); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), "\n"); n != c.want {
			t.Errorf("limit %d: %d lines, want %d", c.limit, n, c.want)
		}
	}
}
