// Package paxsync is the embedding API: a game joins a match with Join,
// submits its local input every tick with SubmitInput, and receives, through
// Events, every tick's agreed inputs of all players, proven cheat verdicts,
// local observations, desync reports and network stats. Underneath, every
// peer runs one runtime goroutine (driver) that owns a Byzantine Paxos node
// (bft) and the lockstep engine (internal/lockstep, over gamestate), and a
// transport (libp2p by default, or transport/memnet in one process);
// docs/ARCHITECTURE.md draws it. The API is modelled on GGPO/GGRS sessions.
package paxsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/driver"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/internal/hooks"
	"github.com/paxsync/paxsync/internal/lockstep"
	"github.com/paxsync/paxsync/internal/metrics"
	"github.com/paxsync/paxsync/netp2p"
	"github.com/paxsync/paxsync/transport"
)

// Session is one player's seat in a running match. All methods are safe for
// concurrent use, including from inside a View callback and from the
// goroutine that reads Events. Close it when done.
type Session struct {
	cfg     Config
	seat, n int
	match   crypto.MatchID
	log     *slog.Logger
	tr      transport.Transport
	drv     *driver.Driver
	core    *lockstep.Core // owned by the driver's goroutine
	inputs  *driver.InputBox
	met     *metrics.Set // Config.Metrics; nil: none
	events  chan Event
	view    atomic.Pointer[view] // what View and Snapshot read
	pred    atomic.Pointer[view] // what PredictedView reads (Prediction)
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	closeWAL func() error
	spect    *netp2p.SpectatorService // Network.SpectatorAddrs; nil: none
	// answerSigner signs spectator answers (signAnswer), under answerMu:
	// the service and AnswerSpectator answer on many goroutines.
	answerMu     sync.Mutex
	answerSigner *crypto.Signer
	// spectServe builds a spectator's answer (the driver's catch-up
	// answer; a forge-log adversary's wrap of it): the service and
	// AnswerSpectator both answer with it.
	spectServe func(ctx context.Context, req []byte) ([]byte, error)
	closeOnce  sync.Once
	closeErr   error
	closed     chan struct{}
	finished   chan struct{}         // closed by finish once Events is closed
	fatal      atomic.Pointer[error] // the error that ended the session (fail)
	dropped    atomic.Uint64
	published  uint64 // the decided tick of the last view (driver goroutine)
	predGen    uint64 // the speculative copy's generation in the last predicted view
}

func init() {
	hooks.JoinWith = func(ctx context.Context, cfg any, set *hooks.Set) (any, error) {
		return join(ctx, cfg.(Config), set)
	}
}

// Join validates cfg, opens the transport, and starts the session's
// runtime: one goroutine owns the consensus node and the lockstep engine.
// ctx bounds only the start-up; the session runs until Close (or a fatal
// error: see FatalEvent). A bad config returns an error wrapping
// ErrBadConfig that names the field; a write-ahead log that is damaged or
// belongs to another node returns its error (Config.WALDir).
func Join(ctx context.Context, cfg Config) (*Session, error) { return join(ctx, cfg, nil) }

func join(ctx context.Context, cfg Config, set *hooks.Set) (_ *Session, err error) {
	if set == nil {
		set = &hooks.Set{}
	}
	cfg, seat, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	n := len(cfg.Roster)
	// The start time is part of the ID: a rerun of the same match (same
	// name and roster) is another instance, and messages signed in an
	// earlier one do not verify in it.
	match := crypto.NewMatchInstanceID(cfg.MatchName, cfg.Roster, cfg.Epoch)
	s := &Session{
		cfg: cfg, seat: seat, n: n, match: match, log: cfg.Logger.With("seat", seat), inputs: driver.NewInputBox(),
		events: make(chan Event, cfg.EventBuffer), closed: make(chan struct{}), finished: make(chan struct{}),
		closeWAL: func() error { return nil },
	}
	if set.Bind != nil {
		set.Bind(hooks.Binding{Seat: seat, N: n, Match: match})
	}
	verifier := crypto.NewVerifier(match, cfg.Roster)
	if s.core, err = s.newCore(verifier, set.Core); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	defer func() {
		if err != nil {
			cancel()
			if s.tr != nil {
				s.tr.Close()
			}
			if s.spect != nil {
				s.spect.Close()
			}
			s.closeWAL()
		}
	}()
	dc := driver.Config{Seat: seat, N: n, TickInterval: cfg.ConsensusTick, Core: s.core, Logger: s.log,
		Outbound: set.Outbound, Emit: s.emitCore, OnNetEvent: s.netEvent, Publish: s.publish}
	if cfg.Consensus != ConsensusBroadcast {
		restored, err := s.openWAL(&dc)
		if err != nil {
			return nil, err
		}
		if dc.Node, err = s.newNode(verifier, restored); err != nil {
			return nil, err
		}
		dc.SyncOnStart = len(restored) > 0
		// Own inputs only up to a mark the WAL holds, and none again at
		// or below the one it restored: a restart never re-signs a tick.
		s.core.GuardInputs(dc.Node.Mark())
		if cfg.RecoverLostWAL && !s.core.GuardLostWAL(time.Now()) {
			s.log.Warn("recovering a lost WAL without an Epoch: inputs signed before the loss may be signed again (input-equivocation)")
		}
	}
	if s.tr, err = s.openTransport(runCtx, verifier); err != nil {
		return nil, fmt.Errorf("paxsync: network: %w", err)
	}
	dc.Transport, dc.NetEvents = s.tr, s.tr.Events()
	if set.Transport != nil {
		dc.Transport = set.Transport(s.tr) // the runtime's view only; Cut, Stats and Close use s.tr
	}
	if s.drv, err = driver.New(dc); err != nil {
		return nil, fmt.Errorf("paxsync: driver: %w", err)
	}
	if cfg.Metrics != nil {
		meter, _ := s.tr.(transport.Meter)
		src := metrics.Sources{Driver: s.drv, Net: meter, Game: true}
		if dc.Node == nil {
			src.Driver = nil
		}
		if s.met, err = metrics.New(cfg.Metrics, cfg.MatchName, seat, src); err != nil {
			return nil, badConfig("Metrics", "%v", err)
		}
	}
	if err := s.serveSpectators(set.Spectate); err != nil {
		return nil, err
	}
	s.publish()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.drv.Run(runCtx); err != nil {
			s.fail(err)
		}
	}()
	if set.Start != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			set.Start(runCtx, s.tr)
		}()
	}
	go s.finish()
	return s, nil
}

// newCore builds the game, its engine and the lockstep core.
func (s *Session) newCore(v *crypto.Verifier, h *lockstep.Hooks) (*lockstep.Core, error) {
	cfg := s.cfg
	game, err := cfg.NewGame()
	if err != nil {
		return nil, badConfig("NewGame", "%v", err)
	}
	if game.NumSeats() != s.n {
		return nil, badConfig("NewGame", "game has %d seats, roster %d", game.NumSeats(), s.n)
	}
	engine, err := gamestate.NewEngine(game, gamestate.Config{Verifier: v, TickRate: cfg.TickRate,
		InputDelay: cfg.InputDelay, HashInterval: cfg.HashInterval, Sealed: cfg.Sealed, Policy: cfg.Policy})
	if err != nil {
		return nil, badConfig("NewGame", "%v", err)
	}
	var rec *gamestate.ReplayWriter
	if cfg.Record != nil {
		if rec, err = s.openReplay(); err != nil {
			return nil, fmt.Errorf("paxsync: Record: %w", err)
		}
	}
	var pred lockstep.Prediction
	if cfg.Prediction.Enabled {
		spec, err := cfg.NewGame()
		if err != nil {
			return nil, badConfig("NewGame", "%v", err)
		}
		pred = lockstep.Prediction{Game: spec, Window: cfg.Prediction.Window, Predict: cfg.Prediction.Predict}
	}
	mode := lockstep.Ordered
	if cfg.Consensus == ConsensusBroadcast {
		mode = lockstep.Broadcast
	}
	iv := cfg.interval()
	return lockstep.New(lockstep.Config{
		Seat: s.seat, N: s.n, Match: s.match, Verifier: v, Signer: crypto.NewSigner(cfg.Key, s.match, uint16(s.seat)),
		Engine: engine, Mode: mode, Interval: iv, InputDelay: cfg.InputDelay, GraceTicks: uint64((cfg.Grace + iv - 1) / iv),
		Epoch: cfg.Epoch, Sealed: cfg.Sealed, Unpaced: cfg.Unpaced, HashInterval: cfg.HashInterval,
		Inputs: s.inputs, Record: rec, Metrics: sessionMetrics{s}, Hooks: h, Logger: s.log, Prediction: pred,
	}), nil
}

// fail ends the session because the runtime stopped with err: its WAL
// could not make a vote durable (disk full, I/O error), so the node sent
// nothing more and must not go on. It records err for Err, stops the
// runtime, and finish delivers the FatalEvent.
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

// read runs fn on the runtime goroutine, or directly once that stopped
// (Do then says so, after the loop's last use of the core). It never
// waits for a lock a caller may hold (View holds none while its callback
// runs), nor for the Events reader.
func (s *Session) read(fn func()) {
	if err := s.drv.Do(context.Background(), fn); err != nil {
		fn()
	}
}

// Seat is this player's seat (its index in Config.Roster).
func (s *Session) Seat() int { return s.seat }

// MatchID identifies this instance of the match: derived from MatchName,
// Roster and Epoch; every signature of the match covers it.
func (s *Session) MatchID() crypto.MatchID { return s.match }

// Addrs are this peer's listen addresses in the form NetworkConfig.Peers
// takes: give them to the other peers so they can connect. Empty for a
// transport without addresses.
func (s *Session) Addrs() []string {
	if a, ok := s.tr.(transport.Addresser); ok {
		return a.Addrs()
	}
	return nil
}

// PeerID is this peer's libp2p ID (derived from Config.Key), or the
// transport's own name for this endpoint.
func (s *Session) PeerID() string {
	if a, ok := s.tr.(transport.Addresser); ok {
		return a.PeerID()
	}
	return ""
}

// Events delivers the session's events. Drain it: when its buffer is full,
// new events are dropped (counted in Stats.DroppedEvents) rather than
// stalling consensus. Verdicts(), Flags() and View remain authoritative.
// It is closed by Close, or right after a FatalEvent (never dropped) when
// a fatal error ended the session; Err then says why.
func (s *Session) Events() <-chan Event { return s.events }

// Verdicts returns every proven verdict so far, in log order.
func (s *Session) Verdicts() []gamestate.Verdict {
	var out []gamestate.Verdict
	s.read(func() { out = append(out, s.core.Verdicts()...) })
	return out
}

// Observations returns this peer's local observations so far.
func (s *Session) Observations() []gamestate.Observation {
	var out []gamestate.Observation
	s.read(func() { out = append(out, s.core.Observations()...) })
	return out
}

// Flags returns, per seat, whether it is a proven cheater and since when.
func (s *Session) Flags() []gamestate.Flag {
	var out []gamestate.Flag
	s.read(func() { out = s.core.Flags() })
	return out
}

// InputTick is the tick the next SubmitInput will be applied at.
func (s *Session) InputTick() uint64 { return s.inputs.Next() }

// SubmitInput sets this player's input for the next tick that still needs
// one (InputTick: about the current tick + InputDelay). Calling it again
// before that tick is sampled replaces the input (the latest wins, like
// polling a keyboard). A tick with no submitted input gets the agreed "no
// input". It never waits for consensus.
func (s *Session) SubmitInput(data []byte) error { return s.submit(0, false, data) }

// SubmitInputAt sets the input for a given tick. It fails with ErrTooLate
// if that tick's input was already signed and sent, and ErrTooEarly if the
// tick is too far ahead for the others to keep it.
func (s *Session) SubmitInputAt(tick uint64, data []byte) error { return s.submit(tick, true, data) }

func (s *Session) submit(tick uint64, at bool, data []byte) error {
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	if err := s.Err(); err != nil {
		return err
	}
	if len(data) > gamestate.MaxInputSize {
		return ErrInputLarge
	}
	switch next, r := s.inputs.Put(tick, at, data, lockstep.PoolAhead); {
	case r < 0:
		return fmt.Errorf("%w: tick %d, next open tick %d", ErrTooLate, tick, next)
	case r > 0:
		return fmt.Errorf("%w: tick %d, next open tick %d", ErrTooEarly, tick, next)
	}
	return nil
}

// Cut cuts this peer off from seats: the network refuses every connection
// to or from them and closes the open ones (netp2p.Host.Cut), a real
// partition rather than filtered delivery. For tests and the match runner;
// a no-op on a transport that cannot partition.
func (s *Session) Cut(seats ...int) {
	if p, ok := s.tr.(transport.Partitioner); ok {
		p.Cut(seats...)
	}
}

// Heal undoes Cut for seats and redials them at once.
func (s *Session) Heal(seats ...int) {
	if p, ok := s.tr.(transport.Partitioner); ok {
		p.Heal(seats...)
	}
}

// Close leaves the match: it tells the other seats (so they stop waiting
// for this player's inputs), stops the runtime and the transport, waits for
// every goroutine, and closes Events. It returns the fatal error that
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
		var spectErr error
		if s.spect != nil {
			spectErr = s.spect.Close()
		}
		s.closeErr = errors.Join(s.Err(), s.tr.Close(), s.closeWAL(), spectErr)
	})
	return s.closeErr
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
