package lockstep

import (
	"fmt"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

// Step runs the clock once: on a beat (advance) it moves one tick and runs
// the follower-side checks (an unresponsive leader, suspicion, the stats
// due once a second); otherwise (a Wake) only sampling and proposing
// happen. st is the consensus node's status now (zero in Broadcast mode).
func (c *Core) Step(now time.Time, st bft.Status, advance bool) {
	c.status = st
	c.at(now)
	next := c.engine.Next()
	if advance {
		c.advanceClock(st.IsLeader, next, now)
	} else if c.cfg.Unpaced {
		c.boundClock(max(c.clock, next), next)
	}
	c.sampleInputs(now)
	if c.cfg.Sealed && c.cfg.Mode == Ordered { // sealed-shares (shares.go): open withheld reveals
		c.releaseShares(now, next)
	}
	if c.hooks.Beat != nil {
		c.sendOut(c.hooks.Beat(c.tools, now))
	}
	if c.cfg.Mode == Broadcast {
		c.applyComplete(now)
	}
	c.planProposal(now, st, next)
	if advance {
		c.followerChecks(now, st, next)
		c.relayFound(now)
	}
}

// planProposal puts the next batch to order in Ready while this peer
// leads: the ticks past their deadline or already holding every input, or
// in sealed mode the commitments waiting to be ordered.
func (c *Core) planProposal(now time.Time, st bft.Status, next uint64) {
	if c.rd.Propose != nil {
		return // the last one has not been handed to the node yet
	}
	silent := c.hooks.Silent != nil && c.hooks.Silent(c.clock)
	lead := st.IsLeader && !silent && c.cfg.Mode == Ordered
	first, upto, ok := c.prop.plan(now, lead, st.View, next, c.clock)
	if ok && c.cfg.Sealed { // shares.go: hold a tick whose commitment is on its way, or whose withheld reveal is being opened
		upto = c.holdSealed(now, first, upto)
		ok = upto > first
	}
	var b *gamestate.Batch
	var commits []crypto.Envelope
	if ok {
		b = c.pool.build(first, upto)
		if c.cfg.Sealed {
			commits = c.pool.pendingCommits(first+uint64(len(b.Ticks)), st.View, now, c.prop.stall)
			b.Commits = commits
		}
	} else if lead && c.cfg.Sealed && c.prop.leading {
		// No tick to order yet, but sealed inputs are waiting: order them
		// now in a batch without ticks, so their reveals can start. It
		// goes after the ticks already proposed (First = proposedNext).
		first = c.prop.proposedNext
		if commits = c.pool.pendingCommits(first, st.View, now, c.prop.stall); c.commitsDue(now, commits) {
			b = c.pool.build(first, first)
			b.Commits = commits
			ok = true
		}
	}
	if !ok {
		return
	}
	if c.hooks.Batch != nil && !c.hooks.Batch(c.tools, now, b) {
		return // held back (slow-leader); it may edit b instead (censor-input)
	}
	upto = b.First + uint64(len(b.Ticks))
	c.rd.Propose = &Proposal{Payload: b.Encode(), upto: upto, view: st.View, commits: b.Commits, at: now}
}

// followerChecks are the beat's checks of the leader: an observation when
// it orders nothing for two stall bounds, a vote to replace it
// (suspicion), and the stats due once a second.
func (c *Core) followerChecks(now time.Time, st bft.Status, next uint64) {
	b := &c.beat
	ordered := c.cfg.Mode == Ordered
	if next != b.stalledNext || st.View != b.stalledVew || st.InViewChange {
		// A new leader gets its own full bound before it is reported.
		b.stalledNext, b.stalledVew, b.stalledSince = next, st.View, now
	} else if !st.IsLeader && ordered && now.Sub(b.stalledSince) > 2*c.prop.stall && b.reportedView != st.View {
		b.reportedView = st.View
		c.observe(now, gamestate.Unresponsive, int(st.Leader), "leader of the current view orders no ticks")
	}
	if ordered && !c.cfg.Unpaced {
		var grid uint64
		if !c.cfg.Epoch.IsZero() {
			grid = 1 + c.wallTick(now)/max(1, uint64(floorWindow/c.cfg.Interval))
		}
		if slow, decided, beats := c.floor.beat(now, st.IsLeader, st.InViewChange, st.View, next, grid); slow {
			c.log.Info("leader below the throughput floor", "view", st.View, "leader", st.Leader, "decided", decided, "beats", beats)
			c.observe(now, gamestate.SlowLeader, int(st.Leader),
				fmt.Sprintf("leader of view %d decided %d ticks in %d beats (floor %d%%)", st.View, decided, beats, 100*floorNum/floorDen))
			c.rd.Suspect = true
		}
	}
	if ordered && c.susp.check(now, st.IsLeader, st.InViewChange, st.View, next, c.clock) {
		// The leader keeps its view alive but orders nothing: vote to
		// replace it. The next leader proposes from the first
		// undecided tick (proposer.plan).
		c.log.Info("suspecting leader", "view", st.View, "leader", st.Leader, "next", next)
		c.rd.Suspect = true
	}
	if b.lastStats.IsZero() {
		b.lastStats, b.lastMsgs = now, c.msgsIn
	}
	if dt := now.Sub(b.lastStats); dt >= time.Second {
		c.msgRate = float64(c.msgsIn-b.lastMsgs) / dt.Seconds()
		b.lastStats, b.lastMsgs = now, c.msgsIn
		c.emit(StatsEvent{Figures: c.Figures()})
	}
}

// Figures returns the core's part of the session's stats now.
func (c *Core) Figures() Figures {
	f := Figures{Status: c.status, Clock: c.clock, Decided: c.engine.Next(), MsgsPerSec: c.msgRate,
		Verdicts: len(c.verdicts), Observations: len(c.observations), Proposed: c.proposedN, Refused: c.refused, OwnInputs: c.ownInputs, OwnAbsent: c.ownAbsent,
		Prediction: c.PredictionFigures()}
	f.CommitP50, f.CommitP99 = c.lat.p50p99()
	return f
}

// Start tells the core the clock starts now, so the first beat of a peer
// that waited for the others is not counted as a stall.
func (c *Core) Start(now time.Time) {
	c.beat.stalledSince = now
	c.beat.lastStats, c.beat.lastMsgs = now, c.msgsIn
}

// advanceClock moves the local clock one beat, kept within reach of the
// decided log: a non-leader that fell behind (late start, catch-up) jumps
// forward so its inputs are not all too late, and nobody runs more than
// InputDelay+grace+maxAhead ticks past what is decided. With an Epoch the
// beat goes to the grid's tick for now (the same tick on every peer).
func (c *Core) advanceClock(leader bool, next uint64, now time.Time) {
	t := c.clock + 1
	switch {
	case c.cfg.Unpaced:
		// No grid: the decided log runs ahead of any wall-clock tick, so
		// the clock must keep beating past it or a tick that lacks an
		// input would never reach its deadline.
		t = max(t, next)
	case !c.cfg.Epoch.IsZero():
		t = max(c.clock, c.wallTick(now))
	}
	if !leader && c.cfg.Epoch.IsZero() {
		t = max(t, next+c.prop.graceTicks)
	}
	c.boundClock(t, next)
}

// UntilBeat is the time from now to the clock's next beat: one interval,
// or the next point of the Epoch grid.
func (c *Core) UntilBeat(now time.Time) time.Duration {
	iv := c.cfg.Interval
	if c.cfg.Epoch.IsZero() {
		return iv
	}
	since := now.Sub(c.cfg.Epoch)
	if since < 0 {
		return -since
	}
	return iv - since%iv
}

// wallTick is the Epoch grid's tick at now (Epoch mode only).
func (c *Core) wallTick(now time.Time) uint64 {
	since := now.Sub(c.cfg.Epoch)
	if since < 0 {
		return 0
	}
	return uint64(since / c.cfg.Interval)
}

// boundClock sets the clock to t, at most InputDelay+grace+maxAhead ticks
// past the decided log.
func (c *Core) boundClock(t, next uint64) {
	if hi := next + uint64(c.cfg.InputDelay) + c.prop.graceTicks + maxAhead; t > hi {
		t = max(c.clock, hi)
	}
	c.clock = t
	c.skipDecided()
}

// skipDecided moves input sampling past the decided log: a tick already
// applied can no longer take this player's input, so InputTick and
// SubmitInput move on and SubmitInputAt reports ErrTooLate for it, even
// before the clock has started (waiting for peers) or after a catch-up.
func (c *Core) skipDecided() {
	if next := c.engine.Next(); c.nextSample < next {
		c.nextSample = next
	}
	c.cfg.Inputs.Open(c.nextSample)
}

// sampleInputs signs this player's input for every tick up to clock +
// InputDelay that has not been sampled yet, adds them to the pool and
// queues them for broadcast. In sealed mode the input is sealed first
// (sampleSealed) and the signed message is the commitment; the commit
// latency measured from here then covers both rounds (commit ordered, then
// tick ordered with the reveals).
func (c *Core) sampleInputs(now time.Time) {
	if c.leaving {
		return // Leave promised no input from nextSample on
	}
	next := c.engine.Next()
	for ; c.nextSample <= c.clock+uint64(c.cfg.InputDelay) && c.maySign(c.nextSample); c.nextSample++ {
		tick := c.nextSample
		data, ok := c.cfg.Inputs.Take(tick)
		if !ok && c.cfg.Mode != Broadcast {
			// The game submitted nothing for this tick and can no longer
			// (SubmitInputAt refuses it now): say so, or the leader waits
			// out the tick's deadline for an input that cannot come, and a
			// game that submits once per TickEvent then misses the next
			// sample too, and every tick after. Unpaced, the deadline is
			// what paces a log that no clock does, so there it stays.
			if !c.cfg.Unpaced {
				m := gamestate.NoInput{Seat: uint16(c.cfg.Seat), Tick: tick}
				env := c.cfg.Signer.Sign(wire.TypeNoInput, m.Encode())
				c.pool.add(env, next)
				c.broadcast(env)
			}
			continue
		}
		// Broadcast mode has no leader to decide that an input is missing:
		// the player says so itself with a signed empty input, which every
		// peer applies as "no input" (applyComplete).
		if c.hooks.Input != nil {
			data = c.hooks.Input(tick, data)
		}
		var env crypto.Envelope
		if c.cfg.Sealed {
			if env, ok = c.sampleSealed(tick, data); !ok {
				continue
			}
		} else {
			env = c.signInput(c.cfg.Seat, tick, data)
		}
		c.pool.add(env, next)
		c.signedAt[tick] = now
		if c.ownData != nil {
			c.ownData[tick] = data
		}
		c.broadcast(env)
		if c.hooks.Signed != nil {
			c.sendOut(c.hooks.Signed(c.tools, tick, data, env))
		}
	}
	c.cfg.Inputs.Open(c.nextSample)
}

// Leave signs this player's departure from the first tick it has not
// signed an input for, and stops signing inputs: one signed after the
// departure's tick would tell the others it is back. The caller delivers
// the returned message to every seat.
func (c *Core) Leave() crypto.Envelope {
	c.leaving = true
	m := gamestate.Leave{Seat: uint16(c.cfg.Seat), Tick: c.nextSample}
	return c.cfg.Signer.Sign(wire.TypeLeave, m.Encode())
}

func (c *Core) signInput(seat int, tick uint64, data []byte) crypto.Envelope {
	m := gamestate.Input{Seat: uint16(seat), Tick: tick, Data: data}
	return c.cfg.Signer.Sign(wire.TypeInput, m.Encode())
}

func (c *Core) sendOut(out []Out) {
	for _, o := range out {
		if o.Direct {
			c.rd.Direct = append(c.rd.Direct, o.Env)
		} else {
			c.rd.Broadcast = append(c.rd.Broadcast, o.Env)
		}
	}
}

// UntilEpoch is the time from now to the Epoch (0 without one or once it
// passed): the clock beats on the shared grid, never before it.
func (c *Core) UntilEpoch(now time.Time) time.Duration {
	if c.cfg.Epoch.IsZero() {
		return 0
	}
	return max(0, c.cfg.Epoch.Sub(now))
}
