package tests

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"testing"
	"time"
)

// benchResult is the part of `paxsync bench --json` this test checks.
type benchResult struct {
	Peers        int      `json:"peers"`
	TickHz       int      `json:"tick_hz"`
	SignCostUs   float64  `json:"sign_cost_us"`
	VerifyCostUs float64  `json:"verify_cost_us"`
	OK           bool     `json:"ok"`
	Ratio        *float64 `json:"bft_over_broadcast_p50"`
	Runs         []struct {
		Mode    string         `json:"mode"`
		OK      bool           `json:"ok"`
		Failed  []string       `json:"failed"`
		Overall benchFigures   `json:"overall"`
		Peers   []benchFigures `json:"peers"`
	} `json:"runs"`
}

type benchFigures struct {
	Samples         int     `json:"samples"`
	P50Ms           float64 `json:"p50_ms"`
	P90Ms           float64 `json:"p90_ms"`
	P99Ms           float64 `json:"p99_ms"`
	MaxMs           float64 `json:"max_ms"`
	TicksPerS       float64 `json:"ticks_per_s"`
	InputsPerS      float64 `json:"inputs_per_s"`
	CPUUsPerTick    float64 `json:"cpu_us_per_tick"`
	BytesOutPerTick float64 `json:"bytes_out_per_tick"`
	BytesInPerTick  float64 `json:"bytes_in_per_tick"`
	MsgsOutPerTick  float64 `json:"msgs_out_per_tick"`
	SignsPerTick    float64 `json:"signs_per_tick"`
	VerifiesPerTick float64 `json:"verifies_per_tick"`
	FloorUsPerTick  float64 `json:"floor_us_per_tick"`
}

// TestBenchEndToEnd runs the real `paxsync bench` (4 peer processes per
// mode, bft then broadcast) and checks that its JSON holds sane figures:
// latency samples ordered p50 ≤ p90 ≤ p99 ≤ max, about tick-hz decided
// ticks per second, and non-zero bytes, messages and signatures per tick.
// Skipped under -race and -short like the match scenarios.
func TestBenchEndToEnd(t *testing.T) {
	if testing.Short() || sessionRace {
		t.Skip("multi-process network test; run without -short and -race")
	}
	exe := buildPaxsync(t)
	const hz = 30
	start := time.Now()
	cmd := exec.Command(exe, "bench", "--peers", "4", "--tick-hz", "30", "--duration", "4s", "--mode", "bft,broadcast", "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("paxsync bench: %v\n%s", err, stderr.String())
	}
	t.Logf("took %v\n%s", time.Since(start).Round(time.Second), stderr.String())
	var res benchResult
	dec := json.NewDecoder(&stdout)
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("stdout is not a JSON object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("stdout holds more than one JSON value")
	}
	if !res.OK || res.Peers != 4 || res.TickHz != hz || len(res.Runs) != 2 || res.Runs[0].Mode != "bft" || res.Runs[1].Mode != "broadcast" {
		t.Fatalf("result header: ok=%v peers=%d hz=%d runs=%d", res.OK, res.Peers, res.TickHz, len(res.Runs))
	}
	if res.SignCostUs <= 0 || res.VerifyCostUs <= 0 {
		t.Errorf("signature costs %g / %g µs", res.SignCostUs, res.VerifyCostUs)
	}
	if res.Ratio == nil || *res.Ratio <= 0 {
		t.Errorf("no bft/broadcast ratio")
	}
	for _, r := range res.Runs {
		if !r.OK || len(r.Peers) != 4 {
			t.Errorf("%s: ok=%v peers=%d failed=%v", r.Mode, r.OK, len(r.Peers), r.Failed)
			continue
		}
		figs := append([]benchFigures{r.Overall}, r.Peers...)
		for i, f := range figs {
			who := "overall"
			if i > 0 {
				who = "peer"
			}
			if f.Samples == 0 || f.P50Ms <= 0 || f.P50Ms > f.P90Ms || f.P90Ms > f.P99Ms || f.P99Ms > f.MaxMs {
				t.Errorf("%s %s latency: %d samples, p50 %g p90 %g p99 %g max %g", r.Mode, who, f.Samples, f.P50Ms, f.P90Ms, f.P99Ms, f.MaxMs)
			}
			// Paced at 30 Hz on a shared machine: a lockstep match cannot
			// beat the grid, and a working one is not far below it.
			if f.TicksPerS < 0.6*hz || f.TicksPerS > 1.1*hz {
				t.Errorf("%s %s: %.1f decided ticks/s at %d Hz", r.Mode, who, f.TicksPerS, hz)
			}
			if f.InputsPerS <= 0 || f.CPUUsPerTick <= 0 || f.BytesOutPerTick <= 0 || f.BytesInPerTick <= 0 || f.MsgsOutPerTick <= 0 ||
				f.SignsPerTick <= 0 || f.VerifiesPerTick <= 0 || f.FloorUsPerTick <= 0 {
				t.Errorf("%s %s per-tick figures not all positive: %+v", r.Mode, who, f)
			}
		}
	}
}
