package paxsync

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
)

// playRecorded runs a solo session started at epoch that submits an input
// every tick until it applied ticks ticks, and returns the inputs it
// signed (read back from its replay) and its match ID.
func playRecorded(t *testing.T, key *crypto.PrivateKey, epoch time.Time, ticks uint64) ([]crypto.Envelope, crypto.MatchID) {
	t.Helper()
	var rec bytes.Buffer
	cfg := soloConfig(key, MemoryWAL)
	cfg.Epoch, cfg.Record = epoch, &rec
	s, err := Join(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.SubmitInput([]byte{1})
	deadline := time.After(60 * time.Second)
	for done := false; !done; {
		select {
		case ev := <-s.Events():
			if te, ok := ev.(TickEvent); ok {
				_ = s.SubmitInput([]byte{1})
				done = te.Tick+1 >= ticks
			}
		case <-deadline:
			s.Close()
			t.Fatalf("fewer than %d ticks in 60s", ticks)
		}
	}
	id := s.MatchID()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rr, err := gamestate.NewReplayReader(&rec)
	if err != nil {
		t.Fatal(err)
	}
	if rr.Header.MatchID() != id {
		t.Fatalf("the replay names match %v, the session signed for %v", rr.Header.MatchID(), id)
	}
	var ins []crypto.Envelope
	for {
		r, err := rr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.Batch != nil {
			for _, ti := range r.Batch.Ticks {
				if ti.Seats[0] != nil {
					ins = append(ins, *ti.Seats[0])
				}
			}
		}
	}
	return ins, id
}

// TestRerunIsAnotherInstance: the same match (name and roster) played
// again at another start time signs under another ID, so what was signed
// in the first playing does not verify in the second: a peer that kept
// last week's inputs cannot replay one for a tick its honest signer signs
// again and have it convicted of input equivocation. Its own replay names
// the instance, so it still verifies.
func TestRerunIsAnotherInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	keys, _ := testRoster(t, 1)
	first, id1 := playRecorded(t, keys[0], time.Now().Add(200*time.Millisecond), 20)
	second, id2 := playRecorded(t, keys[0], time.Now().Add(200*time.Millisecond), 20)
	if id1 == id2 {
		t.Fatal("two playings of one match share an ID")
	}
	if len(first) == 0 || len(second) == 0 {
		t.Fatalf("no signed inputs recorded (%d, %d)", len(first), len(second))
	}
	v2 := crypto.NewVerifier(id2, []crypto.PublicKey{keys[0].Public()})
	for i := range first {
		if v2.Verify(&first[i]) == nil {
			t.Fatalf("an input signed in the first playing verifies in the second")
		}
	}
	if err := v2.Verify(&second[0]); err != nil {
		t.Fatalf("the second playing's own input: %v", err)
	}
}
