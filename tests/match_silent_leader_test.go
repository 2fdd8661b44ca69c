package tests

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/internal/adversary"
)

// TestSessionSilentLeader: seat 0 leads view 0 and stops proposing at tick
// 60 while its bft node keeps sending heartbeats, so bft never times it out.
// The honest peers observe it as unresponsive (no tick for two stall
// bounds) or below the throughput floor (under 4/5 of their beats decided
// over 2 s: whichever comes first, depending on where the silence falls in
// the floor's window), suspect it, and the view changes: play goes on to
// the end under another leader, every honest peer agrees, and nobody gets
// a proof-class verdict.
func TestSessionSilentLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	o := matchOpts{peers: 4, ticks: 240, rate: 60, seed: 19}
	if sessionRace {
		o = matchOpts{peers: 4, ticks: 150, rate: 20, seed: 19, consensusTick: 50 * time.Millisecond}
	}
	o.cheat = map[int]*adversary.Cheat{0: {Kind: adversary.SilentLeader, FromTick: 60}}
	start := time.Now()
	peers := runSessionMatch(t, o)
	t.Logf("%d ticks in %v", o.ticks, time.Since(start))
	honest := func(i int) bool { return i != 0 }
	checkAgreement(t, peers, honest, uint64(o.ticks))
	for i, p := range peers {
		if !honest(i) {
			continue
		}
		if st := p.s.Stats(); st.View == 0 || st.Leader == 0 {
			t.Errorf("peer %d: still in view %d led by seat %d", i, st.View, st.Leader)
		}
		seen := false
		for _, ob := range p.s.Observations() {
			seen = seen || (ob.Kind == gamestate.Unresponsive || ob.Kind == gamestate.SlowLeader) && ob.About == 0
		}
		if !seen {
			t.Errorf("peer %d: no unresponsive or slow-leader observation about seat 0", i)
		}
		for _, v := range p.s.Verdicts() {
			t.Errorf("peer %d: unexpected verdict %s against seat %d", i, v.Kind, v.Offender)
		}
	}
}
