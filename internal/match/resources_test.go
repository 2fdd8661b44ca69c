package match

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// resourceReport builds a report from peer reports carrying res[i] (peer
// 3 cheats), as the runner does at the end of a match.
func resourceReport(t *testing.T, ex Expect, res []*ResourceReport, obs [][]ObsInfo) *Report {
	t.Helper()
	sc := &Scenario{Name: "r", Peers: 4, TickHz: 60, Ticks: 600, Expect: ex,
		Cheats: []CheatSpec{{Peer: 3, Kind: "vote-flood", FromTick: 120}}}
	dir := t.TempDir()
	procs := make([]*proc, sc.Peers)
	for i := range procs {
		p := &proc{seat: i, checkpoints: map[uint64]string{}}
		p.cfg.ReportFile = filepath.Join(dir, fmt.Sprintf("peer%d.report.json", i))
		pr := PeerReport{Seat: i, DecidedTicks: 600, Checkpoints: map[uint64]string{0: testHash(0, 0)}, Resources: res[i]}
		if obs != nil {
			pr.Observations = obs[i]
		}
		if err := writeJSON(p.cfg.ReportFile, pr); err != nil {
			t.Fatal(err)
		}
		procs[i] = p
	}
	return newRunState(sc, procs).build(time.Second, false)
}

// steady is a window that meets every expectation below.
func steady() *ResourceReport {
	return &ResourceReport{FromTick: 60, ToTick: 660, Seconds: 10, TicksPerS: 60,
		HeapStartBytes: 6 * mib, HeapEndBytes: 9 * mib, HeapStartLiveBytes: 4 * mib, HeapPeakLiveBytes: 8 * mib}
}

// TestResourceExpectations: each window expectation fails on the honest
// peer that breaks it, naming it and the figure, and never on the
// cheater; unset expectations check nothing.
func TestResourceExpectations(t *testing.T) {
	ex := Expect{MaxHonestHeapGrowthMiB: 16, NoHonestDrops: true, MinHonestTicksPerS: 54}
	cheater := steady()
	cheater.HeapEndBytes, cheater.DroppedOutbound, cheater.TicksPerS = 500*mib, 7, 1
	if rep := resourceReport(t, ex, []*ResourceReport{steady(), steady(), steady(), cheater}, nil); len(rep.Failed) != 0 {
		t.Fatalf("steady honest peers failed: %q", rep.Failed)
	}
	grown, peaked, dropped, slow := steady(), steady(), steady(), steady()
	grown.HeapEndBytes = 23 * mib
	// A transient peak is reported, not held to the growth limit.
	peaked.HeapPeakLiveBytes = 21 * mib
	if rep := resourceReport(t, ex, []*ResourceReport{steady(), peaked, steady(), steady()}, nil); len(rep.Failed) != 0 {
		t.Fatalf("a transient peak failed: %q", rep.Failed)
	}
	dropped.DroppedSubscription = 2
	slow.TicksPerS = 20
	// Outbound drops: towards the cheater (seat 3) they are not an honest
	// peer's loss; towards an honest seat they are.
	toCheater, toHonest := steady(), steady()
	toCheater.DroppedOutbound, toCheater.DroppedOutboundTo = 3, []uint64{0, 0, 0, 3}
	toHonest.DroppedOutbound, toHonest.DroppedOutboundTo = 4, []uint64{0, 0, 1, 3}
	if rep := resourceReport(t, ex, []*ResourceReport{steady(), toCheater, steady(), steady()}, nil); len(rep.Failed) != 0 {
		t.Fatalf("outbound drops to the cheater failed the match: %q", rep.Failed)
	}
	cases := []struct {
		name string
		res  *ResourceReport
		want string
	}{
		{"retained", grown, "honest peer 1 grew its heap by 17.0 MiB"},
		{"drops", dropped, "no_honest_drops: honest peer 1 lost 2 messages"},
		{"drops to an honest seat", toHonest, "no_honest_drops: honest peer 1 lost 1 messages"},
		{"rate", slow, "honest peer 1 decided 20.0 ticks/s"},
	}
	for _, c := range cases {
		rep := resourceReport(t, ex, []*ResourceReport{steady(), c.res, steady(), steady()}, nil)
		if len(rep.Failed) != 1 || !strings.Contains(rep.Failed[0], c.want) {
			t.Errorf("%s: failed %q, want one naming %q", c.name, rep.Failed, c.want)
		}
		if rep := resourceReport(t, Expect{}, []*ResourceReport{steady(), c.res, steady(), steady()}, nil); len(rep.Failed) != 0 {
			t.Errorf("%s without expectations: failed %q", c.name, rep.Failed)
		}
	}
	// Flooding observed about an honest peer is an honest drop; about the
	// cheater it is the attack being cut.
	obs := [][]ObsInfo{{{Kind: "flooding", About: 3}}, {{Kind: "flooding", About: 2}}, nil, nil}
	rep := resourceReport(t, ex, []*ResourceReport{steady(), steady(), steady(), steady()}, obs)
	if len(rep.Failed) != 1 || !strings.Contains(rep.Failed[0], "honest peer 1 cut honest peer 2's messages as flooding") {
		t.Errorf("flooding: failed %q", rep.Failed)
	}
	if rep := resourceReport(t, ex, []*ResourceReport{steady(), nil, steady(), steady()}, nil); len(rep.Failed) != 1 ||
		!strings.Contains(rep.Failed[0], "honest peer 1 reported no play window") {
		t.Errorf("missing window: failed %q", rep.Failed)
	}
	var b strings.Builder
	rep.PrintTable(&b)
	if !strings.Contains(b.String(), "window: peer 2 ticks 60..660 in 10.0s (60.0/s") {
		t.Errorf("table has no window lines:\n%s", b.String())
	}
}

// TestResourceScenarioFields: the attack kinds and window expectations
// parse; bad bounds are refused naming the field; the window opens after a
// second of play, or at half the first cheat's from_tick if earlier.
func TestResourceScenarioFields(t *testing.T) {
	ok := `{"name": "a", "peers": 4, "tick_hz": 60, "ticks": 600,
		"cheats": [{"peer": 3, "kind": "%s", "from_tick": 90}],
		"expect": {"max_honest_heap_growth_mib": 16, "no_honest_drops": true, "min_honest_ticks_per_s": 54}}`
	for _, k := range []string{"vote-flood", "evidence-bait", "stream-flood", "bad-sync"} {
		sc, err := Parse([]byte(fmt.Sprintf(ok, k)))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if w := sc.windowFromTick(); w != 45 {
			t.Fatalf("window from tick %d, want 45", w)
		}
	}
	if sc, _ := Parse([]byte(`{"name": "c", "peers": 4, "tick_hz": 30, "ticks": 600, "expect": {}}`)); sc.windowFromTick() != 30 {
		t.Fatalf("clean match: window from tick %d, want 30", sc.windowFromTick())
	}
	for field, bad := range map[string]string{
		"expect.max_honest_heap_growth_mib": `"max_honest_heap_growth_mib": -1`,
		"expect.min_honest_ticks_per_s":     `"min_honest_ticks_per_s": 61`,
	} {
		_, err := Parse([]byte(`{"name": "b", "peers": 4, "tick_hz": 60, "ticks": 600, "expect": {` + bad + `}}`))
		if !errors.Is(err, ErrScenario) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v, want ErrScenario naming it", field, err)
		}
	}
}
