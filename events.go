package paxsync

import (
	"fmt"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
)

// Event is one thing a Session reports on its Events channel. The concrete
// types are TickEvent, VerdictEvent, ObservationEvent, DesyncEvent,
// PeerEvent, StatsEvent and FatalEvent. Events of one session arrive in the
// order the session produced them; TickEvents and VerdictEvents follow the
// agreed log order, so every honest peer sees the same sequence of them.
type Event interface{ isEvent() }

// TickEvent reports one decided and applied tick. Inputs has one entry per
// seat, exactly as the game received it: Present=false is the agreed "no
// input" (missed deadline, ignored cheater, rejected move). Every honest
// peer gets the same TickEvents in the same order.
type TickEvent struct {
	Tick       uint64
	Inputs     []gamestate.SeatInput
	Checkpoint bool          // Tick is a multiple of HashInterval
	Hash       crypto.Digest // the game's state hash after Tick; set at checkpoints only
	// Commit is this peer's commit latency for Tick: from signing and
	// sending its own input for Tick to applying Tick here. Zero when this
	// peer had no input at Tick. (Stats has the running percentiles.)
	Commit time.Duration
}

// VerdictEvent is a proven cheat, agreed through the log: every honest peer
// gets the same verdict at the same log position. Verdict.Evidence holds
// the signed messages, checkable offline (gamestate.Verdict.Verify).
type VerdictEvent struct {
	Verdict gamestate.Verdict
}

// ObservationEvent is something only this peer saw and cannot prove to the
// others (a bad signature delivered by a peer, malformed bytes, a flood, a
// replayed old input, an unresponsive leader). It is a hint, never a
// verdict, and it does not flag anyone.
type ObservationEvent struct {
	Observation gamestate.Observation
}

// DesyncEvent reports a state-divergence verdict: the signed state hash of
// Seat at Tick differs from the state this peer (and every honest peer)
// computed from the agreed log. Local is true when Seat is this peer, which
// means this process's game is not deterministic (or was tampered with).
type DesyncEvent struct {
	Tick  uint64
	Seat  int
	Local bool
}

// PeerEventKind says what happened to a peer.
type PeerEventKind int

// Peer event kinds.
const (
	PeerConnected    PeerEventKind = iota + 1 // first connection to the seat's peer
	PeerDisconnected                          // last connection to it closed
	PeerCaughtUp                              // this session installed a snapshot and caught up with the log
	PeerSilent                                // no input from the seat for a while
	PeerLeft                                  // the seat left on purpose (its Session.Close): it is not waited for
)

func (k PeerEventKind) String() string {
	switch k {
	case PeerConnected:
		return "connected"
	case PeerDisconnected:
		return "disconnected"
	case PeerCaughtUp:
		return "caught-up"
	case PeerSilent:
		return "silent"
	case PeerLeft:
		return "left"
	}
	return fmt.Sprintf("peer-event-%d", int(k))
}

// PeerEvent reports a change in a peer's connection or progress.
type PeerEvent struct {
	Seat int
	Kind PeerEventKind
}

// StatsEvent carries a periodic copy of Stats (about once per second), so
// a HUD needs no polling.
type StatsEvent struct {
	Stats Stats
}

// Stats are the session's network and progress figures.
type Stats struct {
	Seat         int
	View         uint64 // current bft view
	Leader       int    // seat leading the current view
	IsLeader     bool
	InViewChange bool
	Tick         uint64 // local clock tick
	DecidedTicks uint64 // ticks decided and applied (the next tick to apply)
	TicksBehind  uint64 // local clock minus decided ticks
	Slots        uint64 // bft slots decided
	// CommitP50/P99: from signing a local input to applying its tick,
	// over the last 1024 inputs.
	CommitP50, CommitP99 time.Duration
	MsgsPerSec           float64 // inbound messages per second (last interval)
	Verdicts             int
	Observations         int
	Connected            []int  // seats with a live connection
	DroppedEvents        uint64 // events dropped because Events() was not drained
	Proposed             uint64 // batches this peer proposed as leader
	// OwnInputTicks counts the decided ticks (since this session started)
	// that hold this seat's own input, OwnNoInputTicks those that hold its
	// own signed "no input" (the game submitted nothing in time): a
	// censored player's share of OwnInputTicks in the other ticks falls,
	// as the leader speaks for it. RefusedBatches counts the
	// proposals this peer refused to vote for as unfair (a leader that
	// left out an input, evidence or a state hash it held: Censorship
	// observations); zero under an honest leader.
	OwnInputTicks, OwnNoInputTicks, RefusedBatches uint64
	// Prediction (Config.Prediction; zero without it): PredictedTick is
	// the predicted view's next tick; Rollbacks counts corrections (an
	// agreed tick differed from what the copy had used), RolledBackTicks
	// the ticks they re-simulated, MaxRollback the deepest. A HUD shows
	// rollbacks per second from Rollbacks. SpeculativeTicks counts ticks
	// applied with every seat's signed input in hand before they were
	// decided; SpeculativeP50/P99 are the times from signing this player's
	// input to that apply, beside CommitP50/P99 (to the agreed apply).
	PredictedTick, Rollbacks, RolledBackTicks uint64
	MaxRollback                               int
	SpeculativeTicks                          uint64
	SpeculativeP50, SpeculativeP99            time.Duration
	// PeerRTT is the round-trip time to each seat's peer, indexed by seat
	// (a moving average of pings every 2 s, what GGPO-style HUDs show as
	// ping); 0 for this seat and for seats not connected or not pinged yet.
	PeerRTT []time.Duration
	// Network totals since Join: bytes on the wire (all libp2p protocols)
	// and signed envelopes delivered to / sent by this peer.
	BytesIn, BytesOut uint64
	MsgsIn, MsgsOut   uint64
	// Signature operations of this process since it started (all sessions
	// in it): what the CPU floor of the protocol is counted in.
	Signs, Verifies uint64
	// Messages lost or refused since Join (netp2p.Traffic and the
	// driver): Flooding were cut on arrival because their peer was over
	// its rate budget (whoever signed them); DroppedValidation,
	// DroppedOutbound and DroppedSubscription were lost to a full bounded
	// queue of the network layer; SendDrops are this peer's own direct
	// consensus messages dropped because the queue to their peer was
	// full; StreamsRefused are inbound streams reset on arrival because
	// their peer held too many open. All but Flooding and StreamsRefused
	// are zero in a healthy match.
	Flooding                                                uint64
	DroppedValidation, DroppedOutbound, DroppedSubscription uint64
	SendDrops, StreamsRefused                               uint64
	// DroppedOutboundTo splits DroppedOutbound by destination seat (nil
	// when the transport does not tell): a peer that stops reading (cut,
	// overloaded or hostile) fills only its own queue.
	DroppedOutboundTo []uint64
}

// FatalEvent reports the error that ended the session on its own: the
// consensus driver stopped because this peer can no longer make its votes
// durable (its write-ahead log failed: disk full, I/O error), so it must
// not take part any more. It is the last event: Events is closed right
// after it, and Session.Err returns the same error. The game should tell
// the player and leave (Close); the match goes on without this seat.
type FatalEvent struct {
	Err error
}

func (TickEvent) isEvent()        {}
func (VerdictEvent) isEvent()     {}
func (ObservationEvent) isEvent() {}
func (DesyncEvent) isEvent()      {}
func (PeerEvent) isEvent()        {}
func (StatsEvent) isEvent()       {}
func (FatalEvent) isEvent()       {}
