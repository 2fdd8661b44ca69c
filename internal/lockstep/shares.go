package lockstep

// Opening a withheld reveal from key shares (docs/PROTOCOL.md, "Sealed mode: no free abort"). Every
// sealed input deals its one-time key's shares to the seats, inside the
// commitment (sealInput). When the log has ordered the commitment of seat s
// for tick t and s's reveal is not in by t's deadline (clock ≥ t + grace,
// the moment the leader would order t without it) and shareSlack after the
// peer saw the commitment ordered, every other peer opens its own share
// and broadcasts it signed (wire.TypeKeyShare). The leader
// holds t (holdSealed) until f+1 shares that match their dealt hashes are
// in, then orders them as one evidence item (gamestate.OpeningEvidence):
// every engine opens the commitment with them, applies the committed input
// and records withheld-reveal, or bad-shares if the dealer's shares do not
// open it. None of this sends a message unless a reveal is late.

import (
	"errors"
	"sort"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

// shareSlack is how long after a peer sees a commitment ordered its
// reveal may take before the peer releases its share (besides the tick's
// own deadline, clock ≥ tick + grace): well above one network hop under
// load, so an honest player's reveal is not reported as withheld. Only a
// withheld (or lost) reveal waits it out. It is wall time, not ticks: the
// clock cannot run far ahead of a held tick.
const shareSlack = 250 * time.Millisecond

// shareHold is how long past the shares' release the leader holds a tick
// whose withheld reveal is being opened (the shares need one hop). After that
// the tick goes out without the seat's input, so a partition that keeps
// the shares away cannot stall the match.
const shareHold = 250 * time.Millisecond

// shareBook is the pool's state for openings: the key shares seen per
// (seat, tick) (one per holder), the commitments this peer released its
// share of, those whose opening is queued, and the clock tick at which
// this peer first saw each commitment ordered.
type shareBook struct {
	got      map[stKey][]crypto.Envelope
	released map[stKey]bool
	opened   map[stKey]bool
	seenAt   map[stKey]time.Time
	dueAt    map[stKey]time.Time // when releaseDue first held
	// heldFrom is, per tick, when this leader first found it due: a
	// commitment taken before then that is still on its way into the log
	// holds the tick (awaitsCommit).
	heldFrom map[uint64]time.Time
}

func (p *pool) book() *shareBook {
	if p.shares == nil {
		p.shares = &shareBook{got: map[stKey][]crypto.Envelope{}, released: map[stKey]bool{}, opened: map[stKey]bool{},
			seenAt: map[stKey]time.Time{}, dueAt: map[stKey]time.Time{}, heldFrom: map[uint64]time.Time{}}
	}
	return p.shares
}

// addKeyShare takes a seat's signed key share (wire.TypeKeyShare): one per
// holder and (seat, tick), for a tick not yet decided. Once the commitment
// is ordered and f+1 of its shares check out, the opening is queued.
func (p *pool) addKeyShare(env crypto.Envelope, next uint64) intake {
	m, err := gamestate.DecodeKeyShare(env.Body)
	if err != nil || m.Holder != env.Sender || int(m.Holder) >= p.n || int(m.Seat) >= p.n || m.Tick > next+poolAhead {
		return intakeDropped
	}
	if m.Tick < next {
		return intakeOK // decided already: too late to matter
	}
	k := stKey{m.Tick, m.Seat}
	b := p.book()
	for _, o := range b.got[k] {
		if o.Sender == env.Sender {
			return intakeOK // the first per holder counts
		}
	}
	b.got[k] = append(b.got[k], env)
	if c, ok := p.ordered[k]; ok && p.checkShare(c, env) {
		return intakeEvidence
	}
	if p.tryOpen(k) {
		return intakeEvidence
	}
	return intakeOK
}

// checkShare queues false-share evidence if share does not match the hash
// that the ordered commitment c dealt its holder (an honest holder checks
// before sending, so this is its lie, proven by the two signed messages).
func (p *pool) checkShare(c, share crypto.Envelope) bool {
	if !errors.Is(gamestate.CheckKeyShare(p.v, &c, &share), gamestate.ErrShareLie) {
		return false
	}
	ev := gamestate.Evidence{Kind: gamestate.FalseShare, Envelopes: []crypto.Envelope{c, share}}
	_, tick, err := gamestate.CheckEvidence(p.v, ev.Kind, ev.Envelopes)
	return err == nil && p.queue(ev, int(share.Sender), tick)
}

// tryOpen queues the opening of the commitment ordered for k once its
// shares allow, unless its reveal is in (the reveal is the seat's entry).
func (p *pool) tryOpen(k stKey) bool {
	b := p.book()
	c, ok := p.ordered[k]
	if !ok || b.opened[k] {
		return false
	}
	if rv, ok := p.inputs[k]; ok && rv.Type == wire.TypeReveal {
		return false
	}
	ev, err := gamestate.OpeningEvidence(p.v, c, b.got[k])
	if err != nil {
		return false
	}
	b.opened[k] = true
	return p.queue(ev, int(k.seat), k.tick)
}

// pruneShares forgets the share state of decided ticks.
func (p *pool) pruneShares(next uint64) {
	b := p.book()
	for k := range b.got {
		if k.tick < next {
			delete(b.got, k)
		}
	}
	for _, m := range []map[stKey]bool{b.released, b.opened} {
		for k := range m {
			if k.tick < next {
				delete(m, k)
			}
		}
	}
	for _, m := range []map[stKey]time.Time{b.seenAt, b.dueAt} {
		for k := range m {
			if k.tick < next {
				delete(m, k)
			}
		}
	}
	for t := range b.heldFrom {
		if t < next {
			delete(b.heldFrom, t)
		}
	}
}

// releaseDue reports whether the seats release their shares of k now: its
// tick is past its deadline (clock ≥ tick + grace) and shareSlack has
// passed since this peer saw the commitment ordered (a commitment ordered
// late gets as long to be revealed as one ordered early). It remembers the
// first moment it was true (dueAt), from which the leader's hold counts.
func (c *Core) releaseDue(k stKey, now time.Time) bool {
	b := c.pool.book()
	at, ok := b.seenAt[k]
	if !ok {
		b.seenAt[k], at = now, now
	}
	if _, ok := b.dueAt[k]; ok {
		return true
	}
	if now.Sub(at) < shareSlack || c.clock < k.tick+c.prop.graceTicks {
		return false
	}
	b.dueAt[k] = now
	return true
}

// awaitsOpening reports whether tick t has a seat whose commitment is
// ordered but which has neither a reveal nor a queued opening, and whose
// hold (shareHold from the shares' release) has not run out.
func (c *Core) awaitsOpening(now time.Time, t uint64) bool {
	p := c.pool
	b := p.book()
	for s := 0; s < p.n; s++ {
		k := stKey{t, uint16(s)}
		if _, ok := p.ordered[k]; !ok || b.opened[k] || p.gone(s, t) {
			continue
		}
		if _, ok := p.inputs[k]; ok {
			continue
		}
		if !c.releaseDue(k, now) || now.Sub(b.dueAt[k]) < shareHold {
			return true
		}
	}
	return false
}

// releaseShares broadcasts this peer's key share of every ordered
// commitment of another seat whose tick is past its deadline (clock ≥ tick
// + grace) with no reveal in, once per commitment. A share that does not
// match its dealt hash is not sent (the dealer lied to this seat alone;
// the other seats' shares still open the input).
func (c *Core) releaseShares(now time.Time, next uint64) {
	p := c.pool
	b := p.book()
	p.pruneShares(next)
	var due []stKey
	for k := range p.ordered {
		if _, ok := b.seenAt[k]; !ok && k.tick >= next {
			b.seenAt[k] = now
		}
		if k.tick < next || int(k.seat) == c.cfg.Seat || b.released[k] || !c.releaseDue(k, now) {
			continue
		}
		if _, ok := p.inputs[k]; ok {
			continue
		}
		due = append(due, k)
	}
	sort.Slice(due, func(i, j int) bool {
		return due[i].tick < due[j].tick || (due[i].tick == due[j].tick && due[i].seat < due[j].seat)
	})
	for _, k := range due {
		b.released[k] = true
		cm := p.ordered[k]
		ks, err := gamestate.OpenOwnShare(c.cfg.Signer, c.cfg.Verifier, &cm)
		if err != nil {
			c.log.Info("not releasing key share", "seat", k.seat, "tick", k.tick, "err", err)
			continue
		}
		env := c.cfg.Signer.Sign(wire.TypeKeyShare, ks.Encode())
		p.add(env, next)
		c.broadcast(env)
	}
	for k := range b.got {
		if p.tryOpen(k) {
			c.rd.Wake = true // as leader, the held tick can go now
		}
	}
}

// awaitsCommit reports whether tick t, due now, still waits for a
// seat's commitment that this leader holds but the log has not ordered
// (proposed in a slot not yet decided, or not proposed yet: the batch
// that stops before t carries it, and a lost one is proposed again after
// the stall bound or in the next view). Ordering t before it would give
// the seat "no input" although its sealed input arrived in time, a
// withheld reveal of it could never be opened, and acceptors that held it
// in time refuse such a batch (commitOmitted). Only a commitment that
// this leader took before it first found t due is waited for (that is
// after t's deadline, later than the cut acceptors judge by, so an honest
// leader is never refused for a commitment it held): one that comes after
// loses its own input and costs nobody a consensus round. The first
// version used the acceptors' cut itself, and under CI load (p50 210 ms)
// honest commitments that reached the leader after it lost 10 % of the
// inputs in censor-input-sealed. The wait has no time bound of its own: if the
// commitment's slot never decides, the view changes (bft's timeout, the
// followers' suspicion) and the next leader orders it first.
func (c *Core) awaitsCommit(now time.Time, t uint64) bool {
	p := c.pool
	b := p.book()
	cut, ok := b.heldFrom[t]
	if !ok {
		b.heldFrom[t], cut = now, now
	}
	for s := 0; s < p.n; s++ {
		k := stKey{t, uint16(s)}
		if _, held := p.commits[k]; !held || p.gone(s, t) {
			continue
		}
		if _, ordered := p.ordered[k]; ordered {
			continue
		}
		if at, ok := p.itemSince[commitID(k)]; ok && !at.After(cut) {
			return true
		}
	}
	return false
}

// holdSealed returns the end of [first, upto) that the leader may order
// now in sealed mode: it stops at a tick that awaits a commitment on its
// way into the log (awaitsCommit), or the opening of a withheld reveal
// (for at most shareHold past the shares' release).
func (c *Core) holdSealed(now time.Time, first, upto uint64) uint64 {
	for t := first; t < upto; t++ {
		if c.awaitsCommit(now, t) || c.awaitsOpening(now, t) {
			return t
		}
	}
	return upto
}
