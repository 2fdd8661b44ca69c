package match

import (
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/gamestate"
)

// BenchSpec turns a peer into a benchmark peer (`paxsync bench`): it plays
// exactly like a match peer, but measures a window of wall time, from
// Warmup after the tick grid's epoch (PeerConfig.EpochUnixNano, else the
// moment it joined) for Duration, and puts the figures in its report. The
// window is wall time rather than ticks so a peer that falls behind shows
// it as fewer decided ticks per second, and so a saturating run (no tick
// rate) has a window at all.
type BenchSpec struct {
	Warmup   time.Duration `json:"warmup_ns"`
	Duration time.Duration `json:"duration_ns"`
}

// BenchReport is what a bench peer measured over its window. Every counter
// is a difference between the window's end and its start, so set-up and
// warm-up are excluded.
type BenchReport struct {
	WindowS float64 `json:"window_s"` // measured wall time
	// DecidedTicks is how many ticks this peer decided and applied in the
	// window; Inputs counts the present inputs (all seats) in the ticks it
	// applied in the window.
	DecidedTicks uint64 `json:"decided_ticks"`
	Inputs       uint64 `json:"inputs"`
	// CommitNs holds TickEvent.Commit (own input signed and sent → its
	// tick applied here) for every tick applied in the window that carried
	// an input of this peer.
	CommitNs []int64 `json:"commit_ns"`
	// CPUNs is this process's user+system CPU time over the window
	// (getrusage); NoCPU is set where the platform cannot tell.
	CPUNs int64 `json:"cpu_ns"`
	NoCPU bool  `json:"no_cpu,omitempty"`
	// Network totals of this peer over the window (Stats.BytesIn …).
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	MsgsIn   uint64 `json:"msgs_in"`
	MsgsOut  uint64 `json:"msgs_out"`
	// Signature operations of this process over the window.
	Signs    uint64 `json:"signs"`
	Verifies uint64 `json:"verifies"`
	// LagStartTicks/LagEndTicks (paced runs only): the tick the grid
	// schedules at that moment minus the ticks decided. A peer keeping up
	// holds it steady (input delay + grace + commit time); a growing lag is
	// a peer falling behind.
	LagStartTicks int64 `json:"lag_start_ticks"`
	LagEndTicks   int64 `json:"lag_end_ticks"`
	// DroppedEvents counts session events lost in the window because the
	// peer did not drain Events fast enough (then samples are missing).
	DroppedEvents uint64 `json:"dropped_events,omitempty"`
	// With prediction (PeerConfig.Prediction): SpecP50Ns/SpecP99Ns are the
	// session's speculative-apply percentiles at the window's end (own
	// input signed → its tick applied to the predicted copy with every
	// input in hand; Stats.SpeculativeP50, over its last 1024 such ticks),
	// SpecTicks how many ticks in the window were applied that way, and
	// Rollbacks, RolledBack and MaxRollback the window's rollbacks.
	SpecP50Ns   int64  `json:"spec_p50_ns,omitempty"`
	SpecP99Ns   int64  `json:"spec_p99_ns,omitempty"`
	SpecTicks   uint64 `json:"spec_ticks,omitempty"`
	Rollbacks   uint64 `json:"rollbacks,omitempty"`
	RolledBack  uint64 `json:"rolled_back,omitempty"`
	MaxRollback int    `json:"max_rollback,omitempty"`
}

// benchRec measures one peer's window. It lives on RunPeer's goroutine.
type benchRec struct {
	epoch      time.Time
	interval   time.Duration // 0 when unpaced
	start, end time.Time
	state      int // benchWaiting, benchMeasuring, benchDone
	timer      *time.Timer
	rep        BenchReport
	t0         time.Time
	cpu0       time.Duration
	st0        paxsync.Stats
}

const (
	benchWaiting = iota
	benchMeasuring
	benchDone
)

// newBenchRec plans the window of cfg (nil when cfg is not a bench peer).
func newBenchRec(cfg PeerConfig, joined time.Time) *benchRec {
	if cfg.Bench == nil {
		return nil
	}
	b := &benchRec{epoch: joined}
	if cfg.EpochUnixNano != 0 {
		b.epoch = time.Unix(0, cfg.EpochUnixNano)
	}
	if !cfg.Unpaced && cfg.TickHz > 0 {
		b.interval = time.Second / time.Duration(cfg.TickHz)
	}
	b.start = b.epoch.Add(cfg.Bench.Warmup)
	b.end = b.start.Add(cfg.Bench.Duration)
	b.timer = time.NewTimer(time.Until(b.start))
	return b
}

// C fires at the next transition (start, then end of the window); nil
// receivers and finished windows never fire.
func (b *benchRec) C() <-chan time.Time {
	if b == nil || b.state == benchDone {
		return nil
	}
	return b.timer.C
}

// measuring reports whether the window is open.
func (b *benchRec) measuring() bool { return b != nil && b.state == benchMeasuring }

// transition starts or ends the window; it returns true when the window
// just ended. It reads the clock itself rather than trusting the timer's
// value: the peer's loop may have been busy when the timer fired.
func (b *benchRec) transition(s *paxsync.Session) bool {
	now := time.Now()
	switch b.state {
	case benchWaiting:
		b.state = benchMeasuring
		b.t0 = now
		cpu, ok := processCPU()
		b.cpu0, b.rep.NoCPU = cpu, !ok
		b.st0 = s.Stats()
		b.rep.LagStartTicks = b.lag(now, b.st0)
		b.timer.Reset(time.Until(b.end))
		return false
	case benchMeasuring:
		b.state = benchDone
		cpu, ok := processCPU()
		st := s.Stats()
		b.rep.WindowS = now.Sub(b.t0).Seconds()
		if ok && !b.rep.NoCPU {
			b.rep.CPUNs = int64(cpu - b.cpu0)
		} else {
			b.rep.NoCPU = true
		}
		b.rep.DecidedTicks = st.DecidedTicks - b.st0.DecidedTicks
		b.rep.BytesIn, b.rep.BytesOut = st.BytesIn-b.st0.BytesIn, st.BytesOut-b.st0.BytesOut
		b.rep.MsgsIn, b.rep.MsgsOut = st.MsgsIn-b.st0.MsgsIn, st.MsgsOut-b.st0.MsgsOut
		b.rep.Signs, b.rep.Verifies = st.Signs-b.st0.Signs, st.Verifies-b.st0.Verifies
		b.rep.DroppedEvents = st.DroppedEvents - b.st0.DroppedEvents
		b.rep.LagEndTicks = b.lag(now, st)
		b.rep.SpecP50Ns, b.rep.SpecP99Ns = int64(st.SpeculativeP50), int64(st.SpeculativeP99)
		b.rep.SpecTicks = st.SpeculativeTicks - b.st0.SpeculativeTicks
		b.rep.Rollbacks, b.rep.RolledBack = st.Rollbacks-b.st0.Rollbacks, st.RolledBackTicks-b.st0.RolledBackTicks
		b.rep.MaxRollback = st.MaxRollback
		if b.rep.CommitNs == nil {
			b.rep.CommitNs = []int64{}
		}
		return true
	}
	return false
}

// lag is the grid's scheduled tick at now minus the decided ticks (paced
// runs; 0 otherwise).
func (b *benchRec) lag(now time.Time, st paxsync.Stats) int64 {
	if b.interval == 0 {
		return 0
	}
	return int64(now.Sub(b.epoch)/b.interval) - int64(st.DecidedTicks)
}

// onTick records one applied tick if the window is open.
func (b *benchRec) onTick(e paxsync.TickEvent) {
	if !b.measuring() {
		return
	}
	if e.Commit > 0 {
		b.rep.CommitNs = append(b.rep.CommitNs, int64(e.Commit))
	}
	for _, in := range e.Inputs {
		if in.Present {
			b.rep.Inputs++
		}
	}
}

// report is the finished window (nil for non-bench peers or a window that
// never ended, e.g. the peer was stopped early).
func (b *benchRec) report() *BenchReport {
	if b == nil || b.state != benchDone {
		return nil
	}
	r := b.rep
	return &r
}

// stop releases the timer.
func (b *benchRec) stop() {
	if b != nil {
		b.timer.Stop()
	}
}

// aheadInputs is how far past InputTick an unpaced peer keeps inputs
// submitted: its ticks are sampled the moment the earlier ones are
// decided, so an input submitted only on the TickEvent would be too late.
const aheadInputs = 32

// pacedAhead is how far past InputTick a paced peer keeps inputs
// submitted. A game's frame loop submits every frame; a bot driven by
// TickEvents does not (a burst of decided ticks, or a beat that samples
// before the bot has run, would leave ticks without input, and the leader
// then waits for their deadline). Keeping the next tick covered too makes
// every tick carry this seat's input, as a polling game loop would.
const pacedAhead = 1

// feeder submits this seat's bot inputs: it keeps a cursor and submits
// every tick up to InputTick()+ahead with SubmitInputAt (aheadInputs for an
// unpaced peer, pacedAhead for a paced one), so no tick is skipped.
type feeder struct {
	unpaced bool
	cursor  uint64
	play    func(g gamestate.Game, tick uint64) []byte
	buf     [][]byte
}

func (f *feeder) feed(s *paxsync.Session) {
	// InputTick takes the session lock, which View holds: ask first.
	at := s.InputTick()
	ahead := uint64(pacedAhead)
	if f.unpaced {
		ahead = aheadInputs
	}
	f.cursor = max(f.cursor, at)
	upto := at + ahead
	if f.cursor > upto {
		return
	}
	from := f.cursor
	f.buf = f.buf[:0]
	s.View(func(g gamestate.Game, _ uint64) {
		for t := from; t <= upto; t++ {
			f.buf = append(f.buf, f.play(g, t))
		}
	})
	for i, in := range f.buf {
		// ErrTooLate: the tick was sampled meanwhile; it gets "no input".
		_ = s.SubmitInputAt(from+uint64(i), in)
	}
	f.cursor = upto + 1
}
