package lockstep

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

// playRounds runs k rounds of beat, delivery and decision on h and returns
// everything they printed.
func playRounds(t *testing.T, h *lnet, k int) []string {
	t.Helper()
	var out []string
	for i := 0; i < k; i++ {
		out = append(out, h.run(t, "beat")...)
		out = append(out, h.run(t, "deliver quiet")...)
		out = append(out, h.run(t, "decide")...)
	}
	return out
}

// absentTicks returns the ticks that core printed as decided with seat
// having no input, and the highest tick it printed at all.
func absentTicks(out []string, core, seat int) (absent []uint64, last uint64) {
	for _, l := range out {
		m := eventLine.FindStringSubmatch(l)
		if m == nil || m[1] != strconv.Itoa(core) {
			continue
		}
		tick, _ := strconv.ParseUint(m[2], 10, 64)
		last = max(last, tick)
		if strings.Fields(m[3])[seat] == "-" {
			absent = append(absent, tick)
		}
	}
	return absent, last
}

// hasObservation reports whether c observed kind about seat.
func hasObservation(c *Core, kind gamestate.ObservationKind, about int) bool {
	for _, o := range c.Observations() {
		if o.Kind == kind && o.About == about {
			return true
		}
	}
	return false
}

// A seat that signed a Leave and then plays again (its later inputs end
// the departure) must not be censored by a leader that keeps giving it the
// old Leave as its entry: once an acceptor has held the seat's later input
// long enough that an honest leader would have it too, the Leave counts as
// a missing entry. Every honest acceptor refuses the batch, strikes the
// seat's protection as for an omitted input and reports the leader; only
// the first ticks after the return (InputDelay + 1 + input margin, while
// an honest leader may still order them with the Leave) can go out
// without the seat, and a leader change lets its inputs in again.
func TestStaleLeaveOfReturnedSeatIsRefused(t *testing.T) {
	h := &lnet{}
	h.run(t, "cluster n=4 delay=1 grace=2 epoch")
	h.run(t, "submit tick=0..80 data=a,b,c,d")
	playRounds(t, h, 3)
	// Seat 1 signs that it leaves from its next unsigned tick L, and goes
	// on signing inputs from L: it is back (a restarted process does the
	// same, with the same key).
	L := h.cores[1].InputTick()
	leave := h.signers[1].Sign(wire.TypeLeave, (&gamestate.Leave{Seat: 1, Tick: L}).Encode())
	h.enqueue(1, leave, false)
	h.run(t, "deliver quiet")
	stale := leave
	h.cores[0].hooks.Batch = func(_ *Tools, _ time.Time, b *gamestate.Batch) bool {
		for i := range b.Ticks {
			if b.First+uint64(i) >= L {
				b.Ticks[i].Seats[1] = &stale
			}
		}
		return true
	}
	out := playRounds(t, h, 12)
	refusals := 0
	for _, l := range out {
		if strings.HasPrefix(l, "refused by ") {
			refusals++
		}
	}
	if refusals == 0 {
		t.Fatalf("no acceptor refused leader 0's batches that give returned seat 1 its old Leave from tick %d", L)
	}
	for _, i := range []int{1, 2, 3} {
		c := h.cores[i]
		if !hasObservation(c, gamestate.Censorship, 0) {
			t.Errorf("core %d did not report leader 0's censorship of seat 1", i)
		}
		if i != 1 && !c.strikes[1][0] {
			t.Errorf("core %d did not strike seat 1's protection for leader 0 (as for an omitted input)", i)
		}
	}
	// The first return input (tick L) is signed at clock L-1 and held at
	// once; a tick t may be refused once it was held an input margin (2
	// ticks) and a tick for the clocks before t's input was signed (clock
	// t-1): from t = L+3.
	absent, _ := absentTicks(out, 2, 1)
	for _, tk := range absent {
		if tk >= L+3 {
			t.Errorf("tick %d decided without returned seat 1 (its old Leave from %d)", tk, L)
		}
	}
	// An honest leader orders seat 1's inputs again.
	h.cores[0].hooks.Batch = nil
	h.run(t, "view view=1 leader=2")
	from := h.cores[2].Next()
	out = playRounds(t, h, 12)
	absent, last := absentTicks(out, 2, 1)
	if last < from+5 {
		t.Fatalf("honest leader 2 decided only up to tick %d from %d", last, from)
	}
	if len(absent) > 0 {
		t.Errorf("honest leader 2 decided ticks %v without seat 1", absent)
	}
	for _, l := range out {
		if strings.HasPrefix(l, "refused by ") {
			t.Errorf("honest leader refused: %s", l)
		}
	}
}

// A leader that replaces a seat's input with the seat's own NoInput for
// the same tick (a seat that signed both: a restarted one, or a cheater)
// leaves the input out as a nil entry would, once the acceptor has held
// the input long enough that an honest leader would have it: the batch is
// refused and the leader reported.
func TestNoInputOverHeldInputIsRefused(t *testing.T) {
	h := &lnet{}
	h.run(t, "cluster n=4 delay=1 grace=2 epoch")
	h.run(t, "submit tick=0..80 data=a,b,c,d")
	playRounds(t, h, 3)
	// Seat 3's input for tick T reaches everyone well before T's inputs
	// are signed; seat 3 also signed that it has none for T.
	T := h.cores[3].Clock() + 10
	h.run(t, "inject from=3 tick="+strconv.FormatUint(T, 10)+" data=x")
	h.run(t, "deliver quiet")
	none := h.signers[3].Sign(wire.TypeNoInput, (&gamestate.NoInput{Seat: 3, Tick: T}).Encode())
	h.cores[0].hooks.Batch = func(_ *Tools, _ time.Time, b *gamestate.Batch) bool {
		if T >= b.First && T < b.First+uint64(len(b.Ticks)) {
			b.Ticks[T-b.First].Seats[3] = &none
		}
		return true
	}
	out := playRounds(t, h, 16)
	for _, l := range out {
		if m := eventLine.FindStringSubmatch(l); m != nil && m[2] == strconv.FormatUint(T, 10) {
			t.Errorf("tick %d decided with seat 3's NoInput over its held input: %s", T, l)
		}
	}
	for _, i := range []int{1, 2} {
		if !hasObservation(h.cores[i], gamestate.Censorship, 0) {
			t.Errorf("core %d did not report leader 0 for seat 3's NoInput at tick %d", i, T)
		}
	}
}

// rejoinSeat replaces core s by a fresh one, as a restarted process builds
// it (same key, new engine, empty pool), caught up on the decided log.
func rejoinSeat(t *testing.T, h *lnet, s int, data string, upto uint64) {
	t.Helper()
	cfg := h.cores[s].cfg
	eng, err := gamestate.NewEngine(&tgame{n: h.n}, gamestate.Config{Verifier: h.verifier,
		InputDelay: cfg.InputDelay, HashInterval: cfg.HashInterval, Sealed: cfg.Sealed})
	if err != nil {
		t.Fatal(err)
	}
	box := &tinputs{m: map[uint64][]byte{}}
	for tk := uint64(0); tk <= upto; tk++ {
		box.m[tk] = []byte(data)
	}
	cfg.Engine, cfg.Inputs, cfg.Hooks = eng, box, nil
	c := New(cfg)
	c.Start(h.now)
	for _, e := range h.log {
		c.Apply(e, h.now)
	}
	h.cores[s], h.inputs[s], h.applied[s], h.state[s] = c, box, len(h.log), ""
}

// A seat that left and comes back does not get the honest leader refused:
// the leader orders the seat's ticks with its Leave as soon as the other
// inputs are in, so its first new inputs reach the acceptors while such a
// batch is on its way (here: in the same beat). Those batches are voted
// for, and the seat's inputs are ordered again from the first tick the
// leader holds them for.
func TestReturningSeatDoesNotGetHonestLeaderRefused(t *testing.T) {
	h := &lnet{}
	h.run(t, "cluster n=4 delay=1 grace=2 epoch")
	h.run(t, "submit tick=0..80 data=a,b,c,d")
	playRounds(t, h, 3)
	h.run(t, "leave node=1")
	h.run(t, "deliver quiet")
	out := playRounds(t, h, 6)
	if absent, _ := absentTicks(out, 2, 1); len(absent) == 0 {
		t.Fatal("no tick was ordered without seat 1 while it was away")
	}
	rejoinSeat(t, h, 1, "b", 80)
	// Seat 1's first new input reaches the acceptors, and the leader only
	// after it ordered that tick with seat 1's Leave.
	out = h.run(t, "beat")
	out = append(out, h.run(t, "deliver from=1 to=2,3 quiet")...)
	out = append(out, h.run(t, "deliver from=0,2,3 quiet")...)
	out = append(out, h.run(t, "decide")...)
	raced, _ := absentTicks(out, 2, 1)
	if len(raced) == 0 {
		t.Fatalf("the leader did not order a tick with seat 1's Leave while its new input was on the way:\n%s", strings.Join(out, "\n"))
	}
	out = append(out, playRounds(t, h, 12)...)
	for _, l := range out {
		if strings.HasPrefix(l, "refused by ") || strings.Contains(l, "observation") {
			t.Errorf("honest leader refused or reported after seat 1 came back: %s", l)
		}
	}
	absent, last := absentTicks(out, 2, 1)
	if len(absent) > 0 && last < absent[len(absent)-1]+5 {
		t.Errorf("seat 1's inputs not ordered again after it came back: absent at %v, decided up to %d", absent, last)
	}
	for _, i := range []int{0, 2, 3} {
		if hasObservation(h.cores[i], gamestate.Censorship, 0) {
			t.Errorf("core %d reported honest leader 0 for censorship", i)
		}
	}
}
