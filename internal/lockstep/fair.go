package lockstep

import (
	"fmt"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

// Fair play under a malicious leader (docs/PROTOCOL.md, "Fair play"). The
// leader chooses what goes into each batch; an honest acceptor votes for a
// batch only if the batch leaves out nothing the acceptor could expect an
// honest leader to have:
//
//   - a seat's input for tick t (its reveal, sealed), if the acceptor held
//     it since one tick before t's deadline (Epoch + (t+grace) ticks);
//   - any unjustified "no input" (a nil entry, not the seat's own signed
//     NoInput or Leave) before t's deadline, less one tick;
//   - a seat's own NoInput or Leave used as its entry although the seat
//     has spoken since (its input for t, or for a Leave any message for
//     the Leave's tick or later), held here long enough before the
//     earliest moment an honest leader could order t (absenceOverruled);
//   - evidence, or a state hash for a checkpoint the batch covers, that
//     the acceptor has held for itemMargin and that the batch had room for
//     and no proposal it voted for in the last stall bound carried.
//
// If f+1 honest acceptors hold an input in time, the other n-(f+1) seats
// are fewer than a quorum (n-(f+1) < q, since two quorums share f+1), so a
// batch that omits it is never decided. The view's bft timeout (and the
// refusers' Suspect, which alone makes f+1 votes for a view change) then
// replaces the leader, and the next one orders the input, which every pool
// keeps until its tick is decided. The checks on inputs need the shared
// tick grid (Config.Epoch): without one, peers have no common deadline, so
// there is nothing to hold a leader to and only the throughput floor
// (floor.go) applies.

// itemMargin is how long an acceptor holds evidence or a state hash
// before it refuses a batch without it: the leader gets hashes by the same
// broadcast and evidence by relay (relayFound, half this), so an honest one
// has them well within this. Unlike an input's, an item's deadline is not
// the game's: a late item costs a little detection latency, a refused
// honest leader a view change, so the margin is generous.
func (c *Core) itemMargin() time.Duration { return max(16*c.cfg.Interval, 300*time.Millisecond) }

// inputMargin is how long before a tick's deadline an acceptor must have
// held a seat's input to refuse a batch that leaves it out: the bound this
// assumes on how much later one broadcast may reach (and be taken by) the
// leader than the acceptor. Two ticks, at least 25 ms: an input signed
// InputDelay ticks ahead and delivered within InputDelay+grace-2 ticks is
// protected.
func (c *Core) inputMargin() time.Duration { return max(2*c.cfg.Interval, 25*time.Millisecond) }

// noteArrival remembers when the pool first held an input entry (its
// input, or in sealed mode its reveal) for env's seat and tick.
func (p *pool) noteArrival(env *crypto.Envelope) {
	seat, tick, ok := gameSeatTick(env)
	if !ok {
		return
	}
	k := stKey{tick, seat}
	if _, held := p.inputs[k]; !held {
		return
	}
	if _, seen := p.arrived[k]; !seen {
		p.arrived[k] = p.now
	}
}

// since returns when the pool first held the item id (evidence or a state
// hash to order), noting now if it is new.
func (p *pool) since(id crypto.Digest) time.Time {
	if t, ok := p.itemSince[id]; ok {
		return t
	}
	p.itemSince[id] = p.now
	return p.now
}

// forgetItems drops the arrival times of items no longer waiting to be
// ordered, so the index is bounded by what the pool holds.
func (p *pool) forgetItems() {
	live := make(map[crypto.Digest]bool, len(p.evidence)+len(p.hashes))
	for _, ev := range p.evidence {
		live[evidenceID(ev)] = true
	}
	for _, env := range p.hashes {
		live[env.ID()] = true
	}
	for k := range p.commits {
		if _, done := p.ordered[k]; !done {
			live[commitID(k)] = true
		}
	}
	for id := range p.itemSince {
		if !live[id] {
			delete(p.itemSince, id)
		}
	}
	for id := range p.carried {
		if !live[id] {
			delete(p.carried, id)
		}
	}
}

// Judge is the acceptor's fair-play check of the batch proposed for slot
// (bft's ValidateValue, after gamestate.ValidateBatch): nil to vote for it,
// or why not. A refusal is reported as a censorship observation about the
// leader. An error wrapping bft.ErrNotYet defers the verdict until the
// slots below are applied here: in sealed mode, whether a tick went out
// ahead of a commitment depends on what those slots ordered.
// It is not a vote to replace the leader on its own: if f+1 honest
// acceptors refuse, the slot cannot be decided and bft's view timeout
// replaces the leader; a lone refusal (this acceptor got an input much
// earlier than the leader did) costs nothing, where suspicions from
// several such moments would add up to a needless view change. now is when
// the proposal is judged.
func (c *Core) Judge(slot uint64, payload []byte, now time.Time) error {
	c.at(now)
	if c.cfg.Mode != Ordered || c.status.IsLeader {
		return nil
	}
	b, err := gamestate.DecodeBatch(payload)
	if err != nil {
		return err
	}
	why, seat := c.omission(slot, b, now)
	if seat == notYet {
		return fmt.Errorf("lockstep: batch for slot %d: %w", slot, bft.ErrNotYet)
	}
	if why != "" {
		c.refused++
		if seat >= 0 {
			c.strike(now, seat)
		}
		c.relayOmitted(b)
		c.observe(now, gamestate.Censorship, int(c.status.Leader), why)
		c.log.Info("refusing batch", "first", b.First, "why", why)
		return fmt.Errorf("lockstep: unfair batch: %s", why)
	}
	for _, ev := range b.Evidence {
		c.pool.carried[evidenceID(ev)] = now
	}
	for i := range b.Hashes {
		c.pool.carried[b.Hashes[i].ID()] = now
	}
	for i := range b.Commits {
		if seat, tick, ok := gameSeatTick(&b.Commits[i]); ok {
			c.pool.carried[commitID(stKey{tick, seat})] = now
		}
	}
	return nil
}

// commitID names the sealed input of one (seat, tick) as an item to order:
// any commitment of the seat for the tick orders it (a second, different
// one is the player's equivocation, not the leader's omission).
func commitID(k stKey) crypto.Digest {
	w := wire.NewWriter(nil)
	w.U8(uint8(wire.TypeSealedInput))
	w.U16(k.seat)
	w.Uvarint(k.tick)
	return crypto.Sum(w.Bytes())
}

// strike notes that the current leader left out seat's input although this
// acceptor held it in time. A Byzantine player can cause that on purpose,
// sending its input early to everyone but the leader, to make honest
// acceptors block an honest leader tick after tick. Once leaders of f+1
// different seats were refused for it (so at least one was honest, and
// really never got the input), the seat loses the protection here and is
// reported: it (or its network) does not reach the leaders.
func (c *Core) strike(now time.Time, seat int) {
	if c.unprotected[seat] {
		return
	}
	if c.strikes[seat] == nil {
		c.strikes[seat] = map[uint16]bool{}
	}
	c.strikes[seat][c.status.Leader] = true
	if len(c.strikes[seat]) > (c.cfg.N-1)/3 {
		c.unprotected[seat] = true
		c.observe(now, gamestate.SelectiveSend, seat, fmt.Sprintf(
			"leaders of %d different seats left out seat %d's input that this peer held in time", len(c.strikes[seat]), seat))
	}
}

// notYet, as omission's seat, says the batch cannot be judged before the
// slots below it are applied here (Judge then returns bft.ErrNotYet).
const notYet = -2

// omission names the first thing b, proposed for slot, leaves out that an
// honest leader would have put in ("" if none), and the seat whose input
// it is (-1: not an input; notYet: judge again later).
func (c *Core) omission(slot uint64, b *gamestate.Batch, now time.Time) (string, int) {
	if !c.cfg.Epoch.IsZero() && !c.cfg.Unpaced {
		iv := c.cfg.Interval
		for i := range b.Ticks {
			t := b.First + uint64(i)
			deadline := c.cfg.Epoch.Add(time.Duration(t+c.prop.graceTicks) * iv)
			cut := deadline.Add(-c.inputMargin())
			for s, e := range b.Ticks[i].Seats {
				if e != nil {
					if why := c.absenceOverruled(e, s, t); why != "" {
						return why, s
					}
					continue
				}
				if now.Before(deadline.Add(-iv)) { // a tick of slack for the clocks
					return fmt.Sprintf("seat %d marked no input at tick %d before the tick's deadline", s, t), -1
				}
				if at, ok := c.pool.arrived[stKey{t, uint16(s)}]; ok && !at.After(cut) && !c.unprotected[s] {
					return fmt.Sprintf("seat %d's input for tick %d left out, held here %v before its deadline",
						s, t, deadline.Sub(at).Round(time.Millisecond)), s
				}
				if why, seat := c.commitOmitted(slot, t, s, deadline, cut); why != "" || seat == notYet {
					return why, seat
				}
			}
		}
	}
	old := now.Add(-c.itemMargin())
	in := map[crypto.Digest]bool{}
	for _, ev := range b.Evidence {
		in[evidenceID(ev)] = true
	}
	for i := range b.Hashes {
		in[b.Hashes[i].ID()] = true
	}
	if len(b.Evidence) < maxEvidPerBatch {
		for _, ev := range c.pool.evidence {
			if id := evidenceID(ev); !in[id] && c.due(id, old, now) {
				off, tick, _ := gamestate.CheckEvidence(c.cfg.Verifier, ev.Kind, ev.Envelopes)
				return fmt.Sprintf("%s evidence against seat %d (tick %d) left out", ev.Kind, off, tick), -1
			}
		}
	}
	end := b.First + uint64(len(b.Ticks))
	if len(b.Commits) < maxCommitsPerBatch && c.cfg.Sealed {
		for _, cm := range b.Commits {
			if seat, tick, ok := gameSeatTick(&cm); ok {
				in[commitID(stKey{tick, seat})] = true
			}
		}
		for k := range c.pool.commits {
			if _, done := c.pool.ordered[k]; done || k.tick < end || k.tick-end >= gamestate.MaxCommitAhead {
				continue
			}
			if id := commitID(k); !in[id] && c.due(id, old, now) {
				return fmt.Sprintf("seat %d's sealed input for tick %d left out", k.seat, k.tick), -1
			}
		}
	}
	if len(b.Hashes) < gamestate.MaxBatchHashes {
		for k, env := range c.pool.hashes {
			if id := env.ID(); k.tick < end && !in[id] && c.due(id, old, now) {
				return fmt.Sprintf("seat %d's state hash for tick %d left out", k.seat, k.tick), -1
			}
		}
	}
	return "", -1
}

// absenceOverruled is omission's check of a seat's own signed absence
// used as its entry of tick t (e: its NoInput for t, or its Leave from t
// or an earlier tick; "" for anything else): the entry leaves the seat's
// input out as surely as a nil one when the seat has spoken since. A Leave
// no longer stands once the seat signed for its tick or a later one ("an
// input the seat signs later ends the departure", and an honest leader's
// pool then stops using it, pool.signedFor), and a NoInput does not once
// the seat's input for t is held. Without this check a leader could give a
// seat that left and came back its old Leave in every later tick, and
// every acceptor would vote for it.
//
// It is counted as an omitted input is (the seat is struck, and loses the
// protection as there), but the timing differs from a nil entry's: an
// honest leader puts a nil entry only at the tick's deadline, while it may
// order a tick holding a Leave or NoInput as soon as every other entry is
// in (proposer.complete), which is when its own input for t is signed
// (InputDelay ticks ahead). So the seat's contradicting message must have
// been held here an input margin, and a tick for the clocks, before that
// earliest moment: then an honest leader held it too when it built the
// batch. A seat coming back while the leader orders its ticks with its
// Leave, its first inputs still on the way, is not a refusal.
func (c *Core) absenceOverruled(e *crypto.Envelope, s int, t uint64) string {
	if c.unprotected[s] {
		return ""
	}
	var at time.Time
	var ok bool
	var what string
	switch e.Type {
	case wire.TypeNoInput:
		k := stKey{t, uint16(s)}
		at, ok = c.pool.arrived[k]
		if _, held := c.pool.commits[k]; held && c.cfg.Sealed {
			if cm, seen := c.pool.itemSince[commitID(k)]; seen && (!ok || cm.Before(at)) {
				at, ok = cm, true
			}
		}
		what = "its NoInput although its input for the tick was"
	case wire.TypeLeave:
		m, err := gamestate.DecodeLeave(e.Body)
		if err != nil {
			return ""
		}
		at, ok = c.pool.spokeSince(s, m.Tick)
		what = fmt.Sprintf("its Leave from tick %d although a message it signed for that tick or a later one was", m.Tick)
	default:
		return ""
	}
	iv := c.cfg.Interval
	earliest := c.cfg.Epoch.Add(time.Duration(int64(t)-int64(c.cfg.InputDelay)-1) * iv) // less a tick for the clocks
	if !ok || at.After(earliest.Add(-c.inputMargin())) {
		return ""
	}
	return fmt.Sprintf("seat %d's input for tick %d left out for %s held here %v before an honest leader could order the tick",
		s, t, what, earliest.Sub(at).Round(time.Millisecond))
}

// due reports whether an item left out of a batch counts against it: held
// since before old, and not carried by a proposal this acceptor voted for
// within the proposer's stall bound (that one may still be deciding).
func (c *Core) due(id crypto.Digest, old, now time.Time) bool {
	if c.pool.since(id).After(old) {
		return false
	}
	at, ok := c.pool.carried[id]
	return !ok || now.Sub(at) >= c.prop.stall
}

// relayFound broadcasts, in one message, the evidence this peer found
// that is still not ordered half an item margin later, so the leader holds
// it too (the acceptors' inclusion check above assumes it can): the two
// halves of an equivocation may have reached different peers. Under an
// honest leader evidence is ordered before that, and nothing is relayed;
// it runs once a beat, so relaying costs at most one message a beat.
func (c *Core) relayFound(now time.Time) {
	old := now.Add(-c.itemMargin() / 2)
	var out []gamestate.Evidence
	keep := c.pool.found[:0]
	for _, ev := range c.pool.found {
		id := evidenceID(ev)
		switch {
		case !c.pool.pending(id):
			// ordered already (or dropped): nothing to relay
		case c.pool.since(id).After(old) || len(out) == gamestate.MaxBatchEvidence:
			keep = append(keep, ev)
		default:
			out = append(out, ev)
		}
	}
	c.pool.found = keep
	if len(out) > 0 {
		c.broadcast(c.cfg.Signer.Sign(wire.TypeEvidenceRelay, gamestate.EncodeEvidence(out)))
	}
}

// relayOmitted passes on, once per view, the players' signed messages this
// acceptor holds that b leaves out: inputs (or reveals) and signed absences
// for its nil entries, inputs (or another absence) for its NoInput and
// Leave entries, and state hashes for the checkpoints it covers. An
// honest leader lacks them only if the broadcast never reached it (a
// partition that healed): without the relay every leader of one side would
// be refused by the other side for ever.
func (c *Core) relayOmitted(b *gamestate.Batch) {
	if c.pool.relayView != c.status.View+1 {
		clear(c.pool.relayedIn) // bounded by what one view's refusals name
		c.pool.relayView = c.status.View + 1
	}
	var out []crypto.Envelope
	add := func(env crypto.Envelope) {
		id := env.ID()
		if len(out) < gamestate.MaxRelay && c.pool.relayedIn[id] != c.status.View+1 {
			c.pool.relayedIn[id] = c.status.View + 1
			out = append(out, env)
		}
	}
	for i := range b.Ticks {
		t := b.First + uint64(i)
		for s, e := range b.Ticks[i].Seats {
			if e != nil && e.Type != wire.TypeNoInput && e.Type != wire.TypeLeave {
				continue // the seat's input
			}
			k := stKey{t, uint16(s)}
			if env, ok := c.pool.inputs[k]; ok {
				add(env) // what overrules the absence, if e is one
			} else if env, ok := c.pool.absence(s, t); ok && (e == nil || env.ID() != e.ID()) {
				add(env)
			} else if env, ok := c.pool.commits[k]; ok {
				if _, done := c.pool.ordered[k]; !done {
					add(env) // sealed: the commitment the tick went out ahead of
				}
			}
		}
	}
	in := map[crypto.Digest]bool{}
	for i := range b.Hashes {
		in[b.Hashes[i].ID()] = true
	}
	end := b.First + uint64(len(b.Ticks))
	for k, env := range c.pool.hashes {
		if k.tick < end && !in[env.ID()] {
			add(env)
		}
	}
	if len(out) > 0 {
		c.broadcast(c.cfg.Signer.Sign(wire.TypeRelay, gamestate.EncodeRelay(out)))
	}
}

// at tells the core (and its pool) the time of the call in progress.
func (c *Core) at(now time.Time) { c.pool.now = now }

// addRelayed takes evidence another peer relayed: each item is queued if
// it proves what it claims, whoever sent it.
func (p *pool) addRelayed(env crypto.Envelope) intake {
	evs, err := gamestate.DecodeEvidence(env.Body)
	if err != nil {
		return intakeDropped
	}
	for _, ev := range evs {
		if p.evKeys[evKeyOf(ev)] {
			continue // held already: no need to check its signatures again
		}
		off, tick, err := gamestate.CheckEvidence(p.v, ev.Kind, ev.Envelopes)
		if err != nil || off >= p.n {
			return intakeDropped
		}
		p.queue(ev, off, tick)
	}
	return intakeOK
}

// evKeyOf is queue's key of a game-level evidence item (see evidenceID).
func evKeyOf(ev gamestate.Evidence) evKey {
	if len(ev.Envelopes) == 0 {
		return evKey{kind: ev.Kind, seat: -1}
	}
	_, tick, _ := gameSeatTick(&ev.Envelopes[0])
	return evKey{ev.Kind, int(ev.Envelopes[0].Sender), tick}
}

// pending reports whether the evidence item id still waits to be ordered.
func (p *pool) pending(id crypto.Digest) bool {
	for _, ev := range p.evidence {
		if evidenceID(ev) == id {
			return true
		}
	}
	return false
}

// commitOmitted is omission's sealed-mode check of a "no input" entry of
// seat s at tick t: the leader may not order t ahead of a commitment of s
// for t that this acceptor held in time (since the deadline less the
// input margin) and that the log has not ordered. With no commitment in
// the log the seat never reveals, so without this check a leader that
// keeps a seat's commitments out of its batches (pretending it never got
// them) would starve the seat with no acceptor ever holding a reveal the
// batch left out. Whether the log ordered the commitment is known only
// once the slots below the batch's are applied here: before that the
// verdict waits (notYet), which costs nothing in the common case (an
// honest leader orders t only after its commitments' slot is decided, so
// the acceptor holds it ordered already, or the check does not apply).
func (c *Core) commitOmitted(slot, t uint64, s int, deadline, cut time.Time) (string, int) {
	if !c.cfg.Sealed || c.unprotected[s] {
		return "", -1
	}
	k := stKey{t, uint16(s)}
	if _, held := c.pool.commits[k]; !held {
		return "", -1
	}
	if _, ordered := c.pool.ordered[k]; ordered {
		return "", -1
	}
	at, ok := c.pool.itemSince[commitID(k)]
	if !ok || at.After(cut) {
		return "", -1
	}
	if c.appliedSlot+1 < slot {
		return "", notYet
	}
	return fmt.Sprintf("seat %d's sealed input for tick %d, held here %v before its deadline, was never ordered: the tick went out ahead of it",
		s, t, deadline.Sub(at).Round(time.Millisecond)), s
}
