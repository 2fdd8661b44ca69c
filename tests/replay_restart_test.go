package tests

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
)

// botLoop plays seat's bot on s until its events close, and publishes the
// last applied tick in last.
func botLoop(s *paxsync.Session, seat int, seed uint64, last *atomic.Uint64, wg *sync.WaitGroup) {
	defer wg.Done()
	bot := arena.NewBot(seat, seed)
	for ev := range s.Events() {
		te, ok := ev.(paxsync.TickEvent)
		if !ok {
			continue
		}
		last.Store(te.Tick)
		var in []byte
		at := s.InputTick()
		s.View(func(g gamestate.Game, _ uint64) { in = bot.Input(g.(*arena.Arena), at) })
		_ = s.SubmitInput(in)
	}
}

// waitFor polls cond (a count, never a duration, decides) with a generous
// bound for a slow machine.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplaySurvivesRestartAndCatchUp: seat 1 records to a file and keeps
// its WAL on disk; it closes at tick 40, the others play on past two
// stable checkpoints (2×64 slots), and seat 1 rejoins with the same file.
// Before, the restarted session overwrote the replay with a header and the
// catch-up stopped recording; now the file is continued (a resume marker),
// the restarted peer records the certified checkpoint it installed and
// every entry after it, and the whole file verifies and proves.
func TestReplaySurvivesRestartAndCatchUp(t *testing.T) {
	if testing.Short() {
		t.Skip("session test")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const n, seed, restarted = 4, 9, 1
	path := filepath.Join(t.TempDir(), "seat1.replay")
	walDir := t.TempDir()
	open := func() *os.File {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	file := open()
	var cfg1 paxsync.Config
	sess, _ := joinArenaCheats(t, ctx, "replay-restart", n, seed, overMemnet, func(i int, c *paxsync.Config) {
		c.TickRate = 60
		if i == restarted {
			c.WALDir, c.Record = walDir, file
			cfg1 = *c
		}
	}, nil)
	last := make([]atomic.Uint64, n)
	var wg sync.WaitGroup
	for i, s := range sess {
		wg.Add(1)
		go botLoop(s, i, seed, &last[i], &wg)
	}
	closeAll := func() {
		for _, s := range sess {
			if s != nil {
				s.Close()
			}
		}
		wg.Wait()
	}
	defer closeAll()

	waitFor(t, "seat 1 at tick 40", func() bool { return last[restarted].Load() >= 40 })
	if err := sess[restarted].Close(); err != nil {
		t.Fatalf("close seat 1: %v", err)
	}
	file.Close()
	slots := sess[0].Stats().Slots
	waitFor(t, "two checkpoints past seat 1", func() bool { return sess[0].Stats().Slots >= slots+2*64+8 })

	file = open()
	defer file.Close()
	cfg1.Record = file
	s, err := paxsync.Join(ctx, cfg1)
	if err != nil {
		t.Fatalf("rejoin: %v", err)
	}
	sess[restarted] = s
	last[restarted].Store(0)
	wg.Add(1)
	go botLoop(s, restarted, seed, &last[restarted], &wg)
	target := last[0].Load() + 60
	waitFor(t, "seat 1 past the others' tick at its rejoin", func() bool { return last[restarted].Load() >= target })
	closeAll()
	sess = nil

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := gamestate.VerifyReplay(bytes.NewReader(data), arena.NewGame)
	if err != nil {
		t.Fatalf("replay across restart and catch-up does not verify: %v", err)
	}
	t.Logf("replay: %d entries, %d checkpoints (%d slots skipped), %d resumes, %d ticks, %d hashes checked",
		rep.Entries, rep.Checkpoints, rep.Skipped, rep.Resumes, rep.Ticks, rep.HashesChecked)
	if rep.Resumes != 1 || rep.Checkpoints == 0 || !rep.Proves() || rep.Ticks < target {
		t.Fatalf("want one resume, a checkpoint and a complete proof to tick %d: %+v (incomplete: %v)", target, rep, rep.Incomplete())
	}
}
