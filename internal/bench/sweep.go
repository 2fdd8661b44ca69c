package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SweepPoint is one configuration of the sweep.
type SweepPoint struct {
	Peers, TickHz int // TickHz 0: saturating
}

// SweepPoints is the grid: n = 4, 7, 10 at 60 Hz, n = 16 at 30 Hz
// (16 processes on one machine cannot be asked for 60 Hz and still tell
// us anything per peer), and a saturating n = 4 run.
var SweepPoints = []SweepPoint{{4, 60}, {7, 60}, {10, 60}, {16, 30}, {4, 0}}

// Markers delimit the section of docs/BENCHMARKS.md that the sweep owns.
const (
	MarkerBegin = "<!-- paxsync bench --sweep: begin -->"
	MarkerEnd   = "<!-- paxsync bench --sweep: end -->"
)

// PlotName is the plot's file name, written next to the docs file.
const PlotName = "bench-latency.svg"

// SweepResult is every configuration's result of one sweep.
type SweepResult struct {
	Command string    `json:"command,omitempty"`
	Date    string    `json:"date"`
	Machine Machine   `json:"machine"`
	Results []*Result `json:"results"`
}

// ValidateSweep checks the options a sweep uses (it sets Peers and
// TickHz per point itself).
func (o *Options) ValidateSweep() error {
	c := *o
	c.Peers, c.TickHz = 4, 60
	return c.Validate()
}

// Sweep runs every SweepPoint in every selected mode, measuring the
// signature cost once for all of them.
func Sweep(opt Options) (*SweepResult, error) {
	if err := opt.ValidateSweep(); err != nil {
		return nil, err
	}
	sign, verify := measureCost(opt)
	sw := &SweepResult{Command: opt.Command, Date: time.Now().UTC().Format(time.RFC3339), Machine: ThisMachine()}
	for _, p := range SweepPoints {
		o := opt
		o.Peers, o.TickHz = p.Peers, p.TickHz
		r, err := run(o, sign, verify)
		if err != nil {
			return nil, fmt.Errorf("n=%d: %w", p.Peers, err)
		}
		sw.Results = append(sw.Results, r)
	}
	return sw, nil
}

// PrintJSON writes the sweep as exactly one JSON object.
func (sw *SweepResult) PrintJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sw)
}

// WriteDocs replaces (or appends) the sweep section of the Markdown file
// at path and writes the plot next to it; it returns the plot's path.
func (sw *SweepResult) WriteDocs(path string) (string, error) {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	doc, err := ReplaceSection(string(old), sw.Markdown())
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		return "", err
	}
	svg := filepath.Join(filepath.Dir(path), PlotName)
	if err := os.WriteFile(svg, LatencySVG(sw.Results), 0o644); err != nil {
		return "", err
	}
	return svg, nil
}

// CheckDocs reports whether WriteDocs could update path: its directory
// exists, and the file, if present, has well-formed markers. The command
// checks it before a sweep so a typo does not cost the whole sweep.
func CheckDocs(path string) error {
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return fmt.Errorf("directory %s does not exist", filepath.Dir(path))
	}
	old, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = ReplaceSection(string(old), MarkerBegin+"\n"+MarkerEnd)
	return err
}

// ReplaceSection puts section (which must start with MarkerBegin and end
// with MarkerEnd) in place of the marked section of doc, or appends it
// when doc has none. A begin marker without an end marker is an error:
// guessing where the section ends could delete hand-written text.
func ReplaceSection(doc, section string) (string, error) {
	b := strings.Index(doc, MarkerBegin)
	if b < 0 {
		if strings.Contains(doc, MarkerEnd) {
			return "", fmt.Errorf("found %q without %q", MarkerEnd, MarkerBegin)
		}
		if doc != "" && !strings.HasSuffix(doc, "\n") {
			doc += "\n"
		}
		if doc != "" {
			doc += "\n"
		}
		return doc + section + "\n", nil
	}
	e := strings.Index(doc[b:], MarkerEnd)
	if e < 0 {
		return "", fmt.Errorf("found %q without %q after it", MarkerBegin, MarkerEnd)
	}
	e += b + len(MarkerEnd)
	return doc[:b] + section + doc[e:], nil
}

// Markdown renders the sweep section, markers included.
func (sw *SweepResult) Markdown() string {
	var b bytes.Buffer
	fmt.Fprintln(&b, MarkerBegin)
	fmt.Fprintln(&b, "## paxsync bench --sweep")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "Written by `paxsync bench --sweep`; do not edit by hand (the next sweep replaces this section).")
	fmt.Fprintln(&b, "Every peer is its own OS process (`paxsync match play`, a real `paxsync.Session` over libp2p on")
	fmt.Fprintln(&b, "127.0.0.1 with its file WAL), all on this one machine. The figures are defined in")
	fmt.Fprintln(&b, "[BENCH.md](BENCH.md); commit latency runs from signing and sending a player's input for tick t")
	fmt.Fprintln(&b, "to applying tick t at that peer (the game's input delay is not included).")
	fmt.Fprintln(&b)
	m := sw.Machine
	fmt.Fprintf(&b, "- date: %s\n", sw.Date)
	fmt.Fprintf(&b, "- machine: %d CPUs, %s, %s/%s\n", m.CPUs, m.CPUModel, m.OS, m.Arch)
	fmt.Fprintf(&b, "- Go: %s\n", m.GoVersion)
	if sw.Command != "" {
		fmt.Fprintf(&b, "- command: `%s`\n", strings.TrimSpace(sw.Command))
	}
	if len(sw.Results) > 0 {
		r := sw.Results[0]
		fmt.Fprintf(&b, "- per run: %gs measured after %gs warm-up; input delay %d ticks; sign %.1f µs, verify %.1f µs (measured before the runs)\n",
			r.DurationS, r.WarmupS, r.InputDelay, r.SignCostUs, r.VerifyCostUs)
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "### Commit latency and throughput")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| n | rate | game | mode | samples | p50 ms | p90 ms | p99 ms | max ms | ticks/s | inputs/s | lag Δ ticks | bft/broadcast p50 |")
	fmt.Fprintln(&b, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range sw.Results {
		for _, mr := range r.Runs {
			o := mr.Overall
			ratio, lag := "", fmt.Sprint(o.LagGrowthTicks)
			if mr.Mode == "bft" && r.BFTOverBroadcastP50 != nil {
				ratio = fmt.Sprintf("%.2f×", *r.BFTOverBroadcastP50)
			}
			if r.Saturating {
				lag = "-"
			}
			lat := "- | - | - | -" // no sample: no latency to show
			if o.Samples > 0 {
				lat = fmt.Sprintf("%.2f | %.2f | %.2f | %.2f", o.P50Ms, o.P90Ms, o.P99Ms, o.MaxMs)
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s%s | %d | %s | %.1f | %.0f | %s | %s |\n",
				r.Peers, r.Rate(), r.Game, mr.Mode, failedMark(mr), o.Samples, lat, o.TicksPerS, o.InputsPerS, lag, ratio)
		}
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "### Cost per peer per decided tick")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| n | rate | mode | CPU µs | signature floor µs | CPU/floor | bytes out | bytes in | msgs out | msgs all peers | signs | verifies |")
	fmt.Fprintln(&b, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range sw.Results {
		for _, mr := range r.Runs {
			o := mr.Overall
			cpu, ratio := fmt.Sprintf("%.0f", o.CPUUsPerTick), fmt.Sprintf("%.2f", o.CPUOverFloor)
			if o.CPUUnknown {
				cpu, ratio = "?", "?"
			}
			fmt.Fprintf(&b, "| %d | %s | %s%s | %s | %.0f | %s | %.0f | %.0f | %.1f | %.1f | %.2f | %.2f |\n",
				r.Peers, r.Rate(), mr.Mode, failedMark(mr), cpu, o.FloorUsPerTick, ratio, o.BytesOutPerTick, o.BytesInPerTick,
				o.MsgsOutPerTick, o.AllMsgsPerTick, o.SignsPerTick, o.VerifiesPerTick)
		}
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "### Targets (bft)")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| target | want | got | |")
	fmt.Fprintln(&b, "|---|---|---|---|")
	for _, r := range sw.Results {
		for _, t := range r.Targets {
			got, verdict := "-", "not measured"
			if t.Known {
				got = fmt.Sprintf("%.2f %s", t.Got, t.Unit)
				if t.Unit == "×" {
					got = fmt.Sprintf("%.2f×", t.Got)
				}
				verdict = "missed"
				if t.Met {
					verdict = "met"
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.Name, t.Want, got, verdict)
		}
	}
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "![p50 and p99 commit latency against n, per mode](%s)\n", PlotName)
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "n = 4, 7, 10 run at 60 Hz and n = 16 at 30 Hz; n > 8 plays the tally game (the arena seats 8).")
	fmt.Fprint(&b, MarkerEnd)
	return b.String()
}

func failedMark(m ModeRun) string {
	if m.OK {
		return ""
	}
	return " (FAILED)"
}
