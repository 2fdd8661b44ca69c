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
// Honest peers observe it as unresponsive (no tick for two stall bounds)
// or below the throughput floor (under 4/5 of their beats decided over
// 2 s: whichever comes first, depending on where the silence falls in the
// floor's window), at least the f+1 whose votes change the view, and the
// view changes: play goes on to
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
	reported := 0
	for i, p := range peers {
		if !honest(i) {
			continue
		}
		if st := p.s.Stats(); st.View == 0 || st.Leader == 0 {
			t.Errorf("peer %d: still in view %d led by seat %d", i, st.View, st.Leader)
		}
		for _, ob := range p.s.Observations() {
			if (ob.Kind == gamestate.Unresponsive || ob.Kind == gamestate.SlowLeader) && ob.About == 0 {
				reported++
				break
			}
		}
		for _, v := range p.s.Verdicts() {
			t.Errorf("peer %d: unexpected verdict %s against seat %d", i, v.Kind, v.Offender)
		}
	}
	// The view changes on f+1 votes, each from a peer that judged the
	// leader (its own local observation); without a shared grid the others'
	// windows may end after the new view began (a peer catching up from a
	// checkpoint, under -race), so only those f+1 are certain to report.
	if f := (o.peers - 1) / 3; reported < f+1 {
		t.Errorf("%d honest peers reported seat 0 as unresponsive or slow, want at least %d (the votes that changed the view)", reported, f+1)
	}
}
