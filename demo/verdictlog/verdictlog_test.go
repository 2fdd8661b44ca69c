package verdictlog

import (
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/paxsync/paxsync/gamestate"
)

// forgeries is one cheater forging every tick from first to last: a
// verdict per tick, as the engine reports them.
func forgeries(seat int, first, last uint64) []gamestate.Verdict {
	var vs []gamestate.Verdict
	for t := first; t <= last; t++ {
		vs = append(vs, gamestate.Verdict{Kind: gamestate.ForgedInput, Offender: seat, Tick: t})
	}
	return vs
}

func TestFirstOfEachKindThenSummary(t *testing.T) {
	var b strings.Builder
	l := New(&b, false)
	for _, v := range forgeries(2, 12, 328) {
		l.Add(v, "forged another seat's input at tick "+itoa(v.Tick))
	}
	l.Add(gamestate.Verdict{Kind: gamestate.InvalidMove, Offender: 1, Tick: 400}, "invalid move (speed) at tick 400")
	l.Add(gamestate.Verdict{Kind: gamestate.InvalidMove, Offender: 2, Tick: 401}, "invalid move (speed) at tick 401")
	l.AddObservation(gamestate.Observation{Kind: gamestate.Flooding, About: 3, Detail: "flooding from peer X"})
	l.AddObservation(gamestate.Observation{Kind: gamestate.Flooding, About: 3, Detail: "flooding from peer X"})
	before := b.String()
	if n := strings.Count(before, "verdict: "); n != 3 {
		t.Errorf("%d verdict lines for 3 (player, kind) pairs:\n%s", n, before)
	}
	if !strings.Contains(before, "verdict: forged-input player 2 (P2): forged another seat's input at tick 12\n") {
		t.Errorf("first forgery line missing:\n%s", before)
	}
	if n := strings.Count(before, "-v prints each"); n != 1 {
		t.Errorf("the hint about repeats appears %d times:\n%s", n, before)
	}
	if n := strings.Count(before, "observation: flooding about player 3 (P3)"); n != 1 {
		t.Errorf("%d flooding lines:\n%s", n, before)
	}
	if l.Count() != 317+2 {
		t.Errorf("Count %d", l.Count())
	}
	l.Summary()
	l.Summary() // once only
	l.Add(gamestate.Verdict{Kind: gamestate.InvalidMove, Offender: 3, Tick: 500}, "late")
	sum := strings.TrimPrefix(b.String(), before)
	want := "verdict summary: 3 rows\n" +
		"  seat 2 forged-input: 317 times, ticks 12–328 (P2)\n" +
		"  seat 1 invalid-move: once, tick 400 (P1)\n" +
		"  seat 2 invalid-move: once, tick 401 (P2)\n" +
		"observation summary (local, unproven): 1 row\n" +
		"  seat 3 flooding: 2 times (P3)\n"
	if sum != want {
		t.Errorf("summary:\n%s\nwant:\n%s", sum, want)
	}
}

func TestVerbosePrintsEvery(t *testing.T) {
	var b strings.Builder
	l := New(&b, true)
	for _, v := range forgeries(1, 0, 9) {
		l.Add(v, "x")
	}
	for i := 0; i < 3; i++ {
		l.AddObservation(gamestate.Observation{Kind: gamestate.ReplayedMessage, About: 2, Detail: "old"})
	}
	out := b.String()
	if strings.Count(out, "verdict: forged-input player 1 ") != 10 || strings.Count(out, "observation: replayed-message") != 3 {
		t.Errorf("verbose output:\n%s", out)
	}
	if strings.Contains(out, "-v prints each") {
		t.Errorf("verbose output has the hint for non-verbose runs:\n%s", out)
	}
}

func TestNoVerdicts(t *testing.T) {
	var b strings.Builder
	New(&b, false).Summary()
	if b.String() != "verdict summary: no verdicts\n" {
		t.Errorf("%q", b.String())
	}
}

func TestConcurrent(t *testing.T) {
	var b strings.Builder
	var mu sync.Mutex
	l := New(writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return b.Write(p) }), false)
	var wg sync.WaitGroup
	for s := 0; s < 4; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, v := range forgeries(s, 0, 99) {
				l.Add(v, "x")
				l.AddObservation(gamestate.Observation{Kind: gamestate.Flooding, About: s})
			}
		}()
	}
	wg.Wait()
	l.Summary()
	if l.Count() != 400 || strings.Count(b.String(), "verdict: ") != 4 || strings.Count(b.String(), "100 times, ticks 0–99") != 4 {
		t.Errorf("count %d:\n%s", l.Count(), b.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
