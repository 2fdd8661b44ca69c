package bft

import (
	"fmt"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// SyncState is what a node serves a peer that fell behind: its stable
// checkpoint with the quorum certificate, the snapshot (when the peer is
// below the checkpoint), and the decided suffix, each entry proved by a
// quorum of signed Confirms. The receiver trusts none of it unverified.
type SyncState struct {
	Checkpoint     []byte            // encoded checkpoint body: slot, app digest, ordered verdicts
	CheckpointCert []crypto.Envelope // a quorum of signed Checkpoints of exactly that body
	Snapshot       []byte            // application snapshot at the checkpoint, or nil
	Entries        []SyncEntry       // decided slots after the checkpoint (or after the requested slot)
	Confirms       []crypto.Envelope // distinct Confirm envelopes the entries' certificates point into
}

// SyncEntry is one decided slot: its value and the indexes in
// SyncState.Confirms of a quorum of Confirms for (View, Slot, Sum(Value)).
type SyncEntry struct {
	Slot  uint64
	View  uint64
	Value []byte
	Cert  []uint32
}

// syncBudget keeps an encoded SyncState under the wire's message limit;
// a peer further behind simply syncs again.
const syncBudget = wire.MaxMessageSize - 64<<10

// SyncResponse returns what this node can prove to a peer whose log ends
// at afterSlot, or false if it has nothing useful.
func (nd *Node) SyncResponse(afterSlot uint64) (*SyncState, bool) {
	if afterSlot >= nd.committed {
		return nil, false
	}
	st := &SyncState{Checkpoint: nd.stable.encode(), CheckpointCert: nd.stableCert}
	size := len(st.Checkpoint) + len(st.CheckpointCert)*200
	start := afterSlot + 1
	if afterSlot < nd.stable.Slot {
		if nd.stableSnap == nil {
			return nil, false
		}
		st.Snapshot = nd.stableSnap
		size += len(st.Snapshot)
		start = nd.stable.Slot + 1
	}
	idx := map[*envRef]uint32{}
	for s := start; s <= nd.committed; s++ {
		ss := nd.slots[s]
		if ss == nil || !ss.decided || ss.value == nil || len(ss.commitCert) < nd.q {
			break
		}
		add := len(ss.value) + 32
		for _, r := range ss.commitCert {
			if _, ok := idx[r]; !ok {
				add += len(r.env.Body) + 100
			}
		}
		if size+add > syncBudget {
			break
		}
		size += add
		e := SyncEntry{Slot: s, View: ss.decView, Value: ss.value}
		for _, r := range ss.commitCert {
			i, ok := idx[r]
			if !ok {
				i = uint32(len(st.Confirms))
				idx[r] = i
				st.Confirms = append(st.Confirms, r.env)
			}
			e.Cert = append(e.Cert, i)
		}
		st.Entries = append(st.Entries, e)
	}
	if len(st.Entries) == 0 && st.Snapshot == nil {
		return nil, false
	}
	return st, true
}

// ApplySync verifies a peer's SyncState (checkpoint certificate, snapshot
// digest, every entry's Confirm quorum) and installs it. Nothing is applied
// unless all of it verifies. Afterwards Ready.InstallSnapshot (if the node
// jumped to the checkpoint) and Ready.Committed deliver it to the app.
func (nd *Node) ApplySync(s *SyncState) error {
	cp, err := decodeCheckpoint(s.Checkpoint)
	if err != nil {
		return fmt.Errorf("%w: checkpoint: %v", ErrBadSync, err)
	}
	base := nd.committed
	install := cp.Slot > nd.committed
	if install {
		if !nd.validCP(&cp, s.CheckpointCert) {
			return fmt.Errorf("%w: checkpoint certificate", ErrBadSync)
		}
		if crypto.Sum(s.Snapshot) != cp.App {
			return fmt.Errorf("%w: snapshot digest", ErrBadSync)
		}
		base = cp.Slot
	}
	refs := make([]*envRef, len(s.Confirms))
	votes := make([]*voteBody, len(s.Confirms))
	for i := range s.Confirms {
		refs[i] = &envRef{env: s.Confirms[i]}
		if s.Confirms[i].Type == wire.TypeConfirm && nd.isAcceptor(s.Confirms[i].Sender) {
			if vb, err := decodeVote(s.Confirms[i].Body); err == nil {
				votes[i] = &vb
			}
		}
	}
	var accepted []SyncEntry
	certs := [][]*envRef{}
	next := base + 1
	for _, e := range s.Entries {
		if e.Slot < next {
			continue
		}
		if e.Slot != next {
			break
		}
		if len(e.Cert) > nd.acc {
			// A quorum certificate names one Confirm per acceptor at
			// most; more indexes only make every one of them cost a scan
			// of its Confirm's pairs here, on the runtime goroutine.
			return fmt.Errorf("%w: slot %d: certificate of %d Confirms, more than the %d acceptors", ErrBadSync, e.Slot, len(e.Cert), nd.acc)
		}
		d := crypto.Sum(e.Value)
		var cert []*envRef
		seen := map[uint16]bool{}
		for _, i := range e.Cert {
			if int(i) >= len(refs) || votes[i] == nil || votes[i].View != e.View || !hasPair(votes[i], e.Slot, d) {
				continue
			}
			r := refs[i]
			if seen[r.env.Sender] || !nd.check(r) {
				continue
			}
			seen[r.env.Sender] = true
			cert = append(cert, r)
		}
		if len(cert) < nd.q {
			return fmt.Errorf("%w: slot %d: commit certificate", ErrBadSync, e.Slot)
		}
		accepted = append(accepted, e)
		certs = append(certs, cert)
		next++
	}
	if !install && len(accepted) == 0 {
		return ErrSyncNothingNew
	}
	if install {
		nd.rd.Committed = nil // covered by the snapshot
		nd.rd.InstallSnapshot = &Snapshot{Slot: cp.Slot, Data: append([]byte(nil), s.Snapshot...),
			Checkpoint: cp.encode(), Cert: append([]crypto.Envelope(nil), s.CheckpointCert...)}
		nd.committed = cp.Slot
		nd.ordered = map[verdict]uint64{}
		for _, v := range cp.Ordered {
			nd.ordered[v] = cp.Slot
			delete(nd.pending, v)
		}
		nd.snaps[cp.Slot] = nd.rd.InstallSnapshot.Data
		if cp.Slot > nd.stable.Slot {
			nd.makeStable(cp, s.CheckpointCert)
		} else if cp.Slot == nd.stable.Slot && nd.stableSnap == nil && cp.App == nd.stable.App {
			// The certificate arrived first (checkpoint votes or a NewView)
			// and no snapshot came with it: keep this one, or the node can
			// never serve its stable state to a peer that restarts.
			nd.stableSnap, nd.opened = nd.rd.InstallSnapshot.Data, nil
		}
		nd.truncate(cp.Slot)
		if nd.nextSlot <= nd.committed {
			nd.nextSlot = nd.committed + 1
		}
	}
	for i, e := range accepted {
		ss := nd.slot(e.Slot)
		ss.decided, ss.decView, ss.decDigest = true, e.View, crypto.Sum(e.Value)
		ss.value, ss.commitCert = e.Value, certs[i]
	}
	nd.deliver()
	return nil
}

// maxSyncEntries bounds a decoded SyncState.
const maxSyncEntries = 1 << 14

// EncodeSyncState is the wire form of a SyncState.
func EncodeSyncState(s *SyncState) []byte {
	w := wire.NewWriter(nil)
	w.Blob(s.Checkpoint)
	encodeEnvs(w, s.CheckpointCert)
	w.Bool(s.Snapshot != nil)
	if s.Snapshot != nil {
		w.Blob(s.Snapshot)
	}
	w.Uvarint(uint64(len(s.Entries)))
	for _, e := range s.Entries {
		w.Uvarint(e.Slot)
		w.Uvarint(e.View)
		w.Blob(e.Value)
		w.Uvarint(uint64(len(e.Cert)))
		for _, c := range e.Cert {
			w.Uvarint(uint64(c))
		}
	}
	encodeEnvs(w, s.Confirms)
	return w.Bytes()
}

// DecodeSyncState parses EncodeSyncState's form, bounded by the wire limits.
// It checks structure only; ApplySync verifies the proofs.
func DecodeSyncState(b []byte) (*SyncState, error) {
	r := wire.NewReader(b)
	s := &SyncState{}
	s.Checkpoint = r.Blob("checkpoint", 1<<20)
	s.CheckpointCert = decodeEnvs(r, "cp-cert")
	if r.Bool("has-snapshot") {
		s.Snapshot = r.Blob("snapshot", wire.MaxMessageSize)
		if s.Snapshot == nil && r.Err() == nil {
			s.Snapshot = []byte{}
		}
	}
	n := r.Len("entries", maxSyncEntries, 4)
	for i := 0; i < n && r.Err() == nil; i++ {
		e := SyncEntry{Slot: r.Uvarint("slot"), View: r.Uvarint("view"), Value: r.Blob("value", wire.MaxMessageSize)}
		if e.Value == nil {
			e.Value = []byte{}
		}
		c := r.Len("cert", 1<<15, 1)
		for j := 0; j < c && r.Err() == nil; j++ {
			v := r.Uvarint("cert-index")
			if v > 1<<32-1 {
				r.Fail("cert-index", wire.ErrMalformed)
			}
			e.Cert = append(e.Cert, uint32(v))
		}
		s.Entries = append(s.Entries, e)
	}
	s.Confirms = decodeEnvs(r, "confirms")
	if err := r.Done(); err != nil {
		return nil, err
	}
	return s, nil
}
