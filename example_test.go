package paxsync_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
)

// ExampleJoin plays a complete 4-seat match of the arena game in one
// process: four sessions, each with its own key and its own libp2p host on
// 127.0.0.1, agree on every tick with Byzantine Paxos over loopback (a
// roster of 4 tolerates one cheating or crashed seat). Seat 0 also records
// a replay, which gamestate.VerifyReplay re-simulates afterwards.
//
// A real game calls SubmitInput once per TickEvent with the player's
// current controls (see examples/arenabot). Here every seat submits all of
// its inputs before the match starts, with SubmitInputAt, so that what the
// game receives does not depend on how fast this machine is, and the state
// hash it prints is the same on every run:
//
//   - the shared Epoch, two seconds ahead, keeps every clock from sampling
//     an input before all four seats have joined and submitted theirs;
//   - the long Grace lets a tick wait up to three seconds for an input that
//     is slow to arrive, instead of ordering "no input" for its seat. (The
//     leader orders a tick as soon as it holds every seat's input, so a
//     long Grace costs nothing while every input arrives.)
func ExampleJoin() {
	const seats = 4
	const lastTick = 60 // a checkpoint: HashInterval is 30 by default
	keys := make([]*crypto.PrivateKey, seats)
	roster := make([]crypto.PublicKey, seats)
	for i := range keys {
		// Fixed seeds keep the example reproducible; a real player uses
		// crypto.GenerateKey once and keeps the key in a file.
		k, err := crypto.KeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, 32))
		if err != nil {
			log.Fatal(err)
		}
		keys[i], roster[i] = k, k.Public()
	}
	params := arena.Params(seats, 7) // 4 ships, seed 7
	epoch := time.Now().Add(2 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var replay bytes.Buffer
	sessions := make([]*paxsync.Session, seats)
	var peers []string
	for i, key := range keys {
		cfg := paxsync.Config{
			Key: key, MatchName: "example-join", Roster: roster, GameParams: params,
			NewGame:  func() (gamestate.Game, error) { return arena.FromParams(params) },
			TickRate: 60, Epoch: epoch, Grace: 3 * time.Second,
			WALDir: paxsync.MemoryWAL, // throwaway keys: no vote needs to survive a restart
			// Later seats bootstrap from the earlier ones' addresses.
			Network: paxsync.NetworkConfig{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: peers},
		}
		if i == 0 {
			cfg.Record = &replay
		}
		s, err := paxsync.Join(ctx, cfg)
		if err != nil {
			log.Fatal(err)
		}
		defer s.Close()
		sessions[i] = s
		peers = append(peers, s.Addrs()...)
		// Ship i thrusts at level 1+i and turns steadily: legal moves.
		in := arena.EncodeInput(arena.Controls{Thrust: uint8(1 + i), Turn: int8(i - 2)})
		for t := uint64(0); t <= lastTick; t++ {
			if err := s.SubmitInputAt(t, in); err != nil {
				log.Fatal(err)
			}
		}
	}

	// Every seat sees the same ticks, the same inputs and the same state.
	hashes := make([]crypto.Digest, seats)
	present := make([]int, seats)
	for i, s := range sessions {
		for done := false; !done; {
			select {
			case ev := <-s.Events():
				switch ev := ev.(type) {
				case paxsync.TickEvent:
					for _, in := range ev.Inputs {
						if in.Present {
							present[i]++
						}
					}
					if ev.Tick == lastTick {
						hashes[i], done = ev.Hash, true
					}
				case paxsync.VerdictEvent:
					fmt.Println("verdict:", ev.Verdict.Kind, "seat", ev.Verdict.Offender)
				}
			case <-ctx.Done():
				log.Fatalf("seat %d: no tick %d: %v", i, lastTick, ctx.Err())
			}
		}
	}
	for i := range sessions {
		fmt.Printf("seat %d: %d inputs applied, state hash after tick %d: %s\n", i, present[i], lastTick, hashes[i])
	}
	// Close seat 0 so that its replay is whole, then check it offline.
	if err := sessions[0].Close(); err != nil {
		log.Fatal(err)
	}
	rep, err := gamestate.VerifyReplay(&replay, arena.NewGame)
	if err != nil {
		log.Fatal(err)
	}
	// The replay runs on past tick 60 (ticks without inputs are agreed at
	// once: every seat says it has none), as far as seat 0 got before
	// Close. VerifyReplay re-simulated all of it and checked every state
	// hash seat 0 recorded at a checkpoint (ticks 0, 30, 60, ...) against
	// its own.
	fmt.Printf("replay: covers tick %d: %v, its checkpoint hashes re-checked: %v, verdicts: %d\n",
		lastTick, rep.Ticks > lastTick, rep.HashesChecked >= lastTick/30, len(rep.Verdicts))
	// Output:
	// seat 0: 244 inputs applied, state hash after tick 60: e896871ddb5f26ab
	// seat 1: 244 inputs applied, state hash after tick 60: e896871ddb5f26ab
	// seat 2: 244 inputs applied, state hash after tick 60: e896871ddb5f26ab
	// seat 3: 244 inputs applied, state hash after tick 60: e896871ddb5f26ab
	// replay: covers tick 60: true, its checkpoint hashes re-checked: true, verdicts: 0
}
