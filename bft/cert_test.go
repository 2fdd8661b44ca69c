package bft

import (
	"errors"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// pumpCollect is cpCluster.pump keeping every seat's Committed entries and
// installed snapshots.
func (c *cpCluster) pumpCollect(got [][]Entry, snaps []*Snapshot) {
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
			if rd.InstallSnapshot != nil {
				snaps[i] = rd.InstallSnapshot
			}
			got[i] = append(got[i], rd.Committed...)
			for _, s := range rd.CheckpointDue {
				nd.Checkpoint(s, cpSnap(s))
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

// checkEntryCert checks what a replay verifier checks of an entry: q
// distinct, validly signed Confirms of the entry's view naming
// (slot, crypto.Sum(Value)), and Value's payload is Payload.
func checkEntryCert(t *testing.T, nd *Node, e *Entry) {
	t.Helper()
	v, err := decodeValue(e.Value, nd.cfg.MaxValueSize)
	if err != nil || string(v.Payload) != string(e.Payload) {
		t.Fatalf("slot %d: Value does not hold Payload (%v)", e.Slot, err)
	}
	d := crypto.Sum(e.Value)
	seen := map[uint16]bool{}
	for i := range e.Cert {
		env := &e.Cert[i]
		vb, err := decodeVote(env.Body)
		if env.Type != wire.TypeConfirm || err != nil || vb.View != e.View || !hasPair(&vb, e.Slot, d) || nd.cfg.Verifier.Verify(env) != nil {
			t.Fatalf("slot %d: certificate envelope %d does not confirm it", e.Slot, i)
		}
		seen[env.Sender] = true
	}
	if len(seen) < nd.q {
		t.Fatalf("slot %d: %d distinct Confirms, want %d", e.Slot, len(seen), nd.q)
	}
}

// TestEntriesCarryTransferableCertificates: every decided entry, whether
// decided here or learned through catch-up, carries its value and q
// Confirms that prove it to a third party; an installed snapshot carries
// its checkpoint body and certificate.
func TestEntriesCarryTransferableCertificates(t *testing.T) {
	c := newCPCluster(t, 4)
	c.link = func(from, to int, env crypto.Envelope) bool { return to != 3 }
	got, snaps := make([][]Entry, 4), make([]*Snapshot, 4)
	for i := 0; i < 10; i++ {
		if err := c.nodes[0].Propose([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if i == 7 {
			c.pumpCollect(got, snaps) // the window is 8 slots
		}
	}
	c.pumpCollect(got, snaps)
	if len(got[1]) != 10 {
		t.Fatalf("seat 1 decided %d slots, want 10", len(got[1]))
	}
	for i := range got[1] {
		checkEntryCert(t, c.nodes[1], &got[1][i])
	}
	st, ok := c.nodes[1].SyncResponse(0)
	if !ok {
		t.Fatal("no sync response")
	}
	late := c.nodes[3]
	if err := late.ApplySync(st); err != nil {
		t.Fatal(err)
	}
	c.pumpCollect(got, snaps)
	s := snaps[3]
	if s == nil || s.Slot != 8 || !late.validCP(mustCP(t, s.Checkpoint), s.Cert) || crypto.Sum(s.Data) != mustCP(t, s.Checkpoint).App {
		t.Fatalf("installed snapshot carries no valid certificate: %+v", s)
	}
	if len(got[3]) != 2 || got[3][0].Slot != 9 {
		t.Fatalf("seat 3 learned %d entries after the snapshot", len(got[3]))
	}
	for i := range got[3] {
		checkEntryCert(t, late, &got[3][i])
	}
}

// TestSyncRefusesPaddedCertificates: an answer whose entry names more
// Confirms than there are acceptors (a Byzantine sync peer padding every
// entry with references to one fat Confirm, to make the asker scan its
// pairs once per reference on its runtime goroutine) is refused as a bad
// sync before any of it is read; the same answer unpadded applies.
func TestSyncRefusesPaddedCertificates(t *testing.T) {
	c := newCPCluster(t, 4)
	c.link = func(from, to int, env crypto.Envelope) bool { return to != 3 }
	got, snaps := make([][]Entry, 4), make([]*Snapshot, 4)
	for i := 0; i < 4; i++ {
		if err := c.nodes[0].Propose([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	c.pumpCollect(got, snaps)
	st, ok := c.nodes[1].SyncResponse(0)
	if !ok || len(st.Entries) == 0 {
		t.Fatal("no sync response")
	}
	padded := *st
	padded.Entries = append([]SyncEntry(nil), st.Entries...)
	e := &padded.Entries[0]
	e.Cert = append(append([]uint32(nil), e.Cert...), make([]uint32, 1024)...)
	if err := c.nodes[3].ApplySync(&padded); !errors.Is(err, ErrBadSync) {
		t.Fatalf("padded certificate: %v", err)
	}
	if err := c.nodes[3].ApplySync(st); err != nil {
		t.Fatalf("the honest answer: %v", err)
	}
}

func mustCP(t *testing.T, b []byte) *checkpointBody {
	t.Helper()
	cp, err := decodeCheckpoint(b)
	if err != nil {
		t.Fatal(err)
	}
	return &cp
}
