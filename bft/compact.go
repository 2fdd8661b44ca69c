package bft

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// Compacted records: after a stable checkpoint the WAL is rewritten to the
// few records that keep this node from contradicting anything it signed
// (docs/PROTOCOL.md, "What is persisted"):
//   - the stable checkpoint and its quorum certificate (recStable): every
//     slot at or below it is decided and certified, and the node never votes
//     there again;
//   - its latest ViewChange, Promise and NewView (recEnv): the highest view
//     it voted to enter, entered, or led;
//   - every own Verify/Confirm/Checkpoint vote above the checkpoint
//     (recOwnVotes, one (type, view, slot, digest) each: the signed
//     envelopes of decided slots are not needed to refuse a conflicting
//     vote, only what they named);
//   - the envelopes it may still have to re-send for undecided slots
//     (recEnv), and its prepared certificates above the checkpoint
//     (recPrepared).
//
// Everything else (votes below the checkpoint, the heartbeats, the Accepts
// of decided slots) is dropped, so the WAL's size and the restart time stay
// bounded however long a match runs.
const (
	recStable   = 4 // stable checkpoint body | its certificate
	recOwnVotes = 5 // (type, view, slot, digest)*
	recMute     = 6 // this seat lost its WAL once in this match: it never votes again (Config.Recovering)
	recMark     = 7 // the application's signing mark (Node.ReserveMark): uvarint
	recSnap     = 8 // the stable checkpoint's snapshot: slot | snapshot
)

// compact builds the records that replace the whole WAL (Ready.Compact).
func (nd *Node) compact() []Record {
	var recs []Record
	if nd.mute {
		recs = append(recs, Record{recMute})
	}
	if nd.mark > 0 {
		recs = append(recs, markRecord(nd.mark))
	}
	if nd.stable.Slot > 0 {
		w := wire.NewWriter([]byte{recStable})
		w.Blob(nd.stable.encode())
		encodeEnvs(w, nd.stableCert)
		recs = append(recs, Record(w.Bytes()))
		if nd.stableSnap != nil {
			// Kept so that a node restarted from this log holds its
			// stable state itself: when every seat restarts at once
			// (a LAN's power cut), no one else has it to serve, and
			// without it the match could never go on.
			w := wire.NewWriter([]byte{recSnap})
			w.Uvarint(nd.stable.Slot)
			w.Blob(nd.stableSnap)
			recs = append(recs, Record(w.Bytes()))
		}
	}
	env := func(e *crypto.Envelope) {
		if e != nil {
			recs = append(recs, Record(append([]byte{recEnv}, e.Encode(nil)...)))
		}
	}
	env(nd.myVC)
	env(nd.myPromise)
	if nd.nvEnv != nil && nd.nvEnv.Sender == nd.seat {
		env(nd.nvEnv)
	}
	if nd.myCP != nil {
		env(nd.myCP)
	}

	keys := make([]ownKey, 0, len(nd.ownVotes))
	for k := range nd.ownVotes {
		if k.slot > nd.stable.Slot && (k.t == wire.TypeVerify || k.t == wire.TypeConfirm || k.t == wire.TypeCheckpoint) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.slot != b.slot {
			return a.slot < b.slot
		}
		if a.view != b.view {
			return a.view < b.view
		}
		return a.t < b.t
	})
	w := wire.NewWriter([]byte{recOwnVotes})
	w.Uvarint(uint64(len(keys)))
	for _, k := range keys {
		w.U8(uint8(k.t))
		w.Uvarint(k.view)
		w.Uvarint(k.slot)
		w.Bytes32(nd.ownVotes[k])
	}
	recs = append(recs, Record(w.Bytes()))

	slots := nd.sortedSlots()
	seen := map[*crypto.Envelope]bool{}
	for _, s := range slots {
		ss := nd.slots[s]
		if s <= nd.stable.Slot {
			continue
		}
		for _, e := range ss.myEnvs {
			if !seen[e] {
				seen[e] = true
				env(e)
			}
		}
	}
	var items []preparedItem
	var vals [][]byte
	var certs []crypto.Envelope
	seenRef := map[*envRef]bool{}
	for _, s := range slots {
		ss := nd.slots[s]
		if s <= nd.stable.Slot || ss.prep == nil {
			continue
		}
		items = append(items, preparedItem{Slot: s, View: ss.prep.view, Digest: ss.prep.digest})
		vals = append(vals, ss.prep.value)
		for _, r := range ss.prep.cert {
			if !seenRef[r] {
				seenRef[r] = true
				certs = append(certs, r.env)
			}
		}
	}
	if len(items) > 0 {
		w := wire.NewWriter([]byte{recPrepared})
		encodePrepared(w, items, vals, certs)
		recs = append(recs, Record(w.Bytes()))
	}
	return recs
}

func (nd *Node) restoreStable(b []byte) error {
	r := wire.NewReader(b)
	body := r.Blob("checkpoint", 1<<20)
	cert := decodeEnvs(r, "cert")
	if err := r.Done(); err != nil {
		return err
	}
	cp, err := decodeCheckpoint(body)
	if err != nil {
		return err
	}
	if cp.Slot > nd.stable.Slot {
		// Our own record: the certificate was checked when it became
		// stable. The snapshot is not kept here; the node fetches it
		// (Ready.NeedSync) like any peer behind a stable checkpoint.
		nd.stable, nd.stableCert = cp, cert
		for i := range cert {
			nd.peerAhead(cert[i].Sender, cp.Slot)
		}
	}
	return nil
}

func (nd *Node) restoreOwnVotes(b []byte, maxView *uint64) error {
	r := wire.NewReader(b)
	n := r.Len("votes", 1<<22, 35)
	for i := 0; i < n && r.Err() == nil; i++ {
		t := wire.Type(r.U8("type"))
		k := ownKey{t, r.Uvarint("view"), r.Uvarint("slot")}
		d := r.Bytes32("digest")
		if r.Err() != nil {
			break
		}
		switch t {
		case wire.TypeVerify, wire.TypeConfirm:
			*maxView = max(*maxView, k.view)
			if t == wire.TypeVerify && nd.leaderOf(k.view) == nd.seat {
				ss := nd.slot(k.slot)
				if k.view >= ss.propView {
					ss.propView, ss.propDigest, ss.hasProp = k.view, d, true
				}
			}
		case wire.TypeCheckpoint:
		default:
			return fmt.Errorf("own vote of type %v", t)
		}
		nd.ownVotes[k] = d
	}
	return r.Done()
}

// ReserveMark persists mark, a number the application must never go back
// below after a restart, in the next Ready's Persist (the same group write
// as the votes, before any message of that Ready is sent): the lockstep
// core reserves the highest tick it may sign an input for, so that a
// player restarted from its WAL never signs a second, different input for
// a tick it signed before the crash (input equivocation, proof against an
// honest seat). Compaction keeps the highest mark; Mark reads it after a
// restart. A mark at or below the current one is a no-op.
func (nd *Node) ReserveMark(mark uint64) {
	if mark <= nd.mark {
		return
	}
	nd.mark = mark
	nd.rd.Persist = append(nd.rd.Persist, markRecord(mark))
}

// Mark is the highest mark reserved (ReserveMark), restored from the WAL
// after a restart; 0 when none was.
func (nd *Node) Mark() uint64 { return nd.mark }

func markRecord(mark uint64) Record {
	return Record(binary.AppendUvarint([]byte{recMark}, mark))
}

func (nd *Node) restoreMark(b []byte) error {
	r := wire.NewReader(b)
	m := r.Uvarint("mark")
	if err := r.Done(); err != nil {
		return err
	}
	nd.mark = max(nd.mark, m)
	return nil
}

// restoreSnap keeps the stable checkpoint's snapshot restored with it
// (recSnap after recStable): the node installs it at start (NewNode), as
// ApplySync installs a fetched one.
func (nd *Node) restoreSnap(b []byte) error {
	r := wire.NewReader(b)
	slot := r.Uvarint("slot")
	snap := r.Blob("snapshot", wire.MaxMessageSize)
	if err := r.Done(); err != nil {
		return err
	}
	if slot == nd.stable.Slot && slot > 0 && crypto.Sum(snap) == nd.stable.App {
		nd.stableSnap = append([]byte(nil), snap...)
	}
	return nil
}

// installOwnStable hands the application the stable checkpoint's
// snapshot the WAL kept (Ready.InstallSnapshot, in the first Ready) when
// the node restarts behind it: the node is then at the checkpoint at once,
// can propose past it and serve it, and syncs only what came after.
func (nd *Node) installOwnStable() {
	if nd.stableSnap == nil || nd.committed >= nd.stable.Slot {
		return
	}
	cp := nd.stable
	nd.rd.InstallSnapshot = &Snapshot{Slot: cp.Slot, Data: append([]byte(nil), nd.stableSnap...),
		Checkpoint: cp.encode(), Cert: append([]crypto.Envelope(nil), nd.stableCert...)}
	nd.committed = cp.Slot
	for _, v := range cp.Ordered {
		nd.ordered[v] = cp.Slot
		delete(nd.pending, v)
	}
	nd.snaps[cp.Slot] = nd.stableSnap
	if nd.nextSlot <= nd.committed {
		nd.nextSlot = nd.committed + 1
	}
}
