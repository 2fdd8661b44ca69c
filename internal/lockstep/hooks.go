package lockstep

import (
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

// Hooks are where an adversary (internal/adversary) changes one behaviour
// of an honest core; every field is nil on an honest peer, and the honest
// path only asks "is a hook set?". A cheater is a real peer running this
// same code, so detection in tests is real detection.
type Hooks struct {
	// Input may rewrite this player's input for tick before it is signed
	// (invalid-move).
	Input func(tick uint64, data []byte) []byte
	// Signed sees this player's honest signed input for tick (data is
	// what it holds) and returns extra messages to send (forge-input,
	// equivocate-input).
	Signed func(t *Tools, tick uint64, data []byte, env crypto.Envelope) []Out
	// Beat runs on every step of the clock and returns extra messages
	// (replay-input, garbage, flood, bad-sync's lure, held reveals).
	Beat func(t *Tools, now time.Time) []Out
	// Received sees every game message this peer receives, after it was
	// taken, and returns extra messages to send (tamper-relay,
	// replay-input's history, lookahead).
	Received func(t *Tools, env crypto.Envelope) []Out
	// StateHash may rewrite the state hash this peer signs at a
	// checkpoint (state-hash-lie).
	StateHash func(tick uint64, h crypto.Digest) crypto.Digest
	// Silent, while true, keeps a leader from proposing (silent-leader).
	Silent func(clock uint64) bool
	// SealAlt may return a second input to seal for tick beside data; the
	// core keeps its key next to the honest one (lookahead).
	SealAlt func(tick uint64, data []byte) []byte
	// Reveal is asked, when the log orders this player's commitment for
	// tick and a second sealing exists, whether to withhold the honest
	// reveal (the hook then sends a reveal itself, through Tools).
	Reveal func(t *Tools, tick uint64, alt crypto.SealKey) (withhold bool)
	// Batch sees every batch this peer is about to propose as leader; it
	// may edit it (censor-input, suppress-evidence) or hold it back by
	// returning false (slow-leader).
	Batch func(t *Tools, now time.Time, b *gamestate.Batch) (propose bool)
	// Ignore, if it returns true, drops a received message (or one inside
	// a relay) unseen, as if it never arrived (censor-input, sealed: the
	// leader pretends it never got the victim's commitments).
	Ignore func(t *Tools, env crypto.Envelope) bool
	// WithholdReveal, if it returns true, keeps this player from revealing
	// its ordered commitment for tick at all (withhold-reveal): the other
	// seats' key shares must open it.
	WithholdReveal func(tick uint64) bool
}

// Out is one extra message a hook sends: broadcast, or over every seat's
// direct path.
type Out struct {
	Env    crypto.Envelope
	Direct bool
}

// Tools is what a hook may use of the core: its identity, progress and
// signing, on the core's goroutine only.
type Tools struct{ c *Core }

// Seat and N are this peer's seat and the roster size.
func (t *Tools) Seat() int { return t.c.cfg.Seat }

// N is the roster size.
func (t *Tools) N() int { return t.c.cfg.N }

// Sealed reports commit-reveal mode.
func (t *Tools) Sealed() bool { return t.c.cfg.Sealed }

// Clock is the local clock tick; Next the first undecided tick.
func (t *Tools) Clock() uint64 { return t.c.clock }

// Next is the first undecided tick.
func (t *Tools) Next() uint64 { return t.c.engine.Next() }

// Status is the consensus node's last status.
func (t *Tools) Status() bft.Status { return t.c.status }

// Sign signs body as this seat.
func (t *Tools) Sign(typ wire.Type, body []byte) crypto.Envelope {
	return t.c.cfg.Signer.Sign(typ, body)
}

// SignInput signs data as seat's input for tick (signed by this peer).
func (t *Tools) SignInput(seat int, tick uint64, data []byte) crypto.Envelope {
	return t.c.signInput(seat, tick, data)
}

// SealInput seals and signs data as seat's sealed input for tick.
func (t *Tools) SealInput(seat int, tick uint64, data []byte) (crypto.Envelope, crypto.SealKey, error) {
	return t.c.sealInput(seat, tick, data)
}

// KeepSeal keeps key as the one to reveal if the log orders the sealed
// input env for tick (a second commitment of this seat's).
func (t *Tools) KeepSeal(tick uint64, env crypto.Envelope, key crypto.SealKey) {
	t.c.pool.keepOwn(tick, ownSeal{body: env.Body, key: key})
}

// RevealsFrom reports whether every seat but except revealed for tick.
func (t *Tools) RevealsFrom(tick uint64, except int) bool { return t.c.pool.revealsFrom(tick, except) }

// SendReveal signs and sends this seat's reveal of key for tick.
func (t *Tools) SendReveal(tick uint64, key crypto.SealKey) { t.c.sendReveal(tick, key) }

// IsInput reports whether env is a message by which a player speaks for
// its seat at a tick (an input, a sealed input or a reveal).
func IsInput(env crypto.Envelope) bool { return isInputType(env.Type) }

func isInputType(t wire.Type) bool {
	return t == wire.TypeInput || t == wire.TypeSealedInput || t == wire.TypeReveal
}
