package gamestate_test

import (
	"bytes"
	"errors"
	"fmt"
	"log"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/wire"
)

// ExampleVerifyReplay records a short 2-ship arena match the way a session
// with Config.Record does (the header, then every decided batch and the
// recorder's own checkpoint hashes, in log order), verifies it by
// re-simulating it, and then shows that a copy cut off in the middle of a
// record, as a crash while writing leaves it, still verifies as far as it
// goes but is reported incomplete (Report.Incomplete), while a copy with a
// changed byte fails.
func ExampleVerifyReplay() {
	const seats = 2
	keys := make([]*crypto.PrivateKey, seats)
	roster := make([]crypto.PublicKey, seats)
	for i := range keys {
		k, err := crypto.KeyFromSeed(bytes.Repeat([]byte{byte(20 + i)}, 32))
		if err != nil {
			log.Fatal(err)
		}
		keys[i], roster[i] = k, k.Public()
	}
	h := &gamestate.Header{Name: "replay-example", Roster: roster, TickRate: 30, HashInterval: 10,
		Game: arena.Params(seats, 42)} // what arena.NewGame rebuilds the initial arena from
	cfg := h.Config()
	signers := make([]*crypto.Signer, seats)
	for i, k := range keys {
		signers[i] = crypto.NewSigner(k, cfg.Verifier.Match(), uint16(i))
	}
	game, err := arena.FromParams(h.Game)
	if err != nil {
		log.Fatal(err)
	}
	eng, err := gamestate.NewEngine(game, cfg)
	if err != nil {
		log.Fatal(err)
	}
	var file bytes.Buffer
	rw, err := gamestate.NewReplayWriter(&file, h)
	if err != nil {
		log.Fatal(err)
	}

	// 40 ticks in batches of 8. Ship 0 thrusts and turns; ship 1 has no
	// input on odd ticks (the agreed "no input").
	for first := uint64(0); first < 40; first += 8 {
		b := &gamestate.Batch{First: first}
		for t := first; t < first+8; t++ {
			ti := gamestate.TickInputs{Seats: make([]*crypto.Envelope, seats)}
			for seat := range ti.Seats {
				if seat == 1 && t%2 == 1 {
					continue
				}
				c := arena.Controls{Thrust: 2, Turn: int8(1 - 2*seat)}
				in := gamestate.Input{Seat: uint16(seat), Tick: t, Data: arena.EncodeInput(c)}
				env := signers[seat].Sign(wire.TypeInput, in.Encode())
				ti.Seats[seat] = &env
			}
			b.Ticks = append(b.Ticks, ti)
		}
		if err := gamestate.ValidateBatch(b, cfg.Verifier, cfg.Rules()); err != nil {
			log.Fatal(err)
		}
		res, err := eng.Apply(b)
		if err != nil {
			log.Fatal(err)
		}
		if err := rw.WriteBatch(b); err != nil {
			log.Fatal(err)
		}
		for _, tr := range res.Ticks {
			if tr.Checkpoint {
				if err := rw.WriteHash(tr.Tick, tr.Hash); err != nil {
					log.Fatal(err)
				}
			}
		}
	}

	// The recorder closes the replay with its signed end record.
	if err := rw.WriteEnd(signers[0], eng.Next()); err != nil {
		log.Fatal(err)
	}
	rep, err := gamestate.VerifyReplay(bytes.NewReader(file.Bytes()), arena.NewGame)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("match %q: %d batches, %d ticks, %d state hashes checked, %d verdicts\n",
		rep.Header.Name, rep.Batches, rep.Ticks, rep.HashesChecked, len(rep.Verdicts))
	fmt.Printf("final hash %s, as played: %v; complete: %v\n", rep.FinalHash, rep.FinalHash == eng.Hash(), rep.Incomplete() == nil)

	// A crash while writing the last record leaves a torn tail.
	torn := file.Bytes()[:file.Len()-5]
	rep, err = gamestate.VerifyReplay(bytes.NewReader(torn), arena.NewGame)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("torn copy: verified up to byte %d of %d, %d ticks\n", rep.End, len(torn), rep.Ticks)
	err = rep.Incomplete()
	fmt.Println("incomplete:", errors.Is(err, gamestate.ErrReplayIncomplete))
	fmt.Println(err)

	// A changed byte in the middle is tampering (or disk damage), not a crash.
	bad := bytes.Clone(file.Bytes())
	bad[len(bad)/2] ^= 1
	_, err = gamestate.VerifyReplay(bytes.NewReader(bad), arena.NewGame)
	fmt.Printf("changed copy: corrupt: %v (%v)\n", errors.Is(err, gamestate.ErrReplayCorrupt), err)
	// Output:
	// match "replay-example": 5 batches, 40 ticks, 4 state hashes checked, 0 verdicts
	// final hash ea52aa404d22ebfa, as played: true; complete: true
	// torn copy: verified up to byte 5100 of 5208, 40 ticks
	// incomplete: true
	// gamestate: replay is incomplete: it ends inside a record at byte 5100, after tick 39 (5 batches): the recording peer stopped abruptly; everything up to there verified, what followed is unknown
	// changed copy: corrupt: true (gamestate: replay is corrupt: checksum)
}
