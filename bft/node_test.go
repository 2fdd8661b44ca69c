package bft

import (
	"bytes"
	"errors"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

func testCluster(t *testing.T, n int) *benchCluster {
	t.Helper()
	return newBenchCluster(t, n, 8)
}

func TestNormalCaseDecidesInOrderWithWindow(t *testing.T) {
	c := testCluster(t, 4)
	for i := 0; i < 8; i++ {
		if err := c.nodes[0].Propose([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.nodes[0].Propose([]byte{9}); !errors.Is(err, ErrWindowFull) {
		t.Fatalf("9th proposal in a window of 8: %v", err)
	}
	if err := c.nodes[1].Propose([]byte{1}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("follower proposal: %v", err)
	}
	c.pump()
	for _, nd := range c.nodes {
		if st := nd.Status(); st.Committed != 8 || st.Metrics.SlotsDecided != 8 {
			t.Fatalf("seat %d: committed %d", nd.seat, st.Committed)
		}
	}
}

func TestBadInputIsDroppedAndCounted(t *testing.T) {
	c := testCluster(t, 4)
	nd := c.nodes[1]
	good := c.nodes[0].cfg.Signer.Sign(wire.TypeVerify, (&voteBody{View: 0, Pairs: []pair{{1, crypto.Sum([]byte("x"))}}}).encode())
	cases := []struct {
		env  crypto.Envelope
		want DropReason
	}{
		{crypto.Envelope{Type: wire.TypeVerify, Sender: 9, Body: good.Body}, DropUnknownSender},
		{crypto.Envelope{Type: wire.TypeInput, Sender: 0, Body: good.Body}, DropUnknownType},
		{crypto.Envelope{Type: wire.TypeVerify, Sender: 0, Body: []byte{1, 2, 3}}, DropDecode},
		{crypto.Envelope{Type: wire.TypeVerify, Sender: 0, Body: make([]byte, crypto.MaxBodySize+1)}, DropOversize},
		{func() crypto.Envelope { e := good; e.Sig[0] ^= 1; return e }(), DropBadSignature},
		{c.nodes[2].cfg.Signer.Sign(wire.TypeViewChange, viewBody(5000)), DropFuture},
		{c.nodes[2].cfg.Signer.Sign(wire.TypeNewView, (&newViewBody{View: 2}).encode()), DropInvalid},
	}
	for i, tc := range cases {
		before := nd.met.Dropped[tc.want]
		if err := nd.Step(tc.env); !errors.Is(err, dropErrs[tc.want]) {
			t.Errorf("case %d: want %v, got %v", i, tc.want, err)
		}
		if nd.met.Dropped[tc.want] != before+1 {
			t.Errorf("case %d: %v not counted", i, tc.want)
		}
	}
	if err := nd.Step(good); err != nil {
		t.Fatalf("genuine leader proposal: %v", err)
	}
	if err := nd.Step(good); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
}

func TestEvidenceCheckAndCodec(t *testing.T) {
	c := testCluster(t, 4)
	vrf := c.nodes[0].cfg.Verifier
	s1 := c.nodes[1].cfg.Signer
	a := s1.Sign(wire.TypeConfirm, (&voteBody{View: 3, Pairs: []pair{{5, crypto.Sum([]byte("a"))}}}).encode())
	b := s1.Sign(wire.TypeConfirm, (&voteBody{View: 3, Pairs: []pair{{4, crypto.Digest{}}, {5, crypto.Sum([]byte("b"))}}}).encode())
	ev := Evidence{Kind: VoteEquivocation, Offender: 1, A: a, B: b}
	if err := ev.Check(vrf); err != nil {
		t.Fatalf("genuine evidence: %v", err)
	}
	dec, err := DecodeEvidence(EncodeEvidence(&ev))
	if err != nil || !bytes.Equal(EncodeEvidence(&dec), EncodeEvidence(&ev)) {
		t.Fatalf("codec: %v", err)
	}
	same := s1.Sign(wire.TypeConfirm, (&voteBody{View: 4, Pairs: []pair{{5, crypto.Sum([]byte("b"))}}}).encode())
	bad := []Evidence{
		{Kind: VoteEquivocation, Offender: 2, A: a, B: b},                                                            // wrong offender
		{Kind: ProposalEquivocation, Offender: 1, A: a, B: b},                                                        // wrong kind
		{Kind: VoteEquivocation, Offender: 1, A: a, B: same},                                                         // different views: no conflict
		{Kind: VoteEquivocation, Offender: 1, A: a, B: a},                                                            // identical
		{Kind: VoteEquivocation, Offender: 1, A: a, B: func() crypto.Envelope { x := b; x.Sig[3] ^= 1; return x }()}, // forged
	}
	for i, e := range bad {
		if err := e.Check(vrf); !errors.Is(err, ErrBadEvidence) {
			t.Errorf("bad evidence %d accepted: %v", i, err)
		}
	}
	// Leader of view 1 (seat 1) proposing two digests is ProposalEquivocation.
	p1 := s1.Sign(wire.TypeVerify, (&voteBody{View: 1, Pairs: []pair{{2, crypto.Sum([]byte("x"))}}}).encode())
	p2 := s1.Sign(wire.TypeVerify, (&voteBody{View: 1, Pairs: []pair{{2, crypto.Sum([]byte("y"))}}}).encode())
	if err := (&Evidence{Kind: ProposalEquivocation, Offender: 1, A: p1, B: p2}).Check(vrf); err != nil {
		t.Fatalf("proposal equivocation: %v", err)
	}
}

func TestSyncStateCatchUpAndTamper(t *testing.T) {
	c := testCluster(t, 4)
	late := c.nodes[3]
	c.nodes = c.nodes[:3] // seat 3 is cut off
	for i := 0; i < 8; i++ {
		c.nodes[0].Propose([]byte{byte(i)})
	}
	c.pump()
	st, ok := c.nodes[1].SyncResponse(0)
	if !ok || len(st.Entries) != 8 {
		t.Fatalf("sync response: %v %d", ok, len(st.Entries))
	}
	enc := EncodeSyncState(st)
	for i := 0; i < len(enc); i += 7 {
		bad := append([]byte(nil), enc...)
		bad[i] ^= 0x10
		if d, err := DecodeSyncState(bad); err == nil {
			if err := late.ApplySync(d); err == nil && late.committed != 0 && !bytes.Equal(bad, enc) {
				// a flipped byte in a value or certificate must be caught
				rd := late.Ready()
				for _, e := range rd.Committed {
					if !bytes.Equal(e.Payload, []byte{byte(e.Slot - 1)}) {
						t.Fatalf("byte %d: tampered entry %d applied", i, e.Slot)
					}
				}
				late.Advance()
			}
		}
	}
	dec, err := DecodeSyncState(enc)
	if err != nil {
		t.Fatal(err)
	}
	if err := late.ApplySync(dec); err != nil && late.committed != 8 {
		t.Fatalf("genuine sync: %v", err)
	}
	if late.committed != 8 {
		t.Fatalf("late node at %d after sync", late.committed)
	}
}

// A node restarted from its records must re-sign nothing that conflicts:
// it refuses a different proposal for a (view, slot) it already voted on.
func TestRestartKeepsOwnVotes(t *testing.T) {
	c := testCluster(t, 4)
	nd := c.nodes[1]
	var wal []Record
	p := c.nodes[0].cfg.Signer
	va := crypto.Sum((&value{Payload: []byte("a")}).encode())
	acc := p.Sign(wire.TypeAccept, (&acceptBody{View: 0, Slots: []uint64{1}, Values: [][]byte{(&value{Payload: []byte("a")}).encode()}}).encode())
	nd.Step(acc)
	nd.Step(p.Sign(wire.TypeVerify, (&voteBody{View: 0, Pairs: []pair{{1, va}}}).encode()))
	rd := nd.Ready()
	wal = append(wal, rd.Persist...)
	nd.Advance()
	if len(rd.Messages) == 0 {
		t.Fatal("no verify sent")
	}
	re, err := NewNode(nd.cfg, wal)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := re.ownVotes[ownKey{wire.TypeVerify, 0, 1}]; !ok || d != va {
		t.Fatal("restored node forgot its Verify")
	}
	vb := crypto.Sum((&value{Payload: []byte("b")}).encode())
	re.Step(p.Sign(wire.TypeAccept, (&acceptBody{View: 0, Slots: []uint64{1}, Values: [][]byte{(&value{Payload: []byte("b")}).encode()}}).encode()))
	re.Step(p.Sign(wire.TypeVerify, (&voteBody{View: 0, Pairs: []pair{{1, vb}}}).encode()))
	for _, m := range re.Ready().Messages {
		if m.Env.Type == wire.TypeVerify && m.Env.Sender == 1 {
			if b, _ := decodeVote(m.Env.Body); len(b.Pairs) > 0 && b.Pairs[0].Digest == vb {
				t.Fatal("restarted node signed a conflicting Verify")
			}
		}
	}
	if _, err := NewNode(nd.cfg, []Record{{7, 1, 2}}); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("corrupt record: %v", err)
	}
}

func FuzzDecodeSyncState(f *testing.F) {
	f.Add(EncodeSyncState(&SyncState{Checkpoint: (&checkpointBody{}).encode()}))
	f.Add([]byte{0, 0, 1, 3, 1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSyncState(b)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodeSyncState(s), b) {
			t.Fatalf("not canonical")
		}
	})
}

func FuzzStep(f *testing.F) {
	f.Add(uint8(2), uint16(0), []byte{0, 1, 1})
	f.Add(uint8(8), uint16(2), []byte{1, 0})
	c := newBenchCluster(f, 4, 8)
	f.Fuzz(func(t *testing.T, typ uint8, sender uint16, body []byte) {
		nd := c.nodes[1]
		_ = nd.Step(crypto.Envelope{Type: wire.Type(typ), Sender: sender, Body: body})
		_ = nd.Step(c.nodes[0].cfg.Signer.Sign(wire.Type(typ), body))
		nd.Ready()
		nd.Advance()
	})
}

func FuzzDecodeEvidence(f *testing.F) {
	f.Add([]byte{2, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEvidence(b)
		if err == nil && !bytes.Equal(EncodeEvidence(&e), b) {
			t.Fatal("not canonical")
		}
	})
}
