package lockstep

import (
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
)

// Event is one thing the core reports through Ready; the session turns
// each into its public event of the same name.
type Event interface{ isEvent() }

// TickEvent: one decided tick was applied.
type TickEvent struct {
	Tick       uint64
	Inputs     []gamestate.SeatInput
	Checkpoint bool
	Hash       crypto.Digest
	Commit     time.Duration // this peer's commit latency for Tick (0: no own input)
}

// VerdictEvent: a proven cheat, agreed through the log.
type VerdictEvent struct{ Verdict gamestate.Verdict }

// ObservationEvent: something only this peer saw.
type ObservationEvent struct{ Observation gamestate.Observation }

// DesyncEvent: a state-divergence verdict (Local: against this peer).
type DesyncEvent struct {
	Tick  uint64
	Seat  int
	Local bool
}

// PeerKind says what a PeerEvent reports.
type PeerKind int

// Peer event kinds the core finds (the network's own come from the
// transport).
const (
	PeerLeft     PeerKind = iota + 1 // the seat signed its departure
	PeerCaughtUp                     // this peer installed a checkpoint
)

// PeerEvent reports a seat that left, or this peer catching up.
type PeerEvent struct {
	Seat int
	Kind PeerKind
}

// StatsEvent is due about once a second (on a beat): the core's figures
// for the session to complete with the network's and report.
type StatsEvent struct{ Figures Figures }

// Figures are the core's part of the session's Stats.
type Figures struct {
	Status               bft.Status
	Clock, Decided       uint64
	CommitP50, CommitP99 time.Duration
	MsgsPerSec           float64
	Verdicts             int
	Observations         int
	Proposed             uint64
	// Refused counts proposals this acceptor refused to vote for as
	// unfair (censorship: Judge); OwnInputs the decided ticks that hold
	// this seat's own input, OwnAbsent those that hold its own signed "no
	// input" (NoInput or Leave: it had nothing to give).
	Refused, OwnInputs, OwnAbsent uint64
	Prediction                    PredictionFigures
}

func (TickEvent) isEvent()        {}
func (VerdictEvent) isEvent()     {}
func (ObservationEvent) isEvent() {}
func (DesyncEvent) isEvent()      {}
func (PeerEvent) isEvent()        {}
func (StatsEvent) isEvent()       {}
