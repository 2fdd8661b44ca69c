package lockstep

import "time"

// maxInFlight bounds the ticks a leader has proposed but not yet seen
// decided, so a leader that lost its proposals (view change, partition)
// does not run ahead of the log.
const maxInFlight = 4 * batchTickLimit

// proposer decides which ticks the leader orders next. It keeps batches
// contiguous across view changes: a leader starts from the first undecided
// tick when it takes over; a decided batch that does not start at the
// engine's next tick (a stale duplicate from an older view) is skipped by
// every peer alike and makes the leader restart from the log; and proposals
// that are not decided within stall are proposed again. Duplicate batches
// are harmless because a batch must start exactly at the next tick to be
// applied, and every honest peer judges that identically.
type proposer struct {
	leading      bool
	view         uint64
	proposedNext uint64 // first tick not yet proposed
	lastNext     uint64 // engine's next tick when last seen
	lastMove     time.Time
	stall        time.Duration
	graceTicks   uint64
	// complete, if set, returns the first tick at or after from (looking
	// at most limit ticks ahead) that still lacks some seat's input: ticks
	// before it hold every input and are ordered at once instead of at
	// their deadline. That is what makes a tick's commit latency one
	// consensus round rather than input delay plus grace.
	complete func(from, limit uint64) uint64
}

// plan returns the ticks [first, upto) to propose now, given the bft view
// and leadership, the engine's next tick, the local clock tick: the ticks
// past their deadline (clock minus grace) and those that already hold every
// seat's input. Hashes and evidence ride along with the ticks. ok=false:
// nothing to propose.
func (p *proposer) plan(now time.Time, isLeader bool, view, next, clock uint64) (first, upto uint64, ok bool) {
	if next != p.lastNext {
		p.lastNext, p.lastMove = next, now
	}
	if !isLeader {
		p.leading = false
		return 0, 0, false
	}
	if !p.leading || view != p.view {
		p.leading, p.view, p.proposedNext, p.lastMove = true, view, next, now
	}
	if p.proposedNext < next {
		p.proposedNext = next
	}
	if p.proposedNext > next && now.Sub(p.lastMove) >= p.stall {
		p.proposedNext, p.lastMove = next, now // lost: propose again from the log
	}
	if p.proposedNext-next >= maxInFlight {
		return 0, 0, false
	}
	due := uint64(0) // ticks [0, due) are past their deadline
	if clock >= p.graceTicks {
		due = clock - p.graceTicks + 1
	}
	first = p.proposedNext
	if p.complete != nil {
		due = max(due, p.complete(first, batchTickLimit))
	}
	upto = min(due, first+batchTickLimit, next+maxInFlight)
	if upto <= first {
		return 0, 0, false
	}
	return first, upto, true
}

// proposed records that [first, upto) went to the driver.
func (p *proposer) proposed(upto uint64) {
	if upto > p.proposedNext {
		p.proposedNext = upto
	}
}

// skipped is called when a decided batch was not contiguous: the leader's
// plan is off, so it restarts from the log.
func (p *proposer) skipped(next uint64) { p.proposedNext = next }

// suspicion decides when a follower votes (bft.Node.Suspect) to replace a
// leader that keeps its view alive with heartbeats but orders no ticks: bft
// times out only a leader whose proposals stall, so a leader that proposes
// nothing is invisible to it. A follower suspects once per view, when ticks
// are due (the clock is past the first undecided tick's deadline) and the
// decided log has not moved for `after`. after is several times the
// proposer's stall bound and far above bft's own view timeout, so a healthy
// (or merely slow) leader is timed out by bft long before, and one slow
// follower alone changes nothing: a view change needs f+1 suspicions.
type suspicion struct {
	after      time.Duration
	graceTicks uint64
	view, next uint64
	since      time.Time
	done       bool // already suspected in this view
}

// check reports whether to suspect the leader now, given the node's status,
// the engine's next tick and the local clock tick.
func (u *suspicion) check(now time.Time, isLeader, inViewChange bool, view, next, clock uint64) bool {
	if isLeader || inViewChange || view != u.view || next != u.next || u.since.IsZero() {
		if view != u.view {
			u.done = false
		}
		u.view, u.next, u.since = view, next, now
		return false
	}
	if u.done || clock < next+u.graceTicks || now.Sub(u.since) < u.after {
		return false
	}
	u.done = true
	return true
}
