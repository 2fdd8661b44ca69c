// Package lockstep is the deterministic lockstep engine of a paxsync
// session: it samples and signs the local player's inputs, collects every
// seat's signed game messages (the pool), decides as leader which ticks to
// order and when (the proposer), applies the decided log to the game
// (gamestate.Engine), and runs the commit-reveal of sealed inputs.
//
// Like bft it is a pure state machine in the style of etcd's raft: inputs
// come in through methods (Step with the time and the consensus status as
// values, Receive, Apply, Restore), and everything it wants done comes out
// of Ready (what to broadcast, what to propose, whether to suspect the
// leader, which events to report). It starts no goroutine, takes no lock,
// reads no clock and draws no randomness of its own, so a test drives it by
// hand and reads what it did (testdata/*.txt). The runtime (driver) owns
// one Core and one bft.Node on a single goroutine.
package lockstep

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
)

// Mode is how the log is ordered, as far as the core cares.
type Mode int

// Modes.
const (
	// Ordered: a consensus node orders batches the leader proposes
	// (bft's Byzantine or crash mode).
	Ordered Mode = iota
	// Broadcast: no agreement; every peer applies a tick once it holds
	// every seat's signed input for it (the latency floor baseline).
	Broadcast
)

// maxAhead bounds how far the local clock may run ahead of the decided log
// (beyond input delay and grace), like GGPO's prediction window: when
// consensus stalls, peers stop sampling inputs instead of piling them up.
const maxAhead = 8

// suspectStalls is how many proposer stall bounds (max(500 ms, 10 ticks))
// a follower waits with due ticks and no progress before it votes to
// replace the leader (see suspicion).
const suspectStalls = 4

// PoolAhead is how far past the next open tick an input may be submitted:
// the others' pools drop inputs further ahead than that.
const PoolAhead = poolAhead / 2

// ReplayAge is how far behind the decided tick a game message counts as a
// replayed old one: the pool forgets what is older, so its size is bounded
// by this many ticks of messages.
const ReplayAge = poolReplayAge

// Inputs is where the core takes the local player's submitted inputs from.
// The runtime's implementation is the only shared state between the game's
// goroutine and the loop (a small mutex of its own, never the core's).
type Inputs interface {
	// Take removes and returns the input submitted for tick.
	Take(tick uint64) ([]byte, bool)
	// Open says the next tick that can still take an input is next: inputs
	// for earlier ticks are dropped and SubmitInputAt refuses them.
	Open(next uint64)
}

// Config configures a Core.
type Config struct {
	Seat, N  int
	Match    crypto.MatchID
	Verifier *crypto.Verifier
	// Signer signs this player's game messages. The core is its only
	// user (crypto.Signer is not safe for concurrent use).
	Signer *crypto.Signer
	Engine *gamestate.Engine
	Mode   Mode
	// Interval is one tick's real time; InputDelay and GraceTicks are in
	// ticks (the session's Config.InputDelay and Config.Grace).
	Interval   time.Duration
	InputDelay int
	GraceTicks uint64
	// Epoch, if set, is the shared start of the tick grid: every peer's
	// clock beats on it.
	Epoch   time.Time
	Sealed  bool
	Unpaced bool // benchmarks: the decided log, not the clock, paces the match
	// HashInterval is the checkpoint interval in ticks.
	HashInterval uint64
	Inputs       Inputs
	Record       *gamestate.ReplayWriter // nil: no replay
	Metrics      Metrics                 // nil: none
	Hooks        *Hooks                  // nil: honest
	Logger       *slog.Logger
	// Prediction runs a speculative copy of the game ahead of the agreed
	// log (predict.go); its zero value is off.
	Prediction Prediction
}

// Metrics receives the core's measurements (internal/metrics.Set).
type Metrics interface {
	Commit(d time.Duration)
	TicksDecided(n int)
	Verdict(k gamestate.VerdictKind)
	Observation(k gamestate.ObservationKind)
}

type noMetrics struct{}

func (noMetrics) Commit(time.Duration)                  {}
func (noMetrics) TicksDecided(int)                      {}
func (noMetrics) Verdict(gamestate.VerdictKind)         {}
func (noMetrics) Observation(gamestate.ObservationKind) {}

// Core is one peer's lockstep engine. It is not safe for concurrent use:
// one goroutine owns it.
type Core struct {
	cfg    Config
	log    *slog.Logger
	engine *gamestate.Engine
	pool   *pool
	prop   proposer
	susp   suspicion
	floor  floor
	hooks  Hooks
	tools  *Tools

	status       bft.Status
	clock        uint64 // local clock tick
	nextSample   uint64 // first tick whose own input is not yet signed
	markGuard    bool   // GuardInputs: sign only up to a durable mark (signmark.go)
	markDurable  uint64 // the highest mark the WAL holds
	markWanted   uint64 // the highest mark asked for (WantMark)
	leaving      bool   // the departure was signed: no own input after it
	signedAt     map[uint64]time.Time
	ownData      map[uint64][]byte // own sampled inputs of undecided ticks (prediction only)
	spec         *speculator       // nil: no prediction
	lat          latencyRing       // commit latencies
	verdicts     []gamestate.Verdict
	observations []gamestate.Observation
	obsLast      map[obsKey]time.Time
	recErr       error
	proposedN    uint64
	refused      uint64 // batches refused as unfair (Judge)
	appliedSlot  uint64 // the last slot applied (Apply) or installed (Restore)
	ownInputs    uint64 // decided ticks holding this seat's own input
	ownAbsent    uint64 // decided ticks holding this seat's own signed NoInput or Leave
	// strikes[s]: leaders refused for leaving out seat s's input held in
	// time; unprotected[s]: f+1 of them were, so s no longer is (fair.go).
	strikes     []map[uint16]bool
	unprotected []bool
	msgsIn      uint64
	msgRate     float64
	beat        beatState
	rd          Ready
}

type obsKey struct {
	kind  gamestate.ObservationKind
	about int
}

// beatState is the clock's own bookkeeping between beats.
type beatState struct {
	lastStats               time.Time
	lastMsgs                uint64
	stalledSince            time.Time
	stalledNext, stalledVew uint64
	reportedView            uint64
}

// New returns a core at the engine's current state.
func New(cfg Config) *Core {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	stall := max(500*time.Millisecond, 10*cfg.Interval)
	c := &Core{
		cfg: cfg, log: cfg.Logger, engine: cfg.Engine, pool: newPool(cfg.Verifier, cfg.HashInterval),
		prop:     proposer{stall: stall, graceTicks: cfg.GraceTicks},
		susp:     suspicion{after: suspectStalls * stall, graceTicks: cfg.GraceTicks},
		signedAt: map[uint64]time.Time{}, obsLast: map[obsKey]time.Time{},
		strikes: make([]map[uint16]bool, cfg.N), unprotected: make([]bool, cfg.N),
		beat: beatState{reportedView: ^uint64(0)},
	}
	if cfg.Hooks != nil {
		c.hooks = *cfg.Hooks
	}
	c.tools = &Tools{c: c}
	if cfg.Prediction.Game != nil {
		c.spec, c.ownData = newSpeculator(cfg.Prediction, cfg.N), map[uint64][]byte{}
	}
	c.pool.sealed = cfg.Sealed
	c.prop.complete = c.pool.completeUpto
	return c
}

// Ready is what the core wants done since the last call of Ready.
type Ready struct {
	// Broadcast goes to every other seat; Direct too, but over each
	// seat's direct path (a cheat's second input, garbage).
	Broadcast, Direct []crypto.Envelope
	// Propose is the batch to hand to the consensus node (nil: none);
	// report what became of it with Proposed.
	Propose *Proposal
	// Suspect: vote to replace the current leader (bft.Node.Suspect).
	Suspect bool
	// Events to report, in order.
	Events []Event
	// Wake: step again (Step with advance false) without waiting for the
	// next beat: a tick became complete, or a reveal is waiting.
	Wake bool
}

// Proposal is a batch the leader wants ordered.
type Proposal struct {
	Payload []byte
	upto    uint64
	view    uint64
	commits []crypto.Envelope
	at      time.Time
}

// Ready returns and clears what the core wants done.
func (c *Core) Ready() Ready {
	rd := c.rd
	c.rd = Ready{}
	return rd
}

// HasReady reports whether Ready has anything.
func (c *Core) HasReady() bool {
	r := &c.rd
	return len(r.Broadcast) > 0 || len(r.Direct) > 0 || r.Propose != nil || r.Suspect || len(r.Events) > 0 || r.Wake
}

// Proposed records that the consensus node took p (it proposed it or
// queued it in order).
func (c *Core) Proposed(p *Proposal) {
	c.prop.proposed(p.upto)
	c.proposedN++
	c.pool.commitsProposed(p.commits, p.view, p.at)
}

func (c *Core) emit(ev Event)                 { c.rd.Events = append(c.rd.Events, ev) }
func (c *Core) broadcast(env crypto.Envelope) { c.rd.Broadcast = append(c.rd.Broadcast, env) }

// Next is the next tick to apply (every tick before it is decided).
func (c *Core) Next() uint64 { return c.engine.Next() }

// Clock is the local clock tick.
func (c *Core) Clock() uint64 { return c.clock }

// InputTick is the first tick whose own input is not yet signed.
func (c *Core) InputTick() uint64 { return c.nextSample }

// Game is the game inside the engine: read it on the core's goroutine only.
func (c *Core) Game() gamestate.Game { return c.engine.Game() }

// Verdicts are every proven verdict so far, in log order. The slice is
// append-only: a copy of its header stays valid.
func (c *Core) Verdicts() []gamestate.Verdict { return c.verdicts[:len(c.verdicts):len(c.verdicts)] }

// Observations are this peer's local observations so far (append-only).
func (c *Core) Observations() []gamestate.Observation {
	return c.observations[:len(c.observations):len(c.observations)]
}

// Flags returns, per seat, whether it is a proven cheater and since when.
func (c *Core) Flags() []gamestate.Flag {
	out := make([]gamestate.Flag, c.cfg.N)
	for i := range out {
		out[i] = c.engine.Flag(i)
	}
	return out
}

// RecordErr is why the replay recording stopped (nil: it runs or there is
// none).
func (c *Core) RecordErr() error { return c.recErr }

// Observe records a local observation (from the network layer: a bad
// signature, a flood), at most once a second per (kind, seat).
func (c *Core) Observe(now time.Time, kind gamestate.ObservationKind, about int, detail string) {
	c.observe(now, kind, about, detail)
}

// observe records a local observation, at most once a second per (kind,
// seat), so a flood of bad messages does not become a flood of events.
func (c *Core) observe(now time.Time, kind gamestate.ObservationKind, about int, detail string) {
	k := obsKey{kind, about}
	if last, ok := c.obsLast[k]; ok && now.Sub(last) < time.Second {
		return
	}
	c.obsLast[k] = now
	c.cfg.Metrics.Observation(kind)
	o := gamestate.Observation{Kind: kind, About: about, Detail: detail}
	if len(c.observations) < 4096 {
		c.observations = append(c.observations, o)
	}
	c.emit(ObservationEvent{Observation: o})
}

// Snapshot is the engine's canonical state, for a bft checkpoint that
// lagging peers install to catch up.
func (c *Core) Snapshot() []byte { return c.engine.Snapshot() }

// Restore installs a checkpoint received through catch-up. The replay
// records the checkpoint with its certificate and the snapshot, from which
// a verifier resumes; without a certificate (nothing to prove it with)
// recording stops rather than leave an unprovable hole.
func (c *Core) Restore(snap *bft.Snapshot) {
	if err := c.engine.Restore(snap.Data); err != nil {
		c.log.Error("checkpoint restore failed", "slot", snap.Slot, "err", err)
		return
	}
	if c.cfg.Record != nil && c.recErr == nil && snap.Checkpoint == nil {
		c.recErr = errors.New("paxsync: replay stopped: state installed from an uncertified checkpoint")
	}
	c.record(func(w *gamestate.ReplayWriter) error { return w.WriteCheckpoint(snap.Checkpoint, snap.Cert, snap.Data) })
	c.appliedSlot = max(c.appliedSlot, snap.Slot)
	// The commitments the snapshot's log ordered are ordered for the pool
	// too (what the acceptor's checks and the leader's holds go by).
	c.pool.decided(&gamestate.Batch{Commits: c.engine.OrderedCommits()}, c.engine.Next())
	c.skipDecided()
	if c.spec != nil {
		c.spec.reset()
	}
	c.emit(PeerEvent{Seat: c.cfg.Seat, Kind: PeerCaughtUp})
}

// EndRecord closes the replay with this peer's signed end record (last
// slot, next tick, count and hash chain of every record), so a verifier
// tells this complete replay from a cut one. Before it goes the
// match-result certificate of stable, the node's stable checkpoint (nil:
// none yet), when that certificate holds a Byzantine quorum, so the replay
// ends with its result. The driver calls it once its loop stops; nothing
// is recorded after it.
func (c *Core) EndRecord(stable *bft.Snapshot) {
	c.record(func(w *gamestate.ReplayWriter) error {
		if w.Ended() {
			return nil
		}
		if stable != nil && len(stable.Cert) == gamestate.ResultQuorum(c.cfg.N) {
			if err := w.WriteResult(stable.Checkpoint, stable.Cert, stable.Data); err != nil {
				return err
			}
		}
		return w.WriteEnd(c.cfg.Signer, c.engine.Next())
	})
}

// record writes one replay record; the first failure stops recording.
func (c *Core) record(f func(w *gamestate.ReplayWriter) error) {
	if c.cfg.Record == nil || c.recErr != nil {
		return
	}
	if err := f(c.cfg.Record); err != nil {
		c.recErr = err
		c.log.Error("replay recording stopped", "err", err)
	}
}

func (c *Core) verdict(v gamestate.Verdict) {
	c.verdicts = append(c.verdicts, v)
	c.cfg.Metrics.Verdict(v.Kind)
	c.emit(VerdictEvent{Verdict: v})
	if v.Kind == gamestate.StateDivergence {
		c.emit(DesyncEvent{Tick: v.Tick, Seat: v.Offender, Local: v.Offender == c.cfg.Seat})
	}
}

func (c *Core) String() string {
	return fmt.Sprintf("lockstep seat %d next %d clock %d", c.cfg.Seat, c.Next(), c.clock)
}
