package lockstep

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/internal/transcript"
	"github.com/paxsync/paxsync/wire"
)

// run executes one transcript command on h and returns its output.
func (h *lnet) run(t *testing.T, line string) []string {
	t.Helper()
	c, err := transcript.ParseCmd(line)
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Run(c)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return out
}

var eventLine = regexp.MustCompile(`^(\d+): event tick (\d+) inputs \[([^\]]*)\]`)

// TestWithheldRevealSimulation: four cores, sealed, seat 0 (the leader)
// never reveals from tick 0 on. Under seeded schedules (which seats'
// messages go first, how many rounds pass between decisions), every
// honest core must apply seat 0's committed input at every tick anyway,
// reach the same state, report withheld-reveal against seat 0 only and
// flag nobody. Before key shares, seat 0's entry was "no input" at every
// tick and nothing was reported.
func TestWithheldRevealSimulation(t *testing.T) {
	const ticks = 24
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 41))
			h := &lnet{}
			h.run(t, "cluster n=4 delay=1 grace=2 sealed")
			h.cores[0].hooks.WithholdReveal = func(uint64) bool { return true }
			h.run(t, fmt.Sprintf("submit tick=0..%d data=w,x,y,z", ticks+40))
			seen := map[string]string{} // "core tick" -> inputs
			for round := 0; round < 400 && h.cores[1].Next() < ticks; round++ {
				var out []string
				out = append(out, h.run(t, "beat")...)
				switch rng.IntN(3) {
				case 0:
					out = append(out, h.run(t, "deliver quiet")...)
				case 1:
					out = append(out, h.run(t, fmt.Sprintf("deliver from=%d quiet", rng.IntN(4)))...)
					out = append(out, h.run(t, "deliver quiet")...)
				default:
					out = append(out, h.run(t, "stabilize quiet")...)
				}
				if rng.IntN(4) != 0 {
					out = append(out, h.run(t, "decide")...)
				}
				for _, l := range out {
					if m := eventLine.FindStringSubmatch(l); m != nil {
						seen[m[1]+" "+m[2]] = m[3]
					}
				}
			}
			if n := h.cores[1].Next(); n < ticks {
				t.Fatalf("only %d ticks decided", n)
			}
			// Every commitment reaches the leader before its tick's
			// deadline here, so every tick holds every seat's input: the
			// honest ones revealed, the withholding seat's opened. (A tick
			// ordered while its commitments' slot was still deciding once
			// had no input for anyone.)
			played := 0
			for tick := 0; tick < ticks; tick++ {
				for core := 1; core < 4; core++ {
					in, ok := seen[fmt.Sprintf("%d %d", core, tick)]
					if !ok {
						t.Fatalf("core %d: no event for tick %d", core, tick)
					}
					got := strings.Fields(in)
					if len(got) != 4 || got[1]+got[2]+got[3] == "---" {
						continue
					}
					played++
					if got[0] != "w" {
						t.Errorf("core %d tick %d: inputs [%s]; the withholding seat's committed input w was not applied", core, tick, in)
					}
				}
			}
			if played < 3*ticks {
				t.Errorf("only %d of %d core-ticks had inputs", played, 3*ticks)
			}
			n := min(h.cores[1].Next(), h.cores[2].Next(), h.cores[3].Next(), h.cores[0].Next())
			for i, c := range h.cores {
				if c.Next() == n && c.engine.Hash() != h.cores[1].engine.Hash() && h.cores[1].Next() == n {
					t.Errorf("core %d diverged at tick %d", i, n)
				}
				reports := 0
				for _, v := range c.Verdicts() {
					if v.Kind != gamestate.WithheldReveal || v.Offender != 0 {
						t.Errorf("core %d: %s against seat %d: %s", i, v.Kind, v.Offender, v.Detail)
					}
					reports++
				}
				if reports == 0 {
					t.Errorf("core %d: no withheld-reveal report", i)
				}
				for s, f := range c.Flags() {
					if f.Flagged {
						t.Errorf("core %d: seat %d flagged", i, s)
					}
				}
			}
		})
	}
}

var proposeTicks = regexp.MustCompile(`^0: propose ticks \[(\d+),(\d+)\)`)

// proposesTicks reports whether out has the leader (core 0) proposing a
// batch that orders at least one tick.
func proposesTicks(out []string) bool {
	for _, l := range out {
		if m := proposeTicks.FindStringSubmatch(l); m != nil && m[1] != m[2] {
			return true
		}
	}
	return false
}

// TestSealedTickWaitsForItsCommitments: the leader has proposed the
// commitments of ticks 0..3, and their slot is slow to decide while the
// clock runs past those ticks' deadlines. The leader must not order the
// ticks meanwhile: it would give every seat "no input" although every
// commitment arrived in time, and a withheld reveal among them could
// never be opened (the n = 7 withhold-reveal match reported it only from
// tick ~190 on, and honest players lost most of their inputs). Once the
// slot is decided and the reveals are in, the ticks are ordered with every
// input. A slot that is lost instead holds the ticks for at most the
// proposer's stall bound, so the match does not stall.
func TestSealedTickWaitsForItsCommitments(t *testing.T) {
	setup := func(t *testing.T) *lnet {
		h := &lnet{}
		h.run(t, "cluster n=4 delay=1 grace=2 sealed")
		h.run(t, "submit tick=0..40 data=a,b,c,d")
		if out := append(h.run(t, "beat"), h.run(t, "deliver")...); !strings.Contains(strings.Join(out, "\n"), "0: propose ticks [0,0) commits t0:") {
			t.Fatalf("the leader did not propose tick 0's commitments:\n%s", strings.Join(out, "\n"))
		}
		// Six beats of 50 ms, the clock at 6: ticks 0..3 are past their
		// deadline (clock ≥ tick + grace), their commitments' slot is not
		// decided.
		for i := 0; i < 6; i++ {
			out := append(h.run(t, "beat"), h.run(t, "deliver")...)
			if proposesTicks(out) {
				t.Fatalf("beat %d: the leader ordered ticks whose commitments are still deciding:\n%s", i, strings.Join(out, "\n"))
			}
		}
		return h
	}
	// allInputs checks that every core applied ticks 0..3 with every
	// seat's input.
	allInputs := func(t *testing.T, out []string) {
		t.Helper()
		for tick := 0; tick < 4; tick++ {
			for core := 0; core < 4; core++ {
				found := false
				for _, l := range out {
					if m := eventLine.FindStringSubmatch(l); m != nil && m[1] == fmt.Sprint(core) && m[2] == fmt.Sprint(tick) {
						found = true
						if m[3] != "a b c d" {
							t.Errorf("core %d tick %d: inputs [%s], want [a b c d]", core, tick, m[3])
						}
					}
				}
				if !found {
					t.Errorf("core %d: tick %d not applied", core, tick)
				}
			}
		}
	}
	// finish decides what is proposed, delivers, and beats until every
	// core applied ticks 0..3 (or 10 rounds pass).
	finish := func(t *testing.T, h *lnet) []string {
		var out []string
		for i := 0; i < 10 && h.cores[1].Next() < 4; i++ {
			out = append(out, h.run(t, "decide")...)
			out = append(out, h.run(t, "deliver")...)
			out = append(out, h.run(t, "decide")...)
			out = append(out, h.run(t, "beat")...)
		}
		return out
	}
	t.Run("decided", func(t *testing.T) {
		h := setup(t)
		allInputs(t, finish(t, h))
	})
	t.Run("lost", func(t *testing.T) {
		// The slot is lost: the ticks still wait, the leader proposes the
		// commitments again once the stall bound has passed, and then the
		// ticks are decided with every input, no acceptor refusing.
		h := setup(t)
		h.run(t, "decide drop")
		again := false
		for i := 0; i < 20 && !again; i++ { // 1 s: twice the stall bound
			out := append(h.run(t, "beat"), h.run(t, "deliver")...)
			if proposesTicks(out) {
				t.Fatalf("beat %d: the leader ordered ticks whose commitments were lost:\n%s", i, strings.Join(out, "\n"))
			}
			again = strings.Contains(strings.Join(out, "\n"), "0: propose ticks [0,0) commits t0:")
		}
		if !again {
			t.Fatal("the lost commitments were not proposed again within twice the stall bound")
		}
		out := finish(t, h)
		for _, l := range out {
			if strings.HasPrefix(l, "refused by") {
				t.Errorf("an acceptor refused the honest leader: %s", l)
			}
		}
		allInputs(t, out)
	})
	t.Run("lost in four views", func(t *testing.T) {
		// The commitments' slot is lost in views 0..3 (each leader's
		// proposals vanish); the leader of view 4, seat 0 again, must
		// still not order the ticks ahead of them (a hold that had
		// expired by then made every honest leader refused), and the
		// ticks are decided with every input.
		h := setup(t)
		for v := 1; v <= 4; v++ {
			h.run(t, "decide drop")
			h.run(t, fmt.Sprintf("view view=%d leader=%d", v, v%4))
			for i := 0; i < 4; i++ {
				out := append(h.run(t, "beat"), h.run(t, "deliver")...)
				for _, l := range out {
					if m := regexp.MustCompile(`^(\d+): propose ticks \[(\d+),(\d+)\)`).FindStringSubmatch(l); m != nil && m[2] != m[3] {
						t.Fatalf("view %d: ticks ordered ahead of their lost commitments: %s", v, l)
					}
				}
			}
		}
		out := finish(t, h)
		for _, l := range out {
			if strings.HasPrefix(l, "refused by") {
				t.Errorf("an acceptor refused an honest leader: %s", l)
			}
		}
		allInputs(t, out)
	})
}

// TestSealedTickAheadOfItsCommitmentIsRefused: a leader that pretends it
// never got seat 2's commitments (the Ignore hook) has none of them to
// order, so it orders seat 2's ticks at their deadline with "no input";
// seat 2 never reveals (nothing of it is in the log), so no acceptor holds
// a reveal that the batch leaves out. Every honest acceptor held the
// commitment in time and sees it unordered in its applied log: each
// refuses, the batch is not decided, and seat 2's input never goes
// missing from a decided tick. Judged before the slots below it are
// applied, the same batch gets no verdict (bft.ErrNotYet) rather than a
// refusal: whether the commitment is ordered is not known yet.
func TestSealedTickAheadOfItsCommitmentIsRefused(t *testing.T) {
	h := &lnet{}
	h.run(t, "cluster n=4 delay=1 grace=2 sealed epoch")
	h.cores[0].hooks.Ignore = func(_ *Tools, env crypto.Envelope) bool {
		return env.Type == wire.TypeSealedInput && env.Sender == 2
	}
	h.run(t, "submit tick=0..40 data=a,b,c,d")
	var all []string
	var refusedPayload []byte
	for round := 0; round < 30 && refusedPayload == nil; round++ {
		all = append(all, h.run(t, "beat")...)
		all = append(all, h.run(t, "deliver")...)
		pending := append([]lprop(nil), h.pending...)
		out := h.run(t, "decide")
		all = append(all, out...)
		refusals := 0
		for _, l := range out {
			if strings.HasPrefix(l, "refused by") && strings.Contains(l, "seat 2's sealed input") && strings.Contains(l, "never ordered") {
				refusals++
			}
		}
		if refusals > 0 {
			if refusals < 3 {
				t.Fatalf("only %d of 3 honest acceptors refused the tick ahead of seat 2's commitment:\n%s", refusals, strings.Join(out, "\n"))
			}
			for _, p := range pending {
				if b, err := gamestate.DecodeBatch(p.payload); err == nil && len(b.Ticks) > 0 {
					refusedPayload = p.payload
				}
			}
		}
	}
	if refusedPayload == nil {
		t.Fatalf("no acceptor refused a tick ordered ahead of seat 2's commitment:\n%s", strings.Join(all, "\n"))
	}
	// (A tick that nobody's commitment reached the leader in time for,
	// the first one here, has no input for anyone, and no check applies.)
	for _, l := range all {
		if m := eventLine.FindStringSubmatch(l); m != nil && strings.Fields(m[3])[2] == "-" && strings.Fields(m[3])[0] != "-" {
			t.Errorf("a decided tick lacks seat 2's input: %s", l)
		}
	}
	slot := uint64(len(h.log) + 1)
	if err := h.cores[1].Judge(slot+2, refusedPayload, h.now); !errors.Is(err, bft.ErrNotYet) {
		t.Errorf("judged two slots ahead of the applied log: %v, want bft.ErrNotYet", err)
	}
	if err := h.cores[1].Judge(slot, refusedPayload, h.now); err == nil || errors.Is(err, bft.ErrNotYet) {
		t.Errorf("judged with the slots below applied: %v, want a refusal", err)
	}
}

// TestRestoreKnowsTheOrderedCommitments: a core that catches up by
// installing a snapshot never applied the slots that ordered the
// commitments of the ticks ahead, but its pool holds them from gossip. It
// must learn from the snapshot that they are ordered; otherwise its
// fair-play checks count them as left out and it refuses honest batches
// (a seat whose withheld reveal is opened, or that crashed after
// committing, has a nil entry at such a tick).
func TestRestoreKnowsTheOrderedCommitments(t *testing.T) {
	h := &lnet{}
	h.run(t, "cluster n=4 delay=1 grace=2 sealed epoch")
	h.run(t, "submit tick=0..40 data=a,b,c,d")
	h.run(t, "beat")
	h.run(t, "deliver")
	h.run(t, "decide")
	c := h.cores[3]
	want := len(c.pool.ordered)
	if want == 0 {
		t.Fatal("no commitment ordered by slot 1")
	}
	clear(c.pool.ordered) // as if slot 1 had never been applied here
	c.Restore(&bft.Snapshot{Slot: 1, Data: h.cores[1].Snapshot()})
	if got := len(c.pool.ordered); got != want {
		t.Fatalf("after Restore the pool knows %d ordered commitments, want %d", got, want)
	}
	if c.appliedSlot != 1 {
		t.Fatalf("applied slot %d after restoring slot 1", c.appliedSlot)
	}
}
