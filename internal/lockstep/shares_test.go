package lockstep

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/internal/transcript"
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
			// A tick whose commitments were not ordered by its deadline
			// (the first ones, a slow schedule) has no input for anyone;
			// at every other tick the withholding seat's input is there.
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
			if played < 3*ticks/2 {
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
