package bft

import (
	"fmt"
	"math/rand"
	"sort"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

type simParams struct {
	seed     int64
	n        int
	strategy string
	shift    bool // draw one extra number before the run (as crashmode-leader does): another seed family
}

type simResult struct {
	err      error
	decided  uint64
	evidence int // offenders convicted in the log
	restarts int
	views    uint64
}

type simNode struct {
	seat uint16
	byz  bool
	cfg  Config
	node *Node
	wal  []Record
	app  simApp
	down bool
	upAt int
	// catchUp: after a restart, the slot this node must re-apply before it
	// counts as recovered (0: not recovering).
	catchUp uint64
	ctr     uint32
	signer  Signer
	bc      *byzConfirmState // "crash+byz-confirm": what this Byzantine seat saw and did
}

type packet struct {
	at  int
	to  uint16
	env crypto.Envelope
}

type obsKey struct {
	t      wire.Type
	view   uint64
	slot   uint64
	sender uint16
}

type sim struct {
	p        simParams
	byz      string // the Byzantine behaviour: the strategy without its "crash+" prefix
	crashByz bool   // "crash+<byz>": honest seats also crash and restart from their WAL
	rng      *rand.Rand
	nodes    []*simNode
	f        int
	tick     int
	healAt   int
	queue    []packet
	loss     float64
	dup      float64
	delay    int
	part     map[uint16]int // partition group per seat (nil: none)
	byzSeat  map[uint16]bool
	global   map[uint64]crypto.Digest // slot → decided entry digest (first seen)
	decided  map[uint64]decision      // slot → first digest an honest node decided, delivered or not
	chain    map[uint64]crypto.Digest // slot → app chain digest after it
	obs      map[uint16]map[obsKey]crypto.Digest
	mustEv   map[uint16]map[uint16]bool // offender → the honest seats that saw its equivocation
	err      error
	restarts int
	upLog    map[uint16][]int // seat → ticks it restarted at
	starved  map[uint16]bool
}

func (s *sim) fail(format string, a ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("tick %d: %s", s.tick, fmt.Sprintf(format, a...))
	}
}

func runSim(p simParams) simResult {
	s := runSimDebug(p)
	var dec uint64
	for _, sn := range s.nodes {
		if !sn.byz {
			dec = max(dec, sn.node.committed)
		}
	}
	r := simResult{err: s.err, decided: dec, evidence: len(s.mustEv), restarts: s.restarts}
	for _, sn := range s.nodes {
		r.views = max(r.views, sn.node.view)
	}
	return r
}

func runSimDebug(p simParams) *sim {
	s := &sim{p: p, rng: rand.New(rand.NewSource(p.seed*7919 + int64(p.n))), f: (p.n - 1) / 3, healAt: 150,
		global: map[uint64]crypto.Digest{}, decided: map[uint64]decision{}, chain: map[uint64]crypto.Digest{}, byzSeat: map[uint16]bool{},
		obs: map[uint16]map[obsKey]crypto.Digest{}, mustEv: map[uint16]map[uint16]bool{}}
	s.crashByz, s.byz = splitStrategy(p.strategy)
	s.upLog, s.starved = map[uint16][]int{}, map[uint16]bool{}
	s.loss, s.dup, s.delay = 0.05, 0.05, 3
	if s.byz == "lossy" {
		s.loss, s.dup, s.delay = 0.25, 0.15, 5
	}
	signers, vrf := keysFor(p.n)
	mode := ModeByzantine
	switch s.byz {
	case "crashmode", "crashmode-leader":
		mode = ModeCrash // crash faults only: every seat is honest
	case "honest", "lossy", "crash":
	case "equiv-acceptor":
		for i := 0; i < s.f; i++ {
			s.byzSeat[uint16(p.n-1-i)] = true
		}
	case "twins":
		s.byzSeat[0] = true
	case "byz-confirm":
		// The view-0 leader is honest; the Byzantine seats lead views 1..f.
		for i := 1; i <= s.f; i++ {
			s.byzSeat[uint16(i)] = true
		}
	default:
		for i := 0; i < s.f; i++ {
			s.byzSeat[uint16(i)] = true
		}
	}
	for i := 0; i < p.n; i++ {
		cfg := Config{Seat: uint16(i), N: p.n, F: s.f, Mode: mode, Signer: signers[i], Verifier: vrf, Window: 8, MaxValueSize: 4096,
			ValidateValue: validateBatch, CheckpointInterval: 8, ViewTimeoutTicks: 10}
		s.addNode(cfg, s.byzSeat[uint16(i)])
		if s.byz == "twins" && i == 0 {
			s.addNode(cfg, true)
		}
	}
	if s.rng.Intn(2) == 0 {
		s.part = map[uint16]int{}
	}
	partFrom, partTo := 20+s.rng.Intn(60), 90+s.rng.Intn(50)
	leaderDown := -1
	if p.strategy == "crashmode-leader" {
		leaderDown = 5 + s.rng.Intn(40) // drawn only here: other strategies' seeds replay as before
	} else if p.shift {
		_ = s.rng.Intn(40) // the same extra draw for any strategy: a shifted seed family
	}
	if s.crashByz {
		s.setupCrashByz() // draws only here: the other strategies' seeds replay as before
	}
	var target uint64
	for s.tick = 0; s.tick < s.healAt+2500 && s.err == nil; s.tick++ {
		if s.tick == leaderDown {
			// The view-0 leader crashes and stays down until the heal.
			s.nodes[0].down, s.nodes[0].upAt = true, s.healAt
		}
		if s.part != nil {
			switch s.tick {
			case partFrom:
				for i := 0; i < p.n; i++ {
					s.part[uint16(i)] = s.rng.Intn(2)
				}
			case partTo:
				s.part = map[uint16]int{}
			}
		}
		if s.tick == s.healAt {
			s.loss, s.dup, s.delay, s.part = 0, 0, 1, nil
			for _, sn := range s.nodes {
				if sn.down {
					s.restart(sn)
				}
				if !sn.byz {
					target = max(target, sn.node.committed)
				}
			}
			target += 5
		}
		s.step()
		if s.tick > s.healAt && s.done(target) {
			break
		}
	}
	if s.err == nil && !s.done(target) {
		var cs []string
		for _, sn := range s.nodes {
			st := sn.node.Status()
			cs = append(cs, fmt.Sprintf("seat%d(byz=%v view=%d vc=%v committed=%d)", sn.seat, sn.byz, st.View, st.InViewChange, st.Committed))
		}
		s.fail("liveness: honest nodes did not reach slot %d (and order all observed evidence %v) within %d ticks after heal: %v", target, s.mustEv, 2500, cs)
	}
	return s
}

func (s *sim) addNode(cfg Config, byz bool) {
	nd, err := NewNode(cfg, nil)
	if err != nil {
		s.fail("NewNode: %v", err)
		return
	}
	s.nodes = append(s.nodes, &simNode{seat: cfg.Seat, byz: byz, cfg: cfg, node: nd, signer: cfg.Signer, ctr: uint32(cfg.Seat) << 24})
}

// done: every honest node reached target and has ordered a verdict against
// every offender whose equivocation an honest node observed.
func (s *sim) done(target uint64) bool {
	for _, sn := range s.nodes {
		if sn.byz {
			continue
		}
		if sn.down || sn.node.committed < target {
			return false
		}
		for off := range s.mustEv {
			found := false
			for v := range sn.node.ordered {
				if v.Offender == off {
					found = true
				}
			}
			if !found {
				return false
			}
		}
	}
	return true
}

func (s *sim) step() {
	// 1. deliver due packets in random order
	var due, later []packet
	for _, pk := range s.queue {
		if pk.at <= s.tick {
			due = append(due, pk)
		} else {
			later = append(later, pk)
		}
	}
	s.queue = later
	s.rng.Shuffle(len(due), func(i, j int) { due[i], due[j] = due[j], due[i] })
	for _, pk := range due {
		for _, sn := range s.nodes {
			if sn.seat == pk.to && !sn.down {
				if s.crashByz && (s.netDrop(sn, pk.env) || s.byzRecv(sn, pk.env)) {
					continue
				}
				s.observe(sn, pk.env)
				_ = sn.node.Step(pk.env)
			}
		}
	}
	// 2. time, faults, proposals, outputs
	for _, sn := range s.nodes {
		if sn.down {
			if s.tick >= sn.upAt {
				s.restart(sn)
			}
			continue
		}
		if s.crashByz {
			s.byzBeforeTick(sn)
		}
		sn.node.Tick()
		s.propose(sn)
		s.byzInject(sn)
	}
	for round := 0; round < 4; round++ {
		for _, sn := range s.nodes {
			if !sn.down {
				s.process(sn)
			}
		}
	}
	s.checkDecided()
}

type decision struct {
	digest crypto.Digest
	seat   uint16
	view   uint64
}

// checkDecided is agreement on decisions, not only on deliveries: a slot an
// honest node decided (it holds a commit certificate) but cannot deliver
// yet, because it waits for earlier slots, must agree too. Such a node may
// later take the slot's value from a sync, and the certificate it holds can
// be served to others.
func (s *sim) checkDecided() {
	for _, sn := range s.nodes {
		if sn.byz || sn.down {
			continue
		}
		nd := sn.node
		w := uint64(2 * nd.cfg.Window)
		for sl := max(nd.stable.Slot, nd.committed-min(nd.committed, w)) + 1; sl <= nd.committed+w; sl++ {
			ss := nd.slots[sl]
			if ss == nil || !ss.decided {
				continue
			}
			if d, ok := s.decided[sl]; !ok {
				s.decided[sl] = decision{ss.decDigest, sn.seat, ss.decView}
			} else if d.digest != ss.decDigest {
				s.fail("agreement: seat %d decided %x at slot %d in view %d, seat %d decided %x in view %d",
					sn.seat, ss.decDigest[:4], sl, ss.decView, d.seat, d.digest[:4], d.view)
				return
			}
		}
	}
}

// observe records, for the evidence invariant, that an honest node received
// two conflicting votes of one sender (within its live window).
func (s *sim) observe(sn *simNode, env crypto.Envelope) {
	if sn.byz || (env.Type != wire.TypeVerify && env.Type != wire.TypeConfirm) {
		return
	}
	if simVerifierFor(sn).Verify(&env) != nil {
		return
	}
	vb, err := decodeVote(env.Body)
	if err != nil || vb.View > sn.node.view+sn.cfg.MaxViewJump {
		return
	}
	m := s.obs[sn.seat]
	if m == nil {
		m = map[obsKey]crypto.Digest{}
		s.obs[sn.seat] = m
	}
	for _, p := range vb.Pairs {
		if !indexes(sn.node, vb.View, p.Slot) {
			continue
		}
		k := obsKey{env.Type, vb.View, p.Slot, env.Sender}
		if d, ok := m[k]; ok && d != p.Digest {
			s.noteEv(env.Sender, sn.seat)
		} else if !ok {
			m[k] = p.Digest
		}
	}
}

func simVerifierFor(sn *simNode) Verifier { return sn.cfg.Verifier }

// noteEv records that honest seat by saw (or reported) an equivocation of
// offender: from then on every honest node must order a verdict against it.
func (s *sim) noteEv(offender, by uint16) {
	if s.mustEv[offender] == nil {
		s.mustEv[offender] = map[uint16]bool{}
	}
	s.mustEv[offender][by] = true
}

// forgetEv: seat crashed, and what it saw but did not pass on is lost with
// its volatile state (a report it did send is reported again by whoever
// receives it).
func (s *sim) forgetEv(seat uint16) {
	delete(s.obs, seat)
	for off, by := range s.mustEv {
		delete(by, seat)
		if len(by) == 0 {
			delete(s.mustEv, off)
		}
	}
}

func (s *sim) propose(sn *simNode) {
	if sn.byz && s.byz == "silent" {
		return
	}
	for i := 0; i < 2 && sn.node.Status().IsLeader; i++ {
		payload := makeBatch(s.rng, s.p.n, 8, sn.ctr)
		sn.ctr += 8
		if sn.byz && s.byz == "garbage" {
			payload[len(payload)-1] ^= 0xff // an input its player never signed
		}
		if sn.node.Propose(payload) != nil {
			return
		}
	}
}

// downCount counts seats that are crashed or, restarted with an empty app,
// still catching up: crash-recovery with F faults means at most F of those
// at a time (each lost its volatile state).
func (s *sim) downCount() int {
	c := 0
	for _, sn := range s.nodes {
		if sn.down || sn.catchUp > sn.app.slot {
			c++
		}
	}
	return c
}

func (s *sim) crash(sn *simNode) {
	sn.down = true
	sn.upAt = s.tick + 1 + s.rng.Intn(25)
}

func (s *sim) restart(sn *simNode) {
	nd, err := NewNode(sn.cfg, sn.wal)
	if err != nil {
		s.fail("restart seat %d from %d records: %v", sn.seat, len(sn.wal), err)
		return
	}
	sn.node, sn.down, sn.app = nd, false, simApp{}
	sn.catchUp = 0
	for _, o := range s.nodes {
		sn.catchUp = max(sn.catchUp, o.app.slot)
	}
	s.restarts++
	s.upLog[sn.seat] = append(s.upLog[sn.seat], s.tick)
}

// process runs one Ready cycle: persist, (maybe crash), send, apply.
func (s *sim) process(sn *simNode) {
	if !sn.node.HasReady() {
		return
	}
	rd := sn.node.Ready()
	if s.crashByz {
		s.processCrashByz(sn, rd)
		return
	}
	crashy := (s.p.strategy == "crash" || s.p.strategy == "crashmode") && !sn.byz && s.tick < s.healAt
	if s.p.strategy == "crashmode" && s.downCount() >= s.f {
		crashy = false // ModeCrash tolerates F crashed seats at a time, not more
	}
	if crashy && s.rng.Intn(400) == 0 {
		s.crash(sn) // before the group write: nothing of this Ready happened
		return
	}
	sn.walWrite(&rd)
	if crashy && len(rd.Messages) > 0 && s.rng.Intn(300) == 0 {
		s.crash(sn) // after the write, before sending
		return
	}
	for _, m := range rd.Messages {
		s.sendFrom(sn, m)
	}
	s.handle(sn, rd)
}

// handle does the rest of a Ready once its records are written and its
// messages sent: evidence, snapshot, committed entries, sync, Advance.
func (s *sim) handle(sn *simNode, rd Ready) {
	for _, ev := range rd.Evidence {
		if !sn.byz && !s.byzSeat[ev.Offender] {
			s.fail("seat %d reported evidence against honest seat %d (%s)", sn.seat, ev.Offender, ev.Kind)
		}
		if !sn.byz {
			s.noteEv(ev.Offender, sn.seat)
		}
	}
	if rd.InstallSnapshot != nil {
		if err := sn.app.restore(rd.InstallSnapshot.Data); err != nil || sn.app.slot != rd.InstallSnapshot.Slot {
			s.fail("seat %d: bad snapshot installed: %v", sn.seat, err)
		}
		if c, ok := s.chain[sn.app.slot]; ok && c != sn.app.chain && !sn.byz {
			s.fail("seat %d installed a snapshot at %d that disagrees with the chain", sn.seat, sn.app.slot)
		}
	}
	due := map[uint64]bool{}
	for _, c := range rd.CheckpointDue {
		due[c] = true
	}
	for i := range rd.Committed {
		e := &rd.Committed[i]
		s.apply(sn, e)
		if due[e.Slot] {
			sn.node.Checkpoint(e.Slot, sn.app.snapshot())
		}
	}
	if rd.NeedSync != nil {
		s.sync(sn, rd.NeedSync)
	}
	sn.node.Advance()
}

func (s *sim) apply(sn *simNode, e *Entry) {
	if e.Slot != sn.app.slot+1 {
		s.fail("seat %d: entry %d delivered after %d", sn.seat, e.Slot, sn.app.slot)
		return
	}
	d := entryDigest(e)
	if len(e.Payload) > 0 && validateBatch(e.Slot, e.Payload) != nil && !sn.byz {
		s.fail("validity: seat %d decided an invalid batch at slot %d", sn.seat, e.Slot)
	}
	for _, ev := range e.Evidence {
		if ev.Check(sn.cfg.Verifier) != nil && !sn.byz {
			s.fail("seat %d: ordered evidence does not check", sn.seat)
		}
		if !s.byzSeat[ev.Offender] {
			s.fail("evidence against honest seat %d ordered at slot %d", ev.Offender, e.Slot)
		}
	}
	sn.app.slot = e.Slot
	sn.app.chain = crypto.Sum(sn.app.chain[:], d[:])
	if sn.byz {
		return
	}
	if g, ok := s.global[e.Slot]; ok && g != d {
		s.fail("agreement: seat %d decided a different value at slot %d", sn.seat, e.Slot)
	} else if !ok {
		s.global[e.Slot] = d
	}
	if c, ok := s.chain[e.Slot]; ok && c != sn.app.chain {
		s.fail("agreement: seat %d's log diverges at slot %d", sn.seat, e.Slot)
	} else if !ok {
		s.chain[e.Slot] = sn.app.chain
	}
}

func (s *sim) sync(sn *simNode, need *SyncNeed) {
	if s.syncBlocked(sn) {
		return
	}
	peers := append([]uint16(nil), need.Peers...)
	sort.Slice(peers, func(i, j int) bool { return peers[i] < peers[j] })
	if len(peers) == 0 {
		return
	}
	seat := peers[s.rng.Intn(len(peers))]
	for _, peer := range s.nodes {
		if peer.seat != seat || peer.down || peer == sn {
			continue
		}
		st, ok := peer.node.SyncResponse(need.From - 1)
		if !ok {
			return
		}
		enc := EncodeSyncState(st)
		if peer.byz && len(enc) > 0 {
			enc[s.rng.Intn(len(enc))] ^= byte(1 + s.rng.Intn(255))
		}
		dec, err := DecodeSyncState(enc)
		if err != nil {
			return
		}
		_ = sn.node.ApplySync(dec)
		return
	}
}

// deliver queues env for seat to, subject to loss, duplication, delay and
// partitions.
func (s *sim) deliver(from, to uint16, env crypto.Envelope) {
	if len(s.part) > 0 && s.part[from] != s.part[to] {
		return
	}
	copies := 1
	if s.rng.Float64() < s.dup {
		copies = 2
	}
	for c := 0; c < copies; c++ {
		if s.rng.Float64() < s.loss {
			continue
		}
		s.queue = append(s.queue, packet{at: s.tick + 1 + s.rng.Intn(s.delay), to: to, env: env})
	}
}

func (s *sim) sendFrom(sn *simNode, m Message) {
	if sn.byz {
		s.byzSend(sn, m)
		return
	}
	s.route(sn.seat, m.To, m.Env)
}

func (s *sim) route(from uint16, to int, env crypto.Envelope) {
	if to != Broadcast {
		s.deliver(from, uint16(to), env)
		return
	}
	for i := 0; i < s.p.n; i++ {
		if uint16(i) != from || s.byz == "twins" {
			s.deliver(from, uint16(i), env)
		}
	}
}
