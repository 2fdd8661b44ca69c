package gamestate

import (
	"errors"
	"fmt"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// MaxSeats bounds the roster a batch may describe. It is far above what a
// lockstep game can play, and only keeps forged counts from allocating.
const MaxSeats = 64

// MaxInputSize bounds one input's game bytes (and a sealed input's
// plaintext). Lockstep inputs are a few bytes; the bound limits what a
// flooding player can make every peer store in the log.
const MaxInputSize = 256

// Input is the body of a wire.TypeInput envelope: the player of Seat's input
// for Tick. The envelope's Sender must equal Seat; a validly signed Input
// whose Sender is another seat is proof of a forged input.
type Input struct {
	Seat uint16
	Tick uint64
	Data []byte
}

// SealedInput is the body of a wire.TypeSealedInput envelope: an input sealed
// with crypto.Seal under SealAD(match, Seat, Tick). It is ordered in the log
// before any key is revealed, so nobody can pick an input after seeing others'.
type SealedInput struct {
	Seat   uint16
	Tick   uint64
	Sealed []byte
	// Shares are the one-time key's threshold shares, one per seat, each
	// encrypted to its seat with the hash that binds it
	// (docs/PROTOCOL.md, "Sealed mode: no free abort"): once the commitment is ordered, any f+1
	// seats open the input without its player, so withholding the reveal
	// aborts nothing. Empty only for a player that deals none, whose
	// withheld reveal then leaves its seat without input.
	Shares []crypto.DealtShare
}

// KeyShare is the body of a wire.TypeKeyShare envelope: the signer's
// (Holder's) opened share of the one-time key of the SealedInput for
// (Seat, Tick), sent only when that reveal is late. Commit is the digest
// of the commitment's body, so a share is never used for another one.
type KeyShare struct {
	Seat   uint16
	Tick   uint64
	Holder uint16
	Commit crypto.Digest
	Share  crypto.KeyShare
}

// Encode returns the canonical body: seat | tick | holder | commit | share.
func (m *KeyShare) Encode() []byte {
	w := wire.NewWriter(make([]byte, 0, 80))
	w.U16(m.Seat)
	w.Uvarint(m.Tick)
	w.U16(m.Holder)
	w.Bytes32(m.Commit)
	w.Bytes32(m.Share)
	return w.Bytes()
}

// DecodeKeyShare parses a KeyShare body.
func DecodeKeyShare(b []byte) (KeyShare, error) {
	r := wire.NewReader(b)
	m := KeyShare{Seat: r.U16("keyshare.seat"), Tick: r.Uvarint("keyshare.tick"), Holder: r.U16("keyshare.holder"),
		Commit: r.Bytes32("keyshare.commit"), Share: r.Bytes32("keyshare.share")}
	return m, r.Done()
}

// Reveal is the body of a wire.TypeReveal envelope: the one-time key of the
// SealedInput for (Seat, Tick).
type Reveal struct {
	Seat uint16
	Tick uint64
	Key  crypto.SealKey
}

// StateHash is the body of a wire.TypeStateHash envelope: the signer's game
// state hash after applying Tick. Seat is the signer's seat.
type StateHash struct {
	Seat uint16
	Tick uint64
	Hash crypto.Digest
}

// ErrWrongType means an envelope of another message type was given to a
// game-message decoder.
var ErrWrongType = errors.New("gamestate: wrong message type")

// Encode returns the canonical body: seat | tick | data.
func (m *Input) Encode() []byte {
	w := wire.NewWriter(make([]byte, 0, 12+len(m.Data)))
	w.U16(m.Seat)
	w.Uvarint(m.Tick)
	w.Blob(m.Data)
	return w.Bytes()
}

// DecodeInput parses an Input body.
func DecodeInput(b []byte) (Input, error) {
	r := wire.NewReader(b)
	m := Input{Seat: r.U16("input.seat"), Tick: r.Uvarint("input.tick"), Data: r.Blob("input.data", MaxInputSize)}
	return m, r.Done()
}

// Encode returns the canonical body: seat | tick | sealed | count |
// (encrypted share | share hash) per seat.
func (m *SealedInput) Encode() []byte {
	w := wire.NewWriter(make([]byte, 0, 13+len(m.Sealed)+len(m.Shares)*crypto.DealtShareSize))
	w.U16(m.Seat)
	w.Uvarint(m.Tick)
	w.Blob(m.Sealed)
	w.Uvarint(uint64(len(m.Shares)))
	for i := range m.Shares {
		w.Bytes32(m.Shares[i].Enc)
		w.Bytes32(m.Shares[i].Hash)
	}
	return w.Bytes()
}

// DecodeSealedInput parses a SealedInput body.
func DecodeSealedInput(b []byte) (SealedInput, error) {
	r := wire.NewReader(b)
	m := SealedInput{Seat: r.U16("sealed.seat"), Tick: r.Uvarint("sealed.tick"),
		Sealed: r.Blob("sealed.bytes", MaxInputSize+crypto.SealOverhead)}
	n := r.Uvarint("sealed.shares")
	if n > MaxSeats {
		return m, fmt.Errorf("gamestate: sealed input with %d shares (at most %d)", n, MaxSeats)
	}
	if n > 0 {
		m.Shares = make([]crypto.DealtShare, n)
		for i := range m.Shares {
			m.Shares[i].Enc = r.Bytes32("sealed.share")
			m.Shares[i].Hash = r.Bytes32("sealed.share.hash")
		}
	}
	return m, r.Done()
}

// Encode returns the canonical body: seat | tick | key.
func (m *Reveal) Encode() []byte {
	w := wire.NewWriter(make([]byte, 0, 44))
	w.U16(m.Seat)
	w.Uvarint(m.Tick)
	w.Bytes32(m.Key)
	return w.Bytes()
}

// DecodeReveal parses a Reveal body.
func DecodeReveal(b []byte) (Reveal, error) {
	r := wire.NewReader(b)
	m := Reveal{Seat: r.U16("reveal.seat"), Tick: r.Uvarint("reveal.tick"), Key: r.Bytes32("reveal.key")}
	return m, r.Done()
}

// Encode returns the canonical body: seat | tick | hash.
func (m *StateHash) Encode() []byte {
	w := wire.NewWriter(make([]byte, 0, 44))
	w.U16(m.Seat)
	w.Uvarint(m.Tick)
	w.Bytes32(m.Hash)
	return w.Bytes()
}

// Leave is the body of a wire.TypeLeave envelope: the signer's seat leaves
// the match on purpose from Tick on (Session.Close). The others stop
// waiting out every tick's deadline for its input; its seat gets the
// agreed "no input". It is not a promise: an input the seat signs later
// for a tick at or after Tick is still taken, and ends the departure.
type Leave struct {
	Seat uint16
	Tick uint64
}

// Encode returns the canonical body: seat | tick.
func (m *Leave) Encode() []byte { return encodeSeatTick(m.Seat, m.Tick) }

// DecodeLeave parses a Leave body.
func DecodeLeave(b []byte) (Leave, error) {
	seat, tick, err := decodeSeatTick(b, "leave")
	return Leave{Seat: seat, Tick: tick}, err
}

// encodeSeatTick is the body of the messages that name only a seat and a
// tick (Leave, NoInput): seat | tick.
func encodeSeatTick(seat uint16, tick uint64) []byte {
	w := wire.NewWriter(make([]byte, 0, 12))
	w.U16(seat)
	w.Uvarint(tick)
	return w.Bytes()
}

func decodeSeatTick(b []byte, what string) (uint16, uint64, error) {
	r := wire.NewReader(b)
	seat, tick := r.U16(what+".seat"), r.Uvarint(what+".tick")
	return seat, tick, r.Done()
}

// NoInput is the body of a wire.TypeNoInput envelope: the signer's seat
// has no input for Tick, because its game submitted none before the tick
// was sampled, and it never will (the session refuses a late one). The
// leader orders the tick as soon as the other seats' inputs are in instead
// of waiting out its deadline for an input that cannot come. It changes
// nothing in the log: the seat's entry is the agreed "no input" either
// way, so a player that signs both a NoInput and an Input for one tick
// only races itself.
type NoInput struct {
	Seat uint16
	Tick uint64
}

// Encode returns the canonical body: seat | tick.
func (m *NoInput) Encode() []byte { return encodeSeatTick(m.Seat, m.Tick) }

// DecodeNoInput parses a NoInput body.
func DecodeNoInput(b []byte) (NoInput, error) {
	seat, tick, err := decodeSeatTick(b, "noinput")
	return NoInput{Seat: seat, Tick: tick}, err
}

// DecodeStateHash parses a StateHash body.
func DecodeStateHash(b []byte) (StateHash, error) {
	r := wire.NewReader(b)
	m := StateHash{Seat: r.U16("statehash.seat"), Tick: r.Uvarint("statehash.tick"), Hash: r.Bytes32("statehash.hash")}
	return m, r.Done()
}

// SealAD is the associated data for crypto.Seal/Open of a sealed input. It
// binds the sealed bytes to (match, seat, tick), so a sealed input cannot be
// replayed into another match, seat or tick.
func SealAD(match crypto.MatchID, seat uint16, tick uint64) []byte {
	w := wire.NewWriter(make([]byte, 0, 64))
	w.String("paxsync/v1/sealed-input")
	w.Bytes32(match)
	w.U16(seat)
	w.U64(tick)
	return w.Bytes()
}

// seatTick decodes the (seat, tick) that any game message body is bound to.
// Evidence checks use it to compare messages of any game type.
func seatTick(e *crypto.Envelope) (seat uint16, tick uint64, err error) {
	switch e.Type {
	case wire.TypeInput:
		m, err := DecodeInput(e.Body)
		return m.Seat, m.Tick, err
	case wire.TypeSealedInput:
		m, err := DecodeSealedInput(e.Body)
		return m.Seat, m.Tick, err
	case wire.TypeReveal:
		m, err := DecodeReveal(e.Body)
		return m.Seat, m.Tick, err
	case wire.TypeStateHash:
		m, err := DecodeStateHash(e.Body)
		return m.Seat, m.Tick, err
	case wire.TypeNoInput:
		m, err := DecodeNoInput(e.Body)
		return m.Seat, m.Tick, err
	case wire.TypeLeave:
		m, err := DecodeLeave(e.Body)
		return m.Seat, m.Tick, err
	}
	return 0, 0, fmt.Errorf("%w: %s", ErrWrongType, e.Type)
}

// checkBound verifies e's signature, its type, and that it is signed by the
// seat it speaks for, at tick. It is the common check for every envelope
// placed in a batch slot.
func checkBound(v *crypto.Verifier, e *crypto.Envelope, typ wire.Type, seat int, tick uint64) error {
	if e.Type != typ {
		return fmt.Errorf("%w: got %s, want %s", ErrWrongType, e.Type, typ)
	}
	if err := v.Verify(e); err != nil {
		return err
	}
	s, t, err := seatTick(e)
	if err != nil {
		return err
	}
	if int(e.Sender) != int(s) || int(s) != seat || t != tick {
		return fmt.Errorf("%w: %s signed by seat %d for (seat %d, tick %d), slot is (seat %d, tick %d)",
			ErrMisbound, typ, e.Sender, s, t, seat, tick)
	}
	return nil
}
