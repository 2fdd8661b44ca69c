package bft

import (
	"bytes"
	"sort"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// startViewChange votes to move to view target: a signed ViewChange(target)
// to all. The node stops voting in its current view until a new view starts.
// A ModeCrash learner has no vote: it only follows the acceptors' views.
func (nd *Node) startViewChange(target uint64) {
	if !nd.votes() {
		nd.timer = 0
		return
	}
	if target <= nd.view || target <= nd.vcTarget {
		return
	}
	nd.vcTarget = target
	nd.timer = 0
	nd.failed++
	nd.clearQueues()
	env := nd.sign(wire.TypeViewChange, viewBody(target))
	nd.myVC = &env
	nd.persistEnv(&env)
	nd.send(Broadcast, env)
	nd.vcLatest[nd.seat] = target
	nd.checkViewChanges()
}

func (nd *Node) clearQueues() {
	nd.acceptQ = acceptBody{}
	nd.verifyQ, nd.confirmQ = nil, nil
	for k := range nd.inflight {
		delete(nd.inflight, k)
	}
}

func (nd *Node) onViewChange(env crypto.Envelope) error {
	w, err := decodeViewBody(env.Body)
	if err != nil {
		return nd.drop(DropDecode)
	}
	if w <= nd.view || w <= nd.vcLatest[env.Sender] {
		return nd.drop(DropStale)
	}
	if w > nd.view+nd.cfg.MaxViewJump {
		return nd.drop(DropFuture)
	}
	if !nd.isAcceptor(env.Sender) {
		return nd.drop(DropInvalid)
	}
	if !nd.check(&envRef{env: env}) {
		return dropErrs[DropBadSignature]
	}
	nd.vcLatest[env.Sender] = w
	nd.checkViewChanges()
	return nil
}

// checkViewChanges applies the two PBFT rules: join a view change that
// f+1 seats ask for (at least one of them is honest), and enter view w once
// a quorum asks for w or higher. Only acceptors' votes count (ModeCrash
// learners never vote).
func (nd *Node) checkViewChanges() {
	cur := max(nd.view, nd.vcTarget)
	var higher []uint64
	for s, v := range nd.vcLatest[:nd.acc] {
		if uint16(s) != nd.seat && v > cur {
			higher = append(higher, v)
		}
	}
	if len(higher) >= nd.cfg.F+1 {
		sort.Slice(higher, func(i, j int) bool { return higher[i] > higher[j] })
		nd.startViewChange(higher[nd.cfg.F])
		return
	}
	best := uint64(0)
	for _, w := range nd.vcLatest[:nd.acc] {
		if w <= nd.view || w <= best {
			continue
		}
		c := 0
		for _, v := range nd.vcLatest[:nd.acc] {
			if v >= w {
				c++
			}
		}
		if c >= nd.q {
			best = w
		}
	}
	if best > nd.view {
		nd.enterView(best)
	}
}

// enterView starts view w: the node promises (phase 1b) to the new leader,
// sending its stable checkpoint and its prepared certificates, plus the
// values they name.
func (nd *Node) enterView(w uint64) {
	nd.setView(w)
	if !nd.votes() {
		return // a ModeCrash learner promises nothing; it waits for the NewView
	}
	pb := promiseBody{View: w, CP: nd.stable, CPCert: nd.stableCert}
	var vals acceptBody
	vals.View = w
	seen := map[*envRef]bool{}
	for _, s := range nd.sortedSlots() {
		ss := nd.slots[s]
		if s <= nd.stable.Slot || ss.prep == nil {
			continue
		}
		pb.Prepared = append(pb.Prepared, preparedItem{Slot: s, View: ss.prep.view, Digest: ss.prep.digest})
		for _, r := range ss.prep.cert {
			if !seen[r] {
				seen[r] = true
				pb.VerifyEnvs = append(pb.VerifyEnvs, r.env)
			}
		}
		v := ss.prep.value
		if v == nil {
			v = ss.values[ss.prep.digest] // a digest-only certificate whose value came later
		}
		if v != nil {
			vals.Slots = append(vals.Slots, s)
			vals.Values = append(vals.Values, v)
		}
	}
	if nd.myPromise == nil || nd.promiseView() != w {
		env := nd.sign(wire.TypePromise, pb.encode())
		nd.myPromise = &env
		nd.persistEnv(&env)
	}
	if len(vals.Slots) > 0 {
		env := nd.sign(wire.TypeAccept, vals.encode())
		nd.myPromVals = &env
	} else {
		nd.myPromVals = nil
	}
	if nd.isLeader() {
		b, _ := decodePromise(nd.myPromise.Body)
		nd.promises[nd.seat] = &promiseIn{env: *nd.myPromise, body: b}
		nd.maybeNewView()
		return
	}
	nd.sendPromise()
}

func (nd *Node) promiseView() uint64 {
	if nd.myPromise == nil {
		return 0
	}
	b, _ := decodePromise(nd.myPromise.Body)
	return b.View
}

func (nd *Node) sendPromise() {
	to := int(nd.leaderOf(nd.view))
	if nd.myPromVals != nil {
		nd.send(to, *nd.myPromVals)
	}
	if nd.myPromise != nil {
		nd.send(to, *nd.myPromise)
	}
}

// setView moves to view w, not yet active (waiting for its NewView).
func (nd *Node) setView(w uint64) {
	nd.view = w
	if nd.vcTarget <= w {
		nd.vcTarget = 0
	}
	nd.active, nd.nvEnv, nd.nvHigh, nd.hbSeen, nd.nvResends = false, nil, 0, 0, 0
	nd.promises = map[uint16]*promiseIn{}
	nd.timer = 0
	nd.met.ViewChanges++
	nd.clearQueues()
	// Votes of views no longer taken (see keptViews) are forgotten, so a
	// long run of view changes without a checkpoint cannot fill the index.
	nd.dropEq(func(k eqKey) bool { return k.view+keptViews < w })
	for _, ss := range nd.slots {
		for i := range ss.votes {
			kept := ss.votes[i][:0]
			for _, b := range ss.votes[i] {
				if b.view+keptViews >= w {
					kept = append(kept, b)
				}
			}
			ss.votes[i] = kept
		}
	}
}

func (nd *Node) sortedSlots() []uint64 {
	ks := make([]uint64, 0, len(nd.slots))
	for s := range nd.slots {
		ks = append(ks, s)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	return ks
}

func (nd *Node) onPrepare(env crypto.Envelope) error {
	w, err := decodeViewBody(env.Body)
	if err != nil {
		return nd.drop(DropDecode)
	}
	if env.Sender != nd.leaderOf(w) {
		return nd.drop(DropInvalid)
	}
	if w != nd.view || nd.active {
		return nd.drop(DropStale)
	}
	if !nd.check(&envRef{env: env}) {
		return dropErrs[DropBadSignature]
	}
	nd.sendPromise()
	return nil
}

func (nd *Node) onPromise(env crypto.Envelope) error {
	pb, err := decodePromise(env.Body)
	if err != nil {
		return nd.drop(DropDecode)
	}
	if pb.View != nd.view || nd.active || !nd.isLeader() || nd.vcTarget != 0 {
		if pb.View > nd.view {
			return nd.drop(DropFuture)
		}
		return nd.drop(DropStale)
	}
	if nd.promises[env.Sender] != nil {
		return nd.drop(DropDuplicate)
	}
	if !nd.isAcceptor(env.Sender) {
		return nd.drop(DropInvalid)
	}
	if !nd.check(&envRef{env: env}) {
		return dropErrs[DropBadSignature]
	}
	if !nd.validPromise(&pb) {
		return nd.drop(DropInvalid)
	}
	nd.promises[env.Sender] = &promiseIn{env: env, body: pb}
	nd.maybeNewView()
	return nil
}

// validPromise checks a promise's checkpoint certificate and that every
// prepared item is backed by a quorum of validly signed Verifies (in
// ModeCrash: by its view's leader's signed proposal, see certNeed).
func (nd *Node) validPromise(pb *promiseBody) bool {
	if !nd.validCP(&pb.CP, pb.CPCert) {
		return false
	}
	// Each envelope's pairs are indexed once, so an item costs the
	// envelopes that name it, not a scan of all of them: a Byzantine
	// Promise of thousands of items beside thousands of envelopes cost an
	// honest node items × envelopes (74 ms per 1 MiB NewView, repeatable
	// with every view it leads); it now costs what its bytes cost.
	type named struct {
		view, slot uint64
		d          crypto.Digest
	}
	byPair := map[named][]int{}
	okSig := make([]int8, len(pb.VerifyEnvs))
	for i := range pb.VerifyEnvs {
		if pb.VerifyEnvs[i].Type != wire.TypeVerify {
			return false
		}
		vb, err := decodeVote(pb.VerifyEnvs[i].Body)
		if err != nil {
			continue
		}
		for _, p := range vb.Pairs {
			k := named{vb.View, p.Slot, p.Digest}
			if l := byPair[k]; len(l) == 0 || l[len(l)-1] != i {
				byPair[k] = append(l, i)
			}
		}
	}
	need := nd.certNeed()
	for _, it := range pb.Prepared {
		if it.View >= pb.View || it.Slot <= pb.CP.Slot {
			return false
		}
		senders := map[uint16]bool{}
		for _, i := range byPair[named{it.View, it.Slot, it.Digest}] {
			e := &pb.VerifyEnvs[i]
			if senders[e.Sender] || !nd.certSigner(e.Sender, it.View) {
				continue
			}
			if okSig[i] == 0 {
				nd.met.Verified++
				okSig[i] = -1
				if nd.vrf.Verify(e) == nil {
					okSig[i] = 1
				}
			}
			if okSig[i] == 1 {
				senders[e.Sender] = true
				if len(senders) >= need {
					break
				}
			}
		}
		if len(senders) < need {
			return false
		}
	}
	return true
}

func hasPair(vb *voteBody, s uint64, d crypto.Digest) bool {
	i := sort.Search(len(vb.Pairs), func(i int) bool { return vb.Pairs[i].Slot >= s })
	return i < len(vb.Pairs) && vb.Pairs[i].Slot == s && vb.Pairs[i].Digest == d
}

// validCP checks a checkpoint certificate: a quorum of distinct acceptors
// signed exactly this checkpoint. Slot 0 is the genesis checkpoint.
func (nd *Node) validCP(cp *checkpointBody, cert []crypto.Envelope) bool {
	if cp.Slot == 0 {
		return cp.App.IsZero() && len(cp.Ordered) == 0
	}
	body := cp.encode()
	senders := map[uint16]bool{}
	for i := range cert {
		e := &cert[i]
		if e.Type != wire.TypeCheckpoint || senders[e.Sender] || !nd.isAcceptor(e.Sender) || !bytes.Equal(e.Body, body) {
			continue
		}
		nd.met.Verified++
		if nd.vrf.Verify(e) == nil {
			senders[e.Sender] = true
		}
	}
	return len(senders) >= nd.q
}

// maybeNewView: with a quorum of promises the leader signs a NewView that
// carries them, and starts the view.
func (nd *Node) maybeNewView() {
	if len(nd.promises) < nd.q || nd.active {
		return
	}
	seats := make([]int, 0, len(nd.promises))
	for s := range nd.promises {
		seats = append(seats, int(s))
	}
	sort.Ints(seats)
	nb := newViewBody{View: nd.view}
	var bodies []promiseBody
	for _, s := range seats[:nd.q] {
		nb.Promises = append(nb.Promises, nd.promises[uint16(s)].env)
		bodies = append(bodies, nd.promises[uint16(s)].body)
	}
	env := nd.sign(wire.TypeNewView, nb.encode())
	nd.persistEnv(&env)
	nd.send(Broadcast, env)
	nd.nvEnv = &env
	nd.applyNewView(bodies)
}

func (nd *Node) onNewView(env crypto.Envelope) error {
	nb, err := decodeNewView(env.Body)
	if err != nil {
		return nd.drop(DropDecode)
	}
	if env.Sender != nd.leaderOf(nb.View) {
		return nd.drop(DropInvalid)
	}
	if nb.View < nd.view {
		return nd.drop(DropStale)
	}
	if nb.View > nd.view+nd.cfg.MaxViewJump {
		return nd.drop(DropFuture)
	}
	if nb.View == nd.view && nd.active {
		if nd.nvEnv != nil && !bytes.Equal(nd.nvEnv.Body, env.Body) && nd.check(&envRef{env: env}) {
			nd.foundEvidence(Evidence{Kind: ProposalEquivocation, Offender: env.Sender, A: *nd.nvEnv, B: env}, true)
		}
		return nd.drop(DropDuplicate)
	}
	if !nd.check(&envRef{env: env}) {
		return dropErrs[DropBadSignature]
	}
	var bodies []promiseBody
	senders := map[uint16]bool{}
	for i := range nb.Promises {
		p := &nb.Promises[i]
		if p.Type != wire.TypePromise || !nd.isAcceptor(p.Sender) || senders[p.Sender] {
			return nd.drop(DropInvalid)
		}
		pb, err := decodePromise(p.Body)
		nd.met.Verified++
		if err != nil || pb.View != nb.View || nd.vrf.Verify(p) != nil || !nd.validPromise(&pb) {
			return nd.drop(DropInvalid)
		}
		senders[p.Sender] = true
		bodies = append(bodies, pb)
	}
	if len(bodies) < nd.q {
		return nd.drop(DropInvalid)
	}
	if nb.View > nd.view {
		nd.setView(nb.View)
	}
	nd.vcTarget = 0 // a valid NewView for this view: take part in it
	nd.nvEnv = &env
	nd.applyNewView(bodies)
	return nil
}

// applyNewView computes, identically on every honest node, the value each
// slot must carry in the new view: above the highest certified checkpoint,
// the value of the highest-view prepared certificate, or a no-op where no
// certificate exists. Any value that may have been decided has a prepared
// certificate in at least one honest promise of every quorum, so it is kept.
func (nd *Node) applyNewView(proms []promiseBody) {
	low := nd.stable.Slot
	for i := range proms {
		if cp := &proms[i].CP; cp.Slot > low {
			low = cp.Slot
			if cp.Slot > nd.stable.Slot {
				nd.makeStable(*cp, proms[i].CPCert)
			}
		}
	}
	sel := map[uint64]preparedItem{}
	high := low
	for i := range proms {
		for _, it := range proms[i].Prepared {
			if it.Slot <= low {
				continue
			}
			if cur, ok := sel[it.Slot]; !ok || it.View > cur.View {
				sel[it.Slot] = it
			}
			high = max(high, it.Slot)
		}
	}
	nd.active, nd.nvHigh, nd.timer = true, high, 0
	if low > nd.committed {
		nd.peerAhead(nd.leaderOf(nd.view), low)
	}
	var vals acceptBody
	vals.View = nd.view
	for s := low + 1; s <= high; s++ {
		if s <= nd.committed {
			continue
		}
		ss := nd.slot(s)
		d := noopDigest
		if it, ok := sel[s]; ok {
			d = it.Digest
		} else {
			nd.putValue(ss, d, noopValue, true)
		}
		if ss.prep != nil && ss.prep.digest == d && ss.prep.value != nil {
			nd.putValue(ss, d, ss.prep.value, true)
		}
		if ss.valid == nil {
			ss.valid = map[crypto.Digest]bool{}
		}
		ss.valid[d] = true
		ss.propView, ss.propDigest, ss.hasProp = nd.view, d, true
		if v, ok := ss.values[d]; ok && d != noopDigest {
			vals.Slots = append(vals.Slots, s)
			vals.Values = append(vals.Values, v)
		}
		if !ss.decided {
			nd.tryVerify(s, ss)
		}
	}
	for s, ss := range nd.slots {
		if s > high && ss.propView != nd.view {
			ss.hasProp = false
		}
	}
	if nd.isLeader() {
		nd.nextSlot = max(high, nd.committed) + 1
		if len(vals.Slots) > 0 {
			env := nd.sign(wire.TypeAccept, vals.encode())
			nd.persistEnv(&env)
			nd.send(Broadcast, env)
			for _, s := range vals.Slots {
				ss := nd.slots[s]
				ss.myEnvs = append(ss.myEnvs, &env)
			}
		}
	}
}
