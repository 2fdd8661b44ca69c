// Package gamestate turns paxsync's agreed log into a game. It defines the
// contract a deterministic game implements (Game), the signed game messages
// and the Batch that one consensus slot carries, the pure validity predicate
// acceptors run before voting (ValidateBatch), the lockstep Engine that
// applies decided batches and derives cheat verdicts from the log alone, and
// replay files that anyone can re-simulate and verify offline.
//
// Everything here is pure: no I/O except through the io.Reader/io.Writer a
// caller passes to the replay functions, no clocks, no randomness, no floats,
// and no map iteration on any path that affects state. That is what makes
// every honest peer reach the same state and the same verdicts.
package gamestate

import (
	"fmt"

	"github.com/paxsync/paxsync/crypto"
)

// Game is what a game developer implements. The engine calls it with
// exactly the same sequence of Validate and Advance calls on every honest
// peer, so a deterministic implementation stays in lockstep everywhere.
// Implementations must not read clocks, unseeded randomness, floats whose
// results can differ across machines, or iterate maps. A session with
// prediction (paxsync's Config.Prediction) also runs a second instance,
// which calls Validate in its own order and restores the agreed state into
// it; so Validate must not change the state, Snapshot must return bytes the
// game does not keep, and Restore and Advance must not keep the slices
// they are given. `paxsync synctest` checks the Snapshot/Restore round trip
// (docs/SYNCTEST.md).
type Game interface {
	// NumSeats is the number of players; seats are 0..NumSeats()-1.
	NumSeats() int
	// Validate checks one seat's input against the rules in the current
	// state, before the tick is applied. nil means legal. A rejected input
	// becomes an invalid-move verdict and the seat gets "no input".
	Validate(seat int, input []byte) *Violation
	// Advance applies one tick with every seat's agreed input (len(inputs)
	// == NumSeats()). Present=false is the agreed "no input".
	Advance(tick uint64, inputs []SeatInput)
	// Hash is SHA-256 over a canonical encoding of the whole state.
	Hash() crypto.Digest
	// Snapshot returns the canonical encoding of the state, at most
	// MaxGameSnapshot bytes (1 MiB less 64 KiB): checkpoints carry it to
	// lagging peers and into result certificates, which refuse a larger
	// one, so Engine.Snapshot panics on a larger one rather than sign a
	// checkpoint no one can verify.
	Snapshot() []byte
	// Restore replaces the state with a snapshot made by Snapshot.
	Restore(snapshot []byte) error
}

// SeatInput is one seat's agreed input for a tick.
type SeatInput struct {
	Present bool   // false: the agreed "no input" (missed deadline, ignored, cheater)
	Data    []byte // the game's input encoding; nil when !Present
}

// ViolationCode classifies why a game rejected an input. It is a typed enum
// rather than a string so that verdicts compare exactly across peers and a
// report can group them. Codes below 128 are shared meanings; a game may
// define its own codes from ViolationGame upward.
type ViolationCode uint8

// Shared violation codes.
const (
	ViolationNone      ViolationCode = 0
	ViolationMalformed ViolationCode = 1 // input bytes do not decode
	ViolationSpeed     ViolationCode = 2 // asks for more thrust/speed than allowed
	ViolationFireRate  ViolationCode = 3 // fires while the weapon is cooling down
	ViolationTurnRate  ViolationCode = 4 // turns faster than allowed
	ViolationRule      ViolationCode = 5 // any other rule of the game
	ViolationGame      ViolationCode = 128
)

var violationNames = [...]string{
	ViolationNone: "none", ViolationMalformed: "malformed", ViolationSpeed: "speed",
	ViolationFireRate: "fire-rate", ViolationTurnRate: "turn-rate", ViolationRule: "rule",
}

// String names the code for reports.
func (c ViolationCode) String() string {
	if int(c) < len(violationNames) {
		return violationNames[c]
	}
	return fmt.Sprintf("game-%d", uint8(c))
}

// Violation is a game's typed rejection of an input. Detail is for humans
// and must itself be deterministic (it is part of the verdict every peer
// derives).
type Violation struct {
	Code   ViolationCode
	Detail string
}

// Error makes a Violation usable as an error.
func (v *Violation) Error() string {
	if v.Detail == "" {
		return v.Code.String()
	}
	return v.Code.String() + ": " + v.Detail
}
