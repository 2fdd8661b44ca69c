package bft

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// envRef is a received envelope with its (lazily computed) signature status:
// 0 not yet checked, 1 valid, -1 invalid. Votes are counted toward a quorum
// only once checked, and checked only when a quorum could form, so a slot
// costs the q signature checks it needs and no more.
type envRef struct {
	env   crypto.Envelope
	state int8
	eqN   int32 // equivocation-index entries that keep this envelope alive
}

// bucket holds the votes of one type for one (view, slot, digest).
type bucket struct {
	view   uint64
	digest crypto.Digest
	refs   []*envRef // indexed by sender
	done   bool      // quorum reached and acted on
}

// prepared is a slot's highest prepared certificate: a quorum of signed
// Verifies for (view, slot, digest), and the value they name.
type prepared struct {
	view   uint64
	digest crypto.Digest
	value  []byte
	cert   []*envRef
}

// slotState is everything known about one slot above the stable checkpoint.
type slotState struct {
	propView   uint64 // view of the current proposal
	propDigest crypto.Digest
	hasProp    bool
	values     map[crypto.Digest][]byte
	valid      map[crypto.Digest]bool
	votes      [2][]*bucket // [0] Verify, [1] Confirm
	prep       *prepared
	decided    bool
	decView    uint64
	decDigest  crypto.Digest
	value      []byte
	commitCert []*envRef
	myEnvs     []*crypto.Envelope // own Accept/Verify/Confirm carrying this slot, for re-sending
}

type ownKey struct {
	t    wire.Type
	view uint64
	slot uint64
}

type eqKey struct {
	t      wire.Type
	view   uint64
	slot   uint64
	sender uint16
}

type eqVal struct {
	digest crypto.Digest
	ref    *envRef
}

// Node is one seat's consensus state machine. It is not safe for concurrent
// use: the driver calls it from one goroutine.
type Node struct {
	cfg       Config
	vrf       Verifier
	n, q, acc int // seats, quorum, acceptors (seats 0..acc-1)
	seat      uint16

	view     uint64
	vcTarget uint64 // view this node voted to change to (0: none)
	active   bool   // current view has its NewView (view 0 always)
	nvHigh   uint64 // slots up to here are fixed by the current NewView
	nvEnv    *crypto.Envelope
	// nvResends counts the leader's resend rounds in its view once the view
	// decided a slot of its own (a quorum adopted the NewView): the NewView
	// (q Promises with their certificates, often tens of KB) goes out every
	// round until then, and afterwards only on rounds 1, 2, 4, 8, ... and
	// every 64th, so a seat that missed it still gets it and a long view
	// does not re-send it every round (a censoring leader replaced early
	// would otherwise make its successor send megabytes a second for the
	// rest of the match). Early resends are also what lets honest nodes
	// catch a leader that sent two different NewViews.
	nvResends uint64
	nextSlot  uint64 // leader: next slot to propose

	slots     map[uint64]*slotState
	committed uint64
	deferred  map[uint64]bool // slots whose proposal the application could not judge yet (ErrNotYet)
	ownVotes  map[ownKey]crypto.Digest
	eqIdx     map[eqKey]eqVal
	eqCount   []int // eqIdx entries per sender, bounded by eqCap
	eqCap     int
	eqBytes   []int                    // bytes of the envelopes eqIdx keeps alive per sender, bounded by eqByteCap
	seen      [2]map[[32]byte]struct{} // envelope IDs: current and previous generation

	// evidence
	ordered  map[verdict]uint64 // verdict → slot it was ordered at
	pending  map[verdict]Evidence
	inflight map[verdict]bool
	reported map[verdict]bool            // verdicts already reported and announced: one per (offender, kind)
	evEnvs   map[verdict]crypto.Envelope // own signed Evidence messages, re-sent until ordered

	// view change
	vcLatest   []uint64
	promises   map[uint16]*promiseIn
	myPromise  *crypto.Envelope
	myPromVals *crypto.Envelope
	myVC       *crypto.Envelope

	// checkpoints
	stable     checkpointBody
	stableCert []crypto.Envelope
	stableSnap []byte
	opened     *Snapshot // the stable checkpoint before, while stableSnap is missing (StableCheckpoint)
	cpVotes    map[uint64]map[uint16]*envRef
	snaps      map[uint64][]byte
	myCP       *crypto.Envelope

	// timers (in ticks)
	timer, failed, resendT, hbT, syncT int
	hbSeq, hbSeen                      uint64 // leader: heartbeats signed; follower: highest heartbeat seen this view
	peerMax                            []uint64

	mute              bool   // Config.Recovering: signs no vote, only learns
	mark              uint64 // ReserveMark's highest, persisted with the votes
	compactDue        bool   // the stable checkpoint moved: the next Ready rewrites the WAL
	retry             bool   // the message being stepped may be usable later: do not mark it seen
	verifyQ, confirmQ []pair
	acceptQ           acceptBody
	rd                Ready
	// selfQ holds messages the node addressed to itself (a promise to
	// itself as the next leader) since the last Ready; selfDue those of
	// the last Ready, which Advance steps once its records are durable.
	selfQ, selfDue []crypto.Envelope
	met            Metrics
}

type promiseIn struct {
	env  crypto.Envelope
	body promiseBody
}

// NewNode makes a node. restored is the WAL content this seat persisted
// before (nil for a fresh start): the node reloads its own signed votes and
// prepared certificates so it never contradicts them.
func NewNode(cfg Config, restored []Record) (*Node, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	nd := &Node{
		cfg: c, vrf: sizedVerifier{c.Verifier, c.Acceptors()}, n: c.N, q: c.Quorum(), acc: c.Acceptors(), seat: c.Seat,
		active: true, nextSlot: 1, mute: c.Recovering,
		slots: map[uint64]*slotState{}, deferred: map[uint64]bool{}, ownVotes: map[ownKey]crypto.Digest{}, eqIdx: map[eqKey]eqVal{}, eqCount: make([]int, c.N), eqCap: eqCapFor(&c), eqBytes: make([]int, c.N),
		seen:    [2]map[[32]byte]struct{}{{}, {}},
		ordered: map[verdict]uint64{}, pending: map[verdict]Evidence{}, inflight: map[verdict]bool{},
		reported: map[verdict]bool{}, evEnvs: map[verdict]crypto.Envelope{}, vcLatest: make([]uint64, c.N), promises: map[uint16]*promiseIn{},
		cpVotes: map[uint64]map[uint16]*envRef{}, snaps: map[uint64][]byte{}, peerMax: make([]uint64, c.N),
	}
	if err := nd.restore(restored); err != nil {
		return nil, err
	}
	nd.installOwnStable()
	if c.Recovering && !restoredMute(restored) {
		// The marker goes to the new WAL first, so a later restart without
		// Config.Recovering still never votes in this match.
		nd.rd.Persist = append(nd.rd.Persist, Record{recMute})
	}
	return nd, nil
}

func restoredMute(recs []Record) bool {
	for _, r := range recs {
		if len(r) == 1 && r[0] == recMute {
			return true
		}
	}
	return false
}

// sizedVerifier lets Evidence.Check know the leader rotation (the roster
// size in ModeByzantine, the acceptor count in ModeCrash) even when the
// configured Verifier does not expose it.
type sizedVerifier struct {
	Verifier
	n int
}

func (s sizedVerifier) Size() int { return s.n }

// leaderOf rotates the lead over the acceptors (every seat in
// ModeByzantine), so a ModeCrash learner never leads.
func (nd *Node) leaderOf(v uint64) uint16 { return uint16(v % uint64(nd.acc)) }
func (nd *Node) isLeader() bool           { return nd.leaderOf(nd.view) == nd.seat && !nd.mute }

// votes reports whether this node signs votes: an acceptor that is not
// recovering from a lost WAL.
func (nd *Node) votes() bool { return nd.isAcceptor(nd.seat) && !nd.mute }

func (nd *Node) slot(s uint64) *slotState {
	ss := nd.slots[s]
	if ss == nil {
		ss = &slotState{}
		nd.slots[s] = ss
	}
	return ss
}

func (nd *Node) drop(r DropReason) error {
	nd.met.Dropped[r]++
	return dropErrs[r]
}

func (nd *Node) sign(t wire.Type, body []byte) crypto.Envelope {
	nd.met.Signed++
	return nd.cfg.Signer.Sign(t, body)
}

func (nd *Node) send(to int, env crypto.Envelope) {
	if to == int(nd.seat) {
		nd.selfQ = append(nd.selfQ, env)
		return
	}
	nd.rd.Messages = append(nd.rd.Messages, Message{To: to, Env: env})
}

func (nd *Node) persistEnv(env *crypto.Envelope) {
	nd.rd.Persist = append(nd.rd.Persist, Record(append([]byte{recEnv}, env.Encode(nil)...)))
}

// check verifies a ref's signature once and caches the answer.
func (nd *Node) check(r *envRef) bool {
	if r.state == 0 {
		nd.met.Verified++
		if nd.vrf.Verify(&r.env) == nil {
			r.state = 1
		} else {
			r.state = -1
			nd.met.Dropped[DropBadSignature]++
		}
	}
	return r.state == 1
}

func envID(e *crypto.Envelope) [32]byte {
	h := sha256.New()
	var hdr [3]byte
	hdr[0] = byte(e.Type)
	binary.BigEndian.PutUint16(hdr[1:], e.Sender)
	h.Write(hdr[:])
	h.Write(e.Sig[:])
	h.Write(e.Body)
	var id [32]byte
	h.Sum(id[:0])
	return id
}

// Step feeds one received envelope to the node. Invalid input is dropped,
// counted in Metrics.Dropped and reported with a typed error; it never
// changes consensus state. Votes from non-leaders are checked lazily (when a
// quorum could form), so a forged vote may return nil here and be counted as
// DropBadSignature later.
func (nd *Node) Step(env crypto.Envelope) error {
	if int(env.Sender) >= nd.n {
		return nd.drop(DropUnknownSender)
	}
	if len(env.Body) > crypto.MaxBodySize {
		return nd.drop(DropOversize)
	}
	if env.Type < wire.TypeAccept || env.Type > wire.TypeEvidence {
		return nd.drop(DropUnknownType)
	}
	if env.Sender == nd.seat {
		return nd.drop(DropDuplicate) // our own messages echoed back
	}
	id := envID(&env)
	if _, ok := nd.seen[0][id]; ok {
		return nd.drop(DropDuplicate)
	}
	if _, ok := nd.seen[1][id]; ok {
		return nd.drop(DropDuplicate)
	}
	nd.seen[0][id] = struct{}{}
	if len(nd.seen[0]) > seenGeneration {
		nd.seen[1], nd.seen[0] = nd.seen[0], map[[32]byte]struct{}{}
	}
	nd.retry = false
	err := nd.dispatch(env)
	if nd.retry || err == dropErrs[DropFuture] {
		// Not usable yet (a view this node has not reached): forget it, so
		// the sender's re-transmission of the same envelope is processed.
		delete(nd.seen[0], id)
		delete(nd.seen[1], id)
	}
	return err
}

// seenGeneration bounds one generation of the duplicate filter: two
// generations remember the last 16 Ki envelopes (about 25 s of a 4-seat
// 60 Hz match, ~1 MB). An older envelope seen again is processed again,
// which is harmless: every handler is idempotent, and re-sent messages
// are rate-limited by the transport. 64 Ki per generation took 7-10 MB
// and 6-8 minutes to fill.
const seenGeneration = 1 << 13

func (nd *Node) dispatch(env crypto.Envelope) error {
	switch env.Type {
	case wire.TypeAccept:
		return nd.onAccept(env)
	case wire.TypeVerify, wire.TypeConfirm:
		return nd.onVote(env)
	case wire.TypeViewChange:
		return nd.onViewChange(env)
	case wire.TypePrepare:
		return nd.onPrepare(env)
	case wire.TypePromise:
		return nd.onPromise(env)
	case wire.TypeNewView:
		return nd.onNewView(env)
	case wire.TypeCheckpoint:
		return nd.onCheckpoint(env)
	default:
		return nd.onEvidenceMsg(env)
	}
}

func (nd *Node) timeout() int { return nd.cfg.ViewTimeoutTicks << min(nd.failed, 6) }

// Tick advances logical time by one unit: view timeouts (which grow with
// each failed view), leader heartbeats, re-sending of unanswered messages
// and catch-up requests all count Ticks.
func (nd *Node) Tick() {
	nd.timer++
	if nd.timer >= nd.timeout() {
		if nd.vcTarget != 0 {
			// Still waiting for a quorum to join: re-send, never run ahead
			// alone (a lone node escalating views would stall everyone).
			nd.timer = 0
			if nd.myVC != nil {
				nd.send(Broadcast, *nd.myVC)
			}
		} else {
			nd.startViewChange(nd.view + 1)
		}
	}
	if nd.isLeader() && nd.active && nd.vcTarget == 0 {
		nd.hbT++
		if nd.hbT >= max(1, nd.cfg.ViewTimeoutTicks/3) && len(nd.verifyQ) == 0 && len(nd.acceptQ.Slots) == 0 {
			nd.hbT = 0
			nd.hbSeq++
			if nd.maxProposed() <= nd.committed {
				nd.timer = 0 // an idle leader does not time itself out
			}
			b := voteBody{View: nd.view, Seq: nd.hbSeq}
			env := nd.sign(wire.TypeVerify, b.encode())
			nd.send(Broadcast, env)
		}
	}
	nd.resendT++
	if nd.resendT >= nd.cfg.ResendTicks {
		nd.resendT = 0
		nd.resend()
	}
	nd.syncT++
	if nd.syncT >= 2*nd.cfg.ResendTicks {
		nd.syncT = 0
		nd.checkBehind()
	}
	nd.retryDeferred()
}

// Suspect lets the application vote to replace the current leader, e.g.
// when its inputs are not ordered within a bound (a leader that sends
// heartbeats but censors proposals cannot be caught by timeouts alone).
func (nd *Node) Suspect() {
	if nd.vcTarget == 0 {
		nd.startViewChange(nd.view + 1)
	}
}

// HasReady reports whether Ready would return anything.
func (nd *Node) HasReady() bool {
	return len(nd.verifyQ) > 0 || len(nd.confirmQ) > 0 || len(nd.acceptQ.Slots) > 0 || nd.compactDue || !nd.rd.IsEmpty() || len(nd.selfQ) > 0
}

// Ready signs the votes that became due since the last call (one signed
// message per type per call, covering every slot that is ready) and hands
// over everything the driver must do. Calls made before Advance (Checkpoint,
// ApplySync, Step) collect into the next Ready, never into this one.
func (nd *Node) Ready() Ready {
	nd.flush()
	if nd.compactDue {
		nd.compactDue = false
		nd.rd.Compact = nd.compact()
	}
	r := nd.rd
	nd.rd = Ready{}
	nd.selfDue, nd.selfQ = append(nd.selfDue, nd.selfQ...), nil
	return r
}

// Advance acknowledges the last Ready: its records are persisted, its
// messages sent and its entries applied. The node hands out nothing that
// depends on an unacknowledged Ready's records before they are written,
// because the driver writes each Ready's Persist before sending its
// Messages. Advance then takes the messages the node addressed to itself
// in that Ready (they were signed and persisted with it), so no driver
// loops them back; what they cause goes into the next Ready.
func (nd *Node) Advance() {
	due := nd.selfDue
	nd.selfDue = nil
	for _, env := range due {
		_ = nd.Step(env) // errors are the node's own bookkeeping (duplicates, stale)
	}
	// The entries of the last Ready are applied now: a proposal whose
	// judgement waited for them (ErrNotYet) can be judged.
	nd.retryDeferred()
}

// Status reports the node's position and metrics.
func (nd *Node) Status() Status {
	return Status{
		Seat: nd.seat, View: nd.view, Leader: nd.leaderOf(nd.view), IsLeader: nd.isLeader() && nd.active && nd.vcTarget == 0,
		InViewChange: nd.vcTarget != 0 || !nd.active, Committed: nd.committed, StableCheckpoint: nd.stable.Slot, Metrics: nd.met,
	}
}

// Metrics returns the counters.
func (nd *Node) Metrics() Metrics { return nd.met }

// resend re-broadcasts this node's own messages that may not have arrived:
// proposals and votes for undecided slots, and the current view-change step.
// Only already-signed (and persisted) envelopes are re-sent.
func (nd *Node) resend() {
	if nd.vcTarget != 0 && nd.myVC != nil {
		nd.send(Broadcast, *nd.myVC)
		return
	}
	if !nd.active {
		if nd.isLeader() {
			env := nd.sign(wire.TypePrepare, viewBody(nd.view))
			nd.send(Broadcast, env)
		}
		return
	}
	if nd.isLeader() && nd.nvEnv != nil && nd.view > 0 {
		if nd.committed > nd.nvHigh {
			nd.nvResends++ // the view decided a slot of its own: back off
		}
		if k := nd.nvResends; k&(k-1) == 0 || k%64 == 0 {
			nd.send(Broadcast, *nd.nvEnv)
		}
	}
	done := map[*crypto.Envelope]bool{}
	for s := nd.committed + 1; s <= nd.committed+uint64(2*nd.cfg.Window); s++ {
		ss := nd.slots[s]
		if ss == nil {
			continue
		}
		for _, e := range ss.myEnvs {
			if !done[e] {
				done[e] = true
				nd.send(Broadcast, *e)
			}
		}
	}
	if nd.myCP != nil {
		nd.send(Broadcast, *nd.myCP)
	}
	for _, k := range sortedVerdicts(nd.pending) {
		if env, ok := nd.evEnvs[k]; ok {
			nd.send(Broadcast, env)
		}
	}
}
