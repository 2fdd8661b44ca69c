package lockstep

import (
	"bytes"
	"slices"
	"time"

	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

// Prediction: the core can run a second copy of the game ahead of the
// agreed log, so a player sees its own input on the next frame instead of
// after the commit latency. The speculative copy advances every tick up to
// the clock with every seat's input this peer holds (its signed Input in
// the pool: exact, Zyzzyva's speculative apply) or, for a seat whose input
// has not arrived, a predicted one (Predictor; by default the seat's
// latest input). When the agreed log applies a tick, the inputs it applied
// are compared with the ones the copy used; on the first difference the
// copy is rolled back to the agreed state and re-simulated. Nothing the
// agreed engine computes (hashes, verdicts, replays, checkpoints) ever
// reads the copy: speculation cannot change what is agreed.

// DefaultPredictionWindow is how many ticks past the agreed log the
// speculative copy may run (GGRS's max prediction is 8 frames too): past
// it the predicted view waits for the log.
const DefaultPredictionWindow = 8

// Predictor guesses seat's input for tick from the latest one the
// speculative copy used for it (last; Present=false before the first
// one). It must be a pure function: it runs on the runtime goroutine.
type Predictor func(seat int, tick uint64, last gamestate.SeatInput) gamestate.SeatInput

// Prediction configures speculation. Game is the speculative copy (a
// fresh game from the same constructor as the engine's); nil turns
// prediction off.
type Prediction struct {
	Game    gamestate.Game
	Window  int       // ticks past the agreed log (default DefaultPredictionWindow)
	Predict Predictor // nil: repeat the seat's latest input
}

// PredictionFigures are the speculation's counters (Figures.Prediction).
type PredictionFigures struct {
	Enabled bool
	// Next is the predicted view's next tick (the copy has applied every
	// tick before it).
	Next uint64
	// Rollbacks counts corrections: an agreed tick differed from what the
	// copy had used. RolledBack is the sum of their depths (ticks
	// re-simulated that had been shown), MaxDepth the deepest.
	Rollbacks, RolledBack uint64
	MaxDepth              int
	// Complete counts ticks applied speculatively with every seat's
	// signed input in hand (no prediction); SpecP50/SpecP99 are the
	// times from signing this player's input to that apply.
	Complete         uint64
	SpecP50, SpecP99 time.Duration
}

// speculator is the speculative copy and what it used since the agreed
// log's next tick. used[i] holds the inputs applied at tick base+i; base
// is the agreed engine's next tick once confirm caught up.
type speculator struct {
	game    gamestate.Game
	window  uint64
	predict Predictor
	next    uint64 // the copy's next tick
	base    uint64
	used    [][]gamestate.SeatInput
	exact   []bool // exact[i]: tick base+i was complete (no prediction)
	last    []gamestate.SeatInput
	// stale: the copy must be rebuilt from the agreed state before it
	// advances; wrongAt is the first tick it got wrong (wrong: a
	// rollback, not just a resync after the log ran past it).
	stale, wrong bool
	wrongAt      uint64
	fig          PredictionFigures
	lat          []time.Duration // ring of speculative-apply latencies
	latPos       int
}

func newSpeculator(p Prediction, n int) *speculator {
	w := p.Window
	if w <= 0 {
		w = DefaultPredictionWindow
	}
	return &speculator{game: p.Game, window: uint64(w), predict: p.Predict, last: make([]gamestate.SeatInput, n),
		stale: true, fig: PredictionFigures{Enabled: true}}
}

func sameInput(a, b gamestate.SeatInput) bool {
	return a.Present == b.Present && (!a.Present || bytes.Equal(a.Data, b.Data))
}

// confirm takes the ticks the agreed engine just applied, in order, with
// the inputs it applied: a tick the copy applied with other inputs makes
// it wrong from there on.
func (s *speculator) confirm(ticks []gamestate.TickResult) {
	for i := range ticks {
		tr := &ticks[i]
		for seat := range s.last {
			if seat < len(tr.Inputs) && tr.Inputs[seat].Present {
				s.last[seat] = gamestate.SeatInput{Present: true, Data: slices.Clone(tr.Inputs[seat].Data)}
			}
		}
		switch {
		case s.stale:
		case tr.Tick < s.base:
		case tr.Tick == s.base && len(s.used) == 0 && s.next == s.base:
			// The copy waited here (its window): follow the log, which
			// costs one Advance instead of a rebuild.
			s.game.Advance(tr.Tick, tr.Inputs)
			s.next++
			s.base++
		case tr.Tick == s.base && len(s.used) > 0:
			if !s.wrong && !slices.EqualFunc(s.used[0], tr.Inputs, sameInput) {
				s.stale, s.wrong, s.wrongAt = true, true, tr.Tick
			}
			s.used, s.exact = s.used[1:], s.exact[1:]
			s.base++
		default: // the log ran past the copy (a window's wait, a catch-up)
			s.stale = true
		}
	}
}

// reset: the agreed state was replaced (a checkpoint installed).
func (s *speculator) reset() { s.stale = true }

// run brings the copy up to date: rebuilt from the agreed engine if it
// went wrong, then advanced through every tick up to clock (predicting
// what is missing), and past the clock through every tick whose inputs
// are all in hand, never more than the window past the agreed log.
// input returns seat's entry for tick if this peer holds it.
func (s *speculator) run(c *Core, now time.Time) {
	eng := c.engine
	agreed := eng.Next()
	if s.stale {
		if s.wrong {
			depth := int(s.next - s.wrongAt)
			s.fig.Rollbacks++
			s.fig.RolledBack += uint64(depth)
			s.fig.MaxDepth = max(s.fig.MaxDepth, depth)
		}
		if err := s.game.Restore(eng.Game().Snapshot()); err != nil {
			c.log.Error("prediction: the game does not restore its own snapshot", "err", err)
			return
		}
		s.next, s.base, s.used, s.exact = agreed, agreed, s.used[:0], s.exact[:0]
		s.stale, s.wrong = false, false
	}
	n := len(s.last)
	for s.next < agreed+s.window {
		t := s.next
		in := make([]gamestate.SeatInput, n)
		complete := true
		for seat := 0; seat < n; seat++ {
			v, ok := c.heldInput(seat, t)
			if !ok {
				complete = false
				prev := s.last[seat]
				if k := len(s.used); k > 0 {
					prev = s.used[k-1][seat]
				}
				if s.predict != nil {
					v = s.predict(seat, t, prev)
				} else {
					v = prev
				}
			}
			if eng.Flag(seat).Flagged && !eng.Config().Policy.KeepCheaterInputs {
				v = gamestate.SeatInput{}
			} else if v.Present && s.game.Validate(seat, v.Data) != nil {
				v = gamestate.SeatInput{}
			}
			in[seat] = v
		}
		if t > c.clock && !complete {
			return
		}
		s.game.Advance(t, in)
		s.used, s.exact = append(s.used, in), append(s.exact, complete)
		s.next++
		if complete {
			s.fig.Complete++
			if at, ok := c.signedAt[t]; ok {
				s.addLatency(now.Sub(at))
			}
		}
	}
}

func (s *speculator) addLatency(d time.Duration) {
	const latRing = 1024
	if len(s.lat) < latRing {
		s.lat = append(s.lat, d)
		return
	}
	s.lat[s.latPos] = d
	s.latPos = (s.latPos + 1) % latRing
}

func (s *speculator) figures() PredictionFigures {
	f := s.fig
	f.Next = s.next
	if len(s.lat) > 0 {
		l := slices.Clone(s.lat)
		slices.Sort(l)
		f.SpecP50, f.SpecP99 = l[len(l)/2], l[min(len(l)-1, len(l)*99/100)]
	}
	return f
}

// heldInput is seat's input for tick as this peer holds it before the tick
// is decided: its own sampled input, another seat's signed Input, or a
// signed NoInput or Leave (no input). In sealed mode another seat's input
// is unknown until the log opens it.
func (c *Core) heldInput(seat int, tick uint64) (gamestate.SeatInput, bool) {
	if seat == c.cfg.Seat {
		if data, ok := c.ownData[tick]; ok {
			if len(data) == 0 && c.cfg.Mode == Broadcast {
				return gamestate.SeatInput{}, true // broadcast mode's signed "no input"
			}
			return gamestate.SeatInput{Present: true, Data: append([]byte{}, data...)}, true
		}
	}
	if _, ok := c.pool.absence(seat, tick); ok {
		return gamestate.SeatInput{}, true
	}
	if c.cfg.Sealed {
		return gamestate.SeatInput{}, false
	}
	env, ok := c.pool.inputs[stKey{tick, uint16(seat)}]
	if !ok || env.Type != wire.TypeInput {
		return gamestate.SeatInput{}, false
	}
	m, err := gamestate.DecodeInput(env.Body)
	if err != nil {
		return gamestate.SeatInput{}, false
	}
	if len(m.Data) == 0 && c.cfg.Mode == Broadcast {
		return gamestate.SeatInput{}, true // broadcast mode's signed "no input"
	}
	if m.Data == nil {
		return gamestate.SeatInput{Present: true, Data: []byte{}}, true
	}
	return gamestate.SeatInput{Present: true, Data: m.Data}, true
}

// Speculate brings the predicted view up to date (the runtime calls it
// after every round of work). A no-op without prediction.
func (c *Core) Speculate(now time.Time) {
	if c.spec != nil {
		c.spec.run(c, now)
	}
}

// Predicted is the speculative copy of the game and its next tick (nil
// without prediction). Only the core's goroutine may read it.
func (c *Core) Predicted() (gamestate.Game, uint64) {
	if c.spec == nil {
		return nil, 0
	}
	return c.spec.game, c.spec.next
}

// PredictionFigures returns speculation's counters (zero without it).
func (c *Core) PredictionFigures() PredictionFigures {
	if c.spec == nil {
		return PredictionFigures{}
	}
	return c.spec.figures()
}
