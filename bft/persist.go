package bft

import (
	"fmt"
	"sort"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// Record kinds (first byte of a Record).
const (
	recEnv       = 1 // an envelope this node signed (Accept, Verify, Confirm, ViewChange, Promise, NewView, Checkpoint)
	recPrepared1 = 2 // legacy prepared certificates: view | (slot, value)* | Verify envelopes (still read)
	recPrepared  = 3 // prepared certificates backing a Confirm: (slot, view, digest, value)* | Verify envelopes
)

// persistPrepared records, before the Confirm naming them is sent, the
// prepared certificates (digest, value and quorum of Verifies) for the
// pairs in q, so that after any number of restarts this node's Promise
// still carries them: the view-change safety argument needs every honest
// confirmer to remember its certificate. The digest is stored beside the
// value so that the certificate is restorable on its own.
func (nd *Node) persistPrepared(q []pair) {
	w := wire.NewWriter([]byte{recPrepared})
	var items []preparedItem
	var vals [][]byte
	var envs []crypto.Envelope
	seen := map[*envRef]bool{}
	for _, p := range q {
		ss := nd.slots[p.Slot]
		if ss == nil || ss.prep == nil {
			continue
		}
		items = append(items, preparedItem{Slot: p.Slot, View: ss.prep.view, Digest: ss.prep.digest})
		vals = append(vals, ss.prep.value)
		for _, r := range ss.prep.cert {
			if !seen[r] {
				seen[r] = true
				envs = append(envs, r.env)
			}
		}
	}
	encodePrepared(w, items, vals, envs)
	nd.rd.Persist = append(nd.rd.Persist, Record(w.Bytes()))
}

func encodePrepared(w *wire.Writer, items []preparedItem, vals [][]byte, envs []crypto.Envelope) {
	w.Uvarint(uint64(len(items)))
	for i, it := range items {
		w.Uvarint(it.Slot)
		w.Uvarint(it.View)
		w.Bytes32(it.Digest)
		w.Blob(vals[i])
	}
	encodeEnvs(w, envs)
}

// restore rebuilds what this node signed from its WAL records.
func (nd *Node) restore(recs []Record) error {
	var maxView uint64
	for i, rec := range recs {
		if len(rec) == 0 {
			return fmt.Errorf("%w: record %d empty", ErrBadRecord, i)
		}
		var err error
		switch rec[0] {
		case recEnv:
			err = nd.restoreEnv(rec[1:], &maxView)
		case recPrepared:
			err = nd.restorePrepared(rec[1:])
		case recPrepared1:
			err = nd.restorePrepared1(rec[1:])
		case recStable:
			err = nd.restoreStable(rec[1:])
		case recOwnVotes:
			err = nd.restoreOwnVotes(rec[1:], &maxView)
		case recMute:
			nd.mute = true
		case recMark:
			err = nd.restoreMark(rec[1:])
		case recSnap:
			err = nd.restoreSnap(rec[1:])
		default:
			err = fmt.Errorf("kind %d", rec[0])
		}
		if err != nil {
			return fmt.Errorf("%w: record %d: %v", ErrBadRecord, i, err)
		}
	}
	if len(recs) == 0 {
		return nil
	}
	if nd.stable.Slot > 0 {
		nd.truncate(nd.stable.Slot) // what the restored votes named below it is decided
	}
	nd.view = maxView
	if nd.vcTarget <= nd.view {
		nd.vcTarget = 0
	}
	nd.active = nd.view == 0
	if nd.view > 0 && nd.nvEnv != nil {
		nb, err := decodeNewView(nd.nvEnv.Body)
		if err == nil && nb.View == nd.view {
			var bodies []promiseBody
			for j := range nb.Promises {
				pb, err := decodePromise(nb.Promises[j].Body)
				if err != nil {
					return fmt.Errorf("%w: new-view promise: %v", ErrBadRecord, err)
				}
				bodies = append(bodies, pb)
			}
			nd.applyNewView(bodies)
		} else {
			nd.nvEnv = nil
		}
	}
	if nd.myPromise != nil && nd.promiseView() != nd.view {
		nd.myPromise = nil
	}
	if nd.isLeader() && !nd.active && nd.myPromise != nil {
		b, _ := decodePromise(nd.myPromise.Body)
		nd.promises[nd.seat] = &promiseIn{env: *nd.myPromise, body: b}
	}
	for k := range nd.ownVotes {
		if k.t == wire.TypeVerify && k.view == nd.view && k.slot >= nd.nextSlot {
			nd.nextSlot = k.slot + 1
		}
	}
	return nil
}

func (nd *Node) restoreEnv(b []byte, maxView *uint64) error {
	env, err := crypto.DecodeEnvelope(b)
	if err != nil {
		return err
	}
	if env.Sender != nd.seat {
		return fmt.Errorf("envelope of seat %d", env.Sender)
	}
	ep := &env
	switch env.Type {
	case wire.TypeVerify, wire.TypeConfirm:
		vb, err := decodeVote(env.Body)
		if err != nil {
			return err
		}
		*maxView = max(*maxView, vb.View)
		ref := &envRef{env: env, state: 1}
		idx := 1
		if env.Type == wire.TypeVerify {
			idx = 0
		}
		for _, p := range vb.Pairs {
			nd.ownVotes[ownKey{env.Type, vb.View, p.Slot}] = p.Digest
			nd.putEq(eqKey{env.Type, vb.View, p.Slot, nd.seat}, eqVal{p.Digest, ref})
			ss := nd.slot(p.Slot)
			ss.myEnvs = append(ss.myEnvs, ep)
			// The own vote counts toward its quorum again, as it did before
			// the restart (without it a restarted seat at n = 4 needed all
			// three others' Verifies to prepare).
			nd.addVote(ss, idx, vb.View, p.Digest, ref)
			if env.Type == wire.TypeVerify && nd.leaderOf(vb.View) == nd.seat && vb.View >= ss.propView {
				ss.propView, ss.propDigest, ss.hasProp = vb.View, p.Digest, true
			}
		}
	case wire.TypeAccept:
		ab, err := decodeAccept(env.Body, nd.cfg.maxValueBytes())
		if err != nil {
			return err
		}
		for i, s := range ab.Slots {
			ss := nd.slot(s)
			nd.putValue(ss, crypto.Sum(ab.Values[i]), ab.Values[i], true)
			ss.myEnvs = append(ss.myEnvs, ep)
		}
	case wire.TypeViewChange:
		v, err := decodeViewBody(env.Body)
		if err != nil {
			return err
		}
		if v > nd.vcTarget {
			nd.vcTarget, nd.myVC = v, ep
			nd.vcLatest[nd.seat] = v
		}
	case wire.TypePromise:
		pb, err := decodePromise(env.Body)
		if err != nil {
			return err
		}
		*maxView = max(*maxView, pb.View)
		if pb.View >= nd.promiseView() {
			nd.myPromise = ep
		}
	case wire.TypeNewView:
		nb, err := decodeNewView(env.Body)
		if err != nil {
			return err
		}
		*maxView = max(*maxView, nb.View)
		nd.ownVotes[ownKey{wire.TypeNewView, nb.View, 0}] = crypto.Sum(env.Body)
		nd.nvEnv = ep
	case wire.TypeCheckpoint:
		cp, err := decodeCheckpoint(env.Body)
		if err != nil {
			return err
		}
		nd.ownVotes[ownKey{wire.TypeCheckpoint, 0, cp.Slot}] = crypto.Sum(env.Body)
	}
	return nil
}

func (nd *Node) restorePrepared(b []byte) error {
	r := wire.NewReader(b)
	n := r.Len("items", maxPairs, 35)
	items := make([]preparedItem, 0, n)
	vals := make([][]byte, 0, n)
	for i := 0; i < n && r.Err() == nil; i++ {
		items = append(items, preparedItem{Slot: r.Uvarint("slot"), View: r.Uvarint("view"), Digest: r.Bytes32("digest")})
		vals = append(vals, r.Blob("value", nd.cfg.maxValueBytes()))
	}
	envs := decodeEnvs(r, "verifies")
	if err := r.Done(); err != nil {
		return err
	}
	for i, it := range items {
		if vals[i] != nil && crypto.Sum(vals[i]) != it.Digest {
			return fmt.Errorf("prepared slot %d: value does not match its digest", it.Slot)
		}
	}
	nd.installPrepared(items, vals, envs)
	return nil
}

// restorePrepared1 reads the legacy record, which stored no digest: the
// digest is the one the certificate's Verifies name for the slot, so a
// certificate whose value was not held is still restored (digest only).
func (nd *Node) restorePrepared1(b []byte) error {
	r := wire.NewReader(b)
	view := r.Uvarint("view")
	n := r.Len("items", maxPairs, 2)
	slots := make([]uint64, 0, n)
	vals := make([][]byte, 0, n)
	for i := 0; i < n && r.Err() == nil; i++ {
		slots = append(slots, r.Uvarint("slot"))
		vals = append(vals, r.Blob("value", nd.cfg.maxValueBytes()))
	}
	envs := decodeEnvs(r, "verifies")
	if err := r.Done(); err != nil {
		return err
	}
	var items []preparedItem
	var keep [][]byte
	for i, s := range slots {
		it := preparedItem{Slot: s, View: view}
		if vals[i] != nil {
			it.Digest = crypto.Sum(vals[i])
		} else if d, ok := certDigest(envs, view, s, nd.q); ok {
			it.Digest = d
		} else {
			return fmt.Errorf("prepared slot %d: no value and no certificate", s)
		}
		items = append(items, it)
		keep = append(keep, vals[i])
	}
	nd.installPrepared(items, keep, envs)
	return nil
}

// certDigest finds the digest that q distinct Verifies in envs name for
// (view, slot).
func certDigest(envs []crypto.Envelope, view, slot uint64, q int) (crypto.Digest, bool) {
	count := map[crypto.Digest]map[uint16]bool{}
	for i := range envs {
		vb, err := decodeVote(envs[i].Body)
		if err != nil || vb.View != view {
			continue
		}
		j := sort.Search(len(vb.Pairs), func(k int) bool { return vb.Pairs[k].Slot >= slot })
		if j < len(vb.Pairs) && vb.Pairs[j].Slot == slot {
			d := vb.Pairs[j].Digest
			if count[d] == nil {
				count[d] = map[uint16]bool{}
			}
			count[d][envs[i].Sender] = true
			if len(count[d]) >= q {
				return d, true
			}
		}
	}
	return crypto.Digest{}, false
}

// installPrepared rebuilds prepared certificates from persisted items: each
// keeps the Verifies of envs that name its (view, slot, digest). A value
// that was not held leaves a digest-only certificate: still promised in a
// view change, its value supplied by whoever holds it.
func (nd *Node) installPrepared(items []preparedItem, vals [][]byte, envs []crypto.Envelope) {
	refs := make([]*envRef, len(envs))
	votes := make([]*voteBody, len(envs))
	for i := range envs {
		refs[i] = &envRef{env: envs[i], state: 1}
		if vb, err := decodeVote(envs[i].Body); err == nil {
			votes[i] = &vb
		}
	}
	for i, it := range items {
		var cert []*envRef
		for j, vb := range votes {
			if vb != nil && vb.View == it.View && hasPair(vb, it.Slot, it.Digest) {
				cert = append(cert, refs[j])
			}
		}
		ss := nd.slot(it.Slot)
		if ss.prep == nil || ss.prep.view <= it.View {
			ss.prep = &prepared{view: it.View, digest: it.Digest, value: vals[i], cert: cert}
			if vals[i] != nil {
				nd.putValue(ss, it.Digest, vals[i], true)
			}
		}
	}
}
