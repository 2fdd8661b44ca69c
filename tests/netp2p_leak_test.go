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

	"github.com/paxsync/paxsync/driver/nodecmd"
)

// TestNodeStackLeavesNoGoroutines runs four nodes (netp2p host, driver,
// WAL, node command) inside this process, lets them decide, stops two by
// cancellation mid-run and the others by finishing, and checks that not a
// single goroutine outlives them.
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
			// Seats 2 and 3 run without a slot target and are stopped by
			// cancellation while running.
			args = append(args, "--slots", "0")
			var c context.CancelFunc
			nctx, c = context.WithTimeout(ctx, 1500*time.Millisecond)
			defer c()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = nodecmd.Run(nctx, args, io.Discard)
		}()
	}
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
