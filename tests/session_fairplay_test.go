package tests

import (
	"testing"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/internal/adversary"
)

// Fair play under a malicious leader (docs/PROTOCOL.md, "Fair play"): the
// leader of view 0 cheats on what it orders or when, and the honest peers
// must keep the promise anyway, with the properties asserted on what they
// applied, not on timings.

// fairRate is the tick rate of these matches (slower under -race, which
// slows everything several times).
func fairRate() int {
	if sessionRace {
		return 15
	}
	return 30
}

// observedBy reports whether every honest seat (not in cheaters) holds an
// observation of kind about seat about.
func observedBy(t *testing.T, sess []*paxsync.Session, cheaters map[int]bool, kind gamestate.ObservationKind, about int) {
	t.Helper()
	for i, s := range sess {
		if cheaters[i] {
			continue
		}
		found := false
		for _, o := range s.Observations() {
			found = found || o.Kind == kind && o.About == about
		}
		if !found {
			t.Errorf("seat %d has no %s observation about seat %d (observations: %v)", i, kind, about, s.Observations())
		}
	}
}

// replaced checks that seat 0 no longer leads at any honest seat.
func replaced(t *testing.T, sess []*paxsync.Session) {
	t.Helper()
	for i, s := range sess[1:] {
		if st := s.Stats(); st.Leader == 0 || st.View == 0 {
			t.Errorf("seat %d: view %d, leader %d: the cheating leader was never replaced", i+1, st.View, st.Leader)
		}
	}
}

// TestSessionCensoringLeader: seat 0 leads view 0 and marks seat 2 "no
// input" in every batch, although it holds seat 2's inputs. With a shared
// tick grid, every honest acceptor held those inputs long before each
// tick's deadline and refuses the batches, so none is decided: the view
// times out, an honest leader takes over and seat 2's inputs are applied.
// Without the acceptors' check the censor's batches are valid and seat 2's
// input is in none of the ticks.
func TestSessionCensoringLeader(t *testing.T) {
	const ticks, seed, victim = 240, 41, 2
	epoch := time.Now().Add(5 * time.Second)
	sess, runs := playBotsCheats(t, "censor-test", 3*time.Minute, ticks, seed, false, overMemnet, func(_ int, c *paxsync.Config) {
		c.TickRate, c.HashInterval, c.Epoch = fairRate(), 10, epoch
	}, map[int]*adversary.Cheat{0: {Kind: adversary.CensorInput, Target: victim}})
	for i, r := range runs {
		if i == 0 {
			continue
		}
		// The bots submit from their first TickEvent on; count from tick 30.
		present, total := 0, 0
		for _, te := range r.ticks {
			if te.Tick < 30 {
				continue
			}
			total++
			if te.Inputs[victim].Present {
				present++
			}
		}
		if total == 0 || present*10 < total*8 {
			t.Errorf("seat %d: seat %d's input is in %d of %d ticks, want at least 80%%", i, victim, present, total)
		}
	}
	replaced(t, sess)
	observedBy(t, sess, map[int]bool{0: true}, gamestate.Censorship, 0)
	for i, s := range sess[1:] {
		if st := s.Stats(); st.RefusedBatches == 0 {
			t.Errorf("seat %d refused no batch", i+1)
		}
	}
}

// TestSessionSlowLeader: seat 0 leads and lets one tick through every
// 1.5 s, under every timeout the core had. The throughput floor (a leader
// must decide 4/5 of a follower's beats over 2 s) replaces it: the match
// reaches its tick count within the test's 3 minutes (at the slow pace it
// would take six), and every honest peer reports slow-leader.
func TestSessionSlowLeader(t *testing.T) {
	const ticks, seed = 240, 42
	epoch := time.Now().Add(5 * time.Second)
	sess, runs := playBotsCheats(t, "slow-test", 3*time.Minute, ticks, seed, false, overMemnet, func(_ int, c *paxsync.Config) {
		c.TickRate, c.HashInterval, c.Epoch = fairRate(), 10, epoch
	}, map[int]*adversary.Cheat{0: {Kind: adversary.SlowLeader, FromTick: 20}})
	for i, r := range runs {
		if n := len(r.ticks); uint64(n) < ticks {
			t.Fatalf("seat %d applied %d ticks, want %d", i, n, ticks)
		}
	}
	replaced(t, sess)
	observedBy(t, sess, map[int]bool{0: true}, gamestate.SlowLeader, 0)
}
