package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"github.com/paxsync/paxsync"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paxsync/paxsync/internal/match"
)

func TestPercentileNearestRank(t *testing.T) {
	var hundred []int64
	for i := int64(1); i <= 100; i++ {
		hundred = append(hundred, i)
	}
	for _, c := range []struct {
		s    []int64
		p    float64
		want int64
	}{
		{hundred, 50, 50}, {hundred, 90, 90}, {hundred, 99, 99}, {hundred, 100, 100}, {hundred, 0.5, 1},
		{[]int64{10, 20, 30}, 50, 20}, {[]int64{10, 20, 30}, 99, 30}, {[]int64{10, 20, 30}, 33, 10}, {[]int64{10, 20, 30}, 34, 20},
		{[]int64{7}, 50, 7}, {nil, 50, 0},
	} {
		if got := Percentile(c.s, c.p); got != c.want {
			t.Errorf("Percentile(%d samples, %g) = %d, want %d", len(c.s), c.p, got, c.want)
		}
	}
	l := LatencyOf([]int64{3e6, 1e6, 2e6, 4e6})
	if l.Samples != 4 || l.P50Ms != 2 || l.P90Ms != 4 || l.P99Ms != 4 || l.MaxMs != 4 {
		t.Errorf("LatencyOf = %+v", l)
	}
}

// window is a peer's bench report with the given commit samples (ms).
func window(ticks uint64, secs float64, ms ...int64) *match.BenchReport {
	b := &match.BenchReport{WindowS: secs, DecidedTicks: ticks, Inputs: 4 * ticks, CPUNs: int64(ticks) * 300e3,
		BytesIn: ticks * 2000, BytesOut: ticks * 1000, MsgsIn: ticks * 12, MsgsOut: ticks * 4, Signs: ticks * 3, Verifies: ticks * 5,
		LagStartTicks: 4, LagEndTicks: 5}
	for _, m := range ms {
		b.CommitNs = append(b.CommitNs, m*1e6)
	}
	return b
}

func TestAggregate(t *testing.T) {
	sign, verify := 20*time.Microsecond, 40*time.Microsecond
	rep := &match.Report{HonestAgree: true, Peers: []match.PeerResult{
		{Index: 0, PeerID: "a", Bench: window(600, 10, 1, 2, 3, 4, 5)},
		{Index: 1, PeerID: "b", Bench: window(590, 10, 6, 7, 8, 9, 10)},
	}}
	mr := fromReport("bft", rep, 60, sign, verify, time.Second)
	if !mr.OK || len(mr.Peers) != 2 {
		t.Fatalf("run = %+v", mr)
	}
	p0 := mr.Peers[0].Figures
	if p0.TicksPerS != 60 || p0.CPUUsPerTick != 300 || p0.BytesOutPerTick != 1000 || p0.SignsPerTick != 3 || p0.VerifiesPerTick != 5 {
		t.Errorf("peer 0 = %+v", p0)
	}
	if want := 3*20.0 + 5*40.0; p0.FloorUsPerTick != want || p0.CPUOverFloor != 300/want {
		t.Errorf("peer 0 floor %g (ratio %g), want %g", p0.FloorUsPerTick, p0.CPUOverFloor, want)
	}
	o := mr.Overall
	// Pooled samples 1..10 ms: nearest rank p50 = 5, p90 = 9, p99 = max = 10.
	if o.Samples != 10 || o.P50Ms != 5 || o.P90Ms != 9 || o.P99Ms != 10 || o.MaxMs != 10 {
		t.Errorf("overall latency = %+v", o.Latency)
	}
	if o.TicksPerS != 59 || o.DecidedTicks != 590 {
		t.Errorf("overall ticks/s = %g (%d ticks), want the slowest peer's 59", o.TicksPerS, o.DecidedTicks)
	}
	if o.MsgsOutPerTick != 4 || o.AllMsgsPerTick != 8 || o.LagGrowthTicks != 1 {
		t.Errorf("overall msgs %g / all %g, lag %d", o.MsgsOutPerTick, o.AllMsgsPerTick, o.LagGrowthTicks)
	}

	// A peer whose report has no window fails the run.
	rep.Peers = append(rep.Peers, match.PeerResult{Index: 2, PeerID: "c"})
	if mr := fromReport("bft", rep, 60, sign, verify, time.Second); mr.OK || len(mr.Failed) == 0 {
		t.Errorf("missing window: OK=%v failed=%v", mr.OK, mr.Failed)
	}
}

// sample is a finished n=4 60 Hz result with bft and broadcast runs.
func sample(bftP50, bftP99, bcP50 float64) *Result {
	r := &Result{Peers: 4, TickHz: 60, DurationS: 20, WarmupS: 2, InputDelay: 2, Game: "arena",
		Machine: Machine{CPUs: 2, CPUModel: "test <cpu> & co", GoVersion: "go1.26"}, SignCostUs: 20, VerifyCostUs: 44}
	mk := func(mode string, p50, p99 float64) ModeRun {
		f := Figures{Latency: Latency{Samples: 4800, P50Ms: p50, P90Ms: p50 * 1.5, P99Ms: p99, MaxMs: p99 * 2},
			DecidedTicks: 1200, WindowS: 20, TicksPerS: 60, InputsPerS: 240, CPUUsPerTick: 400, FloorUsPerTick: 300, CPUOverFloor: 4.0 / 3}
		return ModeRun{Mode: mode, OK: true, HonestAgree: true, Overall: f, Peers: []PeerFigures{{Seat: 0, Figures: f}}}
	}
	r.Runs = []ModeRun{mk("bft", bftP50, bftP99), mk("broadcast", bcP50, bcP50*2)}
	r.finish()
	return r
}

func TestTargets(t *testing.T) {
	r := sample(1.5, 6, 1)
	if r.BFTOverBroadcastP50 == nil || *r.BFTOverBroadcastP50 != 1.5 {
		t.Fatalf("ratio = %v", r.BFTOverBroadcastP50)
	}
	met := map[string]bool{}
	for _, tg := range r.Targets {
		if !tg.Known {
			t.Errorf("%s not known", tg.Name)
		}
		met[tg.Name] = tg.Met
	}
	want := map[string]bool{"n=4 60 Hz bft p50": true, "n=4 60 Hz bft p99": false, "n=4 60 Hz bft p50 / broadcast p50": true}
	if len(met) != len(want) {
		t.Fatalf("targets = %+v", r.Targets)
	}
	for k, v := range want {
		if met[k] != v {
			t.Errorf("%s met = %v, want %v", k, met[k], v)
		}
	}
	// Saturating n=4 and sustained n=16.
	sat := &Result{Peers: 4, Saturating: true, Runs: []ModeRun{{Mode: "bft", OK: true, Overall: Figures{WindowS: 10, TicksPerS: 1200, Latency: Latency{Samples: 1}}}}}
	if ts := Targets(sat); len(ts) != 1 || !ts[0].Met {
		t.Errorf("saturating targets = %+v", ts)
	}
	slow := &Result{Peers: 16, TickHz: 30, Runs: []ModeRun{{Mode: "bft", OK: true, Overall: Figures{WindowS: 10, TicksPerS: 30, LagGrowthTicks: 12}}}}
	if ts := Targets(slow); len(ts) != 1 || ts[0].Met {
		t.Errorf("n=16 with a growing lag must miss: %+v", ts)
	}
	// No target for other configurations, or without a bft run.
	if ts := Targets(&Result{Peers: 5, TickHz: 60, Runs: []ModeRun{{Mode: "bft", OK: true}}}); len(ts) != 0 {
		t.Errorf("n=5 targets = %+v", ts)
	}
	// A bft run without samples gives no ratio.
	empty := sample(1.5, 6, 1)
	empty.Runs[0].Overall.Samples = 0
	empty.finish()
	if empty.BFTOverBroadcastP50 != nil {
		t.Errorf("ratio without bft samples: %v", *empty.BFTOverBroadcastP50)
	}
	if fmtMs(0.5) != "0.5 ms" || fmtMs(20) != "20 ms" || fmtMs(2000) != "2 s" {
		t.Errorf("fmtMs: %s %s %s", fmtMs(0.5), fmtMs(20), fmtMs(2000))
	}
	// A failed bft run: targets are not known, so not met.
	r.Runs[0].OK = false
	for _, tg := range Targets(r) {
		if tg.Known || tg.Met {
			t.Errorf("failed run: %+v", tg)
		}
	}
}

func TestRender(t *testing.T) {
	r := sample(1.5, 6, 1)
	var tbl bytes.Buffer
	r.PrintTable(&tbl)
	for _, want := range []string{"n=4, 60 Hz", "bft", "broadcast", "p50 ms", "bft p50 / broadcast p50 = 1.50×",
		"target n=4 60 Hz bft p50 ≤ 2 ms: 1.50 ms met", "target n=4 60 Hz bft p99 ≤ 5 ms: 6.00 ms MISSED"} {
		if !strings.Contains(tbl.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tbl.String())
		}
	}
	var js bytes.Buffer
	if err := r.PrintJSON(&js); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&js)
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Errorf("more than one JSON value: %v", err)
	}
	for _, k := range []string{"peers", "tick_hz", "runs", "targets", "sign_cost_us", "verify_cost_us", "bft_over_broadcast_p50", "machine"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	run := m["runs"].([]any)[0].(map[string]any)
	ov := run["overall"].(map[string]any)
	for _, k := range []string{"samples", "p50_ms", "p90_ms", "p99_ms", "max_ms", "ticks_per_s", "inputs_per_s", "cpu_us_per_tick",
		"bytes_out_per_tick", "bytes_in_per_tick", "msgs_out_per_tick", "signs_per_tick", "verifies_per_tick", "floor_us_per_tick"} {
		if _, ok := ov[k]; !ok {
			t.Errorf("overall lacks %q", k)
		}
	}
}

// wellFormed parses svg with encoding/xml to the end.
func wellFormed(t *testing.T, svg []byte) (elements map[string]int) {
	t.Helper()
	elements = map[string]int{}
	dec := xml.NewDecoder(bytes.NewReader(svg))
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v\n%s", err, svg)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if depth == 0 && e.Name.Local != "svg" {
				t.Fatalf("root element %q", e.Name.Local)
			}
			depth++
			elements[e.Name.Local]++
		case xml.EndElement:
			depth--
		}
	}
	if depth != 0 {
		t.Fatalf("unbalanced SVG")
	}
	return elements
}

func TestLatencySVG(t *testing.T) {
	r4, r7 := sample(1.5, 6, 1), sample(3, 9, 1.2)
	r7.Peers = 7
	sat := sample(20, 80, 10)
	sat.Saturating, sat.TickHz = true, 0
	svg := LatencySVG([]*Result{r4, r7, sat})
	el := wellFormed(t, svg)
	// bft and broadcast, p50 and p99 each: 4 lines, 2 points each.
	if el["polyline"] != 4 || el["circle"] != 4 || el["rect"] < 4+2 {
		t.Errorf("elements = %v", el)
	}
	for _, want := range []string{"bft p50", "broadcast p99", "commit latency, ms (log scale)", "peers n"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	// No data still renders a valid, labelled plot.
	if el := wellFormed(t, LatencySVG(nil)); el["polyline"] != 0 {
		t.Errorf("empty plot has lines: %v", el)
	}
}

func TestReplaceSection(t *testing.T) {
	sec := MarkerBegin + "\nnew\n" + MarkerEnd
	got, err := ReplaceSection("", sec)
	if err != nil || got != sec+"\n" {
		t.Errorf("empty doc: %q, %v", got, err)
	}
	got, err = ReplaceSection("# title\ntext", sec)
	if err != nil || got != "# title\ntext\n\n"+sec+"\n" {
		t.Errorf("append: %q, %v", got, err)
	}
	doc := "# title\n\nbefore\n\n" + MarkerBegin + "\nold\nold\n" + MarkerEnd + "\n\n## after\nkept\n"
	got, err = ReplaceSection(doc, sec)
	if err != nil || got != "# title\n\nbefore\n\n"+sec+"\n\n## after\nkept\n" {
		t.Errorf("replace: %q, %v", got, err)
	}
	// Idempotent.
	if again, _ := ReplaceSection(got, sec); again != got {
		t.Errorf("second replace changed the doc:\n%q\n%q", got, again)
	}
	if _, err := ReplaceSection("x\n"+MarkerBegin+"\nno end\n", sec); err == nil {
		t.Error("begin without end: no error")
	}
	if _, err := ReplaceSection("x\n"+MarkerEnd+"\n", sec); err == nil {
		t.Error("end without begin: no error")
	}
}

func TestWriteDocs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "BENCHMARKS.md")
	if err := os.WriteFile(path, []byte("# paxsync benchmarks\n\n## crypto\n\nhand-written\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sw := &SweepResult{Command: "paxsync bench --sweep", Date: "2026-01-01T00:00:00Z", Machine: Machine{CPUs: 2, CPUModel: "m"},
		Results: []*Result{sample(1.5, 6, 1)}}
	for range 2 {
		svg, err := sw.WriteDocs(path)
		if err != nil {
			t.Fatal(err)
		}
		if svg != filepath.Join(dir, PlotName) {
			t.Errorf("plot at %s", svg)
		}
	}
	doc, _ := os.ReadFile(path)
	s := string(doc)
	if strings.Count(s, MarkerBegin) != 1 || strings.Count(s, MarkerEnd) != 1 || !strings.Contains(s, "hand-written") {
		t.Errorf("doc after two writes:\n%s", s)
	}
	for _, want := range []string{"| 4 | 60 Hz | arena | bft | 4800 | 1.50 |", "1.50×", "paxsync bench --sweep", "2 CPUs", PlotName, "| n=4 60 Hz bft p99 | ≤ 5 ms | 6.00 ms | missed |"} {
		if !strings.Contains(s, want) {
			t.Errorf("doc lacks %q:\n%s", want, s)
		}
	}
	if err := CheckDocs(path); err != nil {
		t.Errorf("CheckDocs(written doc): %v", err)
	}
	if err := CheckDocs(filepath.Join(dir, "new.md")); err != nil {
		t.Errorf("CheckDocs(absent file): %v", err)
	}
	if err := CheckDocs(filepath.Join(dir, "no", "such.md")); err == nil {
		t.Error("CheckDocs(missing directory): no error")
	}
	svg, err := os.ReadFile(filepath.Join(dir, PlotName))
	if err != nil {
		t.Fatal(err)
	}
	wellFormed(t, svg)
}

func TestOptions(t *testing.T) {
	good := Options{Peers: 4, TickHz: 60, Duration: time.Second, Modes: AllModes, Exe: "x"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for flag, o := range map[string]Options{
		"--peers":       {Peers: 0, TickHz: 60, Duration: time.Second, Modes: AllModes, Exe: "x"},
		"--peers 17":    {Peers: 17, TickHz: 60, Duration: time.Second, Modes: AllModes, Exe: "x"},
		"--tick-hz":     {Peers: 4, TickHz: 61, Duration: time.Second, Modes: AllModes, Exe: "x"},
		"--tick-hz -1":  {Peers: 4, TickHz: -1, Duration: time.Second, Modes: AllModes, Exe: "x"},
		"--duration":    {Peers: 4, TickHz: 60, Duration: 999 * time.Millisecond, Modes: AllModes, Exe: "x"},
		"--input-delay": {Peers: 4, TickHz: 60, Duration: time.Second, Modes: AllModes, Exe: "x", InputDelay: 31},
		"--sealed":      {Peers: 4, TickHz: 60, Duration: time.Second, Modes: AllModes, Exe: "x", Sealed: true},
		"--transport":   {Peers: 4, TickHz: 60, Duration: time.Second, Modes: AllModes, Exe: "x", Transport: "udp"},
	} {
		err := o.Validate()
		name := strings.Fields(flag)[0]
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", flag, err)
		}
	}
	sealed := Options{Peers: 4, TickHz: 60, Duration: time.Second, Modes: []Mode{"bft", "crash"}, Exe: "x", Sealed: true}
	if err := sealed.Validate(); err != nil {
		t.Errorf("sealed bft,crash: %v", err)
	}
	if d := effectiveInputDelay(0, 60, true); d != paxsync.DefaultSealedInputDelay {
		t.Errorf("sealed default input delay %d", d)
	}
	if d := effectiveInputDelay(0, 0, false); d != SaturatingInputDelay {
		t.Errorf("saturating default input delay %d", d)
	}
	if ms, err := ParseModes("all"); err != nil || len(ms) != 3 || ms[0] != "bft" {
		t.Errorf("all = %v, %v", ms, err)
	}
	if ms, err := ParseModes("crash, bft,crash"); err != nil || len(ms) != 2 || ms[0] != "crash" || ms[1] != "bft" {
		t.Errorf("list = %v, %v", ms, err)
	}
	if _, err := ParseModes("bft,paxos"); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "--mode") || !strings.Contains(err.Error(), "paxos") {
		t.Errorf("unknown mode: %v", err)
	}
	if RunName(4, 0, "bft") != "n4-sat-bft" || RunName(16, 30, "crash") != "n16-30hz-crash" {
		t.Error("RunName")
	}
}

// TestPredictionFigures: with --prediction the peers' speculative-apply
// figures are pooled (median of the peers' p50, worst p99, mean share and
// rollback rate, deepest rollback), the ratio to broadcast's commit p50 is
// computed, its target judged and the table prints both.
func TestPredictionFigures(t *testing.T) {
	peers := []*match.BenchReport{
		{WindowS: 10, DecidedTicks: 600, SpecP50Ns: 1e6, SpecP99Ns: 4e6, SpecTicks: 600, Rollbacks: 20, MaxRollback: 3},
		{WindowS: 10, DecidedTicks: 600, SpecP50Ns: 2e6, SpecP99Ns: 9e6, SpecTicks: 300, Rollbacks: 0, MaxRollback: 0},
		{WindowS: 10, DecidedTicks: 600, SpecP50Ns: 3e6, SpecP99Ns: 5e6, SpecTicks: 0, Rollbacks: 10, MaxRollback: 7},
	}
	var figs []PeerFigures
	for i, b := range peers {
		figs = append(figs, PeerFigures{Seat: i, Figures: peerFigures(b, true, time.Microsecond, time.Microsecond)})
	}
	o := aggregate(peers, figs)
	if o.SpecP50Ms != 2 || o.SpecP99Ms != 9 || o.MaxRollback != 7 || o.RollbacksPerS != 1 || o.SpecShare != 0.5 {
		t.Fatalf("overall prediction figures = p50 %v p99 %v deepest %v rollbacks/s %v share %v", o.SpecP50Ms, o.SpecP99Ms, o.MaxRollback, o.RollbacksPerS, o.SpecShare)
	}
	r := sample(6, 12, 2)
	r.Runs[0].Overall.SpecP50Ms, r.Runs[0].Overall.SpecShare = 2.1, 0.97
	r.finish()
	if r.BFTSpecOverBroadcastP50 == nil || *r.BFTSpecOverBroadcastP50 != 1.05 {
		t.Fatalf("speculative ratio = %v", r.BFTSpecOverBroadcastP50)
	}
	found := false
	for _, tg := range r.Targets {
		if strings.Contains(tg.Name, "speculative") {
			found = true
			if !tg.Met || !tg.Known {
				t.Errorf("1.05× must meet ≤ 1.1×: %+v", tg)
			}
		}
	}
	if !found {
		t.Fatalf("no speculative-apply target: %+v", r.Targets)
	}
	var tbl bytes.Buffer
	r.PrintTable(&tbl)
	for _, want := range []string{"bft prediction: commit p50 6.00 ms, speculative apply p50 2.10 ms", "for 97% of ticks",
		"bft speculative apply p50 / broadcast p50 = 1.05×"} {
		if !strings.Contains(tbl.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tbl.String())
		}
	}
}
