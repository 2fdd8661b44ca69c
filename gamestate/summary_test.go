package gamestate

import (
	"reflect"
	"testing"
)

func TestSummarizeVerdicts(t *testing.T) {
	var vs []Verdict
	// Seat 2 forges ticks 328 down to 12 (out of order on purpose), seat 1
	// moves illegally twice, seat 2 also equivocates once, seat 0 once at the
	// same first tick as seat 1's invalid move.
	for tick := uint64(328); tick >= 12; tick-- {
		vs = append(vs, Verdict{Kind: ForgedInput, Offender: 2, Tick: tick})
	}
	vs = append(vs,
		Verdict{Kind: InvalidMove, Offender: 1, Tick: 40},
		Verdict{Kind: InvalidMove, Offender: 1, Tick: 5},
		Verdict{Kind: InputEquivocation, Offender: 2, Tick: 5},
		Verdict{Kind: ForgedInput, Offender: 2, Tick: 5000},
		Verdict{Kind: StateDivergence, Offender: 0, Tick: 5},
		Verdict{Kind: StateDivergence, Offender: 3, Tick: 7},
		Verdict{Kind: StateDivergence, Offender: 3, Tick: 7},
	)
	got := SummarizeVerdicts(vs)
	want := []VerdictSummary{
		{Offender: 0, Kind: StateDivergence, FirstTick: 5, LastTick: 5, Count: 1},
		{Offender: 1, Kind: InvalidMove, FirstTick: 5, LastTick: 40, Count: 2},
		{Offender: 2, Kind: InputEquivocation, FirstTick: 5, LastTick: 5, Count: 1},
		{Offender: 3, Kind: StateDivergence, FirstTick: 7, LastTick: 7, Count: 2},
		{Offender: 2, Kind: ForgedInput, FirstTick: 12, LastTick: 5000, Count: 318},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%v\nwant\n%v", got, want)
	}
	strs := []string{
		"seat 0 state-divergence: once, tick 5",
		"seat 1 invalid-move: 2 times, ticks 5–40",
		"seat 2 input-equivocation: once, tick 5",
		"seat 3 state-divergence: 2 times, tick 7",
		"seat 2 forged-input: 318 times, ticks 12–5000",
	}
	for i, s := range got {
		if s.String() != strs[i] {
			t.Errorf("row %d: %q, want %q", i, s.String(), strs[i])
		}
	}

	// The order of the input does not matter.
	rev := make([]Verdict, len(vs))
	for i := range vs {
		rev[len(vs)-1-i] = vs[i]
	}
	if got2 := SummarizeVerdicts(rev); !reflect.DeepEqual(got2, want) {
		t.Fatalf("reversed input: got %v", got2)
	}
	if got := SummarizeVerdicts(nil); len(got) != 0 {
		t.Fatalf("nil input: %v", got)
	}
}
