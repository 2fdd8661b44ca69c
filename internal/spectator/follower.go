// Package spectator is a spectator's pure state machine: it follows a
// match's decided log, served by the players, and trusts none of them. It
// asks one player at a time for the log after the last slot it holds
// (the players' catch-up answer, bft.SyncState), turns the answer into
// replay records and checks each with gamestate.ReplayChecker, exactly as
// a replay verifier checks a file: every commit certificate, every
// checkpoint certificate against its snapshot, every batch and verdict
// re-derived. A player whose answer does not verify is dropped as a
// source for good; the spectator goes on with the next. No goroutines,
// sockets or clocks: the root package's Spectator drives it.
package spectator

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
)

// Forgery is an answer from a player that does not verify: an entry or a
// checkpoint its certificate does not cover, a gap, an undecodable log.
// The player signed the answer, so its Proof convinces anyone holding the
// roster (VerifyForgery), not only this spectator.
type Forgery struct {
	Seat   int    // the player that served it
	After  uint64 // the slot the spectator asked after
	Reason string // what failed, as the checker says it
	// Proof is the player's signed answer when the failure is one that
	// VerifyForgery shows to anyone holding the roster (a certificate
	// that does not hold, a gap, an undecodable log); nil when the answer
	// was not validly signed by the player, which proves nothing.
	Proof []byte
}

// ErrForged wraps the error Deliver returns for an answer that does not
// verify.
var ErrForged = errors.New("spectator: a player served a log that does not verify")

// Follower is one spectator's view of a match. Not safe for concurrent use.
type Follower struct {
	chk       *gamestate.ReplayChecker
	h         *gamestate.Header
	ver       *crypto.Verifier
	n         int
	dropped   []bool
	next      int
	forgeries []Forgery
}

// New follows the match h describes (the players' own header: name,
// roster, epoch, tick rate, game parameters); newGame builds its game in
// the initial state.
func New(h *gamestate.Header, newGame func(h *gamestate.Header) (gamestate.Game, error)) (*Follower, error) {
	chk, err := gamestate.NewReplayChecker(h, newGame)
	if err != nil {
		return nil, err
	}
	return &Follower{chk: chk, h: h, ver: h.Config().Verifier, n: len(h.Roster), dropped: make([]bool, len(h.Roster))}, nil
}

// Request is what to ask a player: the log after Slot.
func (f *Follower) Request() []byte { return binary.AppendUvarint(nil, f.Slot()) }

// Slot is the last decided slot checked and applied.
func (f *Follower) Slot() uint64 { return f.chk.LastSlot() }

// Source is the player to ask next: the players take turns, so one that
// withholds the log only slows the spectator, and one caught forging is
// never asked again. ok is false when every player has been dropped.
func (f *Follower) Source() (seat int, ok bool) {
	for range f.n {
		s := f.next
		f.next = (f.next + 1) % f.n
		if !f.dropped[s] {
			return s, true
		}
	}
	return -1, false
}

// Deliver checks and applies seat's answer to Request (a frame of
// EncodeAnswer: the answer and seat's signature of it). An empty answer
// (nothing new there) gives 0, nil. An answer that is not seat's signed
// answer to this request, or does not verify, drops seat, is kept as a
// Forgery (with the signed answer as its Proof when VerifyForgery shows
// it to others), and gives an error wrapping ErrForged; the records
// before the one that failed were checked and stay applied. A forged
// entry or checkpoint fails its certificate check before it changes
// anything; what is checked after that (the batch of a certified entry)
// fails only if a quorum certified an invalid batch, which f Byzantine
// seats cannot make happen.
func (f *Follower) Deliver(seat int, frame []byte) (applied int, err error) {
	if len(frame) == 0 {
		return 0, nil
	}
	after := f.Slot()
	var proof []byte
	forged := func(format string, a ...any) (int, error) {
		reason := fmt.Sprintf(format, a...)
		fg := Forgery{Seat: seat, After: after, Reason: reason}
		if proof != nil {
			if s, _, err := VerifyForgery(f.h, proof); err == nil && s == seat {
				fg.Proof = proof
			}
		}
		f.dropped[seat] = true
		f.forgeries = append(f.forgeries, fg)
		return applied, fmt.Errorf("%w: seat %d: %s", ErrForged, seat, reason)
	}
	_, resp, err := signedBy(f.ver, frame, seat, &after)
	if err != nil {
		return forged("%v", err)
	}
	proof = frame
	st, err := bft.DecodeSyncState(resp)
	if err != nil {
		return forged("malformed answer: %v", err)
	}
	if st.Snapshot != nil {
		rec, err := gamestate.CheckpointRecord(st.Checkpoint, st.CheckpointCert, st.Snapshot)
		if err != nil {
			return forged("%v", err)
		}
		if rec.Slot > after {
			if err := f.chk.Check(&rec); err != nil {
				return forged("%v", err)
			}
			applied++
		}
	}
	for _, e := range st.Entries {
		if e.Slot <= f.Slot() {
			continue // already held (an answer may start below what was asked)
		}
		cert := make([]crypto.Envelope, 0, len(e.Cert))
		for _, i := range e.Cert {
			if int(i) >= len(st.Confirms) {
				return forged("slot %d: certificate index %d of %d Confirms", e.Slot, i, len(st.Confirms))
			}
			cert = append(cert, st.Confirms[i])
		}
		rec := gamestate.EntryRecord(e.Slot, e.View, e.Value, cert)
		if err := f.chk.Check(&rec); err != nil {
			return forged("%v", err)
		}
		applied++
	}
	return applied, nil
}

// Engine is the spectator's game engine: the match as the log decided it.
// Read it only.
func (f *Follower) Engine() *gamestate.Engine { return f.chk.Engine() }

// Report is what the checked log shows so far (verdicts, ticks, hash).
func (f *Follower) Report() *gamestate.Report { return f.chk.Report() }

// Forgeries are the answers that did not verify, in order.
func (f *Follower) Forgeries() []Forgery { return append([]Forgery(nil), f.forgeries...) }

// Dropped reports whether seat was caught serving a forged log.
func (f *Follower) Dropped(seat int) bool { return seat >= 0 && seat < f.n && f.dropped[seat] }
