package bench

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/internal/match"
)

// Result is one invocation: one configuration in every selected mode.
// `paxsync bench --json` prints it as one object.
type Result struct {
	Command    string  `json:"command,omitempty"`
	Date       string  `json:"date"`
	Peers      int     `json:"peers"`
	TickHz     int     `json:"tick_hz"` // 0 in a saturating run
	Saturating bool    `json:"saturating"`
	DurationS  float64 `json:"duration_s"` // measured window per run
	WarmupS    float64 `json:"warmup_s"`
	InputDelay int     `json:"input_delay"`
	Sealed     bool    `json:"sealed,omitempty"` // commit-reveal inputs (Config.Sealed)
	Game       string  `json:"game"`             // match.GameArena or match.GameTally
	Machine    Machine `json:"machine"`
	// SignCostUs / VerifyCostUs: one Ed25519 sign / verify on this
	// machine (crypto.MeasureCost, before the runs).
	SignCostUs   float64   `json:"sign_cost_us"`
	VerifyCostUs float64   `json:"verify_cost_us"`
	Runs         []ModeRun `json:"runs"`
	// BFTOverBroadcastP50 is bft's overall p50 commit latency divided by
	// broadcast's, when both ran in this invocation.
	BFTOverBroadcastP50 *float64 `json:"bft_over_broadcast_p50,omitempty"`
	// BFTSpecOverBroadcastP50 (with --prediction) is bft's speculative
	// apply p50 divided by broadcast's commit p50: how close a peer that
	// applies complete ticks before they are decided gets to no agreement.
	BFTSpecOverBroadcastP50 *float64 `json:"bft_spec_over_broadcast_p50,omitempty"`
	// Targets are the targets that apply to this configuration.
	Targets []Target `json:"targets"`
	// OK: every run completed (targets missed do not count).
	OK bool `json:"ok"`
}

// ModeRun is one mode's run.
type ModeRun struct {
	Mode string `json:"mode"`
	// OK: every peer reported a full window. Failed says why not.
	OK     bool     `json:"ok"`
	Failed []string `json:"failed,omitempty"`
	// HonestAgree: all peers' state hashes matched at every common
	// checkpoint (a sanity check of the run, not a figure).
	HonestAgree bool          `json:"honest_agree"`
	WallS       float64       `json:"wall_s"` // the whole run, start-up included
	Overall     Figures       `json:"overall"`
	Peers       []PeerFigures `json:"peers"`
}

// Latency is a commit-latency distribution (nearest-rank percentiles).
type Latency struct {
	Samples int     `json:"samples"`
	P50Ms   float64 `json:"p50_ms"`
	P90Ms   float64 `json:"p90_ms"`
	P99Ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
}

// Figures are one peer's window, or (Overall) the run's: latency pooled
// over every peer's samples; ticks/s and inputs/s of the slowest peer (a
// lockstep match goes no faster); per-tick costs are per peer, averaged
// over peers.
type Figures struct {
	Latency
	DecidedTicks uint64  `json:"decided_ticks"`
	WindowS      float64 `json:"window_s"`
	TicksPerS    float64 `json:"ticks_per_s"`
	InputsPerS   float64 `json:"inputs_per_s"`
	// Per peer per decided tick.
	CPUUsPerTick    float64 `json:"cpu_us_per_tick"`
	BytesOutPerTick float64 `json:"bytes_out_per_tick"`
	BytesInPerTick  float64 `json:"bytes_in_per_tick"`
	MsgsOutPerTick  float64 `json:"msgs_out_per_tick"`
	MsgsInPerTick   float64 `json:"msgs_in_per_tick"`
	SignsPerTick    float64 `json:"signs_per_tick"`
	VerifiesPerTick float64 `json:"verifies_per_tick"`
	// FloorUsPerTick = signs/tick × sign cost + verifies/tick × verify
	// cost; CPUOverFloor = CPU / floor.
	FloorUsPerTick float64 `json:"floor_us_per_tick"`
	CPUOverFloor   float64 `json:"cpu_over_floor"`
	// AllMsgsPerTick (overall only): messages all peers sent per tick.
	AllMsgsPerTick float64 `json:"all_msgs_per_tick,omitempty"`
	// LagGrowthTicks (paced runs): how much the gap between the grid's
	// scheduled tick and the decided ticks grew over the window; the
	// overall figure is the worst peer's. Near 0: keeping up.
	LagGrowthTicks int64  `json:"lag_growth_ticks"`
	DroppedEvents  uint64 `json:"dropped_events,omitempty"`
	// Prediction (with --prediction, ordering modes): speculative apply
	// p50/p99 (per peer its session's; overall the median and the worst
	// of the peers'), the share of decided ticks applied speculatively
	// with every input in hand, rollbacks per second and the deepest.
	SpecP50Ms     float64 `json:"spec_p50_ms,omitempty"`
	SpecP99Ms     float64 `json:"spec_p99_ms,omitempty"`
	SpecShare     float64 `json:"spec_share,omitempty"`
	RollbacksPerS float64 `json:"rollbacks_per_s,omitempty"`
	MaxRollback   int     `json:"max_rollback,omitempty"`
	CPUUnknown    bool    `json:"cpu_unknown,omitempty"`
}

// PeerFigures is one peer's row.
type PeerFigures struct {
	Seat int `json:"seat"`
	Figures
}

// Target is one of the targets checked against this invocation.
type Target struct {
	Name  string  `json:"name"`
	Want  string  `json:"want"`
	Got   float64 `json:"got"`
	Unit  string  `json:"unit"`
	Met   bool    `json:"met"`
	Known bool    `json:"known"` // false: the figure could not be measured (run failed)
}

// Percentile is the nearest-rank p-th percentile (0 < p ≤ 100) of sorted
// samples: the smallest value with at least p% of the samples at or below
// it. 0 for no samples.
func Percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// LatencyOf summarises samples (nanoseconds; sorted in place).
func LatencyOf(samples []int64) Latency {
	slices.Sort(samples)
	ms := func(v int64) float64 { return float64(v) / 1e6 }
	l := Latency{Samples: len(samples)}
	if len(samples) > 0 {
		l.P50Ms, l.P90Ms, l.P99Ms = ms(Percentile(samples, 50)), ms(Percentile(samples, 90)), ms(Percentile(samples, 99))
		l.MaxMs = ms(samples[len(samples)-1])
	}
	return l
}

// peerFigures turns one peer's window into figures.
func peerFigures(b *match.BenchReport, paced bool, sign, verify time.Duration) Figures {
	f := Figures{Latency: LatencyOf(slices.Clone(b.CommitNs)), DecidedTicks: b.DecidedTicks, WindowS: b.WindowS,
		DroppedEvents: b.DroppedEvents, CPUUnknown: b.NoCPU}
	if b.WindowS > 0 {
		f.TicksPerS = float64(b.DecidedTicks) / b.WindowS
		f.InputsPerS = float64(b.Inputs) / b.WindowS
	}
	if paced {
		f.LagGrowthTicks = b.LagEndTicks - b.LagStartTicks
	}
	if t := float64(b.DecidedTicks); t > 0 {
		f.CPUUsPerTick = float64(b.CPUNs) / 1e3 / t
		f.BytesOutPerTick, f.BytesInPerTick = float64(b.BytesOut)/t, float64(b.BytesIn)/t
		f.MsgsOutPerTick, f.MsgsInPerTick = float64(b.MsgsOut)/t, float64(b.MsgsIn)/t
		f.SignsPerTick, f.VerifiesPerTick = float64(b.Signs)/t, float64(b.Verifies)/t
		f.FloorUsPerTick = f.SignsPerTick*us(sign) + f.VerifiesPerTick*us(verify)
	}
	if f.FloorUsPerTick > 0 && !f.CPUUnknown {
		f.CPUOverFloor = f.CPUUsPerTick / f.FloorUsPerTick
	}
	f.SpecP50Ms, f.SpecP99Ms, f.MaxRollback = float64(b.SpecP50Ns)/1e6, float64(b.SpecP99Ns)/1e6, b.MaxRollback
	if b.DecidedTicks > 0 {
		f.SpecShare = float64(b.SpecTicks) / float64(b.DecidedTicks)
	}
	if b.WindowS > 0 {
		f.RollbacksPerS = float64(b.Rollbacks) / b.WindowS
	}
	return f
}

// aggregate computes the overall figures from the peers' windows.
func aggregate(peers []*match.BenchReport, figs []PeerFigures) Figures {
	var o Figures
	var all []int64
	for _, b := range peers {
		all = append(all, b.CommitNs...)
	}
	o.Latency = LatencyOf(all)
	if len(figs) == 0 {
		return o
	}
	n := float64(len(figs))
	for i, p := range figs {
		f := p.Figures
		if i == 0 || f.TicksPerS < o.TicksPerS {
			o.TicksPerS, o.DecidedTicks, o.WindowS = f.TicksPerS, f.DecidedTicks, f.WindowS
		}
		if i == 0 || f.InputsPerS < o.InputsPerS {
			o.InputsPerS = f.InputsPerS
		}
		if i == 0 || f.LagGrowthTicks > o.LagGrowthTicks {
			o.LagGrowthTicks = f.LagGrowthTicks
		}
		o.CPUUsPerTick += f.CPUUsPerTick / n
		o.BytesOutPerTick += f.BytesOutPerTick / n
		o.BytesInPerTick += f.BytesInPerTick / n
		o.MsgsOutPerTick += f.MsgsOutPerTick / n
		o.MsgsInPerTick += f.MsgsInPerTick / n
		o.SignsPerTick += f.SignsPerTick / n
		o.VerifiesPerTick += f.VerifiesPerTick / n
		o.FloorUsPerTick += f.FloorUsPerTick / n
		o.AllMsgsPerTick += f.MsgsOutPerTick
		o.DroppedEvents += f.DroppedEvents
		o.CPUUnknown = o.CPUUnknown || f.CPUUnknown
	}
	if o.FloorUsPerTick > 0 && !o.CPUUnknown {
		o.CPUOverFloor = o.CPUUsPerTick / o.FloorUsPerTick
	}
	var p50s []float64
	for _, p := range figs {
		f := p.Figures
		if f.SpecP50Ms > 0 {
			p50s = append(p50s, f.SpecP50Ms)
		}
		o.SpecP99Ms = max(o.SpecP99Ms, f.SpecP99Ms)
		o.SpecShare += f.SpecShare / n
		o.RollbacksPerS += f.RollbacksPerS / n
		o.MaxRollback = max(o.MaxRollback, f.MaxRollback)
	}
	if len(p50s) > 0 {
		slices.Sort(p50s)
		o.SpecP50Ms = p50s[(len(p50s)-1)/2]
	}
	return o
}

// fromReport turns a match report of a bench run into the mode's figures.
func fromReport(mode Mode, rep *match.Report, hz int, sign, verify time.Duration, wall time.Duration) *ModeRun {
	mr := &ModeRun{Mode: string(mode), HonestAgree: rep.HonestAgree, WallS: wall.Round(10 * time.Millisecond).Seconds(),
		Failed: append([]string(nil), rep.Failed...), Peers: []PeerFigures{}}
	var windows []*match.BenchReport
	for _, p := range rep.Peers {
		if p.Bench == nil {
			if p.PeerID != "" { // a report without a window: the peer never finished it
				mr.Failed = append(mr.Failed, fmt.Sprintf("peer %d reported no measured window", p.Index))
			}
			continue
		}
		windows = append(windows, p.Bench)
		mr.Peers = append(mr.Peers, PeerFigures{Seat: p.Index, Figures: peerFigures(p.Bench, hz > 0, sign, verify)})
	}
	if len(windows) < len(rep.Peers) && len(mr.Failed) == 0 {
		mr.Failed = append(mr.Failed, fmt.Sprintf("%d of %d peers reported a window", len(windows), len(rep.Peers)))
	}
	mr.Overall = aggregate(windows, mr.Peers)
	mr.OK = len(mr.Failed) == 0
	return mr
}

// run returns the run of mode m, or nil.
func (r *Result) run(m Mode) *ModeRun {
	for i := range r.Runs {
		if r.Runs[i].Mode == string(m) {
			return &r.Runs[i]
		}
	}
	return nil
}

// finish computes the ratio and the targets that apply.
func (r *Result) finish() {
	r.OK = true
	for _, m := range r.Runs {
		r.OK = r.OK && m.OK
	}
	b, bc := r.run(paxsync.ConsensusBFT), r.run(paxsync.ConsensusBroadcast)
	r.BFTOverBroadcastP50 = nil
	if b != nil && bc != nil && b.OK && bc.OK && b.Overall.Samples > 0 && bc.Overall.Samples > 0 && bc.Overall.P50Ms > 0 {
		v := b.Overall.P50Ms / bc.Overall.P50Ms
		r.BFTOverBroadcastP50 = &v
	}
	r.BFTSpecOverBroadcastP50 = nil
	if b != nil && bc != nil && b.OK && bc.OK && b.Overall.SpecP50Ms > 0 && bc.Overall.P50Ms > 0 {
		v := b.Overall.SpecP50Ms / bc.Overall.P50Ms
		r.BFTSpecOverBroadcastP50 = &v
	}
	r.Targets = Targets(r)
}

// Targets returns the targets that apply to r's configuration,
// checked against its bft run (the product). Configurations the issue
// sets no target for get none.
func Targets(r *Result) []Target {
	out := []Target{}
	b := r.run(paxsync.ConsensusBFT)
	if b == nil || r.Sealed {
		return out // the targets are for plain inputs
	}
	known := b.OK && b.Overall.Samples > 0
	atMost := func(name string, got, limit float64, unit string) Target {
		return Target{Name: name, Want: fmt.Sprintf("≤ %g %s", limit, unit), Got: got, Unit: unit, Known: known, Met: known && got <= limit}
	}
	switch {
	case r.Peers == 4 && r.TickHz == 60:
		out = append(out, atMost("n=4 60 Hz bft p50", b.Overall.P50Ms, 2, "ms"), atMost("n=4 60 Hz bft p99", b.Overall.P99Ms, 5, "ms"))
		if bc := r.run(paxsync.ConsensusBroadcast); bc != nil {
			t := Target{Name: "n=4 60 Hz bft p50 / broadcast p50", Want: "≤ 3×", Unit: "×"}
			if r.BFTOverBroadcastP50 != nil {
				t.Got, t.Known = *r.BFTOverBroadcastP50, known
				t.Met = t.Known && t.Got <= 3
			}
			out = append(out, t)
			if r.BFTSpecOverBroadcastP50 != nil { // issue 17: speculative apply of complete ticks
				ts := Target{Name: "n=4 60 Hz bft speculative apply p50 / broadcast p50", Want: "≤ 1.1×", Unit: "×",
					Got: *r.BFTSpecOverBroadcastP50, Known: known}
				ts.Met = known && ts.Got <= 1.1
				out = append(out, ts)
			}
		}
	case r.Peers == 7 && r.TickHz == 60:
		out = append(out, atMost("n=7 60 Hz bft p99", b.Overall.P99Ms, 10, "ms"))
	case r.Peers == 16 && r.TickHz == 30:
		// Sustained: the slowest peer decides ≥ 98% of the grid's rate
		// and its lag behind the grid grows by at most 3 ticks.
		t := Target{Name: "n=16 30 Hz bft sustained", Want: "≥ 29.4 ticks/s, lag growth ≤ 3 ticks", Got: b.Overall.TicksPerS,
			Unit: "ticks/s", Known: b.OK && b.Overall.WindowS > 0}
		t.Met = t.Known && b.Overall.TicksPerS >= 0.98*30 && b.Overall.LagGrowthTicks <= 3
		out = append(out, t)
	case r.Peers == 4 && r.TickHz == 0:
		t := Target{Name: "n=4 saturating bft throughput", Want: "≥ 1000 ticks/s", Got: b.Overall.TicksPerS, Unit: "ticks/s",
			Known: b.OK && b.Overall.WindowS > 0}
		t.Met = t.Known && t.Got >= 1000
		out = append(out, t)
	}
	return out
}
