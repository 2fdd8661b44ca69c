package paxsync

import (
	"context"
	"slices"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

// maxAhead bounds how far the local clock may run ahead of the decided log
// (beyond input delay and grace), like GGPO's prediction window: when
// consensus stalls, peers stop sampling inputs instead of piling them up.
const maxAhead = 8

// startWait bounds how long the clock waits for all peers at start.
const startWait = 10 * time.Second

// suspectStalls is how many proposer stall bounds (max(500 ms, 10 ticks))
// a follower waits with due ticks and no progress before it votes to
// replace the leader (see suspicion).
const suspectStalls = 4

// outMsg is an envelope to send after the lock is released.
type outMsg struct {
	env    crypto.Envelope
	direct bool // Send to every other seat instead of Broadcast
}

// runClock is the session's heartbeat at TickRate: it advances the local
// clock, signs and broadcasts this player's inputs, and, while this peer
// leads, proposes the ticks whose deadline passed. Between beats it wakes
// on pokes: a tick whose inputs are all in is proposed at once, and in
// Unpaced mode every decision moves the clock.
func (s *Session) runClock(ctx context.Context) {
	defer s.wg.Done()
	// Lockstep starts when everyone can hear us: wait (up to startWait)
	// until every other seat is subscribed to the match topic, so the first
	// ticks are not all "no input" because a peer was still connecting. Stop
	// waiting as soon as ticks are being decided: the match has started
	// without us (e.g. every peer bootstrapped from one hub, so the others
	// are reachable through it but never become direct topic peers), and
	// every tick we wait costs this player its input.
	for deadline := time.Now().Add(startWait); time.Now().Before(deadline) && len(s.host.TopicPeers()) < s.n-1 && !s.logStarted(); {
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	// With an Epoch the clock beats on the shared grid, never before it.
	if !s.cfg.Epoch.IsZero() {
		if d := time.Until(s.cfg.Epoch); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		}
	}
	beat := time.NewTimer(s.untilBeat(time.Now()))
	defer beat.Stop()
	c := clockLoop{lastStats: time.Now(), stalledSince: time.Now(), reportedView: ^uint64(0)}
	for {
		advance := false
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			advance = true
			beat.Reset(s.untilBeat(time.Now()))
		case <-s.pokes:
		}
		if !s.step(ctx, &c, advance) {
			return
		}
	}
}

// untilBeat is the time from now to the clock's next beat: one interval,
// or the next point of the Epoch grid.
func (s *Session) untilBeat(now time.Time) time.Duration {
	iv := s.cfg.interval()
	if s.cfg.Epoch.IsZero() {
		return iv
	}
	since := now.Sub(s.cfg.Epoch)
	if since < 0 {
		return -since
	}
	return iv - since%iv
}

// wallTick is the Epoch grid's tick at now (Epoch mode only).
func (s *Session) wallTick(now time.Time) uint64 {
	since := now.Sub(s.cfg.Epoch)
	if since < 0 {
		return 0
	}
	return uint64(since / s.cfg.interval())
}

// poke wakes the clock goroutine between beats (never blocks).
func (s *Session) poke() {
	select {
	case s.pokes <- struct{}{}:
	default:
	}
}

// clockLoop is the clock goroutine's own bookkeeping between steps.
type clockLoop struct {
	lastStats               time.Time
	lastMsgs                uint64
	stalledSince            time.Time
	stalledNext, stalledVew uint64
	reportedView            uint64
}

// status is the consensus node's status (zero in broadcast mode, which
// has no consensus node).
func (s *Session) consensusStatus(ctx context.Context) (bft.Status, error) {
	if s.drv == nil {
		return bft.Status{}, ctx.Err()
	}
	return s.drv.Status(ctx)
}

// step is one run of the clock: on a beat (advance) the clock moves one
// tick and follower-side checks run; on a poke only sampling and proposing
// happen. It returns false when the session is shutting down.
func (s *Session) step(ctx context.Context, c *clockLoop, advance bool) bool {
	st, err := s.consensusStatus(ctx)
	if err != nil {
		return false
	}
	now := time.Now()
	s.mu.Lock()

	s.status = st
	next := s.engine.Next()
	if advance {
		s.advanceClock(st.IsLeader, next, now)
	} else if s.cfg.Unpaced {
		s.boundClock(max(s.clock, next), next)
	}
	out := s.sampleInputs(now)
	out = append(out, s.badSyncLure(now)...)
	s.streamFloodHook(ctx)
	if s.cfg.Consensus == ConsensusBroadcast {
		s.applyCompleteLocked()
	}
	if s.cfg.Sealed {
		s.lookaheadReveals()
		for _, env := range s.pool.takeOutbox() {
			out = append(out, outMsg{env: env})
		}
	}
	silent := s.cheating(CheatSilentLeader, s.clock)
	lead := st.IsLeader && !silent && s.drv != nil
	first, upto, ok := s.prop.plan(now, lead, st.View, next, s.clock)
	var payload []byte
	var commits []crypto.Envelope
	if ok {
		b := s.pool.build(first, upto)
		upto = first + uint64(len(b.Ticks))
		if s.cfg.Sealed {
			commits = s.pool.pendingCommits(upto, st.View, now, s.prop.stall)
			b.Commits = commits
		}
		payload = b.Encode()
	} else if lead && s.cfg.Sealed && s.prop.leading {
		// No tick to order yet, but sealed inputs are waiting: order them
		// now in a batch without ticks, so their reveals can start. It
		// goes after the ticks already proposed (First = proposedNext).
		first = s.prop.proposedNext
		if commits = s.pool.pendingCommits(first, st.View, now, s.prop.stall); s.commitsDue(commits) {
			b := s.pool.build(first, first)
			b.Commits = commits
			upto, ok, payload = first, true, b.Encode()
		}
	}
	suspect := false
	var stats *Stats
	if advance {
		if next != c.stalledNext || st.View != c.stalledVew || st.InViewChange {
			// A new leader gets its own full bound before it is reported.
			c.stalledNext, c.stalledVew, c.stalledSince = next, st.View, now
		} else if !st.IsLeader && s.drv != nil && now.Sub(c.stalledSince) > 2*s.prop.stall && c.reportedView != st.View {
			c.reportedView = st.View
			s.observe(gamestate.Unresponsive, int(st.Leader), "leader of the current view orders no ticks")
		}
		suspect = s.drv != nil && s.susp.check(now, st.IsLeader, st.InViewChange, st.View, next, s.clock)
		if dt := now.Sub(c.lastStats); dt >= time.Second {
			m := s.msgsIn.Load()
			s.msgRate = float64(m-c.lastMsgs) / dt.Seconds()
			c.lastStats, c.lastMsgs = now, m
			st := s.statsLocked()
			stats = &st
		}
	}
	s.mu.Unlock()

	s.send(ctx, out)
	if suspect {
		// The leader keeps its view alive but orders nothing: vote to
		// replace it. The next leader proposes from the first
		// undecided tick (proposer.plan).
		s.log.Info("suspecting leader", "view", st.View, "leader", st.Leader, "next", next)
		if err := s.drv.Suspect(ctx); err != nil {
			return false
		}
	}
	if ok {
		if err := s.drv.Propose(ctx, payload); err == nil {
			s.mu.Lock()
			s.prop.proposed(upto)
			s.proposedN++
			s.pool.commitsProposed(commits, st.View, now)
			s.mu.Unlock()
		}
	}
	if stats != nil {
		s.emit(StatsEvent{Stats: *stats})
	}
	return true
}

// advanceClock moves the local clock one beat, kept within reach of the
// decided log: a non-leader that fell behind (late start, catch-up) jumps
// forward so its inputs are not all too late, and nobody runs more than
// InputDelay+grace+maxAhead ticks past what is decided. With an Epoch the
// beat goes to the grid's tick for now (the same tick on every peer).
func (s *Session) advanceClock(leader bool, next uint64, now time.Time) {
	c := s.clock + 1
	switch {
	case s.cfg.Unpaced:
		// No grid: the decided log runs ahead of any wall-clock tick, so
		// the clock must keep beating past it or a tick that lacks an
		// input would never reach its deadline.
		c = max(c, next)
	case !s.cfg.Epoch.IsZero():
		c = max(s.clock, s.wallTick(now))
	}
	if !leader && s.cfg.Epoch.IsZero() {
		c = max(c, next+s.prop.graceTicks)
	}
	s.boundClock(c, next)
}

// boundClock sets the clock to c, at most InputDelay+grace+maxAhead ticks
// past the decided log.
func (s *Session) boundClock(c, next uint64) {
	if hi := next + uint64(s.cfg.InputDelay) + s.prop.graceTicks + maxAhead; c > hi {
		c = max(s.clock, hi)
	}
	s.clock = c
	s.skipDecided()
}

// skipDecided moves input sampling past the decided log: a tick already
// applied can no longer take this player's input, so InputTick and
// SubmitInput move on and SubmitInputAt reports ErrTooLate for it, even
// before the clock has started (waiting for peers) or after a catch-up.
// Inputs submitted for such ticks are dropped. Called with mu held.
func (s *Session) skipDecided() {
	next := s.engine.Next()
	if s.nextSample >= next {
		return
	}
	s.nextSample = next
	for t := range s.pendingIn {
		if t < next {
			delete(s.pendingIn, t)
		}
	}
}

// sampleInputs signs this player's input for every tick up to clock +
// InputDelay that has not been sampled yet, and adds them to the pool.
// In sealed mode the input is sealed first (sampleSealed) and the signed
// message is the commitment; the commit latency measured from here then
// covers both rounds (commit ordered, then tick ordered with the reveals).
// Cheats act here, on the same path.
func (s *Session) sampleInputs(now time.Time) []outMsg {
	var out []outMsg
	if s.leaving {
		return nil // announceLeave promised no input from nextSample on
	}
	next := s.engine.Next()
	for ; s.nextSample <= s.clock+uint64(s.cfg.InputDelay); s.nextSample++ {
		tick := s.nextSample
		data, ok := s.pendingIn[tick]
		delete(s.pendingIn, tick)
		if !ok && s.cfg.Consensus != ConsensusBroadcast {
			// The game submitted nothing for this tick and can no longer
			// (SubmitInputAt refuses it now): say so, or the leader waits
			// out the tick's deadline for an input that cannot come, and a
			// game that submits once per TickEvent then misses the next
			// sample too, and every tick after. Unpaced, the deadline is
			// what paces a log that no clock does, so there it stays.
			if !s.cfg.Unpaced {
				m := gamestate.NoInput{Seat: uint16(s.seat), Tick: tick}
				env := s.signer.Sign(wire.TypeNoInput, m.Encode())
				s.pool.add(env, next)
				out = append(out, outMsg{env: env})
			}
			continue
		}
		// Broadcast mode has no leader to decide that an input is missing:
		// the player says so itself with a signed empty input, which every
		// peer applies as "no input" (applyCompleteLocked).
		if s.cheating(CheatInvalidMove, tick) {
			data = s.cheatCfg.Mutate(data)
		}
		var env crypto.Envelope
		if s.cfg.Sealed {
			if env, ok = s.sampleSealed(tick, data); !ok {
				continue
			}
		} else {
			env = s.signInput(s.seat, tick, data)
		}
		s.pool.add(env, next)
		s.signedAt[tick] = now
		out = append(out, outMsg{env: env})
		out = append(out, s.cheatInputs(tick, data, env)...)
	}
	for t := range s.pendingIn {
		if t < s.nextSample {
			delete(s.pendingIn, t)
		}
	}
	if s.cheating(CheatReplayInput, s.clock) {
		out = append(out, s.cheat.replays()...)
	}
	if s.cheating(CheatGarbage, s.clock) {
		// Type 0 is no message type: receivers fail to decode it.
		out = append(out, outMsg{env: crypto.Envelope{Type: 0, Sender: uint16(s.seat), Body: []byte("garbage")}, direct: true})
	}
	if s.cheating(CheatFlood, s.clock) {
		if s.cheat.flood == nil {
			e := s.signer.Sign(wire.TypeHello, []byte("flood"))
			s.cheat.flood = &e
		}
		for i := 0; i < 100; i++ {
			out = append(out, outMsg{env: *s.cheat.flood})
		}
	}
	return out
}

// logStarted reports whether the decided log has moved: some peer's clock
// is running and its ticks are being agreed.
func (s *Session) logStarted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.engine.Next() > 0
}

func (s *Session) signInput(seat int, tick uint64, data []byte) crypto.Envelope {
	m := gamestate.Input{Seat: uint16(seat), Tick: tick, Data: data}
	return s.signer.Sign(wire.TypeInput, m.Encode())
}

func (s *Session) send(ctx context.Context, out []outMsg) {
	for _, m := range out {
		if !m.direct {
			if err := s.host.Broadcast(m.env); err != nil {
				s.log.Debug("broadcast", "err", err)
			}
			continue
		}
		for seat := 0; seat < s.n; seat++ {
			if seat == s.seat {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			_ = s.host.Send(sctx, seat, m.env)
			cancel()
		}
	}
}

// addLatency records one commit latency (input signed → its tick applied).
func (s *Session) addLatency(d time.Duration) {
	const ring = 1024
	if len(s.lat) < ring {
		s.lat = append(s.lat, d)
		return
	}
	s.lat[s.latPos] = d
	s.latPos = (s.latPos + 1) % ring
}

func (s *Session) statsLocked() Stats {
	next := s.engine.Next()
	st := Stats{
		Seat: s.seat, View: s.status.View, Leader: int(s.status.Leader), IsLeader: s.status.IsLeader,
		InViewChange: s.status.InViewChange, Tick: s.clock, DecidedTicks: next, Slots: s.status.Committed,
		MsgsPerSec: s.msgRate, Verdicts: len(s.verdicts), Observations: len(s.observations),
		DroppedEvents: s.dropped.Load(), Proposed: s.proposedN, Connected: s.host.Connected(),
	}
	if s.clock > next {
		st.TicksBehind = s.clock - next
	}
	s.addCounters(&st)
	st.PeerRTT = s.host.RTT()
	if len(s.lat) > 0 {
		l := slices.Clone(s.lat)
		slices.Sort(l)
		st.CommitP50 = l[len(l)/2]
		st.CommitP99 = l[min(len(l)-1, len(l)*99/100)]
	}
	return st
}
