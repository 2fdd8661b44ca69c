package paxsync_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
)

// playMem keeps every seat's inputs ahead of the clock, calling onTick
// (when set) with each seat's TickEvents, until the stop it returns is
// called.
func playMem(sessions []*paxsync.Session, onTick func(seat int, te paxsync.TickEvent)) (stop func()) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := arena.EncodeInput(arena.Controls{Thrust: uint8(1 + i), Turn: int8(i - 2)})
			const ahead = 100
			for at := uint64(0); at < ahead; at++ {
				_ = s.SubmitInputAt(at, in)
			}
			for {
				select {
				case ev, ok := <-s.Events():
					if !ok {
						return
					}
					if te, ok := ev.(paxsync.TickEvent); ok {
						if onTick != nil {
							onTick(i, te)
						}
						_ = s.SubmitInputAt(te.Tick+ahead, in)
					}
				case <-done:
					return
				}
			}
		}()
	}
	return func() { close(done); wg.Wait() }
}

// playUntilSlots plays (playMem) until every session has decided at least
// slots bft slots (by count, not time), then closes them all.
func playUntilSlots(t *testing.T, sessions []*paxsync.Session, slots uint64) {
	t.Helper()
	stop := playMem(sessions, nil)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		done := true
		for _, s := range sessions {
			if s.Stats().Slots < slots {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every seat decided %d slots within the (generous) bound", slots)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	for _, s := range sessions {
		s.Close()
	}
}

// TestResultCertificateFromEveryPeer: after a 4-seat match, every peer's
// result certificate verifies against the roster on its own bytes (no
// game, no replay), and two peers' certificates of one checkpoint prove
// one result.
func TestResultCertificateFromEveryPeer(t *testing.T) {
	sessions := memMatch(t, 4, "result-cert")
	if _, err := sessions[0].ResultCertificate(); !errors.Is(err, paxsync.ErrNoResult) {
		t.Fatalf("before the first checkpoint: %v, want ErrNoResult", err)
	}
	playUntilSlots(t, sessions, 140) // two checkpoints (every 64 slots)
	var roster []crypto.PublicKey
	bySlot := map[uint64]*gamestate.MatchResult{}
	for i, s := range sessions {
		c, err := s.ResultCertificate()
		if err != nil {
			t.Fatalf("seat %d: %v", i, err)
		}
		if roster == nil {
			roster = c.Roster
		}
		file := c.Encode()
		dec, err := gamestate.DecodeResultCertificate(file)
		if err != nil {
			t.Fatalf("seat %d: decoding its own file: %v", i, err)
		}
		res, err := dec.Verify("result-cert", roster)
		if err != nil {
			t.Fatalf("seat %d: %v", i, err)
		}
		if res.Slot < 64 || res.NextTick == 0 || len(res.Signers) != gamestate.ResultQuorum(4) {
			t.Fatalf("seat %d: result %+v", i, res)
		}
		for seat, f := range res.Flags {
			if f.Flagged {
				t.Errorf("seat %d's result flags honest seat %d", i, seat)
			}
		}
		if prev, ok := bySlot[res.Slot]; ok {
			if prev.NextTick != res.NextTick || prev.StateDigest != res.StateDigest || prev.LastHash != res.LastHash {
				t.Fatalf("two results of slot %d differ: %+v and %+v", res.Slot, prev, res)
			}
		}
		bySlot[res.Slot] = res
	}
}
