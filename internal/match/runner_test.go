package match

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets this test binary stand in for a peer process
// (PAXSYNC_FAKE_PEER set): the runner's side of the protocol is what the
// tests below exercise, not the game.
func TestMain(m *testing.M) {
	if os.Getenv("PAXSYNC_FAKE_PEER") != "" {
		os.Exit(fakePeer())
	}
	os.Exit(m.Run())
}

// fakePeer speaks the runner's line protocol: addresses, "ready", one
// "tick" line per tick, "done", then waits for stdin to close. The seat
// named by PAXSYNC_FAKE_DIES stops at tick 20 with an error, as a peer
// whose disk filled up would.
func fakePeer() int {
	var cfg PeerConfig
	data, err := os.ReadFile(os.Args[len(os.Args)-1])
	if err == nil {
		err = json.Unmarshal(data, &cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake peer:", err)
		return 2
	}
	fmt.Printf("addr /ip4/127.0.0.1/tcp/%d\nready\n", 4000+cfg.Seat)
	dies := os.Getenv("PAXSYNC_FAKE_DIES") == fmt.Sprint(cfg.Seat)
	for t := uint64(0); t < cfg.Ticks; t++ {
		fmt.Printf("tick %d 0 0\n", t)
		if dies && t == 20 {
			fmt.Fprintln(os.Stderr, "paxsync: write-ahead log: no space left on device")
			return 3
		}
	}
	fmt.Println("done")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
	}
	return 0
}

// TestRunNoticesAPeerThatExits: an honest peer whose process ends on its
// own mid-match (here at tick 20 of 600, exit status 3) fails the run at
// once with its exit status and last stderr line, instead of leaving the
// runner waiting for it until the deadline and reporting a timeout.
func TestRunNoticesAPeerThatExits(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PAXSYNC_FAKE_PEER", "1")
	t.Setenv("PAXSYNC_FAKE_DIES", "1")
	sc, err := Parse([]byte(`{"name":"exit","peers":4,"tick_hz":60,"ticks":600,"seed":1,"expect":{"honest_agree":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	// The deadline is far beyond anything the fake peers take: reaching it
	// means the exit went unnoticed.
	rep, err := Run(sc, Options{Exe: exe, Timeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	failed := strings.Join(rep.Failed, "\n")
	if strings.Contains(failed, "timeout") {
		t.Fatalf("the run waited for the dead peer until its deadline:\n%s", failed)
	}
	if !strings.Contains(failed, "peer 1 ended on its own during the match at tick 20: exit status 3: paxsync: write-ahead log: no space left on device") {
		t.Fatalf("the failures do not name the dead peer and why:\n%s", failed)
	}
	if d := rep.Peers[1].Died; d == "" {
		t.Fatalf("peer 1's result: %+v", rep.Peers[1])
	}
}
