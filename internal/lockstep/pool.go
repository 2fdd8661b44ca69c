package lockstep

import (
	"bytes"
	"sort"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

// Limits of the pool, so a flooding or forging peer cannot make it grow
// without bound.
const (
	poolAhead       = 256 // inputs for ticks further ahead than this are dropped
	poolReplayAge   = 256 // an input this far behind the decided tick is a replay
	maxPendingEvid  = 256
	batchTickLimit  = 16 // ticks per proposed batch (bounded by bft's value size)
	maxEvidPerBatch = 16
	// maxCommitsPerBatch bounds the sealed inputs per batch (about 200
	// bytes each) well under bft's value size; the rest wait a batch.
	maxCommitsPerBatch = 128
)

type stKey struct {
	tick uint64
	seat uint16
}

type evKey struct {
	kind gamestate.VerdictKind
	seat int
	tick uint64
}

// intake is what adding one game message to the pool found.
type intake int

const (
	intakeOK       intake = iota
	intakeDup             // the very same envelope again: a replayed message
	intakeOld             // far behind the decided log: a replayed message
	intakeEvidence        // proof of a cheat queued for the log
	intakeDropped         // undecodable, misbound or out of range
)

// pool collects the signed game messages a peer has seen, so that whoever
// leads can build the next batch: one input per (seat, tick) (the first
// validly signed one), the state hashes to order, and game-level evidence
// found on the way (input equivocation, forged inputs, reveal mismatches).
// Every peer keeps one, which is what lets a new leader continue after a
// view change. It is not safe for concurrent use; it belongs to one Core.
//
// In sealed mode (commit-reveal) a tick's seat entry is the player's Reveal
// instead of its Input, and the pool also collects SealedInputs (commits):
// the first validly signed one per (seat, tick) waits in commits until a
// decided batch orders it, and the ordered one is remembered so that a
// reveal that does not open it is queued as reveal-mismatch evidence. The
// one-time keys of this peer's own sealed inputs wait in own until their
// commit is ordered and they are revealed.
type pool struct {
	v        *crypto.Verifier
	n        int
	interval uint64
	sealed   bool                      // commit-reveal mode (Config.Sealed)
	inputs   map[stKey]crypto.Envelope // seat entries: Inputs, or Reveals in sealed mode
	seen     map[crypto.Digest]uint64  // envelope ID → tick, for replay detection
	hashes   map[stKey]crypto.Envelope
	evidence []gamestate.Evidence
	evKeys   map[evKey]bool // queued or already ordered

	commits map[stKey]crypto.Envelope // first valid sealed input per (seat, tick)
	ordered map[stKey]crypto.Envelope // sealed inputs the log ordered (first wins, as in the engine)
	sent    map[stKey]sentMark        // commits proposed as leader, not yet ordered
	own     map[uint64][]ownSeal      // this peer's sealed inputs by tick, until revealed

	// left[s] is 1 + the tick from which seat s announced it left (0: it
	// has not); lastIn[s] is 1 + the highest tick it signed an input for,
	// so a replayed old Leave cannot mark a seat that is still playing.
	left, lastIn []uint64
	// spoke[s] holds, in order, each rise of lastIn[s]: the tick the seat
	// signed for and when the pool first held it. The first mark at or
	// after a tick L is when this pool first knew that seat s signed for a
	// tick at or after L (spokeSince): a Leave from L no longer stands.
	// Bounded like the inputs, by the tick window (decided trims it).
	spoke [][]spokeMark
	// skips holds the (tick, seat) pairs whose seat signed that it has no
	// input for the tick (wire.TypeNoInput): not waited for, and the signed
	// NoInput is the seat's entry in the batch. Bounded like inputs, by the
	// tick window, and forgotten once the tick is decided. leaves[s] is the
	// signed Leave behind left[s], the entry of every tick from it on.
	skips  map[stKey]crypto.Envelope
	leaves []crypto.Envelope

	// now is the core's time of the call in progress (Core.at): when an
	// input entry or an item to order first arrived (arrived, itemSince)
	// is what the acceptor's fair-play checks judge by (fair.go).
	now       time.Time
	arrived   map[stKey]time.Time
	itemSince map[crypto.Digest]time.Time
	carried   map[crypto.Digest]time.Time // items of batches this acceptor voted for, when
	relayedIn map[crypto.Digest]uint64    // messages relayed (TypeRelay), 1 + in which view
	relayView uint64                      // 1 + the view relayedIn is about
	// found is the evidence this pool found itself and has not relayed
	// (Core.relayFound), bounded like evidence.
	found    []gamestate.Evidence
	relaying bool       // adding relayed evidence: not ours to relay again
	shares   *shareBook // sealed-shares: key shares of withheld reveals (shares.go)
}

// spokeMark is one rise of a seat's highest signed tick (pool.spoke).
type spokeMark struct {
	tick uint64
	at   time.Time
}

// sentMark is when (and in which view) the leader last proposed a commit.
type sentMark struct {
	view uint64
	at   time.Time
}

// ownSeal is one of this peer's own sealed inputs and its one-time key.
// alt, when set, is the key of a second sealing of a different input: what
// the lookahead cheat reveals instead of key.
type ownSeal struct {
	body []byte // the SealedInput envelope's body (what the log orders)
	key  crypto.SealKey
	alt  *crypto.SealKey
}

func newPool(v *crypto.Verifier, hashInterval uint64) *pool {
	return &pool{v: v, n: v.Size(), interval: hashInterval, inputs: map[stKey]crypto.Envelope{},
		seen: map[crypto.Digest]uint64{}, hashes: map[stKey]crypto.Envelope{}, evKeys: map[evKey]bool{},
		commits: map[stKey]crypto.Envelope{}, ordered: map[stKey]crypto.Envelope{}, sent: map[stKey]sentMark{},
		own: map[uint64][]ownSeal{}, left: make([]uint64, v.Size()), lastIn: make([]uint64, v.Size()), spoke: make([][]spokeMark, v.Size()),
		skips: map[stKey]crypto.Envelope{}, leaves: make([]crypto.Envelope, v.Size()),
		arrived: map[stKey]time.Time{}, itemSince: map[crypto.Digest]time.Time{}, carried: map[crypto.Digest]time.Time{},
		relayedIn: map[crypto.Digest]uint64{}}
}

// addLeave takes a seat's signed departure (wire.TypeLeave).
func (p *pool) addLeave(env crypto.Envelope, next uint64) intake {
	m, err := gamestate.DecodeLeave(env.Body)
	if err != nil || m.Seat != env.Sender || int(m.Seat) >= p.n {
		return intakeDropped
	}
	if m.Tick+poolReplayAge < next || p.lastIn[m.Seat] > m.Tick {
		return intakeOld // it signed an input for this tick or later: it is back
	}
	if p.left[m.Seat] == 0 || p.left[m.Seat] > m.Tick+1 {
		p.left[m.Seat] = m.Tick + 1
		p.leaves[m.Seat] = env
	}
	return intakeOK
}

// addNoInput takes a seat's signed "no input for this tick"
// (wire.TypeNoInput).
func (p *pool) addNoInput(env crypto.Envelope, next uint64) intake {
	m, err := gamestate.DecodeNoInput(env.Body)
	if err != nil || m.Seat != env.Sender || int(m.Seat) >= p.n || m.Tick > next+poolAhead {
		return intakeDropped
	}
	if m.Tick+poolReplayAge < next {
		return intakeOld
	}
	// Even too late to be an entry, it says the seat speaks for the tick,
	// as a late input does (addInput): whether a Leave still stands must
	// not depend on how far the log is here (fair.go, absenceOverruled).
	p.signedFor(m.Seat, m.Tick)
	k := stKey{m.Tick, m.Seat}
	if _, dup := p.skips[k]; m.Tick < next || dup {
		// Too late to matter (the tick was ordered at its deadline before
		// it arrived), or a restarted seat signing the same statement
		// again: nothing to do, and nothing to hold against anyone.
		return intakeOK
	}
	p.skips[k] = env
	return intakeOK
}

// signedFor notes that seat signed something for tick: a seat that speaks
// for a tick at or after its announced departure plays again.
func (p *pool) signedFor(seat uint16, tick uint64) {
	if tick+1 > p.lastIn[seat] {
		p.lastIn[seat] = tick + 1
		p.spoke[seat] = append(p.spoke[seat], spokeMark{tick, p.now})
		if p.left[seat] != 0 && tick+1 >= p.left[seat] {
			p.left[seat] = 0 // it plays again
		}
	}
}

// spokeSince returns when the pool first held a message in which seat
// signed for tick from or a later one (an input, sealed input, reveal or
// NoInput), if it holds such a mark. Marks older than the tick window are
// forgotten (decided), all but the last: for a from that old it answers
// with a later time than the true one, never an earlier one.
func (p *pool) spokeSince(seat int, from uint64) (time.Time, bool) {
	marks := p.spoke[seat]
	i := sort.Search(len(marks), func(i int) bool { return marks[i].tick >= from })
	if i == len(marks) {
		return time.Time{}, false
	}
	return marks[i].at, true
}

// gone reports whether the leader need not wait for seat's input for
// tick: the seat announced it left at or before tick, or signed that it
// has no input for it.
func (p *pool) gone(seat int, tick uint64) bool {
	_, skip := p.skips[stKey{tick, uint16(seat)}]
	return p.left[seat] != 0 && tick+1 >= p.left[seat] || skip
}

// absence returns the seat's own signed statement that it has no input
// for tick (its NoInput, or its Leave from tick or earlier), if the pool
// holds one: the batch entry that makes "no input" the player's word.
func (p *pool) absence(seat int, tick uint64) (crypto.Envelope, bool) {
	if env, ok := p.skips[stKey{tick, uint16(seat)}]; ok {
		return env, true
	}
	if p.left[seat] != 0 && tick+1 >= p.left[seat] && p.leaves[seat].Type == wire.TypeLeave {
		return p.leaves[seat], true
	}
	return crypto.Envelope{}, false
}

// add takes one signed game message; next is the first undecided tick.
func (p *pool) add(env crypto.Envelope, next uint64) intake {
	if p.v.Verify(&env) != nil {
		return intakeDropped
	}
	switch env.Type {
	case wire.TypeInput:
		if p.sealed {
			return intakeDropped // a sealed match orders reveals, never plain inputs
		}
		r := p.addInput(env, next)
		p.noteArrival(&env)
		return r
	case wire.TypeSealedInput:
		if !p.sealed {
			return intakeDropped
		}
		return p.addInput(env, next)
	case wire.TypeReveal:
		if !p.sealed {
			return intakeDropped
		}
		r := p.addInput(env, next)
		p.noteArrival(&env)
		return r
	case wire.TypeLeave:
		return p.addLeave(env, next)
	case wire.TypeNoInput:
		return p.addNoInput(env, next)
	case wire.TypeKeyShare: // sealed-shares (shares.go)
		if !p.sealed {
			return intakeDropped
		}
		return p.addKeyShare(env, next)
	case wire.TypeStateHash:
		m, err := gamestate.DecodeStateHash(env.Body)
		// Bounded on both sides like an input: an honest peer signs a hash
		// only for a tick it applied, so one further ahead of this pool's
		// log than poolAhead comes from a peer that far ahead, or from a
		// flood (a Byzantine seat signing hashes for far-future
		// checkpoints, which would otherwise be held, and walked by every
		// Judge, until the log got there).
		if err != nil || m.Seat != env.Sender || int(m.Seat) >= p.n || m.Tick%p.interval != 0 ||
			m.Tick+poolReplayAge < next || m.Tick > next+poolAhead {
			return intakeDropped
		}
		k := stKey{m.Tick, m.Seat}
		if _, ok := p.hashes[k]; !ok {
			p.hashes[k] = env
			p.since(env.ID())
		}
		return intakeOK
	case wire.TypeEvidenceRelay:
		p.relaying = true
		defer func() { p.relaying = false }()
		return p.addRelayed(env)
	}
	return intakeDropped
}

// addInput takes a player's Input, or in sealed mode its SealedInput or
// Reveal: the messages that speak for one (seat, tick). The first validly
// signed one per (seat, tick) is kept; one signed by another seat is
// forged-input evidence; a second, different Input or SealedInput is
// input-equivocation evidence.
func (p *pool) addInput(env crypto.Envelope, next uint64) intake {
	seat, tick, ok := gameSeatTick(&env)
	if !ok || int(seat) >= p.n || tick > next+poolAhead {
		return intakeDropped
	}
	id := env.ID()
	if _, dup := p.seen[id]; dup {
		return intakeDup
	}
	if tick+poolReplayAge < next {
		return intakeOld
	}
	p.seen[id] = tick
	if seat != env.Sender {
		// Signed by one seat for another: the victim keeps its own input.
		if p.queue(gamestate.Evidence{Kind: gamestate.ForgedInput, Envelopes: []crypto.Envelope{env}}, int(env.Sender), tick) {
			return intakeEvidence
		}
		return intakeDropped
	}
	k := stKey{tick, seat}
	p.signedFor(seat, tick)
	if env.Type == wire.TypeReveal {
		return p.addReveal(k, env, next)
	}
	slots := p.inputs
	if env.Type == wire.TypeSealedInput {
		slots = p.commits
	}
	if old, ok := slots[k]; ok {
		if !bytes.Equal(old.Body, env.Body) &&
			p.queue(gamestate.Evidence{Kind: gamestate.InputEquivocation, Envelopes: []crypto.Envelope{old, env}}, int(seat), tick) {
			return intakeEvidence
		}
		return intakeOK
	}
	if tick < next {
		return intakeOK // too late to matter; remembered only for replay detection
	}
	slots[k] = env
	if env.Type == wire.TypeSealedInput {
		p.since(commitID(k))
	}
	return intakeOK
}

// gameSeatTick decodes the (seat, tick) an Input, SealedInput or Reveal
// body speaks for.
func gameSeatTick(env *crypto.Envelope) (uint16, uint64, bool) {
	switch env.Type {
	case wire.TypeInput:
		m, err := gamestate.DecodeInput(env.Body)
		return m.Seat, m.Tick, err == nil
	case wire.TypeSealedInput:
		m, err := gamestate.DecodeSealedInput(env.Body)
		return m.Seat, m.Tick, err == nil
	case wire.TypeReveal:
		m, err := gamestate.DecodeReveal(env.Body)
		return m.Seat, m.Tick, err == nil
	}
	return 0, 0, false
}

// queue adds evidence once per (kind, seat, tick).
func (p *pool) queue(ev gamestate.Evidence, seat int, tick uint64) bool {
	k := evKey{ev.Kind, seat, tick}
	if p.evKeys[k] || len(p.evidence) >= maxPendingEvid {
		return false
	}
	p.evKeys[k] = true
	p.evidence = append(p.evidence, ev)
	p.since(evidenceID(ev))
	if !p.relaying {
		p.found = append(p.found, ev)
	}
	return true
}

// completeUpto returns the first tick in [from, from+limit) for which some
// seat's input is missing (from+limit if none is). In sealed mode the
// entries are reveals: a tick is complete once every seat has revealed. A
// seat that announced its departure (wire.TypeLeave) is not waited for.
func (p *pool) completeUpto(from, limit uint64) uint64 {
	for t := from; t < from+limit; t++ {
		for s := 0; s < p.n; s++ {
			if _, ok := p.inputs[stKey{t, uint16(s)}]; !ok && !p.gone(s, t) {
				return t
			}
		}
	}
	return from + limit
}

// build makes the batch for ticks [first, upto): the collected input of
// each seat or nil (the explicit NoInput), every pending state hash for a
// checkpoint before upto, and pending evidence. Items are sorted so the
// same pool always gives the same batch.
func (p *pool) build(first, upto uint64) *gamestate.Batch {
	if upto > first+batchTickLimit {
		upto = first + batchTickLimit
	}
	b := &gamestate.Batch{First: first}
	for t := first; t < upto; t++ {
		ti := gamestate.TickInputs{Seats: make([]*crypto.Envelope, p.n)}
		for s := 0; s < p.n; s++ {
			if env, ok := p.inputs[stKey{t, uint16(s)}]; ok {
				e := env
				ti.Seats[s] = &e
			} else if env, ok := p.absence(s, t); ok {
				ti.Seats[s] = &env
			}
		}
		b.Ticks = append(b.Ticks, ti)
	}
	var hk []stKey
	for k := range p.hashes {
		if k.tick < upto {
			hk = append(hk, k)
		}
	}
	sort.Slice(hk, func(i, j int) bool {
		if hk[i].tick != hk[j].tick {
			return hk[i].tick < hk[j].tick
		}
		return hk[i].seat < hk[j].seat
	})
	for _, k := range hk {
		if len(b.Hashes) == gamestate.MaxBatchHashes {
			break
		}
		b.Hashes = append(b.Hashes, p.hashes[k])
	}
	b.Evidence = append(b.Evidence, p.evidence[:min(len(p.evidence), maxEvidPerBatch)]...)
	return b
}

// decided removes what a decided batch ordered and forgets inputs for
// ticks before next. The batch's commits become the ordered ones (the first
// per (seat, tick), as in the engine); a reveal already held for one of
// them is checked against it, and an ordered commit that differs from the
// one this pool saw first proves input equivocation.
func (p *pool) decided(b *gamestate.Batch, next uint64) {
	for _, c := range b.Commits {
		seat, tick, ok := gameSeatTick(&c)
		if !ok || c.Type != wire.TypeSealedInput || seat != c.Sender || int(seat) >= p.n || tick < next {
			continue
		}
		k := stKey{tick, seat}
		delete(p.sent, k)
		if _, dup := p.ordered[k]; dup {
			continue
		}
		p.ordered[k] = c
		if old, ok := p.commits[k]; ok && !bytes.Equal(old.Body, c.Body) {
			p.queue(gamestate.Evidence{Kind: gamestate.InputEquivocation, Envelopes: []crypto.Envelope{old, c}}, int(seat), tick)
		}
		if rv, ok := p.inputs[k]; ok && rv.Type == wire.TypeReveal {
			p.checkReveal(k, rv)
		}
	}
	for i := range b.Hashes {
		if m, err := gamestate.DecodeStateHash(b.Hashes[i].Body); err == nil {
			delete(p.hashes, stKey{m.Tick, m.Seat})
		}
	}
	if len(b.Evidence) > 0 {
		done := map[crypto.Digest]bool{}
		for _, ev := range b.Evidence {
			done[evidenceID(ev)] = true
		}
		keep := p.evidence[:0]
		for _, ev := range p.evidence {
			if !done[evidenceID(ev)] {
				keep = append(keep, ev)
			}
		}
		p.evidence = keep
	}
	for _, m := range []map[stKey]crypto.Envelope{p.inputs, p.commits, p.ordered} {
		for k := range m {
			if k.tick < next {
				delete(m, k)
			}
		}
	}
	for k := range p.sent {
		if k.tick < next {
			delete(p.sent, k)
		}
	}
	for k := range p.skips {
		if k.tick < next {
			delete(p.skips, k)
		}
	}
	for k := range p.arrived {
		if k.tick < next {
			delete(p.arrived, k)
		}
	}
	p.forgetItems()
	for t := range p.own {
		if t < next {
			delete(p.own, t)
		}
	}
	for k := range p.hashes {
		if k.tick+poolReplayAge < next {
			delete(p.hashes, k)
		}
	}
	for s, marks := range p.spoke {
		i := 0 // keep the last mark: it still says the seat spoke since
		for i < len(marks)-1 && marks[i].tick+poolReplayAge < next {
			i++
		}
		if i > 0 {
			p.spoke[s] = append(marks[:0], marks[i:]...)
		}
	}
	for id, t := range p.seen {
		if t+poolReplayAge < next {
			delete(p.seen, id)
		}
	}
	// Evidence about a tick this far behind can no longer be queued (add
	// reports such a message as old before queue sees it), so its key is
	// not needed to refuse it twice: without this a cheater that forges
	// or equivocates every tick grows the index by one key per tick.
	for k := range p.evKeys {
		if k.tick+poolReplayAge < next {
			delete(p.evKeys, k)
		}
	}
}

// evidenceID names an evidence item by what it proves (kind, offender,
// tick), not by its bytes: two peers that found the same equivocation with
// its halves in another order hold the same item, and once the log orders
// one of them the other is done too. Every game-level proof's first
// envelope is the offender's, for the tick (queue's key).
func evidenceID(ev gamestate.Evidence) crypto.Digest {
	w := wire.NewWriter(nil)
	w.U8(uint8(ev.Kind))
	if len(ev.Envelopes) > 0 {
		_, tick, _ := gameSeatTick(&ev.Envelopes[0])
		w.U16(ev.Envelopes[0].Sender)
		w.Uvarint(tick)
	}
	return crypto.Sum(w.Bytes())
}
