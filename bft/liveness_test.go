package bft

import (
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// An idle cluster with a live leader must not change views: the leader's
// heartbeat has to keep resetting followers' timers.
func TestIdleLeaderHeartbeatKeepsView(t *testing.T) {
	c := newBenchCluster(t, 4, 8)
	for i := 0; i < 20*int(c.nodes[0].cfg.ViewTimeoutTicks); i++ {
		for _, nd := range c.nodes {
			nd.Tick()
		}
		c.pump()
	}
	for _, nd := range c.nodes {
		if st := nd.Status(); st.View != 0 || st.InViewChange {
			t.Fatalf("seat %d: view %d (in change %v) while the leader was alive and idle", st.Seat, st.View, st.InViewChange)
		}
	}
}

// route queues one Ready's messages into the cluster's inboxes.
func (c *benchCluster) route(from int, rd Ready) {
	for _, m := range rd.Messages {
		for j := range c.nodes {
			if j != from && (m.To == Broadcast || m.To == j) {
				c.inbox[j] = append(c.inbox[j], m.Env)
			}
		}
	}
}

// A Promise that reaches the new leader before the leader itself has entered
// the view is dropped as future; it must still count once re-sent, or the
// new leader can never gather a quorum.
func TestEarlyPromiseCountsAfterResend(t *testing.T) {
	c := newBenchCluster(t, 4, 8)
	for _, nd := range c.nodes {
		nd.Suspect()
	}
	for i, nd := range c.nodes {
		c.route(i, nd.Ready())
	}
	// Seats 0, 2, 3 learn of the view change first and promise to seat 1.
	for _, j := range []int{0, 2, 3} {
		for _, e := range c.inbox[j] {
			_ = c.nodes[j].Step(e)
		}
		c.inbox[j] = nil
		c.route(j, c.nodes[j].Ready())
	}
	// Seat 1 sees the promises before the ViewChanges that make it enter.
	var proms, rest []crypto.Envelope
	for _, e := range c.inbox[1] {
		if e.Type == wire.TypePromise {
			proms = append(proms, e)
		} else {
			rest = append(rest, e)
		}
	}
	c.inbox[1] = append(proms, rest...)
	c.pump()
	for i := 0; i < 4*c.nodes[1].cfg.ViewTimeoutTicks/3; i++ {
		for _, nd := range c.nodes {
			nd.Tick()
		}
		c.pump()
	}
	if st := c.nodes[1].Status(); st.View != 1 || !st.IsLeader {
		t.Fatalf("seat 1 never started view 1 (view %d, leader %v, in change %v)", st.View, st.IsLeader, st.InViewChange)
	}
}

// A proposal of the new leader that overtakes its NewView must still be
// voted on once the NewView arrives and the proposal is re-sent (seat 0 is
// down, so seat 2's vote is needed for a quorum).
func TestProposalBeforeNewViewIsVotedLater(t *testing.T) {
	c := newBenchCluster(t, 4, 8)
	live := []int{1, 2, 3}
	flush := func() {
		for _, i := range live {
			c.route(i, c.nodes[i].Ready())
		}
		c.inbox[0] = nil
	}
	for _, i := range live {
		c.nodes[i].Suspect()
	}
	flush()
	var held []crypto.Envelope // NewView for seat 2, delivered late
	for round := 0; round < 10; round++ {
		for _, j := range live {
			for _, e := range c.inbox[j] {
				if j == 2 && e.Type == wire.TypeNewView {
					held = append(held, e)
					continue
				}
				_ = c.nodes[j].Step(e)
			}
			c.inbox[j] = nil
		}
		if round == 3 {
			if err := c.nodes[1].Propose([]byte("p")); err != nil {
				t.Fatal(err)
			}
		}
		flush()
	}
	if len(held) == 0 {
		t.Fatal("no NewView held back")
	}
	c.inbox[2] = append(c.inbox[2], held...)
	for i := 0; i < 2*c.nodes[1].cfg.ResendTicks; i++ {
		for _, j := range live {
			for _, e := range c.inbox[j] {
				_ = c.nodes[j].Step(e)
			}
			c.inbox[j] = nil
			c.nodes[j].Tick()
		}
		flush()
	}
	for _, j := range live {
		if st := c.nodes[j].Status(); st.Committed < 1 || st.View != 1 {
			t.Fatalf("seat %d: committed %d in view %d; the proposal that overtook the NewView was lost", j, st.Committed, st.View)
		}
	}
}
