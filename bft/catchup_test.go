package bft

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// cpCluster is n nodes with checkpoints every 8 slots and an application
// whose snapshot at slot s is "state@s"; link decides which messages arrive.
type cpCluster struct {
	nodes []*Node
	inbox [][]crypto.Envelope
	link  func(from, to int, env crypto.Envelope) bool
	need  []*SyncNeed // last NeedSync per seat
}

func newCPCluster(t *testing.T, n int) *cpCluster {
	t.Helper()
	signers, vrf := keysFor(n)
	c := &cpCluster{inbox: make([][]crypto.Envelope, n), need: make([]*SyncNeed, n),
		link: func(int, int, crypto.Envelope) bool { return true }}
	for i := 0; i < n; i++ {
		nd, err := NewNode(Config{Seat: uint16(i), N: n, F: (n - 1) / 3, Signer: signers[i], Verifier: vrf,
			Window: 8, CheckpointInterval: 8, ViewTimeoutTicks: 12}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, nd)
	}
	return c
}

func cpSnap(slot uint64) []byte { return []byte(fmt.Sprintf("state@%d", slot)) }

// pump runs Ready/Step rounds until nothing is left to do, answering every
// CheckpointDue with the snapshot.
func (c *cpCluster) pump() {
	for busy := true; busy; {
		busy = false
		for i, nd := range c.nodes {
			if !nd.HasReady() {
				continue
			}
			busy = true
			rd := nd.Ready()
			for _, m := range rd.Messages {
				for j := range c.nodes {
					if j != i && (m.To == Broadcast || m.To == j) && c.link(i, j, m.Env) {
						c.inbox[j] = append(c.inbox[j], m.Env)
					}
				}
			}
			for _, s := range rd.CheckpointDue {
				nd.Checkpoint(s, cpSnap(s))
			}
			if rd.NeedSync != nil {
				c.need[i] = rd.NeedSync
			}
			nd.Advance()
		}
		for j, nd := range c.nodes {
			in := c.inbox[j]
			c.inbox[j] = nil
			busy = busy || len(in) > 0
			for _, e := range in {
				_ = nd.Step(e)
			}
		}
	}
}

func (c *cpCluster) tick(k int) {
	for ; k > 0; k-- {
		for _, nd := range c.nodes {
			nd.Tick()
		}
		c.pump()
	}
}

// decideFirstCheckpoint has seat 0 (leader of view 0) fill slots 1..8 and
// waits until every seat in live holds the stable checkpoint at 8.
func (c *cpCluster) decideFirstCheckpoint(t *testing.T, live ...int) {
	t.Helper()
	for i := 0; i < 8; i++ {
		if err := c.nodes[0].Propose(nil); err != nil {
			t.Fatal(err)
		}
	}
	c.pump()
	for _, i := range live {
		if nd := c.nodes[i]; nd.committed != 8 || nd.stable.Slot != 8 || nd.stableSnap == nil {
			t.Fatalf("seat %d: committed %d, stable %d, snapshot %v", i, nd.committed, nd.stable.Slot, nd.stableSnap != nil)
		}
	}
}

// A node that learns a stable checkpoint's certificate before it installs
// the snapshot by sync must keep that snapshot, so that it can serve it in
// turn: here every other seat then restarts with an empty application (the
// snapshot is the app's state, not in the WAL), and the node that synced is
// the only one left holding the checkpointed state.
func TestSyncedSnapshotIsServedWhenCertificateCameFirst(t *testing.T) {
	c := newCPCluster(t, 4)
	c.link = func(from, to int, env crypto.Envelope) bool { return to != 3 }
	c.decideFirstCheckpoint(t, 0, 1, 2)
	late := c.nodes[3]
	for i := 0; i < 3; i++ {
		if err := late.Step(*c.nodes[i].myCPOrCert(t)); err != nil {
			t.Fatalf("checkpoint of seat %d: %v", i, err)
		}
	}
	if late.stable.Slot != 8 || late.committed != 0 {
		t.Fatalf("late seat: stable %d, committed %d; want the certificate alone", late.stable.Slot, late.committed)
	}
	st, ok := c.nodes[1].SyncResponse(0)
	if !ok || st.Snapshot == nil {
		t.Fatal("seat 1 serves no snapshot")
	}
	if err := late.ApplySync(st); err != nil {
		t.Fatal(err)
	}
	if rd := late.Ready(); rd.InstallSnapshot == nil || late.committed != 8 {
		t.Fatalf("snapshot not installed (committed %d)", late.committed)
	}
	late.Advance()
	st, ok = late.SyncResponse(0)
	if !ok || st.Snapshot == nil || crypto.Sum(st.Snapshot) != late.stable.App {
		t.Fatal("the synced seat cannot serve the stable checkpoint it installed")
	}
}

// myCPOrCert returns the node's checkpoint envelope for its stable slot:
// its own from the certificate (myCP is cleared once the slot is stable).
func (nd *Node) myCPOrCert(t *testing.T) *crypto.Envelope {
	t.Helper()
	for i := range nd.stableCert {
		if nd.stableCert[i].Sender == nd.seat {
			return &nd.stableCert[i]
		}
	}
	t.Fatalf("seat %d did not sign its stable checkpoint", nd.seat)
	return nil
}

// A leader that learns a stable checkpoint above its log from the Promises
// of its NewView must offer the checkpoint's signers as sync peers. Here
// seat 0 (Byzantine) has also claimed a far-future slot, so before the fix
// it was the only peer ever offered and served nothing useful, while the
// idle cluster's heartbeats kept the stuck leader in office forever.
func TestNewViewCheckpointSignersAreSyncPeers(t *testing.T) {
	c := newCPCluster(t, 4)
	c.link = func(from, to int, env crypto.Envelope) bool {
		// Seat 1 is cut off from everything except the view change.
		return to != 1 || env.Type == wire.TypeViewChange || env.Type == wire.TypePromise || env.Type == wire.TypeAccept && from != 0
	}
	c.decideFirstCheckpoint(t, 0, 2, 3)
	byz := c.nodes[0].cfg.Signer
	far := byz.Sign(wire.TypeAccept, (&acceptBody{View: 0, Slots: []uint64{1 << 40}, Values: [][]byte{{1}}}).encode())
	_ = c.nodes[1].Step(far)
	for _, i := range []int{0, 2, 3} {
		c.nodes[i].Suspect()
	}
	c.pump()
	lead := c.nodes[1]
	if st := lead.Status(); st.View != 1 || !st.IsLeader || lead.stable.Slot != 8 || lead.committed != 0 {
		t.Fatalf("seat 1: view %d leader %v stable %d committed %d", st.View, st.IsLeader, lead.stable.Slot, lead.committed)
	}
	c.tick(2 * lead.cfg.ResendTicks)
	need := c.need[1]
	if need == nil || need.From != 1 {
		t.Fatalf("seat 1 asks for no sync: %+v", need)
	}
	if !slices.Contains(need.Peers, 2) || !slices.Contains(need.Peers, 3) {
		t.Fatalf("sync peers %v: the checkpoint's honest signers 2 and 3 are not offered", need.Peers)
	}
}

// TestSimShiftedSeeds pins the two runs of the shifted seed family
// (-simshift) that stalled before the fixes above: crash/35 (the only
// surviving copy of a checkpoint's state could not be served) and
// stale-future/60 (a leader behind a NewView checkpoint was offered only a
// Byzantine sync peer).
func TestSimShiftedSeeds(t *testing.T) {
	for _, p := range []simParams{{seed: 35, n: 4, strategy: "crash", shift: true}, {seed: 60, n: 4, strategy: "stale-future", shift: true}} {
		checkRun(t, p)
	}
}

// A sync answer whose checkpoint certificate is padded with junk beside
// its quorum (a duplicate, a bad signature, another body) is accepted, but
// the node keeps exactly one valid quorum: what it serves on and what a
// match-result certificate (exactly q signatures) is made of. Before, it
// kept the padding, so a Byzantine sync peer could leave an honest seat
// unable to certify its result until the next checkpoint.
func TestSyncedCheckpointCertIsTrimmedToAQuorum(t *testing.T) {
	c := newCPCluster(t, 4)
	c.link = func(from, to int, env crypto.Envelope) bool { return to != 3 }
	c.decideFirstCheckpoint(t, 0, 1, 2)
	late := c.nodes[3]
	st, ok := c.nodes[1].SyncResponse(0)
	if !ok || st.Snapshot == nil {
		t.Fatal("seat 1 serves no snapshot")
	}
	good := st.CheckpointCert
	dup := good[0]
	badSig := good[1]
	badSig.Sig[0] ^= 1
	other := c.nodes[2].cfg.Signer.Sign(wire.TypeCheckpoint, []byte("another body"))
	st.CheckpointCert = append([]crypto.Envelope{badSig, dup, other}, good...)
	if err := late.ApplySync(st); err != nil {
		t.Fatal(err)
	}
	late.Ready()
	late.Advance()
	snap, ok := late.StableCheckpoint()
	if !ok {
		t.Fatal("no stable checkpoint after the sync")
	}
	if len(snap.Cert) != late.q {
		t.Fatalf("kept %d envelopes, want exactly a quorum of %d", len(snap.Cert), late.q)
	}
	seen := map[uint16]bool{}
	for i := range snap.Cert {
		e := &snap.Cert[i]
		if seen[e.Sender] || !bytes.Equal(e.Body, snap.Checkpoint) || late.vrf.Verify(e) != nil {
			t.Fatalf("kept envelope %d (seat %d) is not a distinct valid Checkpoint of the body", i, e.Sender)
		}
		seen[e.Sender] = true
	}
}

// A checkpoint can become stable at a node before the node has applied
// its slot: the others' signatures arrive first, and the node has no
// snapshot of it yet. A match-result certificate needs the snapshot, so
// StableCheckpoint must answer with the stable checkpoint before it until
// the node takes its own; a peer that stopped in between (the match ended)
// used to have no result at all (`invalid-move` under load: "honest peer 2
// wrote no result certificate").
func TestStableCheckpointFallsBackUntilItsSnapshotIsTaken(t *testing.T) {
	c := newCPCluster(t, 4)
	c.decideFirstCheckpoint(t, 0, 1, 2, 3)
	late := c.nodes[3]
	c.link = func(from, to int, env crypto.Envelope) bool { return to != 3 }
	for i := 0; i < 8; i++ {
		if err := c.nodes[0].Propose(nil); err != nil {
			t.Fatal(err)
		}
	}
	c.pump()
	for i := 0; i < 3; i++ {
		if st := c.nodes[i].Status(); st.StableCheckpoint != 16 {
			t.Fatalf("seat %d: stable checkpoint %d, want 16", i, st.StableCheckpoint)
		}
		if err := late.Step(*c.nodes[i].myCPOrCert(t)); err != nil {
			t.Fatalf("checkpoint of seat %d: %v", i, err)
		}
	}
	if late.stable.Slot != 16 || late.committed != 8 {
		t.Fatalf("late seat: stable %d, committed %d; want the certificate of 16 alone", late.stable.Slot, late.committed)
	}
	snap, ok := late.StableCheckpoint()
	if !ok || snap.Slot != 8 || !bytes.Equal(snap.Data, cpSnap(8)) || len(snap.Cert) != late.q {
		t.Fatalf("StableCheckpoint = slot %d, %d signatures, ok %v; want the one of slot 8 with its snapshot and a quorum", snap.Slot, len(snap.Cert), ok)
	}
	// Once it has caught up and taken its own snapshot, it is the new one.
	c.link = func(int, int, crypto.Envelope) bool { return true }
	for i := 0; i < 40 && late.committed < 16; i++ {
		c.tick(1)
		if need := c.need[3]; need != nil {
			c.need[3] = nil
			if st, ok := c.nodes[need.Peers[0]].SyncResponse(need.From); ok {
				_ = late.ApplySync(st)
				c.pump()
			}
		}
	}
	if snap, ok = late.StableCheckpoint(); !ok || snap.Slot != 16 || !bytes.Equal(snap.Data, cpSnap(16)) {
		t.Fatalf("after catching up: StableCheckpoint = slot %d, ok %v; want 16", snap.Slot, ok)
	}
}
