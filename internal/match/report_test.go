package match

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testHash is a distinct, valid-looking state hash per (tick, variant).
func testHash(tick uint64, variant int) string {
	return fmt.Sprintf("%016x%048x", tick*1000+uint64(variant), 0)
}

// builtReport runs runState.build over peer reports written to disk, as
// the runner does at the end of a match: decided[i] ticks for peer i, a
// checkpoint every 30 ticks below it, all equal, and a final hash of its
// own (the peers stopped at different ticks).
func builtReport(t *testing.T, sc *Scenario, decided []uint64) (*runState, *Report) {
	t.Helper()
	dir := t.TempDir()
	procs := make([]*proc, sc.Peers)
	for i := range procs {
		p := &proc{seat: i, checkpoints: map[uint64]string{}}
		p.cfg.ReportFile = filepath.Join(dir, fmt.Sprintf("peer%d.report.json", i))
		pr := PeerReport{Seat: i, DecidedTicks: decided[i], FinalHash: testHash(decided[i], 100+i), Checkpoints: map[uint64]string{}}
		for c := uint64(0); c < decided[i]; c += 30 {
			pr.Checkpoints[c] = testHash(c, 0)
		}
		if err := writeJSON(p.cfg.ReportFile, pr); err != nil {
			t.Fatal(err)
		}
		procs[i] = p
	}
	r := newRunState(sc, procs)
	return r, r.build(time.Second, false)
}

// TestTableHashAtCommonCheckpoint: honest peers that stopped a few ticks
// apart have different final hashes but agree; the table shows every
// peer's hash at the last checkpoint all of them reached, names that tick,
// and explains the notation of its verdict columns.
func TestTableHashAtCommonCheckpoint(t *testing.T) {
	sc := &Scenario{Name: "t", Peers: 4, TickHz: 60, Ticks: 360, Expect: Expect{HonestAgree: true}}
	_, rep := builtReport(t, sc, []uint64{360, 369, 365, 361})
	if !rep.HonestAgree || rep.HashTick == nil || *rep.HashTick != 330 {
		t.Fatalf("honest_agree %v, hash tick %v; want true and 330", rep.HonestAgree, rep.HashTick)
	}
	var b strings.Builder
	rep.PrintTable(&b)
	out := b.String()
	want := testHash(330, 0)[:16]
	if n := strings.Count(out, want); n != 4 {
		t.Errorf("hash at tick 330 appears %d times, want once per peer:\n%s", n, out)
	}
	for i := range rep.Peers {
		if strings.Contains(out, rep.Peers[i].FinalHash[:16]) {
			t.Errorf("peer %d's final hash is in the table, which should show the common checkpoint:\n%s", i, out)
		}
	}
	for _, s := range []string{"hash @330", "key: hash @330 = each peer's state hash at tick 330", "kind→peer×count(@tick) = "} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
}

// TestTableHashWithoutCommonCheckpoint: with no checkpoint common to the
// honest peers the column falls back to the final hash and says so.
func TestTableHashWithoutCommonCheckpoint(t *testing.T) {
	sc := &Scenario{Name: "t", Peers: 4, TickHz: 60, Ticks: 360}
	_, rep := builtReport(t, sc, []uint64{360, 0, 360, 360}) // peer 1 never reached a checkpoint
	if rep.HashTick != nil {
		t.Fatalf("hash tick %d, want none", *rep.HashTick)
	}
	var b strings.Builder
	rep.PrintTable(&b)
	if out := b.String(); !strings.Contains(out, "final hash") || !strings.Contains(out, "no checkpoint is common") {
		t.Errorf("table does not explain the final-hash fallback:\n%s", out)
	}
}

// TestTimelineLines: the progress lines a match peer streams become
// timeline data, from every incarnation, and a restarted peer catching up
// to a view it was already in is no view change.
func TestTimelineLines(t *testing.T) {
	sc := &Scenario{Name: "t", Peers: 4, TickHz: 60, Ticks: 360}
	r := newRunState(sc, make([]*proc, 4))
	for _, l := range []string{
		"lat 10 4500", "lat 11 5250", "lat x 1", "lat 12", // malformed lines are ignored
		"view 0 0 10", "view 1 1 95",
		"obs unresponsive 0 91",
		"verdict forged-input 2 62",
		"net cut [0 1 3] at tick 100", "net heal [0 1 3] at tick 130",
		// A restart: the new process starts from its WAL's view.
		"view 0 0 200", "view 1 1 210", "view 2 2 300",
	} {
		r.timelineLine(1, l)
	}
	tl := r.timeline(1)
	if got := tl.samples(); len(got) != 2 || got[0] != (latSample{10, 4.5}) || got[1] != (latSample{11, 5.25}) {
		t.Errorf("latency samples %v", got)
	}
	var got []string
	for _, m := range tl.marks {
		got = append(got, fmt.Sprintf("%s@%d/%d/%s", m.kind, m.tick, m.about, m.what))
		if m.title == "" {
			t.Errorf("%s marker has no title", m.kind)
		}
	}
	want := []string{"view-change@95/1/1", "observation@91/0/unresponsive", "verdict@62/2/forged-input",
		"cut@100/-1/[0 1 3]", "heal@130/-1/[0 1 3]", "view-change@300/2/2"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("markers\n got %v\nwant %v", got, want)
	}
}

// The input share counts a peer's own inputs over the ticks it could give
// one for (its own signed "no input" ticks are left out), over the play
// window when there is one.
func TestInputShare(t *testing.T) {
	whole := &PeerReport{DecidedTicks: 100, OwnInputTicks: 60, OwnNoInputTicks: 20}
	if got := inputShare(whole); got != 0.75 {
		t.Errorf("whole match: %v, want 0.75 (60 of the 80 ticks it had an input for)", got)
	}
	win := &PeerReport{DecidedTicks: 100, OwnInputTicks: 10, Resources: &ResourceReport{DecidedTicks: 50, OwnInputTicks: 45, OwnNoInputTicks: 0}}
	if got := inputShare(win); got != 0.9 {
		t.Errorf("window: %v, want 0.9", got)
	}
	if got := inputShare(&PeerReport{DecidedTicks: 5, OwnNoInputTicks: 5}); got != 0 {
		t.Errorf("no tick with an input: %v, want 0", got)
	}
}
