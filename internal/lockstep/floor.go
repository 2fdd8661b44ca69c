package lockstep

import "time"

// The throughput floor (Aardvark's and RBFT's idea): a leader must not only
// order ticks, it must order them at nearly the match's pace. A follower
// counts its own clock's beats and the ticks decided while one leader holds
// its view; when a whole window passes with fewer decided ticks than
// floorShare of the beats, it reports the leader (slow-leader) and votes to
// replace it. Beats, not wall time, are the yardstick: a follower on a
// loaded machine beats late too, so an honest leader slowed by the same
// machine is measured against a slower clock; a leader that paces itself
// just under every timeout is measured against everyone's.
const (
	floorWindow = 2 * time.Second
	// floorShare is the least share of beats a leader must decide over a
	// window: 4/5.
	floorNum, floorDen = 4, 5
)

// floor is one follower's measurement of the current leader's pace.
type floor struct {
	view       uint64
	since      time.Time
	window     uint64 // the grid window since began in (grid mode)
	next       uint64 // first undecided tick at since
	beats      uint64 // beats since then
	reportedIn uint64 // 1 + the view it last reported (0: none)
}

// beat counts one clock beat and reports whether the leader of view is
// below the floor over the window that just ended (once per view). It
// restarts whenever this peer leads, a view change runs, or the view moves.
// grid, when > 0, is the number of the shared grid's window now (Epoch
// mode: the grid tick over the window's length in ticks): every follower
// then ends its windows at the same grid ticks, so all of them judge a
// leader within a beat of each other and all report it before the view
// change their votes cause; a window cut short by a view change is judged
// only if it holds half a window's beats.
func (f *floor) beat(now time.Time, isLeader, inViewChange bool, view, next, grid uint64) (slow bool, decided, beats uint64) {
	if isLeader || inViewChange || view != f.view || f.since.IsZero() {
		f.view, f.since, f.next, f.beats, f.window = view, now, next, 0, grid
		return false, 0, 0
	}
	f.beats++
	if grid > 0 {
		if grid == f.window {
			return false, 0, 0
		}
		if now.Sub(f.since) < floorWindow/2 {
			f.since, f.next, f.beats, f.window = now, next, 0, grid // too short to judge
			return false, 0, 0
		}
	} else if now.Sub(f.since) < floorWindow {
		return false, 0, 0
	}
	decided, beats = next-f.next, f.beats
	f.since, f.next, f.beats, f.window = now, next, 0, grid
	if decided*floorDen >= beats*floorNum || f.reportedIn == view+1 {
		return false, decided, beats
	}
	f.reportedIn = view + 1
	return true, decided, beats
}
