package bft

import (
	"errors"
	"testing"

	"github.com/paxsync/paxsync/crypto"
)

// TestRestartedLeaderDoesNotReproposeCompactedSlots: the leader decides
// one checkpoint interval, the checkpoint becomes stable and the WAL is
// compacted (own votes are kept only above it), and the leader crashes.
// Restarted in the same view, it must not propose a slot it already
// proposed: on the old code, restarted with nothing committed, it signed
// a second Verify for (view 0, slot 1), which with its first one is
// proposal-equivocation evidence that every honest peer accepts against
// an honest seat. Both ways a restart finds itself: at the checkpoint (the
// WAL kept its snapshot) or behind it (a WAL written before it kept one,
// or compacted before the snapshot was taken), where the leader proposes
// nothing until the sync brings it there.
func TestRestartedLeaderDoesNotReproposeCompactedSlots(t *testing.T) {
	for _, keptSnap := range []bool{true, false} {
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
		wal := c.wal[0]
		if !keptSnap {
			wal = withoutRecord(wal, recSnap)
		}
		re, err := NewNode(c.cfgs[0], wal)
		if err != nil {
			t.Fatal(err)
		}
		st := re.Status()
		if !st.IsLeader || (st.Committed >= st.StableCheckpoint) == !keptSnap {
			t.Fatalf("kept snapshot %v: after the restart %+v", keptSnap, st)
		}
		err = re.Propose([]byte("an input after the restart"))
		if keptSnap && err != nil || !keptSnap && !errors.Is(err, ErrWindowFull) {
			t.Fatalf("kept snapshot %v: Propose: %v", keptSnap, err)
		}
		proposed := false
		for _, m := range re.Ready().Messages {
			if !IsProposal(m.Env, 4) {
				continue
			}
			proposed = true
			for _, old := range before {
				ev := Evidence{Kind: ProposalEquivocation, Offender: 0, A: old, B: m.Env}
				if ev.Check(c.cfgs[0].Verifier) == nil {
					t.Fatalf("kept snapshot %v: the restarted leader's proposal equivocates with its own from before the crash", keptSnap)
				}
			}
			b, err := decodeVote(m.Env.Body)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range b.Pairs {
				if p.Slot <= 64 {
					t.Errorf("kept snapshot %v: proposed slot %d, at or below the stable checkpoint 64", keptSnap, p.Slot)
				}
			}
		}
		if keptSnap && !proposed {
			t.Errorf("at its checkpoint, the restarted leader proposed nothing")
		}
	}
}

// withoutRecord is recs without the records of kind k.
func withoutRecord(recs []Record, k byte) []Record {
	var out []Record
	for _, r := range recs {
		if len(r) == 0 || r[0] != k {
			out = append(out, r)
		}
	}
	return out
}

// TestWholeMatchRestartAfterCheckpointGoesOn: every seat restarts at once
// from its compacted WAL (a LAN's power cut) after the first stable
// checkpoint. No one restored anything decided, and a peer's snapshot was
// the only way back to the checkpoint, so on the old code no seat could
// serve one, the leader could propose nothing, and the match was wedged
// for good in view 0. Each WAL now keeps its stable snapshot: every seat
// is at the checkpoint at once and the match decides on.
func TestWholeMatchRestartAfterCheckpointGoesOn(t *testing.T) {
	c := newWALCluster(t, 4)
	c.run(t, 64)
	for i := range c.nodes {
		re, err := NewNode(c.cfgs[i], c.wal[i])
		if err != nil {
			t.Fatal(err)
		}
		c.nodes[i] = re
	}
	c.run(t, 64)
	for i, nd := range c.nodes {
		if st := nd.Status(); st.Committed < 128 {
			t.Errorf("seat %d: committed %d after the restart and 64 more slots, want 128", i, st.Committed)
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
