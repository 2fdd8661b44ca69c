package bft

import (
	"fmt"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// Record kinds (first byte of a Record).
const (
	recEnv      = 1 // an envelope this node signed (Accept, Verify, Confirm, ViewChange, Promise, NewView, Checkpoint)
	recPrepared = 2 // prepared certificates backing a Confirm: view | (slot, value)* | Verify envelopes
)

// persistPrepared records, before the Confirm naming them is sent, the
// prepared certificates (value + quorum of Verifies) for the pairs in q, so
// that after a crash this node's Promise still carries them: the view-change
// safety argument needs every honest confirmer to remember its certificate.
func (nd *Node) persistPrepared(q []pair) {
	w := wire.NewWriter([]byte{recPrepared})
	w.Uvarint(nd.view)
	w.Uvarint(uint64(len(q)))
	var envs []crypto.Envelope
	seen := map[*envRef]bool{}
	for _, p := range q {
		ss := nd.slots[p.Slot]
		var val []byte
		if ss != nil && ss.prep != nil {
			val = ss.prep.value
			for _, r := range ss.prep.cert {
				if !seen[r] {
					seen[r] = true
					envs = append(envs, r.env)
				}
			}
		}
		w.Uvarint(p.Slot)
		w.Blob(val)
	}
	encodeEnvs(w, envs)
	nd.rd.Persist = append(nd.rd.Persist, Record(w.Bytes()))
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
		for _, p := range vb.Pairs {
			nd.ownVotes[ownKey{env.Type, vb.View, p.Slot}] = p.Digest
			nd.eqIdx[eqKey{env.Type, vb.View, p.Slot, nd.seat}] = eqVal{p.Digest, ref}
			ss := nd.slot(p.Slot)
			ss.myEnvs = append(ss.myEnvs, ep)
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
	refs := make([]*envRef, len(envs))
	votes := make([]*voteBody, len(envs))
	for i := range envs {
		refs[i] = &envRef{env: envs[i], state: 1}
		if vb, err := decodeVote(envs[i].Body); err == nil {
			votes[i] = &vb
		}
	}
	for i, s := range slots {
		if vals[i] == nil {
			continue
		}
		d := crypto.Sum(vals[i])
		var cert []*envRef
		for j, vb := range votes {
			if vb != nil && vb.View == view && hasPair(vb, s, d) {
				cert = append(cert, refs[j])
			}
		}
		ss := nd.slot(s)
		if ss.prep == nil || ss.prep.view <= view {
			ss.prep = &prepared{view: view, digest: d, value: vals[i], cert: cert}
			nd.putValue(ss, d, vals[i], true)
		}
	}
	return nil
}
