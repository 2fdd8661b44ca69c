package tests

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
)

// TestSessionLeaveIsNotWaitedFor: a player that leaves on purpose (Close)
// announces it, so the others stop waiting out every tick's deadline for
// its input; its seat gets the agreed "no input" at once. The deadline
// (Grace) is set to 10 s: without the announcement every later tick is
// ordered only at its deadline, 10 s after its inputs were signed; with it,
// as soon as the three others' inputs are in (tens of milliseconds here).
// The bound, half the deadline, leaves a 50-fold margin for a slow machine.
// A tick a seat's bot missed (the machine stalled it past the sample) is
// not waited for either: the seat signs that it has no input for it.
func TestSessionLeaveIsNotWaitedFor(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	t.Run("bft", func(t *testing.T) { leaveNotWaitedFor(t, paxsync.ConsensusBFT) })
	// Broadcast mode waits for every seat's signed input or "no input":
	// a seat that left must not stall it either (and its nil entry once
	// crashed the session that applied the tick).
	t.Run("broadcast", func(t *testing.T) { leaveNotWaitedFor(t, paxsync.ConsensusBroadcast) })
}

func leaveNotWaitedFor(t *testing.T, mode paxsync.ConsensusMode) {
	const hz, before, after = 20, 30, 60
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	epoch := time.Now().Add(2 * time.Second)
	sess := joinArena(t, ctx, "leave-test-"+string(mode), 4, 21, overMemnet, func(_ int, c *paxsync.Config) {
		c.TickRate, c.InputDelay, c.Grace, c.Epoch, c.Consensus = hz, 2, 10*time.Second, epoch, mode
	})
	defer func() {
		for _, s := range sess {
			s.Close()
		}
	}()
	type seen struct {
		mu     sync.Mutex
		last   uint64
		absent map[uint64]bool // ticks where seat 3 had no input
		commit map[uint64]time.Duration
		left   bool
	}
	runs := make([]*seen, 4)
	var wg sync.WaitGroup
	for i, s := range sess {
		r := &seen{absent: map[uint64]bool{}, commit: map[uint64]time.Duration{}}
		runs[i] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			bot := arena.NewBot(i, 21)
			cursor := uint64(0)
			submit := func() {
				at := s.InputTick()
				var err error
				for cursor = max(cursor, at); cursor < at+16 && err == nil; cursor++ {
					var in []byte
					s.View(func(g gamestate.Game, _ uint64) { in = bot.Input(g.(*arena.Arena), cursor) })
					err = s.SubmitInputAt(cursor, in)
				}
				if err != nil && !errors.Is(err, paxsync.ErrClosed) && !errors.Is(err, paxsync.ErrTooLate) {
					t.Errorf("seat %d: submit: %v", i, err)
				}
			}
			// Inputs go in 16 ticks ahead, from before the first tick: a
			// tick missing one of the players' inputs would wait out the
			// 10 s deadline whatever seat 3 did.
			submit()
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-s.Events():
					if !ok {
						return
					}
					switch e := ev.(type) {
					case paxsync.PeerEvent:
						if e.Kind == paxsync.PeerLeft && e.Seat == 3 {
							r.mu.Lock()
							r.left = true
							r.mu.Unlock()
						}
					case paxsync.TickEvent:
						r.mu.Lock()
						r.last = e.Tick
						if !e.Inputs[3].Present {
							r.absent[e.Tick] = true
						}
						if e.Commit > 0 {
							r.commit[e.Tick] = e.Commit
						}
						r.mu.Unlock()
						submit()
					}
				}
			}
		}()
	}
	reached := func(seats []int, tick uint64, within time.Duration) bool {
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			ok := true
			for _, i := range seats {
				runs[i].mu.Lock()
				ok = ok && runs[i].last >= tick
				runs[i].mu.Unlock()
			}
			if ok {
				return true
			}
			time.Sleep(20 * time.Millisecond)
		}
		return false
	}
	if !reached([]int{0, 1, 2, 3}, before, time.Minute) {
		t.Fatalf("the match did not reach tick %d", before)
	}
	sess[3].Close()
	// Close signs the departure for the first tick seat 3 had not signed
	// an input for and signs nothing after it, so every tick from its
	// InputTick on must be without seat 3 on every other seat.
	leaveAt := sess[3].InputTick()
	if !reached([]int{0, 1, 2}, leaveAt+after, time.Minute) {
		for i := 0; i < 3; i++ {
			t.Logf("seat %d at tick %d", i, runs[i].last)
		}
		t.Fatalf("after seat 3 left at tick %d the others did not decide %d more ticks in a minute: its departure was waited out", leaveAt, after)
	}
	cancel()
	wg.Wait()
	for i := 0; i < 3; i++ {
		if !runs[i].left {
			t.Errorf("seat %d got no PeerLeft event for seat 3", i)
		}
		present := 0
		for tk := leaveAt; tk <= leaveAt+after; tk++ {
			if !runs[i].absent[tk] {
				present++
			}
		}
		if present > 0 {
			t.Errorf("seat %d: seat 3 had an input in %d ticks after it left at tick %d", i, present, leaveAt)
		}
		var lat []time.Duration
		for tk := leaveAt; tk <= leaveAt+after; tk++ {
			if c, ok := runs[i].commit[tk]; ok {
				lat = append(lat, c)
			}
		}
		if len(lat) < after/2 {
			t.Fatalf("seat %d: only %d commit samples after the departure", i, len(lat))
		}
		slices.Sort(lat)
		if m := lat[len(lat)/2]; m > 5*time.Second {
			t.Errorf("seat %d: median commit latency %v after seat 3 left: its input was waited for until the 10 s deadline", i, m)
		}
	}
}
