package lockstep

import (
	"strings"
	"testing"

	"github.com/paxsync/paxsync/gamestate"
)

// restartSeat replaces core s by a fresh one, as a restarted process
// builds it (same key, new engine, empty pool), caught up on the decided
// log; guard says whether it signs under the mark its WAL held (marks[s]).
func (h *lnet) restartSeat(t *testing.T, s int, guard bool, marks map[int]uint64) {
	t.Helper()
	cfg := h.cores[s].cfg
	eng, err := gamestate.NewEngine(&tgame{n: h.n}, gamestate.Config{Verifier: h.verifier, InputDelay: cfg.InputDelay,
		HashInterval: cfg.HashInterval, Sealed: cfg.Sealed})
	if err != nil {
		t.Fatal(err)
	}
	box := &tinputs{m: map[uint64][]byte{}}
	cfg.Engine, cfg.Inputs, cfg.Hooks = eng, box, nil
	c := New(cfg)
	c.Start(h.now)
	if guard {
		c.GuardInputs(marks[s])
	}
	for _, e := range h.log {
		c.Apply(e, h.now)
	}
	h.applied[s] = len(h.log)
	h.inputs[s] = box
	h.cores[s] = c
}

// TestRestartedPlayerNeverResignsATick: the leader (seat 1) crashes; for a
// second nothing is decided (the others' clocks stop past the log), the
// view moves to seat 2, and seat 1 comes back from its WAL, a plain
// process restart, with every tick it signed before the crash still
// undecided. Unguarded (the old code) it signs those ticks again with
// other inputs (sealed: other commitments) and every honest peer convicts
// it of input equivocation; under the mark its WAL kept (signmark.go) it
// signs nothing at or below it, is convicted of nothing, and plays on.
func TestRestartedPlayerNeverResignsATick(t *testing.T) {
	for _, mode := range []string{"", "sealed"} {
		for _, guard := range []bool{false, true} {
			flagged, played := restartedLeader(t, mode, guard)
			t.Logf("mode %q guard %v: flagged %v, seat 1's inputs in %d ticks after the restart", mode, guard, flagged, played)
			if !guard && !flagged {
				t.Fatalf("mode %q: unguarded, the restart was not convicted: the scenario no longer re-signs a tick", mode)
			}
			if guard && flagged {
				t.Errorf("mode %q: the guarded restart was convicted: %+v", mode, restartVerdicts)
			}
			if guard && played == 0 {
				t.Errorf("mode %q: seat 1 played no tick after its restart", mode)
			}
		}
	}
}

var restartVerdicts []gamestate.Verdict

func restartedLeader(t *testing.T, mode string, guard bool) (flagged bool, played int) {
	h := &lnet{}
	h.run(t, "cluster n=4 leader=1 delay=1 grace=2 epoch "+mode)
	marks := map[int]uint64{} // what each seat's WAL holds
	if guard {
		for _, c := range h.cores {
			c.GuardInputs(0)
		}
	}
	grant := func() { // the driver: reserve, persist, report durable
		for s, c := range h.cores {
			if m, ok := c.WantMark(); ok && !(s == 1 && h.state[1] == "cut") {
				marks[s] = m
				c.MarkDurable(m)
			}
		}
	}
	var after []string // output after the restart
	restarted := false
	do := func(line string) {
		out := h.run(t, line)
		if restarted {
			after = append(after, out...)
		}
		grant()
	}
	grant()
	do("submit tick=0..400 data=a,b,c,d")
	for range 6 {
		do("beat")
		do("deliver quiet")
		do("decide")
	}
	do("beat")
	do("deliver quiet")
	h.pending = nil
	do("cut node=1")
	do("beat count=20 deliver")
	do("view view=2 leader=2")
	h.state[1] = ""
	h.restartSeat(t, 1, guard, marks)
	restarted = true
	do("submit seat=1 tick=0..400 data=B")
	for range 12 + markAhead {
		do("beat")
		do("deliver quiet")
		do("decide")
	}
	restartVerdicts = h.cores[0].Verdicts()
	for _, v := range restartVerdicts {
		if v.Offender == 1 && v.Kind == gamestate.InputEquivocation {
			flagged = true
		}
	}
	for _, l := range after {
		// core 0's tick events: seat 1's input is the second field
		if m := eventLine.FindStringSubmatch(l); m != nil && m[1] == "0" {
			if f := strings.Fields(m[3]); len(f) > 1 && f[1] == "B" { // signed after the restart
				played++
			}
		}
	}
	return flagged, played
}

// TestLostWALStartsAboveTheWall: a seat that lost its WAL has no mark, but
// on the Epoch grid it never signed past the wall's tick plus the input
// delay, so it starts sampling above that; without an Epoch there is no
// such bound and GuardLostWAL says so.
func TestLostWALStartsAboveTheWall(t *testing.T) {
	h := &lnet{}
	h.run(t, "cluster n=4 delay=2 grace=2 epoch")
	for range 5 {
		h.run(t, "beat")
	}
	c := h.cores[2]
	want := c.wallTick(h.now) + 2 + 1
	if !c.GuardLostWAL(h.now) || c.InputTick() != want {
		t.Fatalf("input tick %d, want %d (wall tick %d + delay 2 + 1)", c.InputTick(), want, c.wallTick(h.now))
	}
	g := &lnet{}
	g.run(t, "cluster n=4 delay=2 grace=2")
	if g.cores[2].GuardLostWAL(g.now) {
		t.Fatal("without an Epoch GuardLostWAL claims a bound")
	}
}
