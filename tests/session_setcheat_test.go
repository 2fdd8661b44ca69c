package tests

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/internal/adversary"
)

// TestSessionSetCheat: all four peers join honest; at tick switchAt seat 2
// turns on equivocate-input and seat 3 state-hash-lie with
// their adversary.Player's SetCheat (FromTick 0: at once). The honest peers must reach
// input-equivocation against seat 2 and state-divergence against seat 3,
// both at or after the switch and none before it, and agree on them. If
// SetCheat had no effect the match would stay clean and the test fails.
func TestSessionSetCheat(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const n, switchAt, ticks, seed = 4, 30, 100, 5
	rate, consensusTick := 30, time.Duration(0)
	if sessionRace {
		rate, consensusTick = 20, 50*time.Millisecond
	}
	cheats := map[int]adversary.Kind{2: adversary.EquivocateInput, 3: adversary.StateHashLie}
	want := map[int]gamestate.VerdictKind{2: gamestate.InputEquivocation, 3: gamestate.StateDivergence}

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	// Seats 2 and 3 join through adversary.Join with no cheat: honest
	// until their Player's SetCheat.
	sess, players := joinArenaCheats(t, ctx, "setcheat-test", n, seed, overMemnet, func(_ int, c *paxsync.Config) {
		c.TickRate, c.ConsensusTick, c.HashInterval = rate, consensusTick, 10
	}, map[int]*adversary.Cheat{2: nil, 3: nil})
	for _, s := range sess {
		defer s.Close()
	}
	var wg sync.WaitGroup
	done := make([]chan struct{}, n)
	for i, s := range sess {
		done[i] = make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			bot := arena.NewBot(i, seed)
			switched := false
			for ev := range s.Events() {
				te, ok := ev.(paxsync.TickEvent)
				if !ok {
					continue
				}
				if kind, ok := cheats[i]; ok && !switched && te.Tick >= switchAt {
					switched = true
					if err := players[i].SetCheat(&adversary.Cheat{Kind: kind}); err != nil {
						t.Error(err)
					}
				}
				var in []byte
				at := s.InputTick()
				s.View(func(g gamestate.Game, _ uint64) { in = bot.Input(g.(*arena.Arena), at) })
				if err := s.SubmitInput(in); err != nil && !errors.Is(err, paxsync.ErrClosed) {
					t.Errorf("seat %d: submit: %v", i, err)
				}
				if te.Tick+1 == ticks {
					close(done[i])
				}
			}
		}()
	}
	for i := range sess {
		select {
		case <-done[i]:
		case <-ctx.Done():
			t.Fatalf("seat %d did not reach tick %d: %+v", i, ticks, sess[i].Stats())
		}
	}
	var ref []gamestate.Verdict
	for i := 0; i < 2; i++ { // the honest peers
		first := map[int]gamestate.Verdict{}
		var got []gamestate.Verdict
		for _, v := range sess[i].Verdicts() {
			if v.Tick >= ticks-10 {
				continue // peers may stop at slightly different ticks
			}
			got = append(got, v)
			if v.Tick < switchAt {
				t.Errorf("peer %d: verdict %s against seat %d at tick %d, before SetCheat", i, v.Kind, v.Offender, v.Tick)
			}
			if _, ok := first[v.Offender]; !ok {
				first[v.Offender] = v
			}
		}
		for seat, kind := range want {
			if v, ok := first[seat]; !ok {
				t.Errorf("peer %d: no verdict against seat %d, want %s (SetCheat had no effect?)", i, seat, kind)
			} else if v.Kind != kind {
				t.Errorf("peer %d: first verdict against seat %d is %s, want %s", i, seat, v.Kind, kind)
			}
		}
		for seat := range 2 {
			if _, ok := first[seat]; ok {
				t.Errorf("peer %d: honest seat %d flagged", i, seat)
			}
		}
		if i == 0 {
			ref = got
			continue
		}
		if len(got) != len(ref) {
			t.Errorf("peer %d: %d verdicts, peer 0 has %d", i, len(got), len(ref))
			continue
		}
		for j := range got {
			if got[j].Kind != ref[j].Kind || got[j].Offender != ref[j].Offender || got[j].Tick != ref[j].Tick {
				t.Errorf("peer %d: verdict %d is %s/%d/%d, peer 0 has %s/%d/%d", i, j,
					got[j].Kind, got[j].Offender, got[j].Tick, ref[j].Kind, ref[j].Offender, ref[j].Tick)
			}
		}
	}
	for _, s := range sess {
		s.Close()
	}
	wg.Wait()
}
