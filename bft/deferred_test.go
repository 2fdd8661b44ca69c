package bft

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/paxsync/paxsync/crypto"
)

// TestDeferredJudgementVotesOnceBelowIsApplied: the followers' predicate
// cannot judge the value of slot 2 before they have applied slot 1 (the
// shape of a sealed tick, which may go out only after its commitments),
// so it returns ErrNotYet until then. Slot 2 must not be decided on
// verdicts that were never given, the followers must not remember "invalid"
// for it, and once slot 1 is applied (Advance) they judge again, vote,
// and both slots are decided in order. A value that is still refused after
// the slots below are applied is never decided.
func TestDeferredJudgementVotesOnceBelowIsApplied(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("refuse=%v", refuse), func(t *testing.T) {
			const n = 4
			keys, roster, m := seededRoster(n, "deferred")
			applied := make([]uint64, n)
			asked := make([]int, n)
			var nodes []*Node
			for i := 0; i < n; i++ {
				seat := i
				nd, err := NewNode(Config{Seat: uint16(i), N: n, F: 1, Signer: crypto.NewSigner(keys[i], m, uint16(i)),
					Verifier: crypto.NewVerifier(m, roster), Window: 8, CheckpointInterval: 1 << 40,
					ValidateValue: func(slot uint64, payload []byte) error {
						if !bytes.Equal(payload, []byte("second")) {
							return nil
						}
						asked[seat]++
						if applied[seat] < slot-1 {
							return fmt.Errorf("slot %d: %w", slot, ErrNotYet)
						}
						if refuse {
							return fmt.Errorf("refused")
						}
						return nil
					}}, nil)
				if err != nil {
					t.Fatal(err)
				}
				nodes = append(nodes, nd)
			}
			inbox := make([][]crypto.Envelope, n)
			// round delivers one Ready per node; slot 1's decision reaches
			// the followers only through the messages of later rounds.
			round := func() {
				for i, nd := range nodes {
					if !nd.HasReady() {
						continue
					}
					rd := nd.Ready()
					for _, msg := range rd.Messages {
						for j := range nodes {
							if j != i && (msg.To == Broadcast || int(msg.To) == j) {
								inbox[j] = append(inbox[j], msg.Env)
							}
						}
					}
					for _, e := range rd.Committed {
						if e.Slot != applied[i]+1 {
							t.Fatalf("seat %d applied slot %d after %d", i, e.Slot, applied[i])
						}
						applied[i] = e.Slot
					}
					nd.Advance()
				}
				for j, nd := range nodes {
					for _, e := range inbox[j] {
						_ = nd.Step(e)
					}
					inbox[j] = inbox[j][:0]
				}
			}
			if err := nodes[0].Propose([]byte("first")); err != nil {
				t.Fatal(err)
			}
			if err := nodes[0].Propose([]byte("second")); err != nil {
				t.Fatal(err)
			}
			for r := 0; r < 40; r++ {
				round()
				for i, nd := range nodes {
					if nd.Status().Committed >= 2 && applied[i] < 1 {
						t.Fatalf("seat %d: slot 2 decided before slot 1 was applied anywhere", i)
					}
				}
			}
			for i := 1; i < n; i++ {
				if asked[i] < 2 {
					t.Errorf("seat %d was asked about slot 2 %d times: the deferred judgement was not retried", i, asked[i])
				}
			}
			for i, nd := range nodes {
				want := uint64(2)
				if refuse {
					want = 1
				}
				if got := nd.Status().Committed; got != want {
					t.Errorf("seat %d: committed %d, want %d", i, got, want)
				}
			}
		})
	}
}
