package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// PrintJSON writes r as exactly one JSON object.
func (r *Result) PrintJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Rate describes the configuration's pace: "60 Hz" or "saturating".
func (r *Result) Rate() string {
	if r.Saturating {
		return "saturating"
	}
	return fmt.Sprintf("%d Hz", r.TickHz)
}

// PrintTable writes the human-readable report: a header, one overall row
// per mode followed by its peers' rows, the bft/broadcast ratio and the
// targets that apply.
func (r *Result) PrintTable(w io.Writer) {
	sealed := ""
	if r.Sealed {
		sealed = ", sealed inputs"
	}
	fmt.Fprintf(w, "paxsync bench: n=%d, %s, %gs measured after %gs warm-up per mode, game %s, input delay %d%s\n",
		r.Peers, r.Rate(), r.DurationS, r.WarmupS, r.Game, r.InputDelay, sealed)
	fmt.Fprintf(w, "machine: %d CPUs, %s, %s; sign %.1f µs, verify %.1f µs (measured now)\n",
		r.Machine.CPUs, r.Machine.CPUModel, r.Machine.GoVersion, r.SignCostUs, r.VerifyCostUs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "mode\tpeer\tsamples\tp50 ms\tp90 ms\tp99 ms\tmax ms\tticks/s\tinputs/s\tCPU µs/tick\tfloor µs/tick\tCPU/floor\tB out/tick\tB in/tick\tmsgs out/tick\tsigns/tick\tverifies/tick\tlag Δ\t")
	for _, m := range r.Runs {
		row(tw, m.Mode, "all", m.Overall, r.Saturating)
		for _, p := range m.Peers {
			row(tw, "", strconv.Itoa(p.Seat), p.Figures, r.Saturating)
		}
	}
	tw.Flush()
	for _, m := range r.Runs {
		if !m.HonestAgree && m.OK {
			fmt.Fprintf(w, "warning: %s: peers' state hashes disagree or share no checkpoint\n", m.Mode)
		}
		if m.Overall.DroppedEvents > 0 {
			fmt.Fprintf(w, "warning: %s: %d session events dropped (latency samples missing)\n", m.Mode, m.Overall.DroppedEvents)
		}
		for _, f := range m.Failed {
			fmt.Fprintf(w, "FAILED %s: %s\n", m.Mode, f)
		}
	}
	for _, m := range r.Runs {
		if o := m.Overall; o.SpecP50Ms > 0 || o.RollbacksPerS > 0 {
			fmt.Fprintf(w, "%s prediction: commit p50 %.2f ms, speculative apply p50 %.2f ms (p99 %.2f ms) for %.0f%% of ticks; %.1f rollbacks/s, deepest %d ticks\n",
				m.Mode, o.P50Ms, o.SpecP50Ms, o.SpecP99Ms, 100*o.SpecShare, o.RollbacksPerS, o.MaxRollback)
		}
	}
	if r.BFTOverBroadcastP50 != nil {
		fmt.Fprintf(w, "bft p50 / broadcast p50 = %.2f×\n", *r.BFTOverBroadcastP50)
	}
	if r.BFTSpecOverBroadcastP50 != nil {
		fmt.Fprintf(w, "bft speculative apply p50 / broadcast p50 = %.2f×\n", *r.BFTSpecOverBroadcastP50)
	}
	for _, t := range r.Targets {
		fmt.Fprintf(w, "target %s %s: %s\n", t.Name, t.Want, targetOutcome(t))
	}
}

// targetOutcome is "1.32 ms met", "6.1 ms MISSED" or "not measured".
func targetOutcome(t Target) string {
	if !t.Known {
		return "not measured (run failed)"
	}
	v := fmt.Sprintf("%.2f %s", t.Got, t.Unit)
	if t.Unit == "×" {
		v = fmt.Sprintf("%.2f×", t.Got)
	}
	if t.Met {
		return v + " met"
	}
	return v + " MISSED"
}

func row(w io.Writer, mode, peer string, f Figures, saturating bool) {
	cpu, ratio := fmt.Sprintf("%.0f", f.CPUUsPerTick), fmt.Sprintf("%.2f", f.CPUOverFloor)
	if f.CPUUnknown {
		cpu, ratio = "?", "?"
	}
	lag := strconv.FormatInt(f.LagGrowthTicks, 10)
	if saturating {
		lag = "-"
	}
	fmt.Fprintf(w, "%s\t%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%.0f\t%s\t%.0f\t%s\t%.0f\t%.0f\t%.1f\t%.2f\t%.2f\t%s\t\n",
		mode, peer, f.Samples, f.P50Ms, f.P90Ms, f.P99Ms, f.MaxMs, f.TicksPerS, f.InputsPerS, cpu, f.FloorUsPerTick, ratio,
		f.BytesOutPerTick, f.BytesInPerTick, f.MsgsOutPerTick, f.SignsPerTick, f.VerifiesPerTick, lag)
}
