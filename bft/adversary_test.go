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
			nd := testCluster(t, 4).nodes[3] // a fresh node: one verdict per (offender, kind) is reported once
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

// TestEquivocationIsAnnouncedOncePerVerdict: one fat Verify and many
// one-pair Verifies that each conflict with it at another slot prove one
// verdict. The old code signed and broadcast an Evidence message per
// conflicting slot (200 here), each counted against the honest node's own
// rate budget at its peers: an attacker's 164 KB became 31 MB of honest
// traffic.
func TestEquivocationIsAnnouncedOncePerVerdict(t *testing.T) {
	c := testCluster(t, 4)
	nd := c.nodes[3]
	byz := c.nodes[2].cfg.Signer
	const k = 200
	var fat voteBody
	for s := uint64(1); s <= k; s++ {
		fat.Pairs = append(fat.Pairs, pair{s, crypto.Sum([]byte{byte(s), 'a'})})
	}
	_ = nd.Step(byz.Sign(wire.TypeVerify, fat.encode()))
	for s := uint64(1); s <= k; s++ {
		_ = nd.Step(byz.Sign(wire.TypeVerify, (&voteBody{Pairs: []pair{{s, crypto.Sum([]byte{byte(s), 'b'})}}}).encode()))
	}
	rd := nd.Ready()
	nd.Advance()
	announced := 0
	for _, m := range rd.Messages {
		if m.Env.Type == wire.TypeEvidence {
			announced++
		}
	}
	// The fat vote names slots past the window (Window 8 → 16 ahead): only
	// those inside are indexed at all, and they prove one verdict.
	if announced != 1 || len(rd.Evidence) != 1 {
		t.Fatalf("announced %d Evidence messages and reported %d verdicts; want 1 and 1", announced, len(rd.Evidence))
	}
	if e := rd.Evidence[0]; e.Offender != 2 || e.Kind != VoteEquivocation {
		t.Fatalf("verdict %+v", e)
	}
	// Evidence messages from others for the same verdict are not checked
	// again (no signature cost) and not re-announced.
	other := Evidence{Kind: VoteEquivocation, Offender: 2, A: byz.Sign(wire.TypeConfirm, (&voteBody{Pairs: []pair{{3, crypto.Sum([]byte("x"))}}}).encode()),
		B: byz.Sign(wire.TypeConfirm, (&voteBody{Pairs: []pair{{3, crypto.Sum([]byte("y"))}}}).encode())}
	before := nd.met.Verified
	if err := nd.Step(c.nodes[1].cfg.Signer.Sign(wire.TypeEvidence, EncodeEvidence(&other))); err == nil {
		t.Fatal("evidence for a known verdict was taken again")
	}
	if nd.met.Verified != before {
		t.Fatal("evidence for a known verdict cost signature checks")
	}
}

// TestEquivocationIndexIsBounded: an authenticated attacker naming every
// slot of the window in every view it may name cannot grow the index past
// its per-sender bound, and slots past the window are never stored. The
// old code stored every (type, view, slot) a sender named before looking
// at the window: 100 fat Confirms left 409,600 entries.
func TestEquivocationIndexIsBounded(t *testing.T) {
	c := testCluster(t, 4)
	cfg := c.nodes[3].cfg
	cfg.CheckpointInterval = 8 // a small bound, so the attack below exceeds it many times over
	nd, err := NewNode(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[3] = nd
	byz := c.nodes[2].cfg.Signer
	// Votes as fat as the decoder allows are refused outright.
	var fat voteBody
	for s := uint64(1); s <= 4000; s++ {
		fat.Pairs = append(fat.Pairs, pair{s, crypto.Sum([]byte{byte(s)})})
	}
	if err := nd.Step(byz.Sign(wire.TypeConfirm, fat.encode())); err == nil || len(nd.eqIdx) != 0 {
		t.Fatalf("a %d-pair vote was taken (%v); the index holds %d entries", len(fat.Pairs), err, len(nd.eqIdx))
	}
	// Votes of the largest size taken, in 300 views, each naming every
	// slot of the window: the entry cap holds.
	for v := uint64(0); v < 300; v++ {
		var b voteBody
		b.View = v
		for s := uint64(1); s <= uint64(cfg.maxVotePairs()); s++ {
			b.Pairs = append(b.Pairs, pair{s, crypto.Sum([]byte{byte(v), byte(s)})})
		}
		_ = nd.Step(byz.Sign(wire.TypeConfirm, b.encode()))
	}
	if got := nd.eqCount[2]; got > nd.eqCap || len(nd.eqIdx) > nd.eqCap {
		t.Fatalf("index holds %d entries of the attacker (%d in all), bound %d", got, len(nd.eqIdx), nd.eqCap)
	}
	if nd.eqCount[2] == 0 {
		t.Fatal("the attacker's in-window votes were not indexed at all")
	}
	for k := range nd.eqIdx {
		if k.slot > nd.maxSlotAhead() {
			t.Fatalf("slot %d past the window was stored", k.slot)
		}
	}
	// Honest votes are still taken: the cluster decides.
	if err := c.nodes[0].Propose([]byte("p")); err != nil {
		t.Fatal(err)
	}
	c.pump()
	if st := nd.Status(); st.Committed != 1 {
		t.Fatalf("committed %d after an honest proposal", st.Committed)
	}
}

// TestEquivocationIndexBytesAreBounded: each index entry keeps its whole
// signed vote (the first half of a future proof). An attacker naming one
// new in-window (view, slot) per vote, padded with slots past the window,
// kept a whole vote alive per entry: 143 KB each, +512 MiB at the entry
// cap. The bytes kept per sender are bounded too.
func TestEquivocationIndexBytesAreBounded(t *testing.T) {
	c := testCluster(t, 4)
	nd := c.nodes[3]
	byz := c.nodes[2].cfg.Signer
	n := nd.cfg.maxVotePairs()
	for i := 0; i < 400; i++ { // 400 × ~143 KB: 50 times the bound
		v, s := uint64(i/16), uint64(1+i%16) // one new in-window (view, slot) per vote
		b := voteBody{View: v % 1000, Pairs: []pair{{s, crypto.Sum([]byte{byte(i), byte(i >> 8)})}}}
		for far := uint64(100000); len(b.Pairs) < n && len(b.Pairs) < 4000; far++ {
			b.Pairs = append(b.Pairs, pair{far, crypto.Digest{}})
		}
		_ = nd.Step(byz.Sign(wire.TypeConfirm, b.encode()))
	}
	live := map[*envRef]bool{}
	bytes := 0
	for k, e := range nd.eqIdx {
		if k.sender == 2 && !live[e.ref] {
			live[e.ref] = true
			bytes += len(e.ref.env.Body)
		}
	}
	if bytes > eqByteCap || nd.eqBytes[2] != bytes {
		t.Fatalf("the index keeps %d bytes of the attacker's votes alive (counted %d), bound %d", bytes, nd.eqBytes[2], eqByteCap)
	}
}
