package paxsync

import (
	"errors"
	"fmt"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/netp2p"
	"github.com/paxsync/paxsync/wire"
)

// apply is the driver's Apply hook: one decided slot, in slot order, on the
// driver goroutine. Consensus evidence ordered at this slot is recorded
// first, then the batch is applied; replay records follow the same order,
// so a replay re-derives exactly what every peer derived.
func (s *Session) apply(e bft.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()

	for _, ev := range e.Evidence {
		kind := gamestate.VoteEquivocation
		if ev.Kind == bft.ProposalEquivocation {
			kind = gamestate.ProposalEquivocation
		} else if ev.Kind != bft.VoteEquivocation {
			continue // checkpoint equivocation has no game verdict kind
		}
		v, fresh, err := s.engine.RecordConsensus(kind, int(ev.Offender),
			[][]byte{ev.A.Encode(nil), ev.B.Encode(nil)}, fmt.Sprintf("seat %d: %s at slot %d", ev.Offender, ev.Kind, e.Slot))
		if err != nil || !fresh {
			continue
		}
		s.record(func() error { return s.rec.WriteConsensus(&v) })
		s.verdict(v)
	}
	b, err := gamestate.DecodeBatch(e.Payload)
	if err != nil {
		s.log.Warn("decided value is not a batch", "slot", e.Slot, "err", err)
		return
	}
	s.applyBatchLocked(b)
}

// applyBatchLocked applies one agreed batch to the engine (mu held): the
// replay record, tick events with commit latencies, checkpoint hashes,
// verdicts, the pool's clean-up and, in sealed mode, this peer's reveals
// for its sealed inputs the batch ordered.
func (s *Session) applyBatchLocked(b *gamestate.Batch) {
	res, err := s.engine.Apply(b)
	if errors.Is(err, gamestate.ErrNotContiguous) {
		// A stale duplicate (e.g. re-proposed across a view change): every
		// honest peer skips it alike. The leader restarts from the log.
		s.prop.skipped(s.engine.Next())
		return
	}
	s.record(func() error { return s.rec.WriteBatch(b) })
	now := time.Now()
	for i := range res.Ticks {
		tr := &res.Ticks[i]
		var commit time.Duration
		if at, ok := s.signedAt[tr.Tick]; ok {
			commit = now.Sub(at)
			s.addLatency(commit)
			s.met.Commit(commit)
			delete(s.signedAt, tr.Tick)
		}
		s.emit(TickEvent{Tick: tr.Tick, Inputs: tr.Inputs, Checkpoint: tr.Checkpoint, Hash: tr.Hash, Commit: commit})
		if tr.Checkpoint {
			s.record(func() error { return s.rec.WriteHash(tr.Tick, tr.Hash) })
			if s.cfg.Consensus != ConsensusBroadcast {
				s.signHash(tr.Tick, tr.Hash) // nothing would order it
			}
		}
	}
	s.met.TicksDecided(len(res.Ticks))
	for _, v := range res.Verdicts {
		s.verdict(v)
	}
	s.pool.decided(b, s.engine.Next())
	if s.cfg.Sealed {
		s.revealOrdered(b)
	}
	s.skipDecided()
	for t := range s.signedAt {
		if t < s.engine.Next() {
			delete(s.signedAt, t)
		}
	}
	if s.cfg.Unpaced || s.status.IsLeader {
		s.poke() // the clock moves (Unpaced) or more ticks may be ready to order
	}
}

// applyCompleteLocked is broadcast mode's whole "consensus": apply every
// tick from the next one on for which this peer holds every seat's input.
// Nothing is agreed: each peer applies what it received, so one
// equivocating player splits the match (that is the point of the baseline).
func (s *Session) applyCompleteLocked() {
	for {
		next := s.engine.Next()
		upto := s.pool.completeUpto(next, batchTickLimit)
		if upto == next {
			return
		}
		b := s.pool.build(next, upto)
		b.Hashes, b.Evidence = nil, nil
		for i := range b.Ticks {
			for seat, env := range b.Ticks[i].Seats {
				if env == nil {
					continue // a seat that left (its Leave): nothing to wait for
				}
				if m, err := gamestate.DecodeInput(env.Body); err == nil && len(m.Data) == 0 {
					b.Ticks[i].Seats[seat] = nil // the player's signed "no input"
				}
			}
		}
		s.applyBatchLocked(b)
	}
}

func (s *Session) verdict(v gamestate.Verdict) {
	s.verdicts = append(s.verdicts, v)
	s.met.Verdict(v.Kind)
	s.emit(VerdictEvent{Verdict: v})
	if v.Kind == gamestate.StateDivergence {
		s.emit(DesyncEvent{Tick: v.Tick, Seat: v.Offender, Local: v.Offender == s.seat})
	}
}

// record writes one replay record; the first failure stops recording.
func (s *Session) record(f func() error) {
	if s.rec == nil || s.recErr != nil {
		return
	}
	if err := f(); err != nil {
		s.recErr = err
		s.log.Error("replay recording stopped", "err", err)
	}
}

// signHash signs and broadcasts this peer's state hash at a checkpoint;
// the leader orders it and every engine compares it with its own.
func (s *Session) signHash(tick uint64, h [32]byte) {
	if s.cheating(CheatStateHashLie, tick) {
		h[0] ^= 0xff
	}
	m := gamestate.StateHash{Seat: uint16(s.seat), Tick: tick, Hash: h}
	env := s.signer.Sign(wire.TypeStateHash, m.Encode())
	s.pool.add(env, s.engine.Next())
	if err := s.host.Broadcast(env); err != nil {
		s.log.Debug("broadcast state hash", "err", err)
	}
}

// snapshot is the driver's Snapshot hook: the engine's canonical state at
// a bft checkpoint, which lagging peers install to catch up.
func (s *Session) snapshot(uint64) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.engine.Snapshot()
}

// restore installs a checkpoint received through catch-up. The replay
// being recorded would have a hole, so recording stops.
func (s *Session) restore(snap *bft.Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()

	if err := s.engine.Restore(snap.Data); err != nil {
		s.log.Error("checkpoint restore failed", "slot", snap.Slot, "err", err)
		return
	}
	if s.rec != nil && s.recErr == nil {
		s.recErr = errors.New("paxsync: replay stopped: state installed from a checkpoint")
	}
	s.pool.decided(&gamestate.Batch{}, s.engine.Next())
	s.skipDecided()
	s.emit(PeerEvent{Seat: s.seat, Kind: PeerCaughtUp})
}

// other is the driver's Other hook: game messages from the network.
func (s *Session) other(in netp2p.Inbound) {
	s.msgsIn.Add(1)
	s.mu.Lock()

	tampered, tamper := s.tampered(in.Env)
	s.intake(in)
	s.mu.Unlock()
	if tamper {
		if err := s.host.Broadcast(tampered); err != nil {
			s.log.Debug("broadcast", "err", err)
		}
	}
}

// intake adds one game message to the pool and reacts to what it found
// (mu held).
func (s *Session) intake(in netp2p.Inbound) {
	if in.Env.Type == wire.TypeNoInput && s.cfg.Consensus == ConsensusBroadcast {
		// Broadcast mode has no leader to skip a wait: a player says "no
		// input" with a signed empty Input, which every peer applies alike.
		return
	}
	s.cheat.remember(in.Env)
	switch s.pool.add(in.Env, s.engine.Next()) {
	case intakeDup, intakeOld:
		s.observe(gamestate.ReplayedMessage, in.From, fmt.Sprintf("seat %d delivered an old signed %s of seat %d", in.From, in.Env.Type, in.Env.Sender))
	case intakeOK:
		switch in.Env.Type {
		case wire.TypeInput, wire.TypeReveal, wire.TypeLeave, wire.TypeNoInput:
			if in.Env.Type == wire.TypeLeave {
				s.emit(PeerEvent{Seat: int(in.Env.Sender), Kind: PeerLeft})
			}
			if s.cfg.Consensus == ConsensusBroadcast {
				s.applyCompleteLocked()
			} else if s.status.IsLeader && s.pool.completeUpto(s.prop.proposedNext, 1) > s.prop.proposedNext {
				s.poke() // the next tick to order holds every input: order it now
			}
			if in.Env.Type == wire.TypeReveal {
				s.lookaheadReveals()
			}
		case wire.TypeSealedInput:
			// Every seat's commitment for the tick is in: order them now
			// rather than at the next beat (stragglers go then).
			if m, err := gamestate.DecodeSealedInput(in.Env.Body); err == nil && s.status.IsLeader && s.pool.commitsComplete(m.Tick) {
				s.poke()
			}
		}
	}
}

// observe records a local observation, at most once a second per (kind,
// seat), so a flood of bad messages does not become a flood of events.
func (s *Session) observe(kind gamestate.ObservationKind, about int, detail string) {
	k := obsKey{kind, about}
	now := time.Now()
	if last, ok := s.obsLast[k]; ok && now.Sub(last) < time.Second {
		return
	}
	s.obsLast[k] = now
	s.met.Observation(kind)
	o := gamestate.Observation{Kind: kind, About: about, Detail: detail}
	if len(s.observations) < 4096 {
		s.observations = append(s.observations, o)
	}
	s.emit(ObservationEvent{Observation: o})
}

// runNetEvents turns the host's events into peer events and observations.
func (s *Session) runNetEvents(ctx interface{ Done() <-chan struct{} }) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-s.host.Events():
			switch ev.Kind {
			case netp2p.EventConnected:
				s.emit(PeerEvent{Seat: ev.Seat, Kind: PeerConnected})
			case netp2p.EventDisconnected:
				s.emit(PeerEvent{Seat: ev.Seat, Kind: PeerDisconnected})
			case netp2p.EventInvalid, netp2p.EventNonMember:
				kind := gamestate.MalformedMessage
				switch ev.Reason {
				case netp2p.ReasonBadSignature:
					kind = gamestate.BadSignature
				case netp2p.ReasonFlooding:
					kind = gamestate.Flooding
				}
				detail := fmt.Sprintf("%s from peer %s", ev.Reason, ev.Peer)
				if kind == gamestate.BadSignature && !s.cfg.Epoch.IsZero() {
					// The commonest honest cause: that player started
					// another instance of this match (the start time is
					// part of what every signature covers).
					detail += "; if every message of this seat fails, it was given another Epoch (--start-at) than this peer"
				}
				s.mu.Lock()
				s.observe(kind, ev.Seat, detail)
				s.mu.Unlock()
			}
		}
	}
}
