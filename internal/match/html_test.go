package match

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

// pageFrom renders the page for sc from progress lines per seat, the way
// the runner gathers them (runState.handle → timelineLine), and checks it
// is well-formed XML.
func pageFrom(t *testing.T, sc *Scenario, lines map[int][]string, faults func(r *runState)) string {
	t.Helper()
	procs := make([]*proc, sc.Peers)
	for i := range procs {
		procs[i] = &proc{seat: i, checkpoints: map[uint64]string{}}
	}
	r := newRunState(sc, procs)
	for seat, ls := range lines {
		for _, l := range ls {
			r.handle(line{seat: seat, text: l})
		}
	}
	if faults != nil {
		faults(r)
	}
	rep := &Report{Scenario: sc.Name, ExpectOK: true, sc: sc}
	for i := range procs {
		rep.Peers = append(rep.Peers, PeerResult{Index: i, Role: "honest"})
		rep.timelines = append(rep.timelines, r.timeline(i))
	}
	var b bytes.Buffer
	rep.writeHTML(&b, time.Unix(0, 0))
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	dec.Strict = true
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("page is not well-formed: %v", err)
		}
	}
	return b.String()
}

// TestHTMLMarkers: every kind of marker lands on the right panel at its
// tick with a hover title, the script's cheats and crashes on every panel,
// and repeats of a verdict are drawn small.
func TestHTMLMarkers(t *testing.T) {
	two := 2
	sc := &Scenario{Name: "m", Peers: 4, TickHz: 60, Ticks: 360,
		Cheats: []CheatSpec{{Peer: 2, Kind: "forge-input", FromTick: 60, Target: new(int)}},
		Faults: []FaultSpec{{Peer: &two, Kind: "crash", AtTick: 180, RestartAtTick: 250}}}
	lines := map[int][]string{}
	for seat := 0; seat < 4; seat++ {
		for tick := 0; tick < 360; tick++ {
			lines[seat] = append(lines[seat], fmt.Sprintf("lat %d %d", tick, 4000+tick*10))
		}
	}
	lines[0] = append(lines[0], "verdict forged-input 2 62", "verdict forged-input 2 63", "verdict forged-input 2 90",
		"net cut [2] at tick 100", "net heal [2] at tick 130", "view 0 0 1", "view 1 1 140", "obs unresponsive 0 139")
	page := pageFrom(t, sc, lines, func(r *runState) {
		r.markFault(2, markCrash, 181)
		r.markFault(2, markRestart, 252)
	})
	for _, want := range []string{
		`data-kind="cheat-start" data-tick="60" data-peer="0" data-about="2" data-first="true"`,
		`data-kind="cheat-start" data-tick="60" data-peer="3" data-about="2" data-first="true"`,
		`data-kind="crash" data-tick="181" data-peer="1" data-about="2" data-first="true"`,
		`data-kind="restart" data-tick="252" data-peer="2" data-about="2" data-first="true"`,
		`data-kind="verdict" data-tick="62" data-peer="0" data-about="2" data-first="true"><title>peer 0 reached verdict forged-input against peer 2 with tick 62 applied (first of 3, the last with tick 90 applied)</title>`,
		`data-kind="verdict" data-tick="90" data-peer="0" data-about="2" data-first="false"`,
		`data-kind="cut" data-tick="100" data-peer="0" data-about="-1" data-first="true"`,
		`data-kind="heal" data-tick="130" data-peer="0" data-about="-1" data-first="true"`,
		`data-kind="view-change" data-tick="140" data-peer="0" data-about="1" data-first="true"`,
		`data-kind="observation" data-tick="139" data-peer="0" data-about="0" data-first="true"`,
		"peer 2 down: ticks 181–252", "cut off: ticks 100–130",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(page, `data-kind="verdict" data-tick="62" data-peer="1"`) {
		t.Error("peer 0's verdict is on peer 1's panel")
	}
	for _, k := range []string{markCheat, markCrash, markRestart, markCut, markHeal, markView, markVerdict, markObs} {
		if !strings.Contains(page, markStyles[k].name+"</span>") {
			t.Errorf("legend lacks %q", markStyles[k].name)
		}
	}
	if strings.Contains(page, "off the scale") {
		t.Error("a steady series was clamped")
	}
}

// TestHTMLClampsOutliers: a few ticks far above the rest are drawn at the
// top edge, marked and counted, instead of stretching the axis; a match
// longer than the plot is wide is drawn as per-bucket median and min–max.
func TestHTMLClampsOutliers(t *testing.T) {
	sc := &Scenario{Name: "c", Peers: 4, TickHz: 60, Ticks: 3000}
	lines := map[int][]string{}
	for tick := 0; tick < 3000; tick++ {
		us := 5000 + tick%7*100
		if tick == 1500 || tick == 2100 {
			us = 9_000_000 // 9 s
		}
		lines[0] = append(lines[0], fmt.Sprintf("lat %d %d", tick, us))
	}
	page := pageFrom(t, sc, lines, nil)
	for _, want := range []string{"2 off the scale (&gt; 50 ms), clamped", "up to 9.00 s, above the scale (50 ms)", "<polygon ",
		"ticks 1500–1502: median", "no commit latency recorded"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// TestYScale: the axis runs between 1-2-5 steps around the data, at least
// a decade.
func TestYScale(t *testing.T) {
	for _, c := range []struct {
		lo, hi   float64
		min, max string
	}{
		{3.1, 57, "2", "100"}, {0.8, 2000, "0.5", "2000"}, {4, 5, "2", "20"}, {1, 1, "1", "10"},
	} {
		tl := &peerTimeline{lat: map[uint64]float64{1: c.lo, 2: c.hi}}
		s := newYScale([]*peerTimeline{tl})
		got := [2]string{fmt.Sprintf("%.4g", math.Pow(10, s.dlo)), fmt.Sprintf("%.4g", math.Pow(10, s.dhi))}
		if got != [2]string{c.min, c.max} {
			t.Errorf("samples %v..%v ms: axis %v, want %s..%s", c.lo, c.hi, got, c.min, c.max)
		}
	}
}
