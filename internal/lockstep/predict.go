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
// the last one this player has sampled an input for (the clock plus the
// input delay), with every seat's input this peer holds (its signed Input
// in the pool: exact, Zyzzyva's speculative apply) or, for a seat whose
// input has not arrived, a predicted one (Predictor; by default the seat's
// latest input). When a predicted input arrives and differs, or the agreed
// log applies a tick with other inputs than the copy used, the copy is
// rolled back to the agreed state and re-simulated. Nothing the
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
// log's next tick. used[i] holds the inputs applied at tick base+i, and
// guessed[i][seat] says which of them were predicted rather than held;
// base is the agreed engine's next tick once confirm caught up.
type speculator struct {
	game    gamestate.Game
	window  uint64
	predict Predictor
	next    uint64 // the copy's next tick
	base    uint64
	used    [][]gamestate.SeatInput
	guessed [][]bool
	// last[seat] is the seat's latest agreed input, absent ones too: a
	// seat that went silent is predicted silent, not repeating its last
	// move for ever (which would roll back every batch).
	last []gamestate.SeatInput
	// stale: the copy must be rebuilt from the agreed state before it
	// advances; wrongAt is the first tick it got wrong (wrong: a
	// rollback, not just a resync after the log ran past it).
	stale, wrong bool
	wrongAt      uint64
	failed       bool   // the game could not restore its own snapshot: speculation is off
	gen          uint64 // moves whenever the copy's state does (publishing)
	counted      map[uint64]bool
	fig          PredictionFigures
	lat          latencyRing // speculative-apply latencies
}

func newSpeculator(p Prediction, n int) *speculator {
	w := p.Window
	if w <= 0 {
		w = DefaultPredictionWindow
	}
	return &speculator{game: p.Game, window: uint64(w), predict: p.Predict, last: make([]gamestate.SeatInput, n),
		stale: true, counted: map[uint64]bool{}, fig: PredictionFigures{Enabled: true}}
}

func sameInput(a, b gamestate.SeatInput) bool {
	return a.Present == b.Present && (!a.Present || bytes.Equal(a.Data, b.Data))
}

func cloneInputs(in []gamestate.SeatInput) []gamestate.SeatInput {
	out := make([]gamestate.SeatInput, len(in))
	for i, v := range in {
		out[i] = gamestate.SeatInput{Present: v.Present}
		if v.Present {
			out[i].Data = append([]byte{}, v.Data...)
		}
	}
	return out
}

// confirm takes the ticks the agreed engine just applied, in order, with
// the inputs it applied: a tick the copy applied with other inputs makes
// it wrong from there on.
func (s *speculator) confirm(ticks []gamestate.TickResult) {
	for i := range ticks {
		tr := &ticks[i]
		for seat := range s.last {
			if seat < len(tr.Inputs) {
				s.last[seat] = cloneInputs(tr.Inputs[seat : seat+1])[0]
			}
		}
		delete(s.counted, tr.Tick)
		switch {
		case s.stale:
		case tr.Tick < s.base:
		case tr.Tick == s.base && len(s.used) == 0 && s.next == s.base:
			// The copy waited here (its window): follow the log, which
			// costs one Advance instead of a rebuild. The copy gets its
			// own input bytes: the games share no memory.
			s.game.Advance(tr.Tick, cloneInputs(tr.Inputs))
			s.next++
			s.base++
			s.gen++
		case tr.Tick == s.base && len(s.used) > 0:
			if !s.wrong && !slices.EqualFunc(s.used[0], tr.Inputs, sameInput) {
				s.stale, s.wrong, s.wrongAt = true, true, tr.Tick
			}
			s.used, s.guessed = s.used[1:], s.guessed[1:]
			s.base++
		default: // the log ran past the copy (a window's wait, a catch-up)
			s.stale = true
		}
	}
}

// reset: the agreed state was replaced (a checkpoint installed).
func (s *speculator) reset() { s.stale = true }

// recheck looks at the ticks the copy applied with a predicted input:
// when this peer now holds that input and it differs from the guess, the
// copy is wrong from that tick on and rolls back at once, without waiting
// for the log to decide the tick. A guess that proved right becomes held,
// and a tick whose inputs are all held counts as applied speculatively.
func (s *speculator) recheck(c *Core, now time.Time) {
	for i := range s.used {
		t := s.base + uint64(i)
		all := true
		for seat, g := range s.guessed[i] {
			if !g {
				continue
			}
			v, ok := c.heldInput(seat, t)
			if !ok {
				all = false
				continue
			}
			if !sameInput(v, s.used[i][seat]) {
				s.stale, s.wrong, s.wrongAt = true, true, t
				return
			}
			s.guessed[i][seat] = false
		}
		if all {
			s.complete(c, t, now)
		}
	}
}

// complete counts tick t as applied with every input in hand, once.
func (s *speculator) complete(c *Core, t uint64, now time.Time) {
	if s.counted[t] {
		return
	}
	s.counted[t] = true
	s.fig.Complete++
	if at, ok := c.signedAt[t]; ok {
		s.lat.add(now.Sub(at))
	}
}

// run brings the copy up to date: rebuilt from the agreed engine if it
// went wrong, then advanced through every tick up to the last one this
// player has sampled an input for (the clock plus the input delay; the
// others' inputs predicted where missing), and past it through every tick
// whose inputs are all in hand, never more than the window past the
// agreed log.
func (s *speculator) run(c *Core, now time.Time) {
	if s.failed {
		return
	}
	eng := c.engine
	agreed := eng.Next()
	if !s.stale {
		s.recheck(c, now)
	}
	if s.stale {
		if s.wrong {
			depth := int(s.next - s.wrongAt)
			s.fig.Rollbacks++
			s.fig.RolledBack += uint64(depth)
			s.fig.MaxDepth = max(s.fig.MaxDepth, depth)
		}
		if err := s.game.Restore(slices.Clone(eng.Game().Snapshot())); err != nil {
			c.log.Error("prediction off: the game does not restore its own snapshot", "err", err)
			s.failed = true
			return
		}
		s.next, s.base, s.used, s.guessed = agreed, agreed, s.used[:0], s.guessed[:0]
		s.stale, s.wrong = false, false
		s.gen++
	}
	limit := max(c.clock, c.nextSample) // ticks below nextSample hold this player's input
	n := len(s.last)
	for s.next < agreed+s.window {
		t := s.next
		in := make([]gamestate.SeatInput, n)
		guessed := make([]bool, n)
		complete := true
		for seat := 0; seat < n; seat++ {
			v, ok := c.heldInput(seat, t)
			if !ok {
				complete, guessed[seat] = false, true
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
		if t >= limit && !complete {
			return
		}
		s.game.Advance(t, cloneInputs(in))
		s.used, s.guessed = append(s.used, in), append(s.guessed, guessed)
		s.next++
		s.gen++
		if complete {
			s.complete(c, t, now)
		}
	}
}

func (s *speculator) figures() PredictionFigures {
	f := s.fig
	f.Next = s.next
	f.SpecP50, f.SpecP99 = s.lat.p50p99()
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

// Predicted is the speculative copy of the game, its next tick and a
// generation that changes whenever its state does (nil without
// prediction). Only the core's goroutine may read it.
func (c *Core) Predicted() (g gamestate.Game, next, gen uint64) {
	if c.spec == nil {
		return nil, 0, 0
	}
	return c.spec.game, c.spec.next, c.spec.gen
}

// PredictionFigures returns speculation's counters (zero without it).
func (c *Core) PredictionFigures() PredictionFigures {
	if c.spec == nil {
		return PredictionFigures{}
	}
	return c.spec.figures()
}
