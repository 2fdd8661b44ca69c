package adversary

import (
	"testing"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// voteEnv signs a Verify/Confirm body (view, one slot) the way bft encodes it.
func voteEnv(s *crypto.Signer, t wire.Type, view, slot uint64) crypto.Envelope {
	w := wire.NewWriter(nil)
	w.Uvarint(view)
	w.Uvarint(1)
	w.Uvarint(slot)
	w.Bytes32(crypto.Sum([]byte("value")))
	return s.Sign(t, w.Bytes())
}

func TestConsensusCheatsOutbound(t *testing.T) {
	keys, roster := testRoster(t, 4)
	match := crypto.NewMatchID("m", roster)
	vrf := crypto.NewVerifier(match, roster)
	p := &Player{seat: 0, n: 4, signer: crypto.NewSigner(keys[0], match, 0)}
	prop := bft.Message{To: bft.Broadcast, Env: voteEnv(p.signer, wire.TypeVerify, 0, 7)}  // seat 0 leads view 0
	vote := bft.Message{To: bft.Broadcast, Env: voteEnv(p.signer, wire.TypeConfirm, 0, 7)} // a vote
	vote1 := bft.Message{To: bft.Broadcast, Env: voteEnv(p.signer, wire.TypeVerify, 1, 7)} // view 1: a vote
	proves := func(out []bft.Message, kind bft.EvidenceKind) {
		t.Helper()
		for _, m := range out[1:] {
			ev := bft.Evidence{Kind: kind, Offender: 0, A: out[0].Env, B: m.Env}
			if err := ev.Check(vrf); err != nil {
				t.Fatalf("extra message does not prove %v: %v", kind, err)
			}
		}
	}
	if out := p.outbound(prop); len(out) != 1 {
		t.Fatalf("honest session changed a proposal: %d messages", len(out))
	}
	if err := p.SetCheat(&Cheat{Kind: EquivocateProposal, FromTick: 10}); err != nil {
		t.Fatal(err)
	}
	p.clockTick = 9
	if out := p.outbound(prop); len(out) != 1 {
		t.Fatalf("cheat before FromTick: %d messages", len(out))
	}
	p.clockTick = 10
	out := p.outbound(prop)
	if len(out) != 4 || out[0].Env.Sender != prop.Env.Sender || string(out[0].Env.Body) != string(prop.Env.Body) {
		t.Fatalf("equivocate-proposal: %d messages", len(out))
	}
	for i, m := range out[1:] {
		if m.To != i+1 {
			t.Fatalf("conflicting proposal %d sent to %d", i, m.To)
		}
	}
	proves(out, bft.ProposalEquivocation)
	if out := p.outbound(vote); len(out) != 1 {
		t.Fatalf("equivocate-proposal touched a vote: %d messages", len(out))
	}
	if err := p.SetCheat(&Cheat{Kind: DoubleVote}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []bft.Message{vote, vote1} {
		out := p.outbound(m)
		if len(out) != 2 || out[1].To != bft.Broadcast {
			t.Fatalf("double-vote: %d messages", len(out))
		}
		proves(out, bft.VoteEquivocation)
	}
	if out := p.outbound(prop); len(out) != 1 {
		t.Fatalf("double-vote touched a proposal: %d messages", len(out))
	}
	if err := p.SetCheat(nil); err != nil {
		t.Fatal(err)
	}
	if out := p.outbound(vote); len(out) != 1 {
		t.Fatalf("cheat off: %d messages", len(out))
	}
}
