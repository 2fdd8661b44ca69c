// Package bft is paxsync's Byzantine Multi-Paxos (BPCon-style: Accept →
// Verify broadcast → Confirm) as a pure, deterministic state machine in the
// style of etcd-io/raft's RawNode: inputs arrive through Step, Tick and
// Propose; outputs are collected with Ready and acknowledged with Advance.
// There are no goroutines, clocks, sockets or randomness here, so the same
// inputs always give the same outputs and a seeded simulation can replay any
// run. docs/PROTOCOL.md describes the protocol and its safety argument.
package bft

import (
	"errors"
	"fmt"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// Signer makes this node's signed envelopes. *crypto.Signer satisfies it; the
// interface keeps keys out of bft and lets tests inject Byzantine signers.
type Signer interface {
	Sign(t wire.Type, body []byte) crypto.Envelope
	Seat() uint16
}

// Verifier checks a peer's envelope against the roster. *crypto.Verifier
// satisfies it.
type Verifier interface {
	Verify(e *crypto.Envelope) error
}

// Broadcast as Message.To means "every other seat".
const Broadcast = -1

// Message is one envelope the driver must deliver: to one seat, or to all
// others when To is Broadcast.
type Message struct {
	To  int
	Env crypto.Envelope
}

// Entry is one decided slot, delivered in slot order. Evidence holds the
// equivocation verdicts ordered at this slot (already-ordered verdicts are
// removed, so each verdict appears exactly once in the log).
//
// Value and Cert make the entry transferable: Value is the decided value
// exactly as agreed (payload and all the evidence it carried, the bytes
// whose crypto.Sum the Confirms name) and Cert the q signed Confirm
// envelopes of one view that decided it, so a replay that keeps both can
// be checked by anyone holding the roster, without trusting the recorder.
type Entry struct {
	Slot     uint64
	View     uint64
	Payload  []byte
	Evidence []Evidence
	Value    []byte
	Cert     []crypto.Envelope
}

// Snapshot is a stable checkpoint's application state handed to the app
// after catch-up: restore it, then apply Ready.Committed.
//
// Checkpoint (the encoded checkpoint body: slot, digest of Data, ordered
// verdicts) and Cert (q signed Checkpoint envelopes of exactly that body)
// prove the snapshot to a third party, so a replay recorded by a peer that
// caught up can resume its verification from it.
type Snapshot struct {
	Slot       uint64
	Data       []byte
	Checkpoint []byte
	Cert       []crypto.Envelope
}

// SyncNeed tells the driver the node is behind: fetch SyncResponse(From-1)
// from one of Peers (seats whose messages showed they are ahead).
type SyncNeed struct {
	From  uint64
	Peers []uint16
}

// Ready is everything the node wants done since the last Advance. The
// driver must write Persist (one group write) before sending Messages,
// then apply InstallSnapshot (if any), then Committed (answering each slot
// of CheckpointDue with Checkpoint once it is applied), then call Advance.
// Messages never include one to the node itself: Advance takes those.
type Ready struct {
	// Compact, when non-nil, replaces the whole WAL: the driver writes
	// exactly these records in place of everything before (atomically),
	// then appends Persist as usual. It comes after a stable checkpoint
	// and keeps only what this node needs never to contradict a message
	// it signed, so the log stops growing with the match. Ignoring it is
	// safe; the log then keeps every record.
	Compact   []Record
	Persist   []Record
	Messages  []Message
	Committed []Entry
	Evidence  []Evidence
	// CheckpointDue lists the slots whose snapshot the node wants
	// (Checkpoint): slots of Committed, or the last committed slot.
	CheckpointDue   []uint64
	InstallSnapshot *Snapshot
	NeedSync        *SyncNeed
}

// IsEmpty reports whether the Ready holds nothing to do.
func (r *Ready) IsEmpty() bool {
	return r.Compact == nil && len(r.Persist) == 0 && len(r.Messages) == 0 && len(r.Committed) == 0 &&
		len(r.Evidence) == 0 && len(r.CheckpointDue) == 0 && r.InstallSnapshot == nil && r.NeedSync == nil
}

// Record is one opaque write-ahead-log item. NewNode restores a node from
// the records it handed out earlier, so a restarted node never signs
// anything that contradicts what it signed before the crash.
type Record []byte

// DropReason says why an incoming message was discarded.
type DropReason uint8

// Drop reasons; Metrics.Dropped is indexed by them.
const (
	DropDecode        DropReason = iota // body does not decode
	DropBadSignature                    // signature does not verify
	DropUnknownSender                   // sender is not a seat
	DropStale                           // old view, or slot already decided/truncated
	DropFuture                          // view or slot too far ahead
	DropOversize                        // value or message beyond configured bounds
	DropDuplicate                       // same envelope seen before
	DropInvalid                         // well-formed but violates the protocol (wrong leader, bad certificate, invalid value)
	DropUnknownType                     // not a consensus message type
	NumDropReasons
)

var dropNames = [...]string{"decode", "bad-signature", "unknown-sender", "stale", "future", "oversize", "duplicate", "invalid", "unknown-type"}

// String names the reason for metrics output.
func (d DropReason) String() string {
	if int(d) < len(dropNames) {
		return dropNames[d]
	}
	return "unknown"
}

// Typed errors returned by Step (wrapping the reason) and by Propose.
var (
	ErrNotLeader  = errors.New("bft: not the leader of the current view")
	ErrWindowFull = errors.New("bft: window of undecided slots is full")
	ErrTooLarge   = errors.New("bft: value larger than MaxValueSize")
	ErrBadConfig  = errors.New("bft: invalid config")
	ErrBadRecord  = errors.New("bft: corrupt WAL record")
	ErrBadSync    = errors.New("bft: sync state does not verify")
	// ErrSyncNothingNew (an ErrBadSync) is a sync state that verifies but
	// holds nothing past this node's log: an honest peer's answer that
	// the node overtook while it was on its way, not a lie.
	ErrSyncNothingNew = fmt.Errorf("%w: nothing new", ErrBadSync)
	ErrDecode         = errors.New("bft: message does not decode")
	ErrBadSig         = errors.New("bft: bad signature")
	ErrUnknownSend    = errors.New("bft: unknown sender")
	ErrStale          = errors.New("bft: stale message")
	ErrFuture         = errors.New("bft: message too far in the future")
	ErrOversize       = errors.New("bft: oversize message")
	ErrDuplicate      = errors.New("bft: duplicate message")
	ErrInvalid        = errors.New("bft: message violates the protocol")
	ErrUnknownType    = errors.New("bft: not a consensus message")
	// ErrNotYet, wrapped by an error of Config.ValidateValue, says the
	// application cannot judge a proposal before it has applied the slots
	// below it, because the verdict depends on what they order (a sealed
	// tick may only go out after its commitments). The node then neither
	// votes nor remembers a verdict, and asks again after every Advance
	// and Tick until it gets one, the slot is decided, or the view ends.
	// An application returns it only while slots below are undecided or
	// unapplied, so an honest proposal is judged one round later at most.
	ErrNotYet = errors.New("bft: value cannot be judged yet")
)

var dropErrs = [...]error{ErrDecode, ErrBadSig, ErrUnknownSend, ErrStale, ErrFuture, ErrOversize, ErrDuplicate, ErrInvalid, ErrUnknownType}

// Metrics are counters for monitoring and tests.
type Metrics struct {
	SlotsDecided  uint64
	ViewChanges   uint64
	EvidenceFound uint64
	Signed        uint64 // signatures made
	Verified      uint64 // signatures checked
	Dropped       [NumDropReasons]uint64
}

// Status is a snapshot of the node's position.
type Status struct {
	Seat             uint16
	View             uint64
	Leader           uint16
	IsLeader         bool
	InViewChange     bool
	Committed        uint64 // highest contiguous decided slot
	StableCheckpoint uint64
	Metrics          Metrics
}

// Config configures a Node. Zero fields get the defaults noted.
type Config struct {
	Seat     uint16
	N, F     int // N >= 3F+1; all N seats are acceptors and learners unless Mode says otherwise
	Signer   Signer
	Verifier Verifier
	// Mode is the fault model: ModeByzantine (zero value, the product) or
	// ModeCrash, a crash-tolerant baseline with 2F+1 acceptors and no Verify
	// broadcast that exists to measure what Byzantine tolerance costs. All
	// seats must use the same Mode.
	Mode Mode
	// Window bounds undecided slots in flight (default 32).
	Window int
	// MaxValueSize bounds a proposal payload in bytes (default 16 KiB).
	MaxValueSize int
	// ValidateValue is the application's validity predicate, checked by
	// acceptors before they Verify a proposal. Nil accepts everything. An
	// error that wraps ErrNotYet defers the verdict (see ErrNotYet).
	ValidateValue func(slot uint64, payload []byte) error
	// CheckpointInterval K: the app is asked for a snapshot every K slots
	// (default 64).
	CheckpointInterval uint64
	// ViewTimeoutTicks is the base view timeout; it doubles per failed view
	// up to 64× (default 20).
	ViewTimeoutTicks int
	// ResendTicks: how often unanswered own messages are re-sent (default
	// ViewTimeoutTicks/4, at least 1), so a lossy network still makes progress.
	ResendTicks int
	// Recovering starts a node whose WAL was lost or damaged beyond
	// repair: it may have signed votes it no longer remembers, so it signs
	// no consensus vote at all for the rest of the match (no Verify,
	// Confirm, Promise, ViewChange, NewView, Accept or Checkpoint); it
	// follows the decided log as a learner (Confirms and catch-up) and
	// still reports and announces evidence. It can never equivocate, and
	// counts as one of the F faulty seats: see docs/PROTOCOL.md,
	// "Recovering a seat that lost its WAL". The first Ready persists a
	// marker, so the seat stays a learner across later restarts from its
	// new WAL even without this flag.
	Recovering bool
	// MaxViewJump bounds how far ahead of the current view a message may be
	// before it is dropped as far-future (default 1024).
	MaxViewJump uint64
}

// Quorum is ⌈(N+F+1)/2⌉: any two quorums share at least F+1 seats, so at
// least one honest acceptor. In ModeCrash it is F+1 of the 2F+1 acceptors:
// any two share one acceptor, which is enough when nobody lies.
func (c *Config) Quorum() int {
	if c.Mode == ModeCrash {
		return c.F + 1
	}
	return (c.N + c.F + 2) / 2
}

func (c *Config) withDefaults() (Config, error) {
	d := *c
	if d.N < 1 || d.F < 0 || d.N < 3*d.F+1 || int(d.Seat) >= d.N || d.N > 1<<15 || d.Mode > ModeCrash {
		return d, ErrBadConfig
	}
	if d.Signer == nil || d.Verifier == nil || d.Signer.Seat() != d.Seat {
		return d, ErrBadConfig
	}
	if d.Window <= 0 {
		d.Window = 32
	}
	if d.MaxValueSize <= 0 {
		d.MaxValueSize = 16 << 10
	}
	if d.CheckpointInterval == 0 {
		d.CheckpointInterval = 64
	}
	if d.ViewTimeoutTicks <= 0 {
		d.ViewTimeoutTicks = 20
	}
	if d.ResendTicks <= 0 {
		d.ResendTicks = max(1, d.ViewTimeoutTicks/4)
	}
	if d.MaxViewJump == 0 {
		d.MaxViewJump = 1024
	}
	if d.Window > 1024 || d.MaxValueSize*4 > crypto.MaxBodySize {
		return d, ErrBadConfig
	}
	return d, nil
}
