package bft

import (
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

func TestConflictingMakesCheckableEvidence(t *testing.T) {
	c := testCluster(t, 4)
	vrf := c.nodes[3].cfg.Verifier
	body := (&voteBody{View: 0, Pairs: []pair{{1, crypto.Sum([]byte("x"))}, {2, crypto.Sum([]byte("y"))}}}).encode()
	cases := []struct {
		name   string
		signer Signer
		typ    wire.Type
		kind   EvidenceKind
	}{
		{"leader proposal", c.nodes[0].cfg.Signer, wire.TypeVerify, ProposalEquivocation},
		{"acceptor verify", c.nodes[2].cfg.Signer, wire.TypeVerify, VoteEquivocation},
		{"acceptor confirm", c.nodes[2].cfg.Signer, wire.TypeConfirm, VoteEquivocation},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.signer.Sign(tc.typ, body)
			b, ok := Conflicting(a, tc.signer)
			if !ok {
				t.Fatal("Conflicting refused an own vote")
			}
			if b2, _ := Conflicting(a, tc.signer); string(b2.Body) != string(b.Body) {
				t.Fatal("not deterministic")
			}
			if IsProposal(a, 4) != (tc.kind == ProposalEquivocation && tc.typ == wire.TypeVerify) {
				t.Fatal("IsProposal is wrong")
			}
			if b.Type != a.Type || b.Sender != a.Sender {
				t.Fatalf("type/sender changed: %v/%d", b.Type, b.Sender)
			}
			vb, err := decodeVote(b.Body)
			if err != nil || vb.View != 0 || len(vb.Pairs) != 2 || vb.Pairs[0].Slot != 1 || vb.Pairs[1].Slot != 2 {
				t.Fatalf("conflicting body %+v, %v", vb, err)
			}
			// Built the way noteEquivocation builds it.
			kind, err := kindOf(a.Type, a.Sender, 0, vrf)
			if err != nil || kind != tc.kind {
				t.Fatalf("kind %v, %v; want %v", kind, err, tc.kind)
			}
			ev := Evidence{Kind: kind, Offender: a.Sender, A: a, B: b}
			if err := ev.Check(vrf); err != nil {
				t.Fatalf("Check: %v", err)
			}
			nd := c.nodes[3]
			_ = nd.Step(a)
			_ = nd.Step(b)
			rd := nd.Ready()
			nd.Advance()
			found := false
			for _, e := range rd.Evidence {
				if e.Offender == a.Sender && e.Kind == tc.kind && e.Check(vrf) == nil {
					found = true
				}
			}
			if !found {
				t.Fatalf("node did not report %v by seat %d: %+v", tc.kind, a.Sender, rd.Evidence)
			}
		})
	}
	// Refused: heartbeats, other types, another seat's envelope.
	s0 := c.nodes[0].cfg.Signer
	for i, env := range []crypto.Envelope{
		s0.Sign(wire.TypeVerify, (&voteBody{View: 0, Seq: 3}).encode()),
		s0.Sign(wire.TypeViewChange, viewBody(1)),
		c.nodes[1].cfg.Signer.Sign(wire.TypeVerify, body),
	} {
		if _, ok := Conflicting(env, s0); ok {
			t.Errorf("case %d: accepted", i)
		}
	}
}
