// Package paxsync is the embedding API: a game joins a match with Join,
// submits its local input every tick with SubmitInput, and receives, through
// Events, every tick's agreed inputs of all players, proven cheat verdicts,
// local observations, desync reports and network stats. Underneath, every
// peer runs a libp2p host (netp2p), a Byzantine Paxos node (bft, through
// driver) and a lockstep engine (gamestate); docs/EMBEDDING.md describes the
// design. The API is modelled on GGPO/GGRS sessions.
package paxsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/driver"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/internal/metrics"
	"github.com/paxsync/paxsync/netp2p"
	"github.com/paxsync/paxsync/wire"
)

// Session is one player's seat in a running match. All methods are safe for
// concurrent use. Close it when done.
type Session struct {
	cfg      Config
	seat, n  int
	match    crypto.MatchID
	verifier *crypto.Verifier
	signer   *crypto.Signer // game messages; used under mu only
	host     *netp2p.Host
	drv      *driver.Driver
	closeWAL func() error
	log      *slog.Logger
	events   chan Event
	pokes    chan struct{} // wakes the clock between beats (poke)
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
	finished  chan struct{}         // closed by finish once Events is closed
	fatal     atomic.Pointer[error] // the error that ended the session (fail)
	msgsIn    atomic.Uint64
	dropped   atomic.Uint64
	met       *metrics.Set // Config.Metrics; nil: none

	// mu guards everything below: the engine (and the game inside it), the
	// pool, the clock and input state, stats and the recorder. The driver's
	// hooks and the clock goroutine take it; so does View, which is how a
	// renderer reads the game without racing the simulation.
	mu           sync.Mutex
	engine       *gamestate.Engine
	pool         *pool
	prop         proposer
	susp         suspicion
	status       bft.Status
	clock        uint64            // local clock tick
	nextSample   uint64            // first tick whose own input is not yet signed
	leaving      bool              // Close signed the departure: no own input is signed after it
	pendingIn    map[uint64][]byte // submitted inputs by tick
	signedAt     map[uint64]time.Time
	lat          []time.Duration // ring of commit latencies
	latPos       int
	verdicts     []gamestate.Verdict
	observations []gamestate.Observation
	obsLast      map[obsKey]time.Time
	rec          *gamestate.ReplayWriter
	recErr       error
	proposedN    uint64
	cheat        cheatState
	cheatCfg     *Cheat         // Config.Cheat, replaced by SetCheat
	consCheat    atomic.Bool    // cheatCfg is a consensus cheat (read without mu by outbound)
	nodeSigner   *crypto.Signer // the bft node's signer; driver goroutine only
	msgRate      float64
	atk          attackGen // vote-flood and evidence-bait; driver goroutine only
}

type obsKey struct {
	kind  gamestate.ObservationKind
	about int
}

// Join validates cfg, starts the network, consensus and clock, and returns
// the running session. ctx bounds only the start-up; the session runs until
// Close (or a fatal error: see FatalEvent). A bad config returns an error
// wrapping ErrBadConfig that names the field; a write-ahead log that is
// damaged or belongs to another node returns its error (Config.WALDir).
func Join(ctx context.Context, cfg Config) (*Session, error) {
	cfg, seat, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	game, err := cfg.NewGame()
	if err != nil {
		return nil, badConfig("NewGame", "%v", err)
	}
	n := len(cfg.Roster)
	if game.NumSeats() != n {
		return nil, badConfig("NewGame", "game has %d seats, roster %d", game.NumSeats(), n)
	}
	// The start time is part of the ID: a rerun of the same match (same
	// name and roster) is another instance, and messages signed in an
	// earlier one do not verify in it.
	match := crypto.NewMatchInstanceID(cfg.MatchName, cfg.Roster, cfg.Epoch)
	s := &Session{
		cfg: cfg, seat: seat, n: n, match: match, log: cfg.Logger.With("seat", seat),
		verifier: crypto.NewVerifier(match, cfg.Roster), signer: crypto.NewSigner(cfg.Key, match, uint16(seat)),
		events: make(chan Event, cfg.EventBuffer), closed: make(chan struct{}), finished: make(chan struct{}), pokes: make(chan struct{}, 1),
		pendingIn: map[uint64][]byte{}, signedAt: map[uint64]time.Time{}, obsLast: map[obsKey]time.Time{},
		cheatCfg: cfg.Cheat,
	}
	s.consCheat.Store(isConsensusCheat(cfg.Cheat))
	s.prop = proposer{stall: max(500*time.Millisecond, 10*cfg.interval()), graceTicks: s.graceTicks()}
	s.susp = suspicion{after: suspectStalls * s.prop.stall, graceTicks: s.graceTicks()}
	s.engine, err = gamestate.NewEngine(game, gamestate.Config{Verifier: s.verifier, TickRate: cfg.TickRate,
		InputDelay: cfg.InputDelay, HashInterval: cfg.HashInterval, Sealed: cfg.Sealed, Policy: cfg.Policy})
	if err != nil {
		return nil, badConfig("NewGame", "%v", err)
	}
	s.pool = newPool(s.verifier, cfg.HashInterval)
	s.pool.sealed = cfg.Sealed
	s.prop.complete = s.pool.completeUpto
	if cfg.Record != nil {
		s.rec, err = gamestate.NewReplayWriter(cfg.Record, &gamestate.Header{Name: cfg.MatchName, Roster: cfg.Roster,
			TickRate: cfg.TickRate, InputDelay: cfg.InputDelay, HashInterval: cfg.HashInterval, Sealed: cfg.Sealed,
			Policy: cfg.Policy, Game: cfg.GameParams, Epoch: epochNanos(cfg.Epoch)})
		if err != nil {
			return nil, fmt.Errorf("paxsync: Record: %w", err)
		}
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.closeWAL = func() error { return nil }
	var node *bft.Node
	var restored []bft.Record
	var wl driver.WAL
	if cfg.Consensus != ConsensusBroadcast {
		if wl, restored, err = s.openWAL(); err != nil {
			cancel()
			return nil, err
		}
		if node, err = s.newNode(restored); err != nil {
			cancel()
			s.closeWAL()
			return nil, err
		}
	}
	s.host, err = netp2p.New(runCtx, netp2p.Config{Key: cfg.Key, Roster: cfg.Roster, Match: match, MatchName: cfg.MatchName, Verifier: s.verifier,
		RateLimit: floodLimit(cfg), MaxSyncResponse: syncResponseLimit,
		ListenAddrs: cfg.Network.ListenAddrs, Peers: cfg.Network.Peers, MDNS: cfg.Network.MDNS, Logger: s.log})
	if err != nil {
		cancel()
		s.closeWAL()
		return nil, fmt.Errorf("paxsync: network: %w", err)
	}
	if node != nil {
		s.drv, err = driver.New(driver.Config{
			Node: node, Seat: seat, N: n, Transport: syncTransport{s.host, s}, WAL: wl, TickInterval: cfg.ConsensusTick,
			Apply: s.apply, Snapshot: s.snapshot, Restore: s.restore, Other: s.other,
			Outbound:    s.outbound, // a pass-through unless a consensus cheat is set
			SyncOnStart: len(restored) > 0, Logger: s.log,
		})
		if err != nil {
			cancel()
			s.host.Close()
			s.closeWAL()
			return nil, fmt.Errorf("paxsync: driver: %w", err)
		}
	}
	if cfg.Metrics != nil {
		s.met, err = metrics.New(cfg.Metrics, cfg.MatchName, seat, metrics.Sources{Driver: s.drv, Host: s.host, Game: true})
		if err != nil {
			cancel()
			s.host.Close()
			s.closeWAL()
			return nil, badConfig("Metrics", "%v", err)
		}
	}
	s.wg.Add(3)
	go func() {
		defer s.wg.Done()
		if s.drv == nil {
			s.runInbound(runCtx) // broadcast mode: game messages only
			return
		}
		if err := s.drv.Run(runCtx); err != nil {
			s.fail(err)
		}
	}()
	go s.runClock(runCtx)
	go s.runNetEvents(runCtx)
	go s.finish()
	return s, nil
}

// fail ends the session because the consensus driver stopped with err:
// its WAL could not make a vote durable (disk full, I/O error), so the
// node sent nothing more and must not go on. It records err for Err,
// stops the clock and network loops, and finish delivers the FatalEvent.
func (s *Session) fail(err error) {
	err = fmt.Errorf("paxsync: session stopped: consensus: %w", err)
	if s.fatal.CompareAndSwap(nil, &err) {
		s.log.Error("session stopped by a fatal error", "err", err)
		s.cancel()
	}
}

// Err returns the fatal error that ended the session on its own (the one
// the FatalEvent carried), or nil while it runs normally or after a plain
// Close.
func (s *Session) Err() error {
	if p := s.fatal.Load(); p != nil {
		return *p
	}
	return nil
}

// finish closes Events once every session goroutine has stopped, at Close
// or after fail; after fail it first delivers the FatalEvent, waiting for
// the reader (or Close) rather than dropping it like other events when the
// buffer is full.
func (s *Session) finish() {
	s.wg.Wait()
	if err := s.Err(); err != nil {
		select {
		case s.events <- FatalEvent{Err: err}:
		case <-s.closed:
		}
	}
	close(s.events)
	close(s.finished)
}

// newNode builds the consensus node for Config.Consensus, restored from
// the WAL's records.
func (s *Session) newNode(restored []bft.Record) (*bft.Node, error) {
	rules := gamestate.Rules{Seats: s.n, Sealed: s.cfg.Sealed, HashInterval: s.cfg.HashInterval}
	// The node's own signer: crypto.Signer is not safe for concurrent use,
	// and the node signs on the driver goroutine while the clock signs
	// inputs. The consensus cheats (outbound) sign with it on the driver
	// goroutine too.
	s.nodeSigner = crypto.NewSigner(s.cfg.Key, s.match, uint16(s.seat))
	mode := bft.ModeByzantine
	if s.cfg.Consensus == ConsensusCrash {
		mode = bft.ModeCrash
	}
	node, err := bft.NewNode(bft.Config{
		Seat: uint16(s.seat), N: s.n, F: (s.n - 1) / 3, Verifier: s.verifier, Mode: mode,
		Signer:       s.nodeSigner,
		MaxValueSize: 64 << 10,
		Recovering:   s.cfg.RecoverLostWAL,
		ValidateValue: func(_ uint64, payload []byte) error {
			b, err := gamestate.DecodeBatch(payload)
			if err != nil {
				return err
			}
			return gamestate.ValidateBatch(b, s.verifier, rules)
		},
	}, restored)
	if err != nil {
		return nil, fmt.Errorf("paxsync: consensus: %w", err)
	}
	return node, nil
}

// floodLimit is the per-signer message budget netp2p enforces before any
// signature is checked. An honest player signs about 4 messages per tick
// (input, Verify, Confirm, an occasional state hash; twice that sealed),
// so 16 per tick (at least netp2p's default of 500/s) never throttles an
// honest peer while still cutting the flood cheat (100 per tick) to a
// sixth. An Unpaced session has no tick rate to bound an honest peer's
// rate, so it runs without the limit (benchmarks only).
func floodLimit(cfg Config) netp2p.RateLimit {
	if cfg.Unpaced {
		return netp2p.RateLimit{PerSecond: -1}
	}
	return netp2p.RateLimit{PerSecond: max(netp2p.DefaultRatePerSecond, float64(16*cfg.TickRate))}
}

// runInbound feeds game messages to the session when there is no
// consensus driver to do it (broadcast mode).
func (s *Session) runInbound(ctx context.Context) {
	in := s.host.Inbound()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-in:
			if m.Env.Type < wire.TypeAccept || m.Env.Type > wire.TypeEvidence {
				s.other(m)
			}
		}
	}
}

// epochNanos is t in Unix nanoseconds, 0 for the zero time (no Epoch).
func epochNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Seat is this player's seat (its index in Config.Roster).
func (s *Session) Seat() int { return s.seat }

// MatchID identifies the match (derived from MatchName and Roster).
func (s *Session) MatchID() crypto.MatchID { return s.match }

// Addrs are this peer's listen addresses in the form NetworkConfig.Peers
// takes: give them to the other peers so they can connect.
func (s *Session) Addrs() []string { return s.host.Addrs() }

// PeerID is this peer's libp2p ID (derived from Config.Key).
func (s *Session) PeerID() string { return s.host.PeerID() }

// Events delivers the session's events. Drain it: when its buffer is full,
// new events are dropped (counted in Stats.DroppedEvents) rather than
// stalling consensus. Verdicts(), Flags() and View remain authoritative.
// It is closed by Close, or right after a FatalEvent (never dropped) when
// a fatal error ended the session; Err then says why.
func (s *Session) Events() <-chan Event { return s.events }

// View calls fn with the game under the session's lock, so a renderer on
// another goroutine reads a consistent state (tick = the next tick to be
// applied). fn must not keep g, block, or call other Session methods (the
// lock is not reentrant): consensus waits while it runs.
func (s *Session) View(fn func(g gamestate.Game, tick uint64)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.engine.Game(), s.engine.Next())
}

// Snapshot returns a copy of the game state (Game.Snapshot) and the next
// tick, for renderers that prefer to decode state on their own goroutine.
func (s *Session) Snapshot() (state []byte, tick uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.engine.Game().Snapshot(), s.engine.Next()
}

// Verdicts returns every proven verdict so far, in log order.
func (s *Session) Verdicts() []gamestate.Verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gamestate.Verdict(nil), s.verdicts...)
}

// Observations returns this peer's local observations so far.
func (s *Session) Observations() []gamestate.Observation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gamestate.Observation(nil), s.observations...)
}

// Flags returns, per seat, whether it is a proven cheater and since when.
func (s *Session) Flags() []gamestate.Flag {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]gamestate.Flag, s.n)
	for i := range out {
		out[i] = s.engine.Flag(i)
	}
	return out
}

// InputTick is the tick the next SubmitInput will be applied at.
func (s *Session) InputTick() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextSample
}

// SubmitInput sets this player's input for the next tick that still needs
// one (InputTick: about the current tick + InputDelay). Calling it again
// before that tick is sampled replaces the input (the latest wins, like
// polling a keyboard). A tick with no submitted input gets the agreed "no
// input".
func (s *Session) SubmitInput(data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.submitLocked(s.nextSample, data)
}

// SubmitInputAt sets the input for a given tick. It fails with ErrTooLate
// if that tick's input was already signed and sent, and ErrTooEarly if the
// tick is too far ahead for the others to keep it.
func (s *Session) SubmitInputAt(tick uint64, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.submitLocked(tick, data)
}

func (s *Session) submitLocked(tick uint64, data []byte) error {
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	if err := s.Err(); err != nil {
		return err
	}
	switch {
	case len(data) > gamestate.MaxInputSize:
		return ErrInputLarge
	case tick < s.nextSample:
		return fmt.Errorf("%w: tick %d, next open tick %d", ErrTooLate, tick, s.nextSample)
	case tick > s.nextSample+poolAhead/2:
		return fmt.Errorf("%w: tick %d, next open tick %d", ErrTooEarly, tick, s.nextSample)
	}
	s.pendingIn[tick] = append([]byte(nil), data...)
	return nil
}

// Cut cuts this peer off from seats: the network refuses every connection
// to or from them and closes the open ones (netp2p.Host.Cut), a real
// partition rather than filtered delivery. For tests and the match runner.
func (s *Session) Cut(seats ...int) { s.host.Cut(seats...) }

// Heal undoes Cut for seats and redials them at once. For tests and the
// match runner.
func (s *Session) Heal(seats ...int) { s.host.Heal(seats...) }

// Stats returns the current figures.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statsLocked()
}

// addCounters fills the network and signature totals of st.
func (s *Session) addCounters(st *Stats) {
	tr := s.host.Traffic()
	st.BytesIn, st.BytesOut, st.MsgsIn, st.MsgsOut = tr.BytesIn, tr.BytesOut, tr.MsgsIn, tr.MsgsOut
	st.Flooding, st.StreamsRefused = tr.Flooding, tr.StreamsRefused
	st.DroppedValidation, st.DroppedOutbound, st.DroppedSubscription = tr.DroppedValidation, tr.DroppedOutbound, tr.DroppedSubscription
	if s.drv != nil {
		st.SendDrops = s.drv.Stats().SendDrops
	}
	ops := crypto.Ops()
	st.Signs, st.Verifies = ops.Signs, ops.Verifies
}

// Close leaves the match: it stops the clock, consensus and network, waits
// for every goroutine, and closes Events. It returns the fatal error that
// ended the session (Err), if any, joined with errors closing the network
// and the WAL, so a program that just closes its session still exits with
// the reason. Safe to call more than once.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.announceLeave()
		close(s.closed)
		s.cancel()
		<-s.finished
		s.met.Close()
		s.closeErr = errors.Join(s.Err(), s.host.Close(), s.closeWAL())
	})
	return s.closeErr
}

func (s *Session) graceTicks() uint64 {
	iv := s.cfg.interval()
	return uint64((s.cfg.Grace + iv - 1) / iv)
}

// emit queues an event without ever blocking the caller.
func (s *Session) emit(ev Event) {
	select {
	case <-s.closed:
		return
	default:
	}
	select {
	case s.events <- ev:
	default:
		s.dropped.Add(1)
	}
}
