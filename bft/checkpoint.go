package bft

import (
	"bytes"
	"sort"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// Checkpoint is the application's answer to Ready.CheckpointDue: its state
// snapshot after applying slot. The node signs (slot, Sum(snapshot), the
// verdicts ordered so far) and broadcasts it; a quorum of matching
// signatures makes it stable, and the log up to it is dropped.
func (nd *Node) Checkpoint(slot uint64, snapshot []byte) {
	if slot == nd.stable.Slot && slot > 0 && nd.stableSnap == nil && crypto.Sum(snapshot) == nd.stable.App {
		// The certificate arrived before the app's snapshot (e.g. after a
		// sync): keep the snapshot anyway, or no one may be left able to
		// serve it to a restarted peer.
		nd.stableSnap = append([]byte(nil), snapshot...)
		nd.opened = nil
		nd.compactDue = true // the WAL keeps it too (recSnap)
		return
	}
	if slot <= nd.stable.Slot || slot > nd.committed || slot%nd.cfg.CheckpointInterval != 0 {
		return
	}
	body := checkpointBody{Slot: slot, App: crypto.Sum(snapshot), Ordered: nd.orderedAt(slot)}
	enc := body.encode()
	d := crypto.Sum(enc)
	k := ownKey{wire.TypeCheckpoint, 0, slot}
	if old, ok := nd.ownVotes[k]; ok && old != d {
		return // the application is not deterministic: never sign a second state for one slot
	}
	nd.ownVotes[k] = d
	if !nd.votes() {
		// A ModeCrash learner (or a recovering seat) does not vote; it keeps the snapshot to serve
		// sync once the acceptors' certificate makes this slot stable.
		nd.snaps[slot] = append([]byte(nil), snapshot...)
		return
	}
	env := nd.sign(wire.TypeCheckpoint, enc)
	nd.persistEnv(&env)
	nd.send(Broadcast, env)
	nd.myCP = &env
	nd.snaps[slot] = append([]byte(nil), snapshot...)
	nd.addCP(&envRef{env: env, state: 1}, slot)
}

// orderedAt lists the verdicts ordered at or before slot, sorted.
func (nd *Node) orderedAt(slot uint64) []verdict {
	var out []verdict
	for v, at := range nd.ordered {
		if at <= slot {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return verdictLess(out[i], out[j]) })
	return out
}

func (nd *Node) onCheckpoint(env crypto.Envelope) error {
	cp, err := decodeCheckpoint(env.Body)
	if err != nil {
		return nd.drop(DropDecode)
	}
	if cp.Slot == 0 || cp.Slot%nd.cfg.CheckpointInterval != 0 {
		return nd.drop(DropInvalid)
	}
	if cp.Slot <= nd.stable.Slot {
		return nd.drop(DropStale)
	}
	if !nd.isAcceptor(env.Sender) {
		return nd.drop(DropInvalid)
	}
	if cp.Slot > nd.committed+64*nd.cfg.CheckpointInterval+uint64(2*nd.cfg.Window) {
		return nd.drop(DropFuture)
	}
	ref := &envRef{env: env}
	if old := nd.cpVotes[cp.Slot][env.Sender]; old != nil {
		if bytes.Equal(old.env.Body, env.Body) {
			return nd.drop(DropDuplicate)
		}
		if nd.check(ref) && nd.check(old) {
			nd.foundEvidence(Evidence{Kind: CheckpointEquivocation, Offender: env.Sender, A: old.env, B: env}, true)
		}
		return nd.drop(DropInvalid)
	}
	if !nd.check(ref) {
		return dropErrs[DropBadSignature]
	}
	nd.addCP(ref, cp.Slot)
	return nil
}

func (nd *Node) addCP(ref *envRef, slot uint64) {
	m := nd.cpVotes[slot]
	if m == nil {
		m = map[uint16]*envRef{}
		nd.cpVotes[slot] = m
	}
	m[ref.env.Sender] = ref
	if ref.env.Sender != nd.seat && slot > nd.peerMax[ref.env.Sender] {
		nd.peerMax[ref.env.Sender] = slot
	}
	var cert []crypto.Envelope
	for _, r := range m {
		if bytes.Equal(r.env.Body, ref.env.Body) {
			cert = append(cert, r.env)
		}
	}
	if len(cert) >= nd.q {
		sort.Slice(cert, func(i, j int) bool { return cert[i].Sender < cert[j].Sender })
		cp, _ := decodeCheckpoint(ref.env.Body)
		nd.makeStable(cp, cert[:nd.q])
	}
}

// makeStable adopts a certified checkpoint and truncates the log below it.
func (nd *Node) makeStable(cp checkpointBody, cert []crypto.Envelope) {
	if cp.Slot <= nd.stable.Slot {
		return
	}
	if nd.stableSnap != nil && len(nd.stableCert) >= nd.q {
		// The new one may have no snapshot here yet (its certificate
		// arrived before this node applied its slot): until it has,
		// StableCheckpoint answers with this one.
		nd.opened = &Snapshot{Slot: nd.stable.Slot, Data: nd.stableSnap, Checkpoint: nd.stable.encode(), Cert: nd.stableCert}
	}
	nd.stable, nd.stableCert = cp, nd.exactCert(cp, cert)
	nd.compactDue = true
	for i := range cert {
		// Each signer decided up to the checkpoint: a peer to sync from even
		// if it never showed a slot above our log (say the certificate came
		// in a NewView), so a Byzantine seat claiming a far slot is never
		// the only one offered.
		nd.peerAhead(cert[i].Sender, cp.Slot)
	}
	nd.stableSnap = nil
	if s, ok := nd.snaps[cp.Slot]; ok && crypto.Sum(s) == cp.App {
		nd.stableSnap, nd.opened = s, nil
	}
	if nd.myCP != nil {
		if b, _ := decodeCheckpoint(nd.myCP.Body); b.Slot <= cp.Slot {
			nd.myCP = nil
		}
	}
	nd.truncate(cp.Slot)
}

// exactCert returns one quorum of cert: the first q distinct acceptors'
// valid Checkpoints of exactly cp, by seat. A certificate that came from a
// peer (a sync answer, a NewView) may carry junk beside its quorum — a
// duplicate, a bad signature, another body — and the node serves and
// reports what it keeps (sync answers, result certificates, which must hold
// exactly a quorum), so it keeps only the quorum. Signatures checked
// before are answered from the verifier's cache.
func (nd *Node) exactCert(cp checkpointBody, cert []crypto.Envelope) []crypto.Envelope {
	body := cp.encode()
	sorted := append([]crypto.Envelope(nil), cert...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Sender < sorted[j].Sender })
	out := make([]crypto.Envelope, 0, nd.q)
	seen := map[uint16]bool{}
	for i := range sorted {
		e := &sorted[i]
		if len(out) == nd.q {
			break
		}
		if e.Type != wire.TypeCheckpoint || seen[e.Sender] || !nd.isAcceptor(e.Sender) || !bytes.Equal(e.Body, body) || nd.vrf.Verify(e) != nil {
			continue
		}
		seen[e.Sender] = true
		out = append(out, *e)
	}
	if len(out) < nd.q {
		return cert // cannot happen: every caller checked a quorum; keep what was checked
	}
	return out
}

// truncate forgets everything at or below slot c: it is decided, and the
// stable checkpoint certificate replaces it for anyone who needs it.
func (nd *Node) truncate(c uint64) {
	for s := range nd.slots {
		if s <= c {
			delete(nd.slots, s)
		}
	}
	nd.dropEq(func(k eqKey) bool { return k.slot <= c })
	for k := range nd.ownVotes {
		if k.slot <= c {
			delete(nd.ownVotes, k)
		}
	}
	for s := range nd.cpVotes {
		if s <= c {
			delete(nd.cpVotes, s)
		}
	}
	for s := range nd.snaps {
		if s < c {
			delete(nd.snaps, s)
		}
	}
}

// peerAhead notes that sender has shown a slot beyond this node's reach.
func (nd *Node) peerAhead(sender uint16, s uint64) {
	if sender != nd.seat && s > nd.peerMax[sender] {
		nd.peerMax[sender] = s
	}
}

// checkBehind asks the driver for a sync when the node cannot make
// progress by itself: a stable checkpoint above its log, a gap before a
// decided slot, a decided slot whose value never arrived, or peers working
// beyond its window.
func (nd *Node) checkBehind() {
	next := nd.committed + 1
	behind := nd.stable.Slot > nd.committed
	if ss := nd.slots[next]; ss != nil && ss.decided && ss.value == nil {
		behind = true
	}
	var peers []uint16
	for p, m := range nd.peerMax {
		if uint16(p) == nd.seat || m <= nd.committed {
			continue
		}
		peers = append(peers, uint16(p))
		if m > nd.committed+uint64(nd.cfg.Window) {
			behind = true
		}
	}
	if !behind {
		for s, ss := range nd.slots {
			if s > next && ss.decided {
				behind = true
				break
			}
		}
	}
	if !behind {
		return
	}
	if len(peers) == 0 {
		for p := 0; p < nd.n; p++ {
			if uint16(p) != nd.seat {
				peers = append(peers, uint16(p))
			}
		}
	} else if nd.crashMode() {
		// In ModeCrash an idle seat or a learner (which never sends) may
		// hold the only surviving snapshot without having shown it: after
		// the seats known to be ahead, offer every other seat too.
		for p := 0; p < nd.n; p++ {
			if uint16(p) != nd.seat && nd.peerMax[p] <= nd.committed {
				peers = append(peers, uint16(p))
			}
		}
	}
	nd.rd.NeedSync = &SyncNeed{From: next, Peers: peers}
}

// StableCheckpoint returns the latest stable checkpoint whose application
// snapshot this node holds, with its quorum certificate and that snapshot,
// or false while there is none. A checkpoint that became stable before
// this node applied its slot (the others' signatures came first) has no
// snapshot here until it does; meanwhile, and if the node stops first,
// the one before it is returned. The returned slices are the node's:
// callers must not modify them. It is what a match-result certificate is
// made of (gamestate.ResultCertificate).
func (nd *Node) StableCheckpoint() (Snapshot, bool) {
	if nd.stable.Slot == 0 || nd.stableSnap == nil || len(nd.stableCert) < nd.q {
		if nd.opened != nil {
			return *nd.opened, true
		}
		return Snapshot{}, false
	}
	return Snapshot{Slot: nd.stable.Slot, Data: nd.stableSnap, Checkpoint: nd.stable.encode(), Cert: nd.stableCert}, true
}
