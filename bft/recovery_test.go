package bft

import (
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// lostWALAttack restarts seat 2 of a running cluster with an empty WAL
// (recovering or not), then has the view-0 leader send it a conflicting
// proposal for a slot it Verified before the loss. It returns every
// envelope seat 2 signed afterwards and the digest it had voted.
func lostWALAttack(t *testing.T, recovering bool) (signed []crypto.Envelope, s uint64, mine crypto.Digest, c *walCluster) {
	c = newWALCluster(t, 4)
	c.run(t, 100)
	// One more slot reaches only seat 2, which Verifies it.
	if err := c.nodes[0].Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	rd := c.nodes[0].Ready()
	c.nodes[0].Advance()
	for _, m := range rd.Messages {
		_ = c.nodes[2].Step(m.Env)
	}
	for _, m := range c.nodes[2].Ready().Messages {
		_ = c.nodes[0].Step(m.Env) // the leader holds seat 2's Verify
	}
	s = c.nodes[0].nextSlot - 1
	mine = c.nodes[2].ownVotes[ownKey{wire.TypeVerify, 0, s}]

	// The disk is lost.
	cfg := c.cfgs[2]
	cfg.Recovering = recovering
	nd, err := NewNode(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[2] = nd
	// It catches up from a peer first, as a driver would (NeedSync).
	st, ok := c.nodes[1].SyncResponse(0)
	if !ok {
		t.Fatal("no sync response")
	}
	if err := nd.ApplySync(st); err != nil {
		t.Fatal(err)
	}
	nd.Ready()
	other := (&value{Payload: []byte("y")}).encode()
	lead := c.cfgs[0].Signer
	_ = nd.Step(lead.Sign(wire.TypeAccept, (&acceptBody{View: 0, Slots: []uint64{s}, Values: [][]byte{other}}).encode()))
	_ = nd.Step(lead.Sign(wire.TypeVerify, (&voteBody{View: 0, Pairs: []pair{{s, crypto.Sum(other)}}}).encode()))
	for _, m := range nd.Ready().Messages {
		if m.Env.Sender == 2 {
			signed = append(signed, m.Env)
		}
	}
	// The rest of the cluster gets the real proposal and decides it.
	for _, i := range []int{1, 3} {
		for _, m := range rd.Messages {
			_ = c.nodes[i].Step(m.Env)
		}
	}
	c.pump()
	return signed, s, mine, c
}

// TestLostWALWithoutRecoveryEquivocates shows what the recovery mode is
// for: a node restarted on an empty WAL as if new signs a Verify that
// conflicts with the one it sent before, and is convicted for it.
func TestLostWALWithoutRecoveryEquivocates(t *testing.T) {
	signed, s, mine, c := lostWALAttack(t, false)
	var conflict *crypto.Envelope
	for i := range signed {
		if signed[i].Type != wire.TypeVerify {
			continue
		}
		b, _ := decodeVote(signed[i].Body)
		for _, p := range b.Pairs {
			if p.Slot == s && p.Digest != mine {
				conflict = &signed[i]
			}
		}
	}
	if conflict == nil {
		t.Fatal("expected the amnesiac node to sign a conflicting Verify")
	}
	// Seat 1 and 3 never saw the first Verify here; the leader did, and it
	// convicts the honest seat with the two signed Verifies.
	_ = c.nodes[0].Step(*conflict)
	found := false
	for _, e := range c.nodes[0].Ready().Evidence {
		found = found || e.Offender == 2
	}
	if !found {
		t.Fatal("the leader holds both Verifies but did not convict seat 2")
	}
}

// TestRecoveringNodeSignsNoVote: with Config.Recovering the node signs no
// consensus vote at all, through a conflicting proposal, a view change it
// is asked to join and checkpoints, yet it follows the decided log.
func TestRecoveringNodeSignsNoVote(t *testing.T) {
	signed, _, _, c := lostWALAttack(t, true)
	votes := func(envs []crypto.Envelope) {
		t.Helper()
		for _, e := range envs {
			if e.Sender == 2 && e.Type != wire.TypeEvidence { // relays of others' proposals are not its signatures
				t.Fatalf("recovering seat signed %v", e.Type)
			}
		}
	}
	votes(signed)
	// Let the cluster (and the recovering node) run on: proposals, a view
	// change (seat 1 leads view 1), checkpoints; record what seat 2 signs.
	var mine []crypto.Envelope
	rec := func() {
		mine = append(mine, c.sent2...)
		c.sent2 = nil
	}
	c.watch = 2
	c.run(t, 150)
	rec()
	for _, i := range []int{0, 1, 3} {
		c.nodes[i].Suspect()
	}
	c.nodes[2].Suspect()
	c.pump()
	// The rotation reaches the recovering seat (it never leads): its view
	// times out and the next seat takes over.
	for k := 0; k < 2000 && !c.hasLeader(); k++ {
		for _, nd := range c.nodes {
			nd.Tick()
		}
		c.pump()
	}
	c.run(t, 150)
	rec()
	votes(mine)
	// It still learns the log: from Confirms and by catching up (the old
	// slots come from a peer's SyncResponse, as a driver would fetch).
	for i := 0; i < 10 && c.nodes[2].committed < c.nodes[1].committed; i++ {
		st, ok := c.nodes[1].SyncResponse(c.nodes[2].committed)
		if !ok {
			t.Fatalf("no sync response for slot %d", c.nodes[2].committed)
		}
		if err := c.nodes[2].ApplySync(st); err != nil {
			t.Fatalf("sync: %v", err)
		}
	}
	c.pump()
	rec()
	votes(mine)
	want := c.nodes[0].Status().Committed
	if got := c.nodes[2].Status().Committed; got != want || c.nodes[2].Status().View != c.nodes[0].Status().View {
		t.Fatalf("recovering seat at slot %d view %d; cluster at %d view %d", got, c.nodes[2].Status().View, want, c.nodes[0].Status().View)
	}
}

func (c *walCluster) hasLeader() bool {
	for _, nd := range c.nodes {
		if nd.Status().IsLeader {
			return true
		}
	}
	return false
}

// TestRecoveryIsPersisted: the recovering seat's new WAL remembers that it
// lost one, through compaction too, so a later restart without the flag
// still never votes (its new WAL holds none of the votes it lost).
func TestRecoveryIsPersisted(t *testing.T) {
	_, _, _, c := lostWALAttack(t, true)
	c.wal[2] = nil // the node from lostWALAttack: collect from now on
	cfg := c.cfgs[2]
	cfg.Recovering = true
	nd, err := NewNode(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[2] = nd
	c.run(t, 200) // passes checkpoints: the WAL is compacted
	cfg.Recovering = false
	re, err := NewNode(cfg, c.wal[2])
	if err != nil {
		t.Fatal(err)
	}
	if !re.mute {
		t.Fatalf("restart from the recovering seat's WAL (%d records) votes again", len(c.wal[2]))
	}
}
