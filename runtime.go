package paxsync

// The session's side of the runtime goroutine: what it reports (events,
// stats), what readers see (View), and how it starts and leaves.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/internal/lockstep"
	"github.com/paxsync/paxsync/netp2p"
	"github.com/paxsync/paxsync/transport"
	"github.com/paxsync/paxsync/wire"
)

// view is one published state of the game: its snapshot at a decided tick,
// decoded into a game of its own the first time a reader asks.
type view struct {
	snap []byte
	tick uint64
	once sync.Once
	game gamestate.Game
	err  error
}

// publish makes the current state what View and Snapshot read (on the
// runtime goroutine, after every round of work; only when the decided log
// moved, so it costs one Snapshot per applied batch).
func (s *Session) publish() {
	s.publishPredicted()
	next := s.core.Next()
	if s.view.Load() != nil && next == s.published {
		return
	}
	s.published = next
	s.view.Store(&view{snap: s.core.Game().Snapshot(), tick: next})
}

// publishPredicted brings the speculative copy up to date and publishes it
// when it moved or was rolled back (Config.Prediction).
func (s *Session) publishPredicted() {
	if !s.cfg.Prediction.Enabled {
		return
	}
	s.core.Speculate(time.Now())
	g, next, gen := s.core.Predicted()
	if s.pred.Load() != nil && gen == s.predGen {
		return
	}
	s.predGen = gen
	s.pred.Store(&view{snap: g.Snapshot(), tick: next})
}

// PredictedView is View for the predicted game (Config.Prediction): the
// agreed state advanced with this player's input at once and the others'
// inputs as held or predicted, up to the current tick. Render it; never
// derive results from it, since a rollback may still change it. Without
// prediction it is View.
func (s *Session) PredictedView(fn func(g gamestate.Game, tick uint64)) {
	if v := s.pred.Load(); v != nil {
		s.viewOf(v, fn)
		return
	}
	s.View(fn)
}

// View calls fn with the game as of the last applied tick (tick = the next
// tick to be applied), for a renderer on another goroutine. The game is a
// copy of the session's, rebuilt from its snapshot (Config.NewGame, then
// Restore) at most once per decided tick and shared by every View of that
// tick: fn must only read it and not keep it. View takes no lock the
// session's runtime needs, so fn may call any Session method (even View)
// and consensus never waits for it.
func (s *Session) View(fn func(g gamestate.Game, tick uint64)) { s.viewOf(s.view.Load(), fn) }

func (s *Session) viewOf(v *view, fn func(g gamestate.Game, tick uint64)) {
	v.once.Do(func() {
		if v.game, v.err = s.cfg.NewGame(); v.err == nil {
			v.err = v.game.Restore(v.snap)
		}
	})
	if v.err != nil {
		s.log.Error("view: the game does not restore its own snapshot", "tick", v.tick, "err", v.err)
		return
	}
	fn(v.game, v.tick)
}

// Snapshot returns a copy of the game state (Game.Snapshot) and the next
// tick, for renderers that prefer to decode state on their own goroutine.
func (s *Session) Snapshot() (state []byte, tick uint64) {
	v := s.view.Load()
	return append([]byte(nil), v.snap...), v.tick
}

// Stats returns the current figures.
func (s *Session) Stats() Stats {
	var f lockstep.Figures
	s.read(func() { f = s.core.Figures() })
	return s.statsOf(f)
}

// statsOf completes the core's figures with the network's and the
// runtime's counters.
func (s *Session) statsOf(f lockstep.Figures) Stats {
	st := Stats{
		Seat: s.seat, View: f.Status.View, Leader: int(f.Status.Leader), IsLeader: f.Status.IsLeader,
		InViewChange: f.Status.InViewChange, Tick: f.Clock, DecidedTicks: f.Decided, Slots: f.Status.Committed,
		MsgsPerSec: f.MsgsPerSec, Verdicts: f.Verdicts, Observations: f.Observations,
		DroppedEvents: s.dropped.Load(), Proposed: f.Proposed, CommitP50: f.CommitP50, CommitP99: f.CommitP99,
		OwnInputTicks: f.OwnInputs, OwnNoInputTicks: f.OwnAbsent, RefusedBatches: f.Refused,
	}
	if p := f.Prediction; p.Enabled {
		st.PredictedTick, st.Rollbacks, st.RolledBackTicks, st.MaxRollback = p.Next, p.Rollbacks, p.RolledBack, p.MaxDepth
		st.SpeculativeTicks, st.SpeculativeP50, st.SpeculativeP99 = p.Complete, p.SpecP50, p.SpecP99
	}
	if f.Clock > f.Decided {
		st.TicksBehind = f.Clock - f.Decided
	}
	if m, ok := s.tr.(transport.Meter); ok {
		tr := m.Traffic()
		st.BytesIn, st.BytesOut, st.MsgsIn, st.MsgsOut = tr.BytesIn, tr.BytesOut, tr.MsgsIn, tr.MsgsOut
		st.Flooding, st.StreamsRefused = tr.Flooding, tr.StreamsRefused
		st.DroppedValidation, st.DroppedOutbound, st.DroppedSubscription = tr.DroppedValidation, tr.DroppedOutbound, tr.DroppedSubscription
		st.DroppedOutboundTo = tr.DroppedOutboundTo
		st.Connected, st.PeerRTT = m.Connected(), m.RTT()
	}
	st.SendDrops = s.drv.Stats().SendDrops
	ops := crypto.Ops()
	st.Signs, st.Verifies = ops.Signs, ops.Verifies
	return st
}

// emitCore turns one of the core's events into the session's (runtime
// goroutine).
func (s *Session) emitCore(ev lockstep.Event) {
	switch e := ev.(type) {
	case lockstep.TickEvent:
		s.emit(TickEvent{Tick: e.Tick, Inputs: e.Inputs, Checkpoint: e.Checkpoint, Hash: e.Hash, Commit: e.Commit})
	case lockstep.VerdictEvent:
		s.emit(VerdictEvent{Verdict: e.Verdict})
	case lockstep.ObservationEvent:
		s.emit(ObservationEvent{Observation: e.Observation})
	case lockstep.DesyncEvent:
		s.emit(DesyncEvent{Tick: e.Tick, Seat: e.Seat, Local: e.Local})
	case lockstep.PeerEvent:
		kind := PeerLeft
		if e.Kind == lockstep.PeerCaughtUp {
			kind = PeerCaughtUp
		}
		s.emit(PeerEvent{Seat: e.Seat, Kind: kind})
	case lockstep.StatsEvent:
		s.emit(StatsEvent{Stats: s.statsOf(e.Figures)})
	}
}

// netEvent turns the transport's reports into peer events and
// observations (runtime goroutine).
func (s *Session) netEvent(ev transport.Event) {
	switch ev.Kind {
	case transport.EventConnected:
		s.emit(PeerEvent{Seat: ev.Seat, Kind: PeerConnected})
	case transport.EventDisconnected:
		s.emit(PeerEvent{Seat: ev.Seat, Kind: PeerDisconnected})
	case transport.EventInvalid, transport.EventNonMember:
		kind := gamestate.MalformedMessage
		switch ev.Reason {
		case transport.ReasonBadSignature:
			kind = gamestate.BadSignature
		case transport.ReasonFlooding:
			kind = gamestate.Flooding
		}
		detail := fmt.Sprintf("%s from peer %s", ev.Reason, ev.Peer)
		if kind == gamestate.BadSignature && !s.cfg.Epoch.IsZero() {
			// The commonest honest cause: that player started another
			// instance of this match (the start time is part of what
			// every signature covers).
			detail += "; if every message of this seat fails, it was given another Epoch (--start-at) than this peer"
		}
		s.core.Observe(time.Now(), kind, ev.Seat, detail)
	}
}

// sessionMetrics hands the core's measurements to Config.Metrics (a nil
// *metrics.Set does nothing).
type sessionMetrics struct{ s *Session }

func (m sessionMetrics) Commit(d time.Duration)                  { m.s.met.Commit(d) }
func (m sessionMetrics) TicksDecided(n int)                      { m.s.met.TicksDecided(n) }
func (m sessionMetrics) Verdict(k gamestate.VerdictKind)         { m.s.met.Verdict(k) }
func (m sessionMetrics) Observation(k gamestate.ObservationKind) { m.s.met.Observation(k) }

// openTransport opens Config.Transport, or a libp2p host.
func (s *Session) openTransport(ctx context.Context, v *crypto.Verifier) (transport.Transport, error) {
	cfg := s.cfg
	if cfg.Transport != nil {
		return cfg.Transport.Open(ctx, transport.Params{Seat: s.seat, Roster: cfg.Roster, Match: s.match,
			MatchName: cfg.MatchName, Verifier: v, Logger: s.log})
	}
	return netp2p.New(ctx, netp2p.Config{Key: cfg.Key, Roster: cfg.Roster, Match: s.match, MatchName: cfg.MatchName, Verifier: v,
		RateLimit: netp2p.RateLimit{PerSecond: transport.SignerBudget(cfg.TickRate, cfg.Unpaced)}, MaxSyncResponse: wire.MaxMessageSize,
		ListenAddrs: cfg.Network.ListenAddrs, Peers: cfg.Network.Peers, MDNS: cfg.Network.MDNS, Logger: s.log})
}

// newNode builds the consensus node for Config.Consensus, restored from
// the WAL's records.
func (s *Session) newNode(v *crypto.Verifier, restored []bft.Record) (*bft.Node, error) {
	rules := gamestate.Rules{Seats: s.n, Sealed: s.cfg.Sealed, HashInterval: s.cfg.HashInterval}
	mode := bft.ModeByzantine
	if s.cfg.Consensus == ConsensusCrash {
		mode = bft.ModeCrash
	}
	node, err := bft.NewNode(bft.Config{
		Seat: uint16(s.seat), N: s.n, F: (s.n - 1) / 3, Verifier: v, Mode: mode,
		Signer:       crypto.NewSigner(s.cfg.Key, s.match, uint16(s.seat)),
		MaxValueSize: gamestate.MaxValuePayload,
		Recovering:   s.cfg.RecoverLostWAL,
		ValidateValue: func(slot uint64, payload []byte) error {
			b, err := gamestate.DecodeBatch(payload)
			if err != nil {
				return err
			}
			if err := gamestate.ValidateBatch(b, v, rules); err != nil {
				return err
			}
			// Fair play: refuse a batch that leaves out what this
			// acceptor holds (called on the runtime's goroutine, which
			// owns the core).
			return s.core.Judge(slot, payload, time.Now())
		},
	}, restored)
	if err != nil {
		return nil, fmt.Errorf("paxsync: consensus: %w", err)
	}
	return node, nil
}

// epochNanos is t in Unix nanoseconds, 0 for the zero time (no Epoch).
func epochNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// leaveTimeout bounds how long Close waits for its departure to reach the
// other seats.
const leaveTimeout = 2 * time.Second

// announceLeave tells every other seat that this player leaves (the
// runtime's Leave), so they stop waiting out each tick's deadline for it.
func (s *Session) announceLeave() {
	if s.Err() != nil {
		return
	}
	s.drv.Leave(leaveTimeout)
}
