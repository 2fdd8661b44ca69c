package match

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of one scenario: what every peer saw, and which
// expectations failed. `paxsync match --json` prints it.
type Report struct {
	Scenario          string       `json:"scenario"`
	Peers             []PeerResult `json:"peers"`
	HonestAgree       bool         `json:"honest_agree"`
	CommonCheckpoints int          `json:"common_checkpoints"`
	// HashTick is the last checkpoint every honest peer that is up at the
	// end reported; PeerResult.HashAtTick is each peer's state hash there.
	// Peers stop a few ticks apart, so their final hashes differ even when
	// they agree: the table shows this hash instead, which is what
	// honest_agree compares (absent: no such checkpoint).
	HashTick  *uint64     `json:"hash_tick,omitempty"`
	Detection []Detection `json:"detection"`
	// Spectators are the scenario's spectators (Scenario.Spectators).
	Spectators []SpectatorResult `json:"spectators,omitempty"`
	ExpectOK   bool              `json:"expect_ok"`
	Failed     []string          `json:"failed"`
	Notes      []string          `json:"notes,omitempty"`
	DurationS  float64           `json:"duration_s"`

	sc        *Scenario       // what ran (report.html shows it)
	timelines []*peerTimeline // per seat; report.html's timelines
}

// PeerResult is one peer's row of the report.
type PeerResult struct {
	Index     int    `json:"index"`
	PeerID    string `json:"peer_id"`
	Role      string `json:"role"` // "honest" or "cheater"
	Cheat     string `json:"cheat,omitempty"`
	Crashes   int    `json:"crashes,omitempty"`
	Restarts  int    `json:"restarts,omitempty"`
	DownAtEnd bool   `json:"down_at_end,omitempty"`
	// Died is why the peer's process ended on its own during the match
	// (exit status and last stderr line); such a run fails.
	Died         string `json:"died,omitempty"`
	CaughtUp     bool   `json:"caught_up,omitempty"`
	DecidedTicks uint64 `json:"decided_ticks"`
	// OwnInputTicks are the decided ticks that hold this peer's own
	// input; InputShare is their share of the ticks it decided in the play
	// window (Resources; the whole match if the window never opened), not
	// counting the ticks that hold its own signed "no input" (it had
	// nothing to give: a stall put the tick behind the grid before the
	// game could submit): what a censoring leader takes away.
	// RefusedBatches counts the proposals it refused as unfair.
	OwnInputTicks  uint64  `json:"own_input_ticks"`
	InputShare     float64 `json:"input_share"`
	RefusedBatches uint64  `json:"refused_batches"`
	FinalHash      string  `json:"final_hash"` // after this peer's own last decided tick
	// Result is the peer's match-result certificate, verified by the
	// runner against the roster (absent: none written, e.g. no stable
	// checkpoint yet).
	Result       *ResultInfo `json:"result,omitempty"`
	resultWhy    string
	HashAtTick   string        `json:"hash_at_tick,omitempty"`
	Checkpoints  int           `json:"checkpoints"`
	CommitP50Ms  float64       `json:"commit_p50_ms"`
	CommitP99Ms  float64       `json:"commit_p99_ms"`
	Verdicts     []VerdictInfo `json:"verdicts"`
	Observations []ObsInfo     `json:"observations"`
	// Bench is the peer's measured window in a `paxsync bench` run.
	Bench *BenchReport `json:"bench,omitempty"`
	// Resources is what the play window cost the peer (resources.go).
	Resources *ResourceReport `json:"resources,omitempty"`
	hashes    map[uint64]string
}

// Detection is how long an honest peer took to reach a verdict against a
// cheater: ticks from the cheat's from_tick to the last tick the peer had
// applied when the verdict arrived.
type Detection struct {
	Observer     int    `json:"observer"`
	Against      int    `json:"against"`
	Kind         string `json:"kind"`
	LatencyTicks int64  `json:"latency_ticks"`
}

// runState is the runner's view of the match while it runs.
type runState struct {
	sc                *Scenario
	procs             []*proc
	killed, restarted []bool
	notes             []string
	timelines         []*peerTimeline // per seat, see timelineLine
}

func newRunState(sc *Scenario, procs []*proc) *runState {
	return &runState{sc: sc, procs: procs, killed: make([]bool, len(sc.Faults)), restarted: make([]bool, len(sc.Faults))}
}

func (r *runState) handle(l line) {
	if strings.HasPrefix(l.text, "net ") {
		r.note("peer %d: %s", l.seat, l.text)
	}
	r.procs[l.seat].parseLine(l.text, l.gen)
	r.timelineLine(l.seat, l.text)
}

func (r *runState) note(format string, a ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, a...))
}

func (r *runState) honest(i int) bool { return r.sc.cheatOf(i) == nil }

// allDone: every crash fault has fired, and every honest peer that is up
// (or due to restart) and not disconnected for good has reached the last
// tick. Cheaters need not finish.
func (r *runState) allDone() bool {
	for i, f := range r.sc.Faults {
		if f.Kind == "crash" && (!r.killed[i] || (f.RestartAtTick != 0 && !r.restarted[i])) {
			return false
		}
	}
	for i, p := range r.procs {
		if r.honest(i) && !p.crashed && !p.done && p.died == "" && !r.sc.isolated(i) {
			return false
		}
	}
	return true
}

// maxTick is the furthest tick any live honest peer reported.
func (r *runState) maxTick() uint64 {
	var m uint64
	for i, p := range r.procs {
		if r.honest(i) && !p.crashed && p.tick > m {
			m = p.tick
		}
	}
	return m
}

func (r *runState) status(elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%.0fs tick %d/%d verdicts", elapsed.Seconds(), r.maxTick(), r.sc.Ticks)
	for _, p := range r.procs {
		fmt.Fprintf(&b, " %d", p.verdicts)
		if p.crashed {
			b.WriteString("(down)")
		}
	}
	return b.String()
}

// build reads the peers' reports and evaluates the expectations.
func (r *runState) build(elapsed time.Duration, timedOut bool) *Report {
	sc := r.sc
	rep := &Report{Scenario: sc.Name, Notes: r.notes, DurationS: elapsed.Round(10 * time.Millisecond).Seconds(), Failed: []string{},
		sc: sc}
	for i := range r.procs {
		rep.timelines = append(rep.timelines, r.timeline(i))
	}
	fail := func(format string, a ...any) { rep.Failed = append(rep.Failed, fmt.Sprintf(format, a...)) }
	switch {
	case timedOut && sc.Ticks == 0: // a run that ends on the peers' own "done" (bench)
		fail("timeout: not every honest peer finished (furthest tick: %d)", r.maxTick())
	case timedOut:
		fail("timeout: the honest peers did not all reach tick %d (furthest: %d)", sc.Ticks, r.maxTick())
	}
	crashes := map[int]int{}
	for i, f := range sc.Faults {
		if r.killed[i] {
			crashes[*f.Peer]++
		}
	}
	for i, p := range r.procs {
		pr := PeerResult{Index: i, Role: "honest", Crashes: crashes[i], Restarts: p.restarts, DownAtEnd: p.crashed,
			hashes: map[uint64]string{}, Verdicts: []VerdictInfo{}, Observations: []ObsInfo{}}
		if cs := sc.cheatsOf(i); len(cs) > 0 {
			var parts []string
			for _, c := range cs {
				parts = append(parts, fmt.Sprintf("%s from tick %d", c.Kind, c.FromTick))
			}
			pr.Role, pr.Cheat = "cheater", strings.Join(parts, " + ")
		}
		for t, h := range p.checkpoints {
			pr.hashes[t] = h
		}
		if p.died != "" {
			pr.Died, pr.DownAtEnd, pr.DecidedTicks = p.died, true, p.tick
			fail("peer %d ended on its own during the match at tick %d: %s", i, p.tick, p.died)
		} else if p.crashed {
			pr.DecidedTicks = p.tick // from progress lines: its report died with it
		} else if pp, err := readReport(p.cfg.ReportFile); err != nil {
			fail("peer %d wrote no report: %v", i, err)
		} else {
			pr.PeerID, pr.DecidedTicks, pr.FinalHash = pp.PeerID, pp.DecidedTicks, pp.FinalHash
			pr.OwnInputTicks, pr.RefusedBatches = pp.OwnInputTicks, pp.RefusedBatches
			pr.InputShare = inputShare(pp)
			pr.CommitP50Ms, pr.CommitP99Ms, pr.CaughtUp = pp.CommitP50Ms, pp.CommitP99Ms, pp.CaughtUp
			pr.Bench, pr.Resources = pp.Bench, pp.Resources
			if pp.Verdicts != nil {
				pr.Verdicts = pp.Verdicts
			}
			if pp.Observations != nil {
				pr.Observations = pp.Observations
			}
			for t, h := range pp.Checkpoints {
				pr.hashes[t] = h
			}
			pr.resultWhy = pp.ResultError
			if pp.ReplayError != "" {
				fail("peer %d: replay: %s", i, pp.ReplayError)
			}
		}
		pr.Checkpoints = len(pr.hashes)
		rep.Peers = append(rep.Peers, pr)
	}
	r.checkAgreement(rep, fail)
	r.commonHash(rep)
	r.checkFlagged(rep, fail)
	r.checkResources(rep, fail)
	r.checkResults(rep, fail)
	for i, pr := range rep.Peers {
		if r.honest(i) && !pr.DownAtEnd && !sc.isolated(i) && pr.DecidedTicks < sc.Expect.MinDecidedTicks {
			fail("min_decided_ticks: honest peer %d decided %d ticks, want at least %d", i, pr.DecidedTicks, sc.Expect.MinDecidedTicks)
		}
		whole := !pr.DownAtEnd && pr.Crashes == 0 && pr.Restarts == 0 && !pr.CaughtUp && !sc.isolated(i)
		if m := sc.Expect.MinInputShare; m > 0 && r.honest(i) && whole && pr.InputShare < m {
			fail("min_input_share: honest peer %d's own input is in %.1f%% of the ticks it decided in the play window (%d of %d in the match), want at least %.0f%%",
				i, 100*pr.InputShare, pr.OwnInputTicks, pr.DecidedTicks, 100*m)
		}
	}
	rep.ExpectOK = len(rep.Failed) == 0
	return rep
}

// checkAgreement compares every pair of honest peers at each checkpoint
// both reached; a pair with no common checkpoint cannot be said to agree.
func (r *runState) checkAgreement(rep *Report, fail func(string, ...any)) {
	rep.HonestAgree = true
	var why string
	common := -1
	for i := range rep.Peers {
		for j := i + 1; j < len(rep.Peers); j++ {
			if !r.honest(i) || !r.honest(j) {
				continue
			}
			n := 0
			for t, h := range rep.Peers[i].hashes {
				h2, ok := rep.Peers[j].hashes[t]
				if !ok {
					continue
				}
				n++
				if h != h2 && rep.HonestAgree {
					rep.HonestAgree = false
					why = fmt.Sprintf("peers %d and %d differ at checkpoint %d (%.16s vs %.16s)", i, j, t, h, h2)
				}
			}
			if n == 0 && rep.HonestAgree {
				rep.HonestAgree = false
				why = fmt.Sprintf("peers %d and %d have no checkpoint in common", i, j)
			}
			if common < 0 || n < common {
				common = n
			}
		}
	}
	rep.CommonCheckpoints = max(common, 0)
	if r.sc.Expect.HonestAgree && !rep.HonestAgree {
		fail("honest_agree: %s", why)
	}
}

// commonHash sets rep.HashTick to the last checkpoint that every honest
// peer up at the end (and not cut off for good) holds, and each peer's
// hash there. A crashed honest peer that stayed down is left out: its
// last checkpoint is from before the crash, and it would pin the column to
// that early tick.
func (r *runState) commonHash(rep *Report) {
	var common map[uint64]bool
	for i, pr := range rep.Peers {
		if !r.honest(i) || pr.DownAtEnd || r.sc.isolated(i) {
			continue
		}
		if common == nil {
			common = map[uint64]bool{}
			for t := range pr.hashes {
				common[t] = true
			}
			continue
		}
		for t := range common {
			if _, ok := pr.hashes[t]; !ok {
				delete(common, t)
			}
		}
	}
	if len(common) == 0 {
		return
	}
	var last uint64
	for t := range common {
		last = max(last, t)
	}
	rep.HashTick = &last
	for i := range rep.Peers {
		rep.Peers[i].HashAtTick = rep.Peers[i].hashes[last]
	}
}

// checkFlagged: every listed verdict reached by every honest peer that ran
// the whole match (a crashed peer's earlier verdicts died with it), and no
// proof-class verdict from any honest peer against a peer not listed.
func (r *runState) checkFlagged(rep *Report, fail func(string, ...any)) {
	sc := r.sc
	for _, target := range sc.flaggedPeers() {
		for _, kind := range sc.Expect.Flagged[strconv.Itoa(target)] {
			for i, pr := range rep.Peers {
				if !r.honest(i) || pr.Crashes > 0 {
					continue
				}
				if !reached(&pr, kind, target) {
					fail("flagged: honest peer %d did not reach %q about peer %d", i, kind, target)
				}
			}
		}
	}
	for i, pr := range rep.Peers {
		if !r.honest(i) {
			continue
		}
		seen := map[string]bool{}
		for _, v := range pr.Verdicts {
			if class, _ := ClassOf(v.Kind); class != "proof" {
				continue // a logged report, not a conviction
			}
			if _, listed := sc.Expect.Flagged[strconv.Itoa(v.Against)]; !listed && !seen[v.Kind+strconv.Itoa(v.Against)] {
				seen[v.Kind+strconv.Itoa(v.Against)] = true
				fail("unexpected proof-class verdict: honest peer %d reached %q against peer %d (not in expect.flagged)", i, v.Kind, v.Against)
			}
			if c := sc.cheatOf(v.Against); c != nil && !seen["det"+v.Kind+strconv.Itoa(v.Against)] {
				seen["det"+v.Kind+strconv.Itoa(v.Against)] = true
				rep.Detection = append(rep.Detection, Detection{Observer: i, Against: v.Against, Kind: v.Kind,
					LatencyTicks: int64(v.DecidedAt) - int64(c.FromTick)})
			}
		}
	}
}

func reached(pr *PeerResult, kinds string, target int) bool {
	if alts := strings.Split(kinds, "|"); len(alts) > 1 {
		for _, k := range alts {
			if reached(pr, k, target) {
				return true
			}
		}
		return false
	}
	kind := kinds
	for _, v := range pr.Verdicts {
		if v.Kind == kind && v.Against == target {
			return true
		}
	}
	for _, o := range pr.Observations {
		if o.Kind == kind && o.About == target {
			return true
		}
	}
	return false
}

func readReport(path string) (*PeerReport, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p PeerReport
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// PrintJSON writes the report as exactly one JSON object.
func (rep *Report) PrintJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// PrintTable writes the human-readable report.
func (rep *Report) PrintTable(w io.Writer) {
	fmt.Fprintf(w, "scenario %s: %.1fs\n", rep.Scenario, rep.DurationS)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	hashCol := "final hash"
	if rep.HashTick != nil {
		hashCol = fmt.Sprintf("hash @%d", *rep.HashTick)
	}
	fmt.Fprintf(tw, "peer\trole\tdecided\town input\t%s\tp50 ms\tp99 ms\tverdicts reached\tobservations\n", hashCol)
	for _, p := range rep.Peers {
		hash := p.FinalHash
		if rep.HashTick != nil {
			hash = p.HashAtTick
		}
		if hash == "" {
			hash = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d (%.0f%%)\t%.16s\t%.1f\t%.1f\t%s\t%s\n", p.Index, p.roleText(), p.DecidedTicks,
			p.OwnInputTicks, 100*p.InputShare, hash,
			p.CommitP50Ms, p.CommitP99Ms, summarizeVerdicts(p.Verdicts), summarizeObs(p.Observations))
	}
	tw.Flush()
	fmt.Fprintf(w, "honest_agree: %v (%d checkpoints in common, least over honest pairs)\n", rep.HonestAgree, rep.CommonCheckpoints)
	fmt.Fprintf(w, "key: %s\n", rep.hashKey())
	fmt.Fprintln(w, "key: "+notationKey)
	for _, d := range rep.Detection {
		fmt.Fprintf(w, "detection: peer %d reached %s against peer %d %s\n", d.Observer, d.Kind, d.Against, d.when())
	}
	rep.printSpectators(w)
	rep.printResources(w)
	rep.printResults(w)
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if rep.ExpectOK {
		fmt.Fprintln(w, "expect: OK")
		return
	}
	fmt.Fprintln(w, "expect: FAILED")
	for _, f := range rep.Failed {
		fmt.Fprintf(w, "  - %s\n", f)
	}
}

// when says how long detection took, in words.
func (d Detection) when() string {
	n, s := d.LatencyTicks, "s"
	if n == 1 || n == -1 {
		s = ""
	}
	if n < 0 {
		// Evidence ordered before the cheated tick itself was applied
		// (e.g. a bad reveal caught while its tick is still pending).
		return fmt.Sprintf("%d tick%s before the cheated tick was applied", -n, s)
	}
	return fmt.Sprintf("%d tick%s after the cheat began", n, s)
}

// notationKey explains the verdict and observation columns.
const notationKey = "kind→peer×count(@tick) = count verdicts of kind against peer, the first about tick @tick; " +
	"observations kind→peer×count (no tick: not agreed)"

// hashKey explains the hash column: which tick it is at and why that is
// not every peer's final state.
func (rep *Report) hashKey() string {
	if rep.HashTick == nil {
		return "final hash = state after each peer's own last decided tick (peers stop a few ticks apart, so it may differ); " +
			"no checkpoint is common to every honest peer up at the end"
	}
	return fmt.Sprintf("hash @%d = each peer's state hash at tick %d, the last checkpoint every honest peer reported "+
		"(final hashes differ: peers stop a few ticks apart)", *rep.HashTick, *rep.HashTick)
}

// roleText is the role column: the cheat and the crashes, if any.
func (p *PeerResult) roleText() string {
	role := p.Role
	if p.Cheat != "" {
		role += " (" + p.Cheat + ")"
	}
	if p.Crashes > 0 {
		role += fmt.Sprintf(" crashed×%d restarted×%d", p.Crashes, p.Restarts)
	}
	return role
}

// kindGroup is every verdict (or observation) of one kind about one peer.
type kindGroup struct {
	kind  string
	about int
	n     int
	first uint64 // verdicts: the tick the first one is about
}

// verdictGroups groups verdicts by (kind, offender), in kind then peer
// order, as both the table and report.html show them.
func verdictGroups(vs []VerdictInfo) []kindGroup {
	var out []kindGroup
	idx := map[[2]any]int{}
	for _, v := range vs {
		k := [2]any{v.Kind, v.Against}
		if i, ok := idx[k]; ok {
			out[i].n++
			continue
		}
		idx[k] = len(out)
		out = append(out, kindGroup{kind: v.Kind, about: v.Against, n: 1, first: v.Tick})
	}
	sortGroups(out)
	return out
}

// obsGroups groups observations by (kind, peer observed).
func obsGroups(os []ObsInfo) []kindGroup {
	var out []kindGroup
	idx := map[[2]any]int{}
	for _, o := range os {
		k := [2]any{o.Kind, o.About}
		if i, ok := idx[k]; ok {
			out[i].n++
			continue
		}
		idx[k] = len(out)
		out = append(out, kindGroup{kind: o.Kind, about: o.About, n: 1})
	}
	sortGroups(out)
	return out
}

func sortGroups(gs []kindGroup) {
	sort.Slice(gs, func(i, j int) bool {
		if gs[i].kind != gs[j].kind {
			return gs[i].kind < gs[j].kind
		}
		return gs[i].about < gs[j].about
	})
}

// summarizeVerdicts writes verdicts as kind→peer×count(@tick), the tick
// being the one the first verdict is about (notationKey).
func summarizeVerdicts(vs []VerdictInfo) string {
	var out []string
	for _, g := range verdictGroups(vs) {
		out = append(out, fmt.Sprintf("%s→%d×%d(@%d)", g.kind, g.about, g.n, g.first))
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, " ")
}

// summarizeObs writes observations as kind→peer×count.
func summarizeObs(os []ObsInfo) string {
	var out []string
	for _, g := range obsGroups(os) {
		out = append(out, fmt.Sprintf("%s→%d×%d", g.kind, g.about, g.n))
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, " ")
}

// inputShare is a peer's own inputs over the ticks it could have given one
// for: decided ticks minus those holding its own signed "no input", over
// the play window when it opened.
func inputShare(pp *PeerReport) float64 {
	own, absent, decided := pp.OwnInputTicks, pp.OwnNoInputTicks, pp.DecidedTicks
	if res := pp.Resources; res != nil && res.DecidedTicks > 0 {
		own, absent, decided = res.OwnInputTicks, res.OwnNoInputTicks, res.DecidedTicks
	}
	if decided <= absent {
		return 0
	}
	return float64(own) / float64(decided-absent)
}
