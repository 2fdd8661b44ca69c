package tests

import (
	"context"
	"io"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/paxsync/paxsync/internal/nodecmd"
)

// TestNodeStackLeavesNoGoroutines runs four nodes (netp2p host, driver,
// WAL, node command) inside this process, lets them decide, stops two by
// cancellation mid-run and the others by finishing, and checks that not a
// single goroutine outlives them.
//
// Seats 0 and 1 need a third seat for every slot they decide, so seats 2
// and 3 are cancelled once 0 and 1 have reached their slots (they have
// written --out and linger), not after a fixed time: a slow machine that
// had not decided 15 slots by then left 0 and 1 waiting for their
// --timeout.
func TestNodeStackLeavesNoGoroutines(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	m := newMatch(t, 4)
	const slots = 15
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(m.players))
	// cancel2and3 stops seats 2 and 3 (no slot target) while they run.
	ctx23, cancel2and3 := context.WithCancel(ctx)
	defer cancel2and3()
	var wg01 sync.WaitGroup
	for i, p := range m.players {
		args := []string{"--key", p.keyFile, "--roster", m.roster, "--wal", p.walDir, "--out", p.outFile,
			"--listen", "/ip4/127.0.0.1/tcp/" + strconv.Itoa(p.port), "--timeout", "60s",
			"--propose", strconv.Itoa(slots), "--slots", strconv.Itoa(slots), "--linger", "1s"}
		for _, q := range m.players {
			if q != p {
				args = append(args, "--peer", q.addr())
			}
		}
		nctx := ctx
		if i >= 2 {
			args = append(args, "--slots", "0")
			nctx = ctx23
		} else {
			wg01.Add(1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i < 2 {
				defer wg01.Done()
			}
			errs[i] = nodecmd.Run(nctx, args, io.Discard)
		}()
	}
	// Seats 0 and 1 write --out when they reach their slots, then linger;
	// if they fail instead, stop waiting too.
	done01 := make(chan struct{})
	go func() { wg01.Wait(); close(done01) }()
	reached := func() bool {
		for _, p := range m.players[:2] {
			if _, err := os.Stat(p.outFile); err != nil {
				return false
			}
		}
		return true
	}
wait:
	for !reached() {
		select {
		case <-done01:
			break wait
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel2and3()
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
		if _, err := os.Stat(m.players[i].outFile); err != nil {
			t.Fatalf("node %d wrote no log: %v", i, err)
		}
	}
}
