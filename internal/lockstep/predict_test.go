package lockstep

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/paxsync/paxsync/internal/transcript"
)

// TestPredictionNeverChangesAgreed runs the transcript harness's cores with
// prediction on, random inputs (a different one most ticks, some ticks
// none, some rejected by the game), messages delivered in a random order
// and late, and proposals decided at random beats. After every round of
// work, on every core: the speculative copy never runs more than the
// window past the agreed log, no rollback is deeper than the window, and
// whenever the copy is at the agreed tick its state is the agreed one (the
// test game's hash chains every tick's inputs, so equal hashes are equal
// histories). At the end every proposal is decided and every core's copy
// must equal its agreed state. With an input delay of one tick, most ticks
// are applied with every input in hand (speculative apply). Without the rollback (or with a copy fed
// other inputs than the agreed ones) the hashes part.
func TestPredictionNeverChangesAgreed(t *testing.T) {
	for _, delay := range []int{0, 1} {
		for _, window := range []int{2, 8} {
			for seed := uint64(1); seed <= 3; seed++ {
				t.Run(fmt.Sprintf("delay%d/window%d/seed%d", delay, window, seed), func(t *testing.T) {
					predictionSim(t, delay, window, seed)
				})
			}
		}
	}
}

func predictionSim(t *testing.T, delay, window int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(10*delay+window)))
	h := &lnet{}
	cmd, err := transcript.ParseCmd(fmt.Sprintf("cluster n=4 delay=%d grace=2 interval=33ms hash=10 epoch predict window=%d", delay, window))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Run(cmd); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		for i, c := range h.cores {
			c.Speculate(h.now)
			g, next, _ := c.Predicted()
			agreed := c.Next()
			if next > agreed+uint64(window) {
				t.Fatalf("%s: core %d predicted up to %d, agreed %d, window %d", when, i, next, agreed, window)
			}
			if f := c.PredictionFigures(); f.MaxDepth > window {
				t.Fatalf("%s: core %d rolled back %d ticks, window %d", when, i, f.MaxDepth, window)
			}
			if next == agreed && g.Hash() != c.Game().Hash() {
				t.Fatalf("%s: core %d's predicted state at tick %d differs from the agreed one", when, i, next)
			}
		}
	}
	decide, _ := transcript.ParseCmd("decide")
	const beats = 300
	for b := 0; b < beats; b++ {
		for i := range h.inputs {
			for tk := h.cores[i].InputTick(); tk <= h.cores[i].Clock()+2; tk++ {
				switch r := rng.IntN(10); {
				case r == 0: // nothing submitted: the player signs "no input"
				case r == 1 && i == 3 && rng.IntN(20) == 0:
					// The game rejects it, and seat 3 is flagged: from then
					// on its inputs are ignored, in the copy as in the log.
					h.inputs[i].m[tk] = []byte("bad")
				case r < 5:
					h.inputs[i].m[tk] = []byte{'a' + byte(i)} // the same as last time, often
				default:
					h.inputs[i].m[tk] = []byte{'a' + byte(i), byte(rng.IntN(4))}
				}
			}
		}
		h.now = h.now.Add(h.interval)
		for i := range h.cores {
			h.cores[i].Step(h.now, h.status(i), true)
		}
		h.settle()
		check(fmt.Sprintf("beat %d", b))
		for round := 0; round < 3; round++ {
			rng.Shuffle(len(h.queue), func(i, j int) { h.queue[i], h.queue[j] = h.queue[j], h.queue[i] })
			var keep []lmsg
			for _, m := range h.queue {
				if rng.IntN(4) == 0 {
					keep = append(keep, m) // late: a slow link
					continue
				}
				h.cores[m.to].Receive(h.now, m.from, m.env)
			}
			h.queue = keep
			h.settle()
			check(fmt.Sprintf("beat %d round %d", b, round))
		}
		if rng.IntN(3) == 0 {
			if err := h.exec("decide", decide); err != nil {
				t.Fatal(err)
			}
			h.settle()
			check(fmt.Sprintf("beat %d decided", b))
		}
		h.out = nil
	}
	// The end: no more beats; deliver and decide until nothing is left.
	for round := 0; round < 50 && (len(h.queue) > 0 || len(h.pending) > 0 || round < 5); round++ {
		for _, m := range h.queue {
			h.cores[m.to].Receive(h.now, m.from, m.env)
		}
		h.queue = nil
		h.settle()
		for i := range h.cores {
			h.cores[i].Step(h.now, h.status(i), false)
		}
		h.settle()
		if err := h.exec("decide", decide); err != nil {
			t.Fatal(err)
		}
		h.settle()
		h.out = nil
	}
	check("end")
	var rollbacks, complete uint64
	for i, c := range h.cores {
		g, next, _ := c.Predicted()
		if next != c.Next() {
			t.Fatalf("core %d: predicted up to %d, agreed %d at the end", i, next, c.Next())
		}
		if g.Hash() != c.Game().Hash() {
			t.Fatalf("core %d: predicted state differs from the agreed one at the end", i)
		}
		f := c.PredictionFigures()
		rollbacks += f.Rollbacks
		complete += f.Complete
	}
	if d := h.cores[0].Next(); d < beats/2 {
		t.Fatalf("only %d ticks decided in %d beats", d, beats)
	}
	if rollbacks < beats/10 {
		t.Fatalf("only %d rollbacks in %d beats over 4 cores: the random inputs seldom proved a prediction wrong, so little was tested", rollbacks, beats)
	}
	if complete == 0 && delay > 0 { // at delay 0 a tick is shown predicted before the others' inputs can arrive

		t.Fatal("no tick was applied speculatively with every input in hand")
	}
	t.Logf("decided %d ticks; %d rollbacks, %d complete speculative ticks over 4 cores", h.cores[0].Next(), rollbacks, complete)
}

// TestPredictionSilentSeat: a seat that goes silent (crashed, cut off, or
// a cheater that just stops sending) gets "no input" at every deadline.
// The copy must learn that from the log and predict it silent: repeating
// its last move for ever would roll back every batch for the rest of the
// match. Every other seat holds its controls, so after the first few
// batches without seat 3 nothing is mispredicted.
func TestPredictionSilentSeat(t *testing.T) {
	h := &lnet{}
	cmd, err := transcript.ParseCmd("cluster n=4 delay=2 grace=1 interval=33ms hash=10 epoch predict")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Run(cmd); err != nil {
		t.Fatal(err)
	}
	decide, _ := transcript.ParseCmd("decide")
	const silentFrom, settle, beats = 60, 30, 240
	var atSettle uint64
	for b := 0; b < beats; b++ {
		for i := range h.inputs {
			for tk := h.cores[i].InputTick(); tk <= h.cores[i].Clock()+3; tk++ {
				h.inputs[i].m[tk] = []byte{'a' + byte(i)}
			}
		}
		h.now = h.now.Add(h.interval)
		for i := range h.cores {
			if i == 3 && b >= silentFrom {
				continue
			}
			h.cores[i].Step(h.now, h.status(i), true)
		}
		h.settle()
		var keep []lmsg
		for _, m := range h.queue {
			if b >= silentFrom && (m.from == 3 || m.to == 3) {
				continue
			}
			h.cores[m.to].Receive(h.now, m.from, m.env)
		}
		h.queue = keep
		h.settle()
		if err := h.exec("decide", decide); err != nil {
			t.Fatal(err)
		}
		h.settle()
		for i := 0; i < 3; i++ {
			h.cores[i].Speculate(h.now)
		}
		if b == silentFrom+settle {
			for i := 0; i < 3; i++ {
				atSettle += h.cores[i].PredictionFigures().Rollbacks
			}
		}
		h.out = nil
	}
	var after uint64
	for i := 0; i < 3; i++ {
		after += h.cores[i].PredictionFigures().Rollbacks
	}
	decided := h.cores[0].Next()
	if decided < beats/2 {
		t.Fatalf("only %d ticks decided", decided)
	}
	if after-atSettle > 3 {
		t.Fatalf("%d rollbacks in the %d beats after seat 3 fell silent (and %d before): the copy keeps predicting a silent seat's last move",
			after-atSettle, beats-silentFrom-settle, atSettle)
	}
	t.Logf("decided %d ticks; rollbacks %d before settling, %d after", decided, atSettle, after-atSettle)
}
