package bft

import (
	"sort"
	"strings"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// "crash+<byz>" strategies: the Byzantine behaviour <byz> on f seats while,
// before the heal, honest seats crash and restart from exactly the records
// they had written (simNode.wal, kept as the driver keeps it: walWrite).
// A crash can hit any point of a Ready cycle: before its group write
// (nothing of it happened), after the write but before any message left,
// and right after its messages left (before its entries are applied); the
// odds are much higher when the Ready carries the node's own votes or
// view-change traffic or the node is between views, so restarts land
// mid-view-change too. At most f honest seats are down or, restarted with
// an empty application, still catching up at a time, and every down seat
// is restarted at the heal: liveness is asserted only after the heal,
// while safety is checked after every step although honest crashes plus f
// Byzantine seats are more than f faults at times: agreement among all
// honest seats, restarted ones included, on every slot any of them decided
// (delivered or not: checkDecided), and no verdict ever reported or
// ordered against an honest seat. Before the heal the network also drops
// half the Accepts (values) to a seat that restarted recently, so it sees
// the re-sent Verifies of slots it voted for before the crash without
// their values.
//
// "byz-confirm" is the attacker that exploits certificates lost across
// restarts. The view-0 leader is honest; the Byzantine seats (1..f) lead
// views 1..f. A Byzantine seat Confirms every proposal it sees at once,
// without being prepared; its Promises never name a certificate; when it
// leads the next view it pushes a view change as soon as a follower
// restarted twice in the current view (or Confirmed between two restarts:
// the certificate behind that Confirm may be gone); as a leader it holds
// back the Promises and feeds its state machine the q-1 that name the
// fewest certificates, then proposes a fresh, valid, conflicting value for
// every slot decided in an earlier view that its NewView left free. Before
// the heal the network and the Byzantine seats collude, in views led by
// honest seats, against f "starved" honest seats, which hear only the
// leader (no other Verify or Confirm, no sync), so they stay unprepared and
// undecided; and against the followers that crash: each crashes right
// after a Verify for a slot it is not yet prepared for, comes back within
// a few ticks, gets almost none of the honest seats' Accepts and no sync
// for 40 ticks, and is likely to crash once more soon after Confirming.
// A protocol that lets a restarted seat Confirm what it cannot keep a
// certificate for then has a quorum of Promises that names no honest
// certificate of a decided value, and the Byzantine leader re-decides it.

// splitStrategy splits "crash+<byz>" into (true, <byz>); any other
// strategy is (false, strategy).
func splitStrategy(st string) (bool, string) {
	if b, ok := strings.CutPrefix(st, "crash+"); ok {
		return true, b
	}
	return false, st
}

// crashByzStrategies are the combined strategies TestSim runs.
var crashByzStrategies = []string{"crash+silent", "crash+equiv-leader", "crash+equiv-acceptor", "crash+forger",
	"crash+stale-future", "crash+garbage", "crash+partial-leader", "crash+twins", "crash+byz-confirm"}

// byzConfirmState is what one "byz-confirm" seat remembers.
type byzConfirmState struct {
	seen      map[uint64]bool             // slots it saw a Confirm for
	confirmed map[[2]uint64]crypto.Digest // (view, slot) → digest it Confirmed unprepared
	injected  map[[2]uint64]bool          // (view, slot) it proposed a conflicting value for
	resend    []crypto.Envelope           // its injected proposals in the current view
	resView   uint64
	promView  uint64                     // view whose Promises it holds back
	promBuf   map[uint16]crypto.Envelope // held-back Promises by sender
	promSince int                        // tick the buffer first held enough
	confView  uint64                     // view of confAt
	confAt    map[uint16][]int           // honest seat → ticks its Confirms of confView arrived
	viewAt    int                        // tick it entered confView
}

// confirmedBetweenRestarts: a Confirm arrived (at one of ats) after a
// restart in this view (at or after since) and the seat restarted again
// after it — a Confirm made with the thin volatile state of a restart,
// whose certificate the second crash may have lost.
func confirmedBetweenRestarts(ats, ups []int, since int) bool {
	for _, c := range ats {
		before, after := false, false
		for _, u := range ups {
			before = before || (u >= since && u < c)
			after = after || u > c
		}
		if before && after {
			return true
		}
	}
	return false
}

func (s *sim) restartsSince(seat uint16, since int) int {
	c := 0
	for _, u := range s.upLog[seat] {
		if u >= since {
			c++
		}
	}
	return c
}

func (s *sim) lastUp(seat uint16) (int, bool) {
	l := s.upLog[seat]
	if len(l) == 0 {
		return 0, false
	}
	return l[len(l)-1], true
}

func (s *sim) setupCrashByz() {
	if s.byz != "byz-confirm" {
		return
	}
	var honest []uint16
	for _, sn := range s.nodes {
		if sn.byz {
			sn.bc = &byzConfirmState{seen: map[uint64]bool{}, confirmed: map[[2]uint64]crypto.Digest{},
				injected: map[[2]uint64]bool{}, promBuf: map[uint16]crypto.Envelope{}}
		} else if sn.seat != 0 {
			honest = append(honest, sn.seat) // the view-0 leader is never starved
		}
	}
	s.rng.Shuffle(len(honest), func(i, j int) { honest[i], honest[j] = honest[j], honest[i] })
	for _, h := range honest[:s.f] {
		s.starved[h] = true
	}
}

// mayCrash: an honest seat may crash before the heal while fewer than f
// other honest seats are down or, restarted with an empty application,
// still catching up. (The application's state is not in the WAL: were all
// honest seats to lose it after a checkpoint truncated the log, only a
// Byzantine seat could serve it, and liveness would be lost for good.)
func (s *sim) mayCrash(sn *simNode) bool {
	if sn.byz || s.tick >= s.healAt {
		return false
	}
	if s.byz == "byz-confirm" {
		if s.starved[sn.seat] || sn.node.isLeader() || s.byzSeat[sn.node.leaderOf(sn.node.view)] {
			return false // its victims: the followers that Confirm in honest seats' views
		}
		if s.restartsSince(sn.seat, s.tick-40) >= 2 {
			return false // two restarts in a row, then a rest: it must take part again
		}
	}
	c := 0
	for _, o := range s.nodes {
		if o != sn && !o.byz && (o.down || o.catchUp > o.app.slot) {
			c++
		}
	}
	return c < s.f
}

func (s *sim) crashHonest(sn *simNode) {
	s.forgetEv(sn.seat)
	sn.down = true
	if s.byz == "byz-confirm" {
		sn.upAt = s.tick + 1 + s.rng.Intn(6) // back before its peers stop re-sending
	} else {
		sn.upAt = s.tick + 1 + s.rng.Intn(12)
	}
}

// readyShape is what a Ready carries, for choosing when to crash.
type readyShape struct {
	votes       bool // the node's own Verifies or Confirms naming slots
	unconfirmed bool // an own Verify for a slot the node has not Confirmed: it is not prepared yet
	confirms    bool // an own Confirm naming slots
	vc          bool // view-change traffic, or the node is between views
}

func shapeOf(sn *simNode, rd *Ready) readyShape {
	nd := sn.node
	sh := readyShape{vc: nd.vcTarget != 0 || !nd.active}
	for _, m := range rd.Messages {
		switch m.Env.Type {
		case wire.TypeVerify, wire.TypeConfirm:
			if m.Env.Sender != sn.seat {
				continue
			}
			vb, err := decodeVote(m.Env.Body)
			if err != nil || len(vb.Pairs) == 0 {
				continue
			}
			sh.votes = true
			if m.Env.Type == wire.TypeConfirm {
				sh.confirms = true
				continue
			}
			for _, p := range vb.Pairs {
				if _, ok := nd.ownVotes[ownKey{wire.TypeConfirm, vb.View, p.Slot}]; !ok {
					sh.unconfirmed = true
				}
			}
		case wire.TypeViewChange, wire.TypePromise, wire.TypeNewView, wire.TypePrepare:
			sh.vc = true
		}
	}
	return sh
}

// crashOdds: a crash+<byz> run crashes an honest seat at each of the three
// points of a Ready with probability 1/crashOdds.
func (s *sim) crashOdds(sn *simNode, sh readyShape) int {
	if s.byz != "byz-confirm" {
		switch {
		case sh.vc:
			return 12
		case sh.votes:
			return 40
		}
		return 150
	}
	// The victims of "byz-confirm": crash right after Verifying (before
	// being prepared), and again soon after Confirming following a restart
	// (crash loops), so that a Confirm made with the thin state of a restart
	// is followed by another restart.
	at, ok := s.lastUp(sn.seat)
	recent := ok && s.tick-at < 20
	switch {
	case sh.unconfirmed:
		return 4
	case sh.confirms && recent:
		return 3
	case sh.vc:
		return 12
	case sh.votes:
		return 40
	}
	return 150
}

// processCrashByz is process for the crash+<byz> strategies.
func (s *sim) processCrashByz(sn *simNode, rd Ready) {
	for _, ev := range rd.Evidence {
		if !sn.byz && !s.byzSeat[ev.Offender] {
			s.fail("seat %d reported evidence against honest seat %d (%s)", sn.seat, ev.Offender, ev.Kind)
		}
	}
	sh := shapeOf(sn, &rd)
	odds := s.crashOdds(sn, sh)
	if s.mayCrash(sn) && s.rng.Intn(300) == 0 {
		s.crashHonest(sn) // before the group write: nothing of this Ready happened
		return
	}
	sn.walWrite(&rd)
	if s.mayCrash(sn) && len(rd.Messages) > 0 && s.rng.Intn(odds) == 0 {
		s.crashHonest(sn) // written, nothing sent
		return
	}
	for _, m := range rd.Messages {
		s.sendFrom(sn, m)
	}
	if s.mayCrash(sn) && (sh.votes || sh.vc) && s.rng.Intn(odds) == 0 {
		s.crashHonest(sn) // right after its votes left, before its entries are applied
		return
	}
	s.handle(sn, rd)
}

// netDrop is the pre-heal network adversary of the crash+<byz> strategies.
func (s *sim) netDrop(sn *simNode, env crypto.Envelope) bool {
	if sn.byz || s.tick >= s.healAt {
		return false
	}
	targeted := s.byz == "byz-confirm"
	if env.Type == wire.TypeAccept {
		at, ok := s.lastUp(sn.seat)
		if targeted {
			// 19 in 20 of the honest seats' values, for 40 ticks (the
			// Byzantine leader's get through).
			return ok && s.tick-at < 40 && !s.byzSeat[env.Sender] && s.rng.Intn(20) != 0
		}
		if ok && s.tick-at < 20 && s.rng.Intn(2) == 0 {
			return true
		}
	}
	if targeted && s.starved[sn.seat] && (env.Type == wire.TypeVerify || env.Type == wire.TypeConfirm) {
		vb, err := decodeVote(env.Body)
		if err == nil && !s.byzSeat[sn.node.leaderOf(vb.View)] && env.Sender != sn.node.leaderOf(vb.View) {
			return true
		}
	}
	return false
}

// syncBlocked: before the heal the sync requests of a starved seat, and of
// a seat that restarted recently, go unanswered ("byz-confirm").
func (s *sim) syncBlocked(sn *simNode) bool {
	if s.byz != "byz-confirm" || s.tick >= s.healAt {
		return false
	}
	at, ok := s.lastUp(sn.seat)
	return s.starved[sn.seat] || (ok && s.tick-at < 40)
}

// byzRecv is a Byzantine seat's hook on every envelope delivered to it; it
// reports whether the envelope is kept from its state machine.
func (s *sim) byzRecv(sn *simNode, env crypto.Envelope) bool {
	bc := sn.bc
	if !sn.byz || bc == nil {
		return false
	}
	nd := sn.node
	forget(nd)
	switch env.Type {
	case wire.TypeConfirm:
		if vb, err := decodeVote(env.Body); err == nil {
			if vb.View == bc.confView && len(vb.Pairs) > 0 && !s.byzSeat[env.Sender] {
				if l := bc.confAt[env.Sender]; len(l) < 64 {
					bc.confAt[env.Sender] = append(l, s.tick)
				}
			}
			for _, p := range vb.Pairs {
				if p.Slot > nd.stable.Slot {
					bc.seen[p.Slot] = true
				}
			}
		}
	case wire.TypeVerify:
		vb, err := decodeVote(env.Body)
		if err != nil || len(vb.Pairs) == 0 || env.Sender != nd.leaderOf(vb.View) || vb.View != nd.view {
			return false
		}
		var ps []pair
		for _, p := range vb.Pairs {
			k := [2]uint64{vb.View, p.Slot}
			if _, ok := bc.confirmed[k]; ok {
				continue
			}
			if own, ok := nd.ownVotes[ownKey{wire.TypeConfirm, vb.View, p.Slot}]; ok && own != p.Digest {
				continue
			}
			bc.confirmed[k] = p.Digest
			ps = append(ps, p)
		}
		if len(ps) > 0 {
			s.byzVote(sn, sn.signer.Sign(wire.TypeConfirm, (&voteBody{View: vb.View, Pairs: ps}).encode()))
		}
	case wire.TypePromise:
		pb, err := decodePromise(env.Body)
		if err != nil || s.tick >= s.healAt || pb.View != nd.view || nd.active || !nd.isLeader() || s.byzSeat[env.Sender] {
			return false
		}
		if bc.promView != pb.View {
			bc.promView, bc.promBuf, bc.promSince = pb.View, map[uint16]crypto.Envelope{}, -1
		}
		bc.promBuf[env.Sender] = env
		return true
	}
	return false
}

// forget makes a Byzantine seat amnesiac: its Promises never name a
// prepared certificate (nobody can prove it held one).
func forget(nd *Node) {
	for _, ss := range nd.slots {
		ss.prep = nil
	}
}

func (s *sim) byzBeforeTick(sn *simNode) {
	if sn.byz && sn.bc != nil {
		forget(sn.node)
	}
}

// byzVote sends a Byzantine seat's Verify or Confirm: to everyone in its
// own views, and to everyone but the starved seats in honest seats' views.
func (s *sim) byzVote(sn *simNode, env crypto.Envelope) {
	vb, err := decodeVote(env.Body)
	honestView := err == nil && !s.byzSeat[sn.node.leaderOf(vb.View)]
	for i := 0; i < s.p.n; i++ {
		if uint16(i) == sn.seat || (honestView && s.starved[uint16(i)] && s.tick < s.healAt) {
			continue
		}
		s.deliver(sn.seat, uint16(i), env)
	}
}

// byzConfirmSend: a "byz-confirm" seat's own state machine's output.
func (s *sim) byzConfirmSend(sn *simNode, m Message) {
	if (m.Env.Type == wire.TypeVerify || m.Env.Type == wire.TypeConfirm) && m.To == Broadcast && !isProposal(sn, m.Env) {
		s.byzVote(sn, m.Env)
		return
	}
	s.route(sn.seat, m.To, m.Env)
}

// byzConfirmInject runs every tick on a "byz-confirm" seat.
func (s *sim) byzConfirmInject(sn *simNode) {
	nd, bc := sn.node, sn.bc
	if bc.confView != nd.view || bc.confAt == nil {
		bc.confView, bc.confAt, bc.viewAt = nd.view, map[uint16][]int{}, s.tick
	}
	for sl := range bc.seen {
		if sl <= nd.stable.Slot {
			delete(bc.seen, sl)
		}
	}
	if s.tick < s.healAt && nd.active && nd.vcTarget == 0 && !nd.isLeader() && s.byzSeat[nd.leaderOf(nd.view+1)] {
		// Push a view change it will lead once a follower restarted twice in
		// this view or Confirmed between two restarts (it may have lost the
		// certificate behind its Confirm), and now and then anyway.
		lost := false
		if bc.confView == nd.view {
			for h, ats := range bc.confAt {
				lost = lost || confirmedBetweenRestarts(ats, s.upLog[h], bc.viewAt)
			}
			for _, o := range s.nodes {
				lost = lost || (!o.byz && s.restartsSince(o.seat, bc.viewAt) >= 2)
			}
		}
		if (lost && s.rng.Intn(3) == 0) || s.rng.Intn(100) == 0 {
			nd.Suspect()
		}
	}
	if bc.promView == nd.view && !nd.active && nd.isLeader() && len(bc.promBuf) > 0 {
		s.releasePromises(sn)
	}
	if !nd.isLeader() || !nd.active || nd.vcTarget != 0 {
		return
	}
	if bc.resView != nd.view {
		bc.resView, bc.resend = nd.view, nil
	}
	var slots []uint64
	for sl := range bc.seen {
		ss := nd.slots[sl]
		if sl > nd.nvHigh && sl <= nd.committed && ss != nil && ss.decided && ss.decView < nd.view && !bc.injected[[2]uint64{nd.view, sl}] {
			slots = append(slots, sl)
		}
	}
	sort.Slice(slots, func(i, j int) bool { return slots[i] < slots[j] })
	if len(slots) > 16 {
		slots = slots[:16]
	}
	if len(slots) == 0 {
		if len(bc.resend) > 0 && s.rng.Intn(4) == 0 {
			for _, env := range bc.resend {
				s.route(sn.seat, Broadcast, env)
			}
		}
		return
	}
	ab := acceptBody{View: nd.view}
	var ps []pair
	for _, sl := range slots {
		v := value{Payload: makeBatch(s.rng, s.p.n, 8, sn.ctr)}
		sn.ctr += 8
		enc := v.encode()
		ab.Slots = append(ab.Slots, sl)
		ab.Values = append(ab.Values, enc)
		ps = append(ps, pair{sl, crypto.Sum(enc)})
		bc.injected[[2]uint64{nd.view, sl}] = true
	}
	vb := voteBody{View: nd.view, Pairs: ps}
	envs := []crypto.Envelope{sn.signer.Sign(wire.TypeAccept, ab.encode()), sn.signer.Sign(wire.TypeVerify, vb.encode()),
		sn.signer.Sign(wire.TypeConfirm, vb.encode())}
	bc.resend = append(bc.resend, envs...)
	for _, env := range envs {
		s.route(sn.seat, Broadcast, env)
	}
}

// releasePromises hands the held-back Promises to the Byzantine leader's
// state machine: the ones naming the fewest certificates, once it holds
// enough for a quorum and either all have come or a few ticks passed; all
// of them after the heal.
func (s *sim) releasePromises(sn *simNode) {
	nd, bc := sn.node, sn.bc
	need := nd.q - len(nd.promises)
	var senders []uint16
	for sd := range bc.promBuf {
		senders = append(senders, sd)
	}
	score := func(sd uint16) int {
		pb, _ := decodePromise(bc.promBuf[sd].Body)
		return len(pb.Prepared)
	}
	sort.Slice(senders, func(i, j int) bool {
		a, b := score(senders[i]), score(senders[j])
		return a < b || (a == b && senders[i] < senders[j])
	})
	if s.tick < s.healAt {
		if need <= 0 || len(senders) < need {
			return
		}
		if bc.promSince < 0 {
			bc.promSince = s.tick
		}
		honest := 0
		for _, o := range s.nodes {
			if !o.byz {
				honest++
			}
		}
		if len(senders) < honest && s.tick-bc.promSince < 8 {
			return
		}
		senders = senders[:need]
	}
	for _, sd := range senders {
		env := bc.promBuf[sd]
		delete(bc.promBuf, sd)
		_ = nd.Step(env)
	}
}
