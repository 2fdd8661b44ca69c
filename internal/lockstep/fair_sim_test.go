package lockstep

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/internal/transcript"
	"github.com/paxsync/paxsync/wire"
)

var fairSeeds = flag.Int("fairseeds", 6, "seeds per (strategy, n) of TestFairSim (1 at n=4 only under -race; make sim runs 30)")

// TestFairSim is a seeded simulation of the lockstep cores under a leader
// that abuses its power, on the transcript harness's cores and a consensus
// that counts votes: every proposal is judged by every other core (Judge)
// and decided only with a quorum; a refused one blocks the view (slots are
// delivered in order) until bft's view timeout (timeoutBeats) changes it,
// and f+1 cores voting to leave (Suspect) change it at once. Messages are delivered in a random order, each with a
// seeded chance of waiting a round. Every player submits an input every
// tick. Seat 0 leads view 0 and censors seat 1 ("censor") or lets one
// tick through every 45 beats ("slow"); in "censor-sealed" the match is
// sealed and the censor also pretends it never got seat 1's commitments,
// so that it orders seat 1's ticks with "no input" without leaving out any
// reveal (the acceptors' commitment check must catch it). Asserted for
// every seed: the
// cheater loses its leadership, every honest core reports it (censorship,
// slow-leader), the match decides nearly every tick it had time for, and
// the victim's (every seat's) input is in at least 80 % of the ticks.
// In "selective" seat n-1 is the cheater, a player that sends its inputs to
// everyone but the current leader, so that honest acceptors refuse honest
// leaders: after leaders of f+1 seats were refused for it, it is reported
// (selective-send) and no longer blocks anyone; the match goes on with at
// most a few view changes more.
func TestFairSim(t *testing.T) {
	for _, strategy := range []string{"censor", "censor-sealed", "slow", "selective"} {
		for _, n := range []int{4, 7} {
			seeds := *fairSeeds
			if raceOn {
				// One goroutine: the race detector only slows it
				// (tenfold); make sim runs 30 seeds of every case.
				if n != 4 {
					continue
				}
				seeds = 1
			}
			for seed := 1; seed <= seeds; seed++ {
				t.Run(fmt.Sprintf("%s/n%d/seed%d", strategy, n, seed), func(t *testing.T) {
					fairSim(t, strategy, n, uint64(seed))
				})
			}
		}
	}
}

const (
	fairBeats    = 360 // beats of 33 ms: 12 s of play
	timeoutBeats = 8   // bft's view timeout, in beats, with undecided work
)

func fairSim(t *testing.T, strategy string, n int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	h := &lnet{}
	line := fmt.Sprintf("cluster n=%d delay=2 grace=1 interval=33ms hash=10 epoch", n)
	if strategy == "censor-sealed" {
		// Two consensus rounds per tick: the sealed default delay.
		line = fmt.Sprintf("cluster n=%d delay=4 grace=1 interval=33ms hash=10 epoch sealed", n)
	}
	cmd, err := transcript.ParseCmd(line)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Run(cmd); err != nil {
		t.Fatal(err)
	}
	victim := 1
	switch strategy {
	case "selective":
		victim = n - 1 // the cheater; the leaders of the first f+1 views are honest
	case "censor", "censor-sealed":
		h.censor[0] = victim
	case "slow":
		h.slow[0] = 45
	}
	f := (n - 1) / 3
	stalled, blocked, dropped := 0, false, 0
	for b := 0; b < fairBeats; b++ {
		for i := range h.inputs {
			for tk := h.cores[i].InputTick(); tk <= h.cores[i].Clock()+5; tk++ {
				h.inputs[i].m[tk] = []byte{'a' + byte(i)}
			}
		}
		h.now = h.now.Add(h.interval)
		h.beats++
		for i := range h.cores {
			h.cores[i].Step(h.now, h.status(i), true)
		}
		h.settle()
		// Two rounds of delivery: each message goes in a random order and
		// may wait a round (a slow link, a busy peer).
		for round := 0; round < 2; round++ {
			rng.Shuffle(len(h.queue), func(i, j int) { h.queue[i], h.queue[j] = h.queue[j], h.queue[i] })
			var keep []lmsg
			for _, m := range h.queue {
				if round == 0 && rng.IntN(10) == 0 {
					keep = append(keep, m)
					continue
				}
				if strategy == "selective" && m.from == victim && m.to == h.leader && m.env.Type == wire.TypeInput {
					dropped++
					continue
				}
				h.cores[m.to].Receive(h.now, m.from, m.env)
			}
			h.queue = keep
			h.settle()
		}
		// A refused slot blocks the view: bft delivers slots in order, so
		// nothing after it is decided until the view changes.
		if !blocked {
			before, proposed := len(h.log), len(h.pending)
			decide, _ := transcript.ParseCmd("decide")
			if err := h.exec("decide", decide); err != nil {
				t.Fatal(err)
			}
			h.settle()
			blocked = len(h.log)-before < proposed
		}
		if blocked {
			h.pending = nil
			stalled++
		}
		if stalled >= timeoutBeats || len(h.suspects) > f {
			h.view++
			h.leader = int(h.view % uint64(n))
			h.pending, h.suspects, stalled, blocked = nil, map[int]bool{}, 0, false
		}
		h.out = nil
	}
	if strategy == "selective" {
		if dropped == 0 {
			t.Fatal("the selective sender never withheld an input from a leader")
		}
		if h.view > uint64(f+1)+2 {
			t.Errorf("%d view changes: the selective sender kept blocking leaders", h.view)
		}
		for i := 0; i < n; i++ {
			found := false
			for _, o := range h.cores[i].Observations() {
				found = found || o.Kind == gamestate.SelectiveSend && o.About == victim
			}
			if i != victim && !found {
				t.Errorf("core %d has no selective-send observation about seat %d", i, victim)
			}
		}
		if fig := h.cores[0].Figures(); fig.Decided < 200 {
			t.Fatalf("only %d ticks decided in %d beats", fig.Decided, fairBeats)
		}
		return
	}
	if h.view == 0 {
		t.Fatalf("seat 0 (%s) still leads after %d beats", strategy, fairBeats)
	}
	want := map[string]string{"censor": "censorship", "censor-sealed": "censorship", "slow": "slow-leader"}[strategy]
	for i := 1; i < n; i++ {
		found := false
		for _, o := range h.cores[i].Observations() {
			found = found || o.Kind.String() == want && o.About == 0
		}
		if !found {
			t.Errorf("core %d has no %s observation about seat 0", i, want)
		}
	}
	next := h.cores[1].Next()
	if clock := h.cores[1].Clock(); next+20 < clock {
		t.Errorf("decided up to tick %d, the clock is at %d", next, clock)
	}
	// Count from tick 10 (the first inputs are submitted on the first beat).
	fig := h.cores[victim].Figures()
	if fig.Decided < 200 {
		t.Fatalf("only %d ticks decided in %d beats", fig.Decided, fairBeats)
	}
	if share := float64(fig.OwnInputs) / float64(fig.Decided-10); share < 0.8 {
		t.Errorf("seat %d's input is in %d of %d ticks (%.0f%%), want at least 80%% (view %d)",
			victim, fig.OwnInputs, fig.Decided, 100*share, h.view)
	}
}
