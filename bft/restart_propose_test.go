package bft

import (
	"errors"
	"testing"

	"github.com/paxsync/paxsync/crypto"
)

// TestRestartedLeaderDoesNotReproposeCompactedSlots: the leader decides
// one checkpoint interval, the checkpoint becomes stable and the WAL is
// compacted (own votes are kept only above it), and the leader crashes.
// Restarted in the same view with nothing committed, it must not propose
// a slot it already proposed: on the old code it signed a second Verify
// for (view 0, slot 1), which with its first one is proposal-equivocation
// evidence that every honest peer accepts against an honest seat.
func TestRestartedLeaderDoesNotReproposeCompactedSlots(t *testing.T) {
	c := newWALCluster(t, 4)
	c.watch = 0
	c.run(t, 64) // one checkpoint interval: stable 64, WAL compacted
	var before []crypto.Envelope
	for _, e := range c.sent2 {
		if IsProposal(e, 4) {
			before = append(before, e)
		}
	}
	if len(before) == 0 || c.nodes[0].Status().StableCheckpoint != 64 {
		t.Fatalf("%d proposals, stable %d: the setup did not happen", len(before), c.nodes[0].Status().StableCheckpoint)
	}
	re, err := NewNode(c.cfgs[0], c.wal[0])
	if err != nil {
		t.Fatal(err)
	}
	if st := re.Status(); !st.IsLeader || st.Committed >= st.StableCheckpoint {
		t.Fatalf("after the restart: %+v; want the leader, behind its stable checkpoint", st)
	}
	if err := re.Propose([]byte("an input after the restart")); err != nil && !errors.Is(err, ErrWindowFull) {
		t.Fatalf("Propose: %v", err)
	}
	for _, m := range re.Ready().Messages {
		if !IsProposal(m.Env, 4) {
			continue
		}
		for _, old := range before {
			ev := Evidence{Kind: ProposalEquivocation, Offender: 0, A: old, B: m.Env}
			if ev.Check(c.cfgs[0].Verifier) == nil {
				t.Fatalf("the restarted leader's proposal equivocates with its own from before the crash")
			}
		}
		b, err := decodeVote(m.Env.Body)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range b.Pairs {
			if p.Slot <= 64 {
				t.Errorf("proposed slot %d, at or below the stable checkpoint 64", p.Slot)
			}
		}
	}
}

// TestReserveMarkSurvivesRestartAndCompaction: a mark reserved for the
// application (the lockstep core's highest signable tick) is in the next
// Ready's Persist, survives a restart, and survives the compaction at a
// stable checkpoint, which rewrites the whole WAL; a lower mark changes
// nothing.
func TestReserveMarkSurvivesRestartAndCompaction(t *testing.T) {
	c := newWALCluster(t, 4)
	c.nodes[1].ReserveMark(100)
	c.nodes[1].ReserveMark(40) // lower: no-op
	c.run(t, 8)
	re, err := NewNode(c.cfgs[1], c.wal[1])
	if err != nil {
		t.Fatal(err)
	}
	if m := re.Mark(); m != 100 {
		t.Fatalf("after a restart: mark %d, want 100", m)
	}
	c.run(t, 64) // a stable checkpoint: the WAL is compacted
	if st := c.nodes[1].Status(); st.StableCheckpoint == 0 {
		t.Fatal("no stable checkpoint: nothing was compacted")
	}
	re, err = NewNode(c.cfgs[1], c.wal[1])
	if err != nil {
		t.Fatal(err)
	}
	if m := re.Mark(); m != 100 {
		t.Fatalf("after compaction and a restart: mark %d, want 100", m)
	}
}
