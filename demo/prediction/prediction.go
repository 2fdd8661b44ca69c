// Package prediction is the display-free part of the demo's client-side
// prediction (paxsync.Config.Prediction): which state the arena draws (the
// predicted copy or the agreed one, switched at run time with a key) and
// the network panel's prediction figures. It does not import Ebiten, so
// that its tests run without a display: package demo's cannot, since
// Ebiten's package init needs one.
package prediction

import (
	"fmt"
	"strconv"
	"time"

	"github.com/paxsync/paxsync"
)

// Source is the state the arena is drawn from.
type Source int

const (
	// Agreed is the decided log's state (Session.View): what verdicts,
	// scores, hashes and replays use.
	Agreed Source = iota
	// Predicted is the session's speculative copy (Session.PredictedView):
	// the local input applied at once, which a rollback may still correct.
	Predicted
)

func (s Source) String() string {
	if s == Predicted {
		return "predicted"
	}
	return "agreed"
}

// Mode says whether the local session speculates (Enabled, fixed when it
// joins) and whether the arena shows the speculation (Shown, which the
// player toggles to feel the difference; the session keeps speculating
// either way, so toggling needs no reconnect).
type Mode struct {
	Enabled bool
	Shown   bool
}

// NewMode is the mode a match starts in: the prediction is shown whenever
// the session makes one.
func NewMode(enabled bool) Mode { return Mode{Enabled: enabled, Shown: enabled} }

// Toggle flips between drawing the predicted and the agreed state. Without
// prediction there is only the agreed state, and Toggle does nothing.
func (m *Mode) Toggle() {
	if m.Enabled {
		m.Shown = !m.Shown
	}
}

// Drawn is the source the arena draws: the predicted state when it is
// shown and one has arrived (havePredicted), else the agreed state.
func (m Mode) Drawn(havePredicted bool) Source {
	if m.Enabled && m.Shown && havePredicted {
		return Predicted
	}
	return Agreed
}

// Label is the HUD's one-line statement of the mode.
func (m Mode) Label() string {
	switch {
	case !m.Enabled:
		return "prediction off (--prediction=false): drawing the agreed state"
	case m.Shown:
		return "prediction on: drawing the predicted state"
	default:
		return "prediction on, not shown: drawing the agreed state"
	}
}

// Figures are the prediction statistics the network panel shows, taken
// from paxsync.Stats (zero without prediction).
type Figures struct {
	Enabled bool
	// RollbacksPerSec is the Stats.Rollbacks delta over the last stats
	// interval (Rate).
	RollbacksPerSec float64
	Rollbacks       uint64 // corrections so far
	MaxRollback     int    // the deepest correction, in ticks
	PredictedTick   uint64 // the predicted view's next tick
	SpeculativeP50  time.Duration
	SpeculativeP99  time.Duration
}

// FiguresOf are the panel's figures from a StatsEvent's statistics of a
// session with prediction, read at now; rate is the session's Rate, kept
// between events, which turns Stats.Rollbacks into rollbacks per second.
func FiguresOf(st paxsync.Stats, rate *Rate, now time.Time) Figures {
	return Figures{Enabled: true, RollbacksPerSec: rate.Update(st.Rollbacks, now),
		Rollbacks: st.Rollbacks, MaxRollback: st.MaxRollback, PredictedTick: st.PredictedTick,
		SpeculativeP50: st.SpeculativeP50, SpeculativeP99: st.SpeculativeP99}
}

// Rate turns a counter that only grows (Stats.Rollbacks) into a rate per
// second between successive readings. The zero value is ready to use.
type Rate struct {
	last uint64
	at   time.Time
	ok   bool
}

// Update records the counter's value at now and returns its increase per
// second since the previous reading (0 for the first reading, a reading
// no later than the previous one, or a counter that went down, as after a
// restarted session).
func (r *Rate) Update(count uint64, now time.Time) float64 {
	prev, at, ok := r.last, r.at, r.ok
	r.last, r.at, r.ok = count, now, true
	dt := now.Sub(at)
	if !ok || dt <= 0 || count < prev {
		return 0
	}
	return float64(count-prev) / dt.Seconds()
}

// LatencyItem is the network panel's latency item: the commit latency
// p50/p99 and, with prediction, the speculative apply's p50 beside it (how
// long after signing this player's input a tick was applied with every
// seat's input in hand, before it was agreed).
func LatencyItem(commitP50, commitP99 time.Duration, f Figures) string {
	s := fmt.Sprintf("commit latency p50 %s, p99 %s", ms(commitP50), ms(commitP99))
	if f.Enabled {
		s += fmt.Sprintf(" · speculative p50 %s", ms(f.SpeculativeP50))
	}
	return s
}

// Items are the network panel's prediction items: the mode and, with
// prediction, the rollbacks per second and the deepest rollback.
func Items(f Figures, m Mode) []string {
	if !f.Enabled {
		return []string{"prediction off"}
	}
	on := "prediction on, drawing the predicted state"
	if !m.Shown {
		on = "prediction on, drawing the agreed state (P)"
	}
	return []string{on,
		fmt.Sprintf("rollbacks %s/s, deepest %d ticks", strconv.FormatFloat(f.RollbacksPerSec, 'f', 1, 64), f.MaxRollback)}
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}
