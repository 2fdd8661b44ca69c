package bft

import (
	"errors"
	"sort"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

var noopValue = (&value{}).encode()
var noopDigest = crypto.Sum(noopValue)

// keptViews is how many views below the current one votes are still
// taken and indexed for: an older vote decides nothing the new views have
// not fixed already, and forgetting them bounds what a sender can store.
const keptViews = 4

// eqCapFor bounds the equivocation-index entries of one sender: two vote
// types, the kept views and a few ahead, every slot a vote may name (the
// window past the committed slot plus up to two checkpoint intervals not
// yet stable).
func eqCapFor(c *Config) int {
	span := 2*c.Window + 2*int(min(c.CheckpointInterval, 4096))
	return 2 * (2*keptViews + 2) * span
}

// eqByteCap bounds the bytes of signed votes the equivocation index keeps
// alive per sender. An honest seat's live votes are a few hundred small
// envelopes (one per Ready cycle per type, each naming the slots of that
// cycle): tens of KB. Without it an attacker naming one new slot per
// 143 KB vote kept 143 KB alive per entry (+512 MiB at the entry cap).
const eqByteCap = 1 << 20

// maxVotePairs bounds the (slot, digest) pairs of one Verify or Confirm:
// an honest vote names the slots that became ready in one Ready cycle, all
// inside (stable checkpoint, committed + 2·Window], which is at most the
// window plus the checkpoints not yet stable; twice that is refused.
func (c *Config) maxVotePairs() int {
	return 2 * (2*c.Window + 2*int(min(c.CheckpointInterval, 4096)))
}

// maxSlotAhead is how far past the committed slot a message may name a
// slot; beyond it the node is behind and asks for a sync instead.
func (nd *Node) maxSlotAhead() uint64 { return nd.committed + uint64(2*nd.cfg.Window) }

// Propose orders payload in the next free slot. Only the active leader may
// propose; pending evidence is attached to the value so it is ordered too.
//
// Never at or below the stable checkpoint, and not at all while the node
// is behind it (ErrWindowFull until the sync brings it there): a leader
// restarted from a compacted WAL keeps its own votes only above the
// checkpoint, so a proposal for a slot below it would be a second Verify
// for a (view, slot) it already signed, proof of an equivocation it never
// meant (TestRestartedLeaderDoesNotReproposeCompactedSlots).
func (nd *Node) Propose(payload []byte) error {
	if !nd.isLeader() || !nd.active || nd.vcTarget != 0 {
		return ErrNotLeader
	}
	if len(payload) > nd.cfg.MaxValueSize {
		return ErrTooLarge
	}
	if floor := max(nd.committed, nd.stable.Slot); nd.nextSlot <= floor {
		nd.nextSlot = floor + 1
	}
	for {
		if _, signed := nd.ownVotes[ownKey{wire.TypeVerify, nd.view, nd.nextSlot}]; !signed {
			break
		}
		nd.nextSlot++ // already proposed in this view (kept across a restart)
	}
	if nd.committed < nd.stable.Slot || nd.nextSlot > nd.committed+uint64(nd.cfg.Window) {
		return ErrWindowFull
	}
	s := nd.nextSlot
	nd.nextSlot++
	v := value{Payload: append([]byte(nil), payload...)}
	size := len(v.encode())
	for _, k := range sortedVerdicts(nd.pending) {
		if nd.inflight[k] || len(v.Evidence) >= 4 {
			continue
		}
		// Attach only what keeps the value decodable by every acceptor
		// (maxValueBytes): an oversize Accept is dropped by all of them and
		// the view stalls. Evidence that can never fit is dropped.
		ev := nd.pending[k]
		add := len(EncodeEvidence(&ev)) + 8
		if add+16 > nd.cfg.maxValueBytes() { // too big even beside an empty payload
			delete(nd.pending, k)
			delete(nd.evEnvs, k)
			continue
		}
		if size+add > nd.cfg.maxValueBytes() {
			continue // the next proposal takes it
		}
		size += add
		nd.inflight[k] = true
		v.Evidence = append(v.Evidence, ev)
	}
	enc := v.encode()
	d := crypto.Sum(enc)
	ss := nd.slot(s)
	ss.propView, ss.propDigest, ss.hasProp = nd.view, d, true
	nd.putValue(ss, d, enc, true)
	ss.valid = map[crypto.Digest]bool{d: true}
	nd.acceptQ.View = nd.view
	nd.acceptQ.Slots = append(nd.acceptQ.Slots, s)
	nd.acceptQ.Values = append(nd.acceptQ.Values, enc)
	nd.ownVotes[ownKey{wire.TypeVerify, nd.view, s}] = d
	nd.verifyQ = append(nd.verifyQ, pair{s, d})
	return nil
}

func sortedVerdicts(m map[verdict]Evidence) []verdict {
	ks := make([]verdict, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return verdictLess(ks[i], ks[j]) })
	return ks
}

// putValue stores a candidate value for a slot. Values nobody asked for
// are capped per slot so a flood of junk cannot grow memory.
func (nd *Node) putValue(ss *slotState, d crypto.Digest, v []byte, wanted bool) {
	if ss.values == nil {
		ss.values = map[crypto.Digest][]byte{}
	}
	if _, ok := ss.values[d]; ok {
		return
	}
	if !wanted && len(ss.values) >= 4 {
		return
	}
	ss.values[d] = v
}

func (nd *Node) onAccept(env crypto.Envelope) error {
	b, err := decodeAccept(env.Body, nd.cfg.maxValueBytes())
	if err != nil {
		return nd.drop(DropDecode)
	}
	used := false
	for i, s := range b.Slots {
		if s <= nd.committed || s <= nd.stable.Slot {
			continue
		}
		if s > nd.maxSlotAhead() {
			nd.peerAhead(env.Sender, s)
			continue
		}
		ss := nd.slot(s)
		if ss.decided && ss.value != nil {
			continue
		}
		d := crypto.Sum(b.Values[i])
		wanted := (ss.hasProp && ss.propDigest == d) || (ss.decided && ss.decDigest == d)
		nd.putValue(ss, d, b.Values[i], wanted)
		used = true
		if ss.decided && ss.decDigest == d {
			ss.value = b.Values[i]
			nd.deliver()
		} else {
			nd.tryVerify(s, ss)
			nd.retryPrepare(s, ss, d)
		}
	}
	if !used {
		return nd.drop(DropStale)
	}
	return nil
}

// onVote handles Verify and Confirm. The leader's Verify in its own view is
// its proposal: it is checked at once and relayed, so that a leader sending
// different proposals to different acceptors is caught by everyone.
func (nd *Node) onVote(env crypto.Envelope) error {
	b, err := decodeVote(env.Body)
	if err != nil {
		return nd.drop(DropDecode)
	}
	if b.View > nd.view+nd.cfg.MaxViewJump {
		return nd.drop(DropFuture)
	}
	if b.View+keptViews < nd.view {
		return nd.drop(DropStale)
	}
	if len(b.Pairs) > nd.cfg.maxVotePairs() {
		return nd.drop(DropOversize)
	}
	ref := &envRef{env: env}
	isVerify := env.Type == wire.TypeVerify
	fromLeader := isVerify && env.Sender == nd.leaderOf(b.View)
	if fromLeader {
		if !nd.check(ref) {
			return dropErrs[DropBadSignature]
		}
	}
	if !nd.crashVoteAllowed(&env, fromLeader) {
		return nd.drop(DropInvalid)
	}
	idx := 1
	if isVerify {
		idx = 0
	}
	current := b.View == nd.view && nd.vcTarget == 0
	if fromLeader && current && nd.active {
		if len(b.Pairs) > 0 && nd.leaderOf(nd.view) != nd.seat && !nd.crashMode() {
			nd.send(Broadcast, env) // relay, so equivocation is seen by all (nobody lies in ModeCrash)
		}
		fresh := len(b.Pairs) > 0 || b.Seq > nd.hbSeen // a replayed old heartbeat proves nothing
		nd.hbSeen = max(nd.hbSeen, b.Seq)
		if fresh && nd.maxProposed() <= nd.committed {
			nd.timer = 0
		}
	}
	if fromLeader && current && !nd.active && len(b.Pairs) > 0 {
		nd.retry = true // a proposal that overtook its NewView: take it again when re-sent
	}
	used := false
	for _, p := range b.Pairs {
		if p.Slot <= nd.stable.Slot {
			continue
		}
		if p.Slot > nd.maxSlotAhead() {
			// Checked before anything is stored: slots past the window
			// cost nothing but a note that the sender is ahead.
			nd.peerAhead(env.Sender, p.Slot)
			continue
		}
		if !nd.noteEquivocation(env.Type, b.View, p, ref) {
			continue
		}
		if p.Slot <= nd.committed {
			continue
		}
		if p.Slot > nd.peerMax[env.Sender] {
			nd.peerMax[env.Sender] = p.Slot
		}
		ss := nd.slot(p.Slot)
		if ss.decided {
			continue
		}
		if isVerify && !current {
			continue // Verifies only matter in the view we are in
		}
		if fromLeader && nd.active && current && !ss.hasProp && (p.Slot > nd.nvHigh) {
			ss.propView, ss.propDigest, ss.hasProp = b.View, p.Digest, true
		}
		used = true
		if fromLeader && current {
			nd.tryVerify(p.Slot, ss)
		}
		if isVerify && nd.crashMode() {
			continue // no Verify quorum in ModeCrash: the proposal alone is accepted
		}
		nd.tryQuorum(p.Slot, ss, idx, nd.addVote(ss, idx, b.View, p.Digest, ref))
	}
	if !used && len(b.Pairs) > 0 {
		if b.View > nd.view {
			return nd.drop(DropFuture)
		}
		return nd.drop(DropStale)
	}
	return nil
}

// maxProposed is the highest slot with a proposal in the current view.
func (nd *Node) maxProposed() uint64 {
	m := nd.committed
	for s, ss := range nd.slots {
		if s > m && ss.hasProp && !ss.decided {
			m = s
		}
	}
	return m
}

// noteEquivocation records (type, view, slot, sender) → digest and, on a
// conflicting second message, checks both signatures and reports evidence.
// It returns false if this vote must not be counted.
func (nd *Node) noteEquivocation(t wire.Type, view uint64, p pair, ref *envRef) bool {
	k := eqKey{t, view, p.Slot, ref.env.Sender}
	old, ok := nd.eqIdx[k]
	if !ok {
		if nd.eqCount[k.sender] >= nd.eqCap || ref.eqN == 0 && nd.eqBytes[k.sender]+len(ref.env.Body) > eqByteCap {
			// No honest seat names this many (view, slot)s inside the
			// window and the kept views, or needs this many bytes of
			// votes to do it; refuse to store more of it. (Each entry
			// keeps its whole signed vote, the first half of a proof.)
			nd.met.Dropped[DropOversize]++
			return false
		}
		nd.putEq(k, eqVal{p.Digest, ref})
		return true
	}
	if old.digest == p.Digest {
		return true
	}
	if !nd.check(ref) {
		return false
	}
	if !nd.check(old.ref) {
		nd.eqIdx[k] = eqVal{p.Digest, ref}
		return true
	}
	kind, _ := kindOf(t, ref.env.Sender, view, nd.vrf)
	nd.foundEvidence(Evidence{Kind: kind, Offender: ref.env.Sender, A: old.ref.env, B: ref.env}, true)
	return false
}

// putEq stores an equivocation-index entry, counting it for its sender.
func (nd *Node) putEq(k eqKey, v eqVal) {
	if old, ok := nd.eqIdx[k]; ok {
		nd.unref(k.sender, old.ref)
	} else {
		nd.eqCount[k.sender]++
	}
	if v.ref.eqN == 0 {
		nd.eqBytes[k.sender] += len(v.ref.env.Body)
	}
	v.ref.eqN++
	nd.eqIdx[k] = v
}

func (nd *Node) unref(sender uint16, r *envRef) {
	if r.eqN--; r.eqN == 0 {
		nd.eqBytes[sender] -= len(r.env.Body)
	}
}

// dropEq forgets the equivocation-index entries for which gone is true.
func (nd *Node) dropEq(gone func(k eqKey) bool) {
	for k, v := range nd.eqIdx {
		if gone(k) {
			delete(nd.eqIdx, k)
			nd.eqCount[k.sender]--
			nd.unref(k.sender, v.ref)
		}
	}
}

func (nd *Node) addVote(ss *slotState, idx int, view uint64, d crypto.Digest, ref *envRef) *bucket {
	for _, b := range ss.votes[idx] {
		if b.view == view && b.digest == d {
			if b.refs[ref.env.Sender] == nil {
				b.refs[ref.env.Sender] = ref
			}
			return b
		}
	}
	b := &bucket{view: view, digest: d, refs: make([]*envRef, nd.n)}
	b.refs[ref.env.Sender] = ref
	ss.votes[idx] = append(ss.votes[idx], b)
	return b
}

// quorum checks signatures in b only when enough unchecked-or-valid votes
// exist to reach a quorum, and returns the q valid refs if it does.
func (nd *Node) quorum(b *bucket) []*envRef {
	cand := 0
	for _, r := range b.refs {
		if r != nil && r.state >= 0 {
			cand++
		}
	}
	if cand < nd.q {
		return nil
	}
	var ok []*envRef
	for _, r := range b.refs {
		if r != nil && r.state >= 0 && nd.check(r) {
			ok = append(ok, r)
			if len(ok) == nd.q {
				return ok
			}
		}
	}
	return nil
}

func (nd *Node) tryQuorum(s uint64, ss *slotState, idx int, b *bucket) {
	if b.done {
		return
	}
	if idx == 0 {
		if b.view != nd.view || !nd.active || nd.vcTarget != 0 || nd.mute {
			return
		}
		if my, ok := nd.ownVotes[ownKey{wire.TypeVerify, b.view, s}]; !ok || my != b.digest {
			return
		}
		if _, ok := nd.ownVotes[ownKey{wire.TypeConfirm, b.view, s}]; ok {
			return
		}
		val, ok := ss.values[b.digest]
		if !ok {
			// Never Confirm what this node could not hand on: without the
			// value (say it restarted and the Accept has not come again) a
			// later Promise could name the digest but no one might be able
			// to re-propose it. onAccept retries when the value arrives.
			return
		}
		cert := nd.quorum(b)
		if cert == nil {
			return
		}
		b.done = true
		ss.prep = &prepared{view: b.view, digest: b.digest, value: val, cert: cert}
		nd.ownVotes[ownKey{wire.TypeConfirm, b.view, s}] = b.digest
		nd.confirmQ = append(nd.confirmQ, pair{s, b.digest})
		return
	}
	cert := nd.quorum(b)
	if cert == nil {
		return
	}
	b.done = true
	nd.decide(s, ss, b.view, b.digest, cert)
}

// retryPrepare re-runs the prepare step for slot s once the value with
// digest d is held: a quorum of Verifies may have been waiting for it.
func (nd *Node) retryPrepare(s uint64, ss *slotState, d crypto.Digest) {
	for _, b := range ss.votes[0] {
		if b.digest == d && !b.done && !ss.decided {
			nd.tryQuorum(s, ss, 0, b)
		}
	}
}

// tryVerify votes for the current proposal of slot s once its value is
// known and valid (in ModeCrash a follower accepts it with a Confirm).
func (nd *Node) tryVerify(s uint64, ss *slotState) {
	if !ss.hasProp || ss.propView != nd.view || !nd.active || nd.vcTarget != 0 || ss.decided || nd.mute {
		return
	}
	if nd.crashMode() && !nd.isLeader() {
		nd.crashAccept(s, ss)
		return
	}
	if _, ok := nd.ownVotes[ownKey{wire.TypeVerify, nd.view, s}]; ok {
		return
	}
	v, ok := ss.values[ss.propDigest]
	if !ok {
		return
	}
	if !nd.validValue(s, ss, ss.propDigest, v) {
		return
	}
	nd.ownVotes[ownKey{wire.TypeVerify, nd.view, s}] = ss.propDigest
	nd.verifyQ = append(nd.verifyQ, pair{s, ss.propDigest})
}

// validValue applies the acceptor checks: bounded, decodable, every piece
// of attached evidence proves what it claims, and the application's
// predicate accepts the payload. Values fixed by a NewView were prepared by
// a quorum already and are trusted (ss.valid is preset for them).
func (nd *Node) validValue(s uint64, ss *slotState, d crypto.Digest, enc []byte) bool {
	if ok, seen := ss.valid[d]; seen {
		return ok
	}
	ok := true
	v, err := decodeValue(enc, nd.cfg.MaxValueSize)
	if err != nil {
		ok = false
	}
	for i := 0; ok && i < len(v.Evidence); i++ {
		nd.met.Verified += 2
		if v.Evidence[i].Check(nd.vrf) != nil {
			ok = false
		}
	}
	if ok && nd.cfg.ValidateValue != nil {
		if err := nd.cfg.ValidateValue(s, v.Payload); errors.Is(err, ErrNotYet) {
			nd.deferred[s] = true // no verdict: retryDeferred asks again
			return false
		} else if err != nil {
			ok = false
		}
	}
	if !ok {
		nd.met.Dropped[DropInvalid]++
	}
	if ss.valid == nil {
		ss.valid = map[crypto.Digest]bool{}
	}
	ss.valid[d] = ok
	return ok
}

func (nd *Node) decide(s uint64, ss *slotState, view uint64, d crypto.Digest, cert []*envRef) {
	ss.decided, ss.decView, ss.decDigest, ss.commitCert = true, view, d, cert
	if v, ok := ss.values[d]; ok {
		ss.value = v
	}
	nd.deliver()
}

// deliver hands out decided slots in order. Evidence already ordered at an
// earlier slot is removed, so each verdict appears in the log once and at
// the same slot on every honest node.
func (nd *Node) deliver() {
	for {
		ss := nd.slots[nd.committed+1]
		if ss == nil || !ss.decided || ss.value == nil {
			return
		}
		s := nd.committed + 1
		v, err := decodeValue(ss.value, nd.cfg.MaxValueSize)
		if err != nil {
			v = value{}
		}
		e := Entry{Slot: s, View: ss.decView, Payload: v.Payload, Value: ss.value, Cert: make([]crypto.Envelope, len(ss.commitCert))}
		for i, r := range ss.commitCert {
			e.Cert[i] = r.env
		}
		for _, ev := range v.Evidence {
			k := ev.verdict()
			if _, done := nd.ordered[k]; done {
				continue
			}
			nd.ordered[k] = s
			delete(nd.pending, k)
			delete(nd.inflight, k)
			delete(nd.evEnvs, k)
			e.Evidence = append(e.Evidence, ev)
		}
		nd.rd.Committed = append(nd.rd.Committed, e)
		nd.committed = s
		nd.met.SlotsDecided++
		nd.timer, nd.failed = 0, 0
		ss.votes = [2][]*bucket{}
		ss.values = nil
		ss.myEnvs = nil
		if s%nd.cfg.CheckpointInterval == 0 {
			nd.rd.CheckpointDue = append(nd.rd.CheckpointDue, s)
		}
	}
}

// flush signs everything queued: the leader's Accept (values) and its
// proposal Verify, this node's Verifies, then Confirms. Each is one signed
// message covering all its slots. Records are persisted before the
// messages leave (the driver writes Persist first).
func (nd *Node) flush() {
	for len(nd.acceptQ.Slots) > 0 || len(nd.verifyQ) > 0 || len(nd.confirmQ) > 0 {
		if len(nd.acceptQ.Slots) > 0 {
			env := nd.sign(wire.TypeAccept, nd.acceptQ.encode())
			nd.persistEnv(&env)
			nd.send(Broadcast, env)
			ep := &env
			for _, s := range nd.acceptQ.Slots {
				ss := nd.slot(s)
				ss.myEnvs = append(ss.myEnvs, ep)
			}
			nd.acceptQ = acceptBody{}
		}
		if len(nd.verifyQ) > 0 {
			nd.flushVotes(wire.TypeVerify, nd.verifyQ)
			nd.verifyQ = nil
		}
		if len(nd.confirmQ) > 0 {
			q := nd.confirmQ
			nd.confirmQ = nil
			nd.persistPrepared(q)
			nd.flushVotes(wire.TypeConfirm, q)
		}
	}
}

func (nd *Node) flushVotes(t wire.Type, ps []pair) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].Slot < ps[j].Slot })
	b := voteBody{View: nd.view, Pairs: ps}
	env := nd.sign(t, b.encode())
	nd.persistEnv(&env)
	nd.send(Broadcast, env)
	ref := &envRef{env: env, state: 1}
	ep := &ref.env
	idx := 1
	if t == wire.TypeVerify {
		idx = 0
		nd.hbT = 0
	}
	for _, p := range ps {
		nd.ownVotes[ownKey{t, nd.view, p.Slot}] = p.Digest
		nd.putEq(eqKey{t, nd.view, p.Slot, nd.seat}, eqVal{p.Digest, ref})
		ss := nd.slot(p.Slot)
		ss.myEnvs = append(ss.myEnvs, ep)
		if ss.decided {
			continue
		}
		if idx == 0 && nd.crashMode() {
			nd.crashLeaderAccepted(p, ss, ref)
			continue
		}
		nd.tryQuorum(p.Slot, ss, idx, nd.addVote(ss, idx, nd.view, p.Digest, ref))
	}
}
