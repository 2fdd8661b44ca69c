package match

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/paxsync/paxsync"
)

// The timeline of report.html: per peer, the commit latency of every tick
// that carried its own input, and every event worth a marker. A match peer
// streams what only it can see (latencies, observations, view changes) as
// progress lines, next to the "verdict" and "net" lines it already prints,
// so a SIGKILLed incarnation's part survives it (its report file does not);
// the runner adds the cheats from the scenario and the crashes and restarts
// it caused itself.
//
// Extra progress lines of a match peer:
//
//	lat T US          tick T applied, US µs after this peer signed its input for T
//	obs KIND ABOUT T  an observation about seat ABOUT, T the last tick applied
//	view V LEADER T   the bft view this peer is in, from tick T on

// Marker kinds of the timeline.
const (
	markCheat   = "cheat-start"
	markVerdict = "verdict"
	markObs     = "observation"
	markCrash   = "crash"
	markRestart = "restart"
	markCut     = "cut"
	markHeal    = "heal"
	markView    = "view-change"
)

// timelineRec is the peer side: it turns session events into the lines
// above. It lives on RunPeer's goroutine; a nil *timelineRec (a bench peer,
// whose saturating runs would flood the runner with lines and whose figures
// come from its measured window instead) does nothing.
type timelineRec struct {
	w     io.Writer
	last  uint64
	view  uint64
	known bool // view was reported once
}

func newTimelineRec(cfg PeerConfig, w io.Writer) *timelineRec {
	if cfg.Bench != nil {
		return nil
	}
	return &timelineRec{w: w}
}

// event records one session event (every event passes through, in order).
func (t *timelineRec) event(s *paxsync.Session, ev paxsync.Event) {
	if t == nil {
		return
	}
	switch e := ev.(type) {
	case paxsync.TickEvent:
		t.last = e.Tick
		if e.Commit > 0 {
			fmt.Fprintf(t.w, "lat %d %d\n", e.Tick, e.Commit.Microseconds())
		}
		// The view only changes between applied ticks that matter here:
		// ticks stop while a view changes, so the first tick applied in
		// the new view is where the marker belongs.
		if st := s.Stats(); !t.known || st.View != t.view {
			t.known, t.view = true, st.View
			fmt.Fprintf(t.w, "view %d %d %d\n", st.View, st.Leader, e.Tick)
		}
	case paxsync.ObservationEvent:
		fmt.Fprintf(t.w, "obs %s %d %d\n", e.Observation.Kind, e.Observation.About, t.last)
	}
}

// timelineMarker is one event on a peer's timeline.
type timelineMarker struct {
	kind  string
	tick  uint64
	about int    // the peer the marker is about (-1: none)
	what  string // verdict or observation kind, cheat kind, cut seats
	title string // hover text
}

// peerTimeline is what the runner gathered about one peer, over all its
// incarnations.
type peerTimeline struct {
	lat     map[uint64]float64 // tick → commit latency, ms
	marks   []timelineMarker
	view    uint64 // highest view seen so far
	hasView bool
}

// latSample is one point of a latency series.
type latSample struct {
	tick uint64
	ms   float64
}

// samples returns the latencies in tick order.
func (p *peerTimeline) samples() []latSample {
	out := make([]latSample, 0, len(p.lat))
	for t, ms := range p.lat {
		out = append(out, latSample{t, ms})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].tick < out[j].tick })
	return out
}

// timelineLine applies one progress line of seat to its timeline; lines
// of every incarnation count (each is what that process saw).
func (r *runState) timelineLine(seat int, text string) {
	tl := r.timeline(seat)
	f := strings.Fields(text)
	num := func(i int) (uint64, bool) {
		v, err := strconv.ParseUint(f[i], 10, 64)
		return v, err == nil
	}
	switch {
	case len(f) == 3 && f[0] == "lat":
		t, ok1 := num(1)
		us, ok2 := num(2)
		if ok1 && ok2 {
			tl.lat[t] = float64(us) / 1000
		}
	case len(f) == 4 && f[0] == "obs":
		about, err := strconv.Atoi(f[2])
		if t, ok := num(3); ok && err == nil {
			tl.marks = append(tl.marks, timelineMarker{kind: markObs, tick: t, about: about, what: f[1],
				title: fmt.Sprintf("peer %d observed %s about peer %d (local, unprovable) at tick %d", seat, f[1], about, t)})
		}
	case len(f) == 4 && f[0] == "verdict": // "verdict KIND OFFENDER LAST" (RunPeer)
		about, err := strconv.Atoi(f[2])
		if t, ok := num(3); ok && err == nil {
			tl.marks = append(tl.marks, timelineMarker{kind: markVerdict, tick: t, about: about, what: f[1],
				title: fmt.Sprintf("peer %d reached verdict %s against peer %d with tick %d applied", seat, f[1], about, t)})
		}
	case len(f) == 4 && f[0] == "view":
		v, ok1 := num(1)
		leader, err := strconv.Atoi(f[2])
		t, ok2 := num(3)
		if !ok1 || !ok2 || err != nil {
			return
		}
		// A restarted peer starts from its WAL's view and catches up: only
		// a view above every one this peer was in before is a change.
		if tl.hasView && v > tl.view {
			tl.marks = append(tl.marks, timelineMarker{kind: markView, tick: t, about: leader, what: f[1],
				title: fmt.Sprintf("peer %d moved to view %d (leader: peer %d) at tick %d", seat, v, leader, t)})
		}
		if !tl.hasView || v > tl.view {
			tl.hasView, tl.view = true, v
		}
	case len(f) >= 6 && f[0] == "net" && (f[1] == "cut" || f[1] == "heal") && f[len(f)-3] == "at" && f[len(f)-2] == "tick":
		// "net cut [1 2] at tick T" (netFaults)
		t, ok := num(len(f) - 1)
		if !ok {
			return
		}
		seats := strings.Join(f[2:len(f)-3], " ")
		kind, verb := markCut, "cut itself off from"
		if f[1] == "heal" {
			kind, verb = markHeal, "healed its connections to"
		}
		tl.marks = append(tl.marks, timelineMarker{kind: kind, tick: t, about: -1, what: seats,
			title: fmt.Sprintf("peer %d %s peers %s at tick %d", seat, verb, strings.Trim(seats, "[]"), t)})
	}
}

// timeline returns seat's timeline, creating it.
func (r *runState) timeline(seat int) *peerTimeline {
	if r.timelines == nil {
		r.timelines = make([]*peerTimeline, len(r.procs))
	}
	if r.timelines[seat] == nil {
		r.timelines[seat] = &peerTimeline{lat: map[uint64]float64{}}
	}
	return r.timelines[seat]
}

// markFault puts a crash or restart the runner caused on seat's timeline:
// a crash at the tick the peer had reported, a restart at the honest
// peers' tick (the peer itself is down then).
func (r *runState) markFault(seat int, kind string, tick uint64) {
	title := fmt.Sprintf("runner SIGKILLed peer %d at its tick %d", seat, tick)
	if kind == markRestart {
		title = fmt.Sprintf("runner restarted peer %d (same key and WAL) when the honest peers were at tick %d", seat, tick)
	}
	tl := r.timeline(seat)
	tl.marks = append(tl.marks, timelineMarker{kind: kind, tick: tick, about: -1, title: title})
}
