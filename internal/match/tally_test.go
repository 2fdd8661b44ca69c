package match

import (
	"testing"

	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
)

// TestTally: the bench's tally game is deterministic, refuses inputs that
// are not arena-sized, and restores its own snapshots exactly.
func TestTally(t *testing.T) {
	play := func(seats int) *tally {
		g, err := newTally(seats)
		if err != nil {
			t.Fatal(err)
		}
		bots := make([]*tallyBot, seats)
		for i := range bots {
			bots[i] = newTallyBot(i, 7)
		}
		for tick := uint64(0); tick < 50; tick++ {
			in := make([]gamestate.SeatInput, seats)
			for i := range in {
				if (tick+uint64(i))%5 != 0 {
					d := bots[i].input(g, tick)
					if v := g.Validate(i, d); v != nil {
						t.Fatalf("bot input rejected: %v", v)
					}
					in[i] = gamestate.SeatInput{Present: true, Data: d}
				}
			}
			g.Advance(tick, in)
		}
		return g
	}
	a, b := play(16), play(16)
	if a.Hash() != b.Hash() {
		t.Fatal("same seed, different hashes")
	}
	if play(10).Hash() == a.Hash() {
		t.Fatal("different games, same hash")
	}
	if v := a.Validate(0, make([]byte, arena.InputSize+1)); v == nil || v.Code != gamestate.ViolationMalformed {
		t.Errorf("oversized input: %v", v)
	}
	c, _ := newTally(16)
	if err := c.Restore(a.Snapshot()); err != nil || c.Hash() != a.Hash() {
		t.Fatalf("restore: %v", err)
	}
	d, _ := newTally(4)
	if err := d.Restore(a.Snapshot()); err == nil {
		t.Error("restored a 16-seat snapshot into 4 seats")
	}
	if GameFor(1) != GameTally || GameFor(4) != GameArena || GameFor(8) != GameArena || GameFor(9) != GameTally {
		t.Error("GameFor")
	}
}
