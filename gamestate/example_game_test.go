package gamestate_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

// race is a minimal deterministic game: every seat runs along a track, and
// each tick a seat's input is one byte, the number of steps to take, at
// most maxStep. Its whole state is integers in fixed-size slices: no
// floats, no clocks, no randomness, no map iteration, so every peer that
// applies the same inputs reaches the same state and the same Hash.
type race struct {
	tick uint64  // ticks applied
	pos  []int64 // per seat
}

const maxStep = 3

func newRace(seats int) *race { return &race{pos: make([]int64, seats)} }

func (r *race) NumSeats() int { return len(r.pos) }

// Validate rejects what the rules forbid; the engine turns a rejection into
// an invalid-move verdict against the seat, with the signed input as proof.
func (r *race) Validate(seat int, input []byte) *gamestate.Violation {
	if len(input) != 1 {
		return &gamestate.Violation{Code: gamestate.ViolationMalformed, Detail: fmt.Sprintf("%d bytes", len(input))}
	}
	if input[0] > maxStep {
		return &gamestate.Violation{Code: gamestate.ViolationSpeed, Detail: fmt.Sprintf("%d steps > %d", input[0], maxStep)}
	}
	return nil
}

// Advance applies one tick. A seat without input (Present == false: it
// missed the deadline, or its move was rejected) stands still.
func (r *race) Advance(tick uint64, inputs []gamestate.SeatInput) {
	for seat, in := range inputs {
		if in.Present {
			r.pos[seat] += int64(in.Data[0])
		}
	}
	r.tick = tick + 1
}

// Snapshot is the canonical encoding: tick, then every position, big-endian.
func (r *race) Snapshot() []byte {
	b := binary.BigEndian.AppendUint64(nil, r.tick)
	for _, p := range r.pos {
		b = binary.BigEndian.AppendUint64(b, uint64(p))
	}
	return b
}

func (r *race) Restore(snap []byte) error {
	if len(snap) != 8*(1+len(r.pos)) {
		return errors.New("race: bad snapshot")
	}
	r.tick = binary.BigEndian.Uint64(snap)
	for i := range r.pos {
		r.pos[i] = int64(binary.BigEndian.Uint64(snap[8*(i+1):]))
	}
	return nil
}

func (r *race) Hash() crypto.Digest { return crypto.Sum(r.Snapshot()) }

// ExampleGame runs a custom Game through the lockstep Engine, the way every
// peer of a session does with the batches consensus decides: three seats
// sign their inputs, a batch of ticks passes ValidateBatch (what acceptors
// check before voting) and the engine applies it. Seat 2 asks for 9 steps
// at tick 3: the engine rejects that move, proves it cheated and, by the
// default Policy, ignores its later inputs.
func ExampleGame() {
	const seats = 3
	roster := make([]crypto.PublicKey, seats)
	signers := make([]*crypto.Signer, seats)
	keys := make([]*crypto.PrivateKey, seats)
	for i := range keys {
		k, err := crypto.KeyFromSeed(bytes.Repeat([]byte{byte(10 + i)}, 32))
		if err != nil {
			log.Fatal(err)
		}
		keys[i], roster[i] = k, k.Public()
	}
	id := crypto.NewMatchID("race", roster)
	for i, k := range keys {
		signers[i] = crypto.NewSigner(k, id, uint16(i))
	}
	cfg := gamestate.Config{Verifier: crypto.NewVerifier(id, roster), HashInterval: 5}
	game := newRace(seats)
	eng, err := gamestate.NewEngine(game, cfg)
	if err != nil {
		log.Fatal(err)
	}

	// One batch of ticks 0..9: every seat's signed input for every tick.
	b := &gamestate.Batch{First: eng.Next()}
	for t := uint64(0); t < 10; t++ {
		ti := gamestate.TickInputs{Seats: make([]*crypto.Envelope, seats)}
		for seat := range ti.Seats {
			steps := byte(1 + seat) // seat 0 walks, seat 2 runs
			if seat == 2 && t == 3 {
				steps = 9 // a speed hack
			}
			in := gamestate.Input{Seat: uint16(seat), Tick: t, Data: []byte{steps}}
			env := signers[seat].Sign(wire.TypeInput, in.Encode())
			ti.Seats[seat] = &env
		}
		b.Ticks = append(b.Ticks, ti)
	}
	if err := gamestate.ValidateBatch(b, cfg.Verifier, eng.Config().Rules()); err != nil {
		log.Fatal(err)
	}
	res, err := eng.Apply(b)
	if err != nil {
		log.Fatal(err)
	}
	for _, tr := range res.Ticks {
		if tr.Checkpoint {
			fmt.Printf("checkpoint tick %d: hash %s\n", tr.Tick, tr.Hash)
		}
	}
	for _, v := range res.Verdicts {
		fmt.Printf("verdict: %s against seat %d at tick %d (%s)\n", v.Kind, v.Offender, v.Tick, v.Violation)
	}
	fmt.Println("next tick:", eng.Next(), "positions:", game.pos, "flagged seat 2:", eng.Flag(2).Flagged)
	fmt.Println("final hash:", eng.Hash())
	// Output:
	// checkpoint tick 0: hash 958d881fcd811f7b
	// checkpoint tick 5: hash 5da413499673ac37
	// verdict: invalid-move against seat 2 at tick 3 (speed)
	// next tick: 10 positions: [10 20 9] flagged seat 2: true
	// final hash: da8e536ae46d7ac9
}
