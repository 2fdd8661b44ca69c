package arena

import (
	"testing"

	"github.com/paxsync/paxsync/gamestate"
)

// benchArena is an 8-ship arena after 300 bot ticks (bullets in flight),
// plus 600 ticks of bot inputs recorded from the same match.
func benchArena(b *testing.B) (*Arena, [][]gamestate.SeatInput) {
	a, _ := New(8, 1)
	bots := make([]*Bot, 8)
	for i := range bots {
		bots[i] = NewBot(i, 5)
	}
	var inputs [][]gamestate.SeatInput
	for t := 0; t < 900; t++ {
		in := make([]gamestate.SeatInput, 8)
		for s, bot := range bots {
			in[s] = gamestate.SeatInput{Present: true, Data: bot.Input(a, a.Next())}
		}
		if t >= 300 {
			inputs = append(inputs, in)
		}
		a.Advance(a.Next(), in)
	}
	start, _ := New(8, 1)
	b.ResetTimer()
	return start, inputs
}

func BenchmarkAdvance8(b *testing.B) {
	a, inputs := benchArena(b)
	snap := a.Snapshot()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(inputs) == 0 {
			a.Restore(snap)
		}
		a.Advance(a.Next(), inputs[i%len(inputs)])
	}
}

func BenchmarkHash8(b *testing.B) {
	a, inputs := benchArena(b)
	for _, in := range inputs[:100] {
		a.Advance(a.Next(), in)
	}
	b.ReportAllocs()
	for b.Loop() {
		a.Hash()
	}
}

func BenchmarkSnapshot8(b *testing.B) {
	a, _ := benchArena(b)
	b.ReportAllocs()
	for b.Loop() {
		a.Snapshot()
	}
}
