package lockstep

import (
	"errors"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

// Apply takes one decided slot, in slot order. Consensus evidence ordered
// at this slot is recorded first, then the batch is applied; replay records
// follow the same order, so a replay re-derives exactly what every peer
// derived. now is when it was decided here (commit latencies).
func (c *Core) Apply(e bft.Entry, now time.Time) {
	c.at(now)
	c.appliedSlot = max(c.appliedSlot, e.Slot)
	for _, v := range c.engine.RecordOrdered(e.Slot, e.Evidence) {
		c.record(func(w *gamestate.ReplayWriter) error { return w.WriteConsensus(&v) })
		c.verdict(v)
	}
	// Every decided slot is recorded with its commit certificate, a batch
	// or not, stale or not: a verifier re-derives what peers skip, and a
	// gap in slots shows an entry dropped from the file.
	c.record(func(w *gamestate.ReplayWriter) error { return w.WriteEntry(e.Slot, e.View, e.Value, e.Cert) })
	b, err := gamestate.DecodeBatch(e.Payload)
	if err != nil {
		c.log.Warn("decided value is not a batch", "slot", e.Slot, "err", err)
		return
	}
	c.applyBatch(b, now)
}

// applyBatch applies one agreed batch to the engine: the replay record,
// tick events with commit latencies, checkpoint hashes, verdicts, the
// pool's clean-up and, in sealed mode, this peer's reveals for its sealed
// inputs the batch ordered.
func (c *Core) applyBatch(b *gamestate.Batch, now time.Time) {
	res, err := c.engine.Apply(b)
	if errors.Is(err, gamestate.ErrNotContiguous) {
		// A stale duplicate (e.g. re-proposed across a view change): every
		// honest peer skips it alike. The leader restarts from the log.
		c.prop.skipped(c.engine.Next())
		return
	}
	if c.spec != nil {
		c.spec.confirm(res.Ticks)
	}
	for i := range res.Ticks {
		tr := &res.Ticks[i]
		if c.cfg.Seat < len(tr.Inputs) && tr.Inputs[c.cfg.Seat].Present {
			c.ownInputs++
		} else if i < len(b.Ticks) && c.cfg.Seat < len(b.Ticks[i].Seats) {
			if e := b.Ticks[i].Seats[c.cfg.Seat]; e != nil && (e.Type == wire.TypeNoInput || e.Type == wire.TypeLeave) {
				c.ownAbsent++ // "no input" in this player's own words
			}
		}
		var commit time.Duration
		if at, ok := c.signedAt[tr.Tick]; ok {
			// Only an input that was applied has a commit latency: one
			// that missed its deadline (or was rejected) never committed.
			if c.cfg.Seat < len(tr.Inputs) && tr.Inputs[c.cfg.Seat].Present {
				commit = now.Sub(at)
				c.lat.add(commit) // input signed → its tick applied
				c.cfg.Metrics.Commit(commit)
			}
			delete(c.signedAt, tr.Tick)
		}
		c.emit(TickEvent{Tick: tr.Tick, Inputs: tr.Inputs, Checkpoint: tr.Checkpoint, Hash: tr.Hash, Commit: commit})
		if tr.Checkpoint {
			c.record(func(w *gamestate.ReplayWriter) error { return w.WriteHash(tr.Tick, tr.Hash) })
			if c.cfg.Mode == Ordered {
				c.signHash(tr.Tick, tr.Hash) // nothing would order it
			}
		}
	}
	c.cfg.Metrics.TicksDecided(len(res.Ticks))
	for _, v := range res.Verdicts {
		c.verdict(v)
	}
	c.pool.decided(b, c.engine.Next())
	if c.cfg.Sealed {
		c.revealOrdered(b)
	}
	c.skipDecided()
	for t := range c.signedAt {
		if t < c.engine.Next() {
			delete(c.signedAt, t)
		}
	}
	for t := range c.ownData {
		if t < c.engine.Next() {
			delete(c.ownData, t)
		}
	}
	if c.cfg.Unpaced || c.status.IsLeader {
		c.rd.Wake = true // the clock moves (Unpaced) or more ticks may be ready to order
	}
}

// applyComplete is broadcast mode's whole "consensus": apply every tick
// from the next one on for which this peer holds every seat's input.
// Nothing is agreed: each peer applies what it received, so one
// equivocating player splits the match (that is the point of the baseline).
func (c *Core) applyComplete(now time.Time) {
	for {
		next := c.engine.Next()
		upto := c.pool.completeUpto(next, batchTickLimit)
		if upto == next {
			return
		}
		b := c.pool.build(next, upto)
		b.Hashes, b.Evidence = nil, nil
		for i := range b.Ticks {
			for seat, env := range b.Ticks[i].Seats {
				if env == nil {
					continue // a seat that left (its Leave): nothing to wait for
				}
				if m, err := gamestate.DecodeInput(env.Body); err == nil && len(m.Data) == 0 {
					b.Ticks[i].Seats[seat] = nil // the player's signed "no input"
				}
			}
		}
		// Nothing certifies what this peer applied: recorded as such.
		c.record(func(w *gamestate.ReplayWriter) error { return w.WriteBatch(b) })
		c.applyBatch(b, now)
	}
}

// signHash signs and broadcasts this peer's state hash at a checkpoint;
// the leader orders it and every engine compares it with its own.
func (c *Core) signHash(tick uint64, h crypto.Digest) {
	if c.hooks.StateHash != nil {
		h = c.hooks.StateHash(tick, h)
	}
	m := gamestate.StateHash{Seat: uint16(c.cfg.Seat), Tick: tick, Hash: h}
	env := c.cfg.Signer.Sign(wire.TypeStateHash, m.Encode())
	c.pool.add(env, c.engine.Next())
	c.broadcast(env)
}
