package lockstep

import (
	"bytes"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

// Sealed (commit-reveal) inputs, Config.Sealed. The flow of one input:
//
//  1. sampleInputs seals the player's input for tick t under a fresh
//     one-time key (crypto.Seal, bound to match, seat and tick by
//     gamestate.SealAD), signs it as a wire.TypeSealedInput, broadcasts it
//     and adds it to the pool; the key waits in the pool (pool.own).
//  2. The leader orders every sealed input it holds as soon as it can, in
//     the Commits of its next batch (a batch with no ticks if none is due).
//  3. Applying a batch whose Commits hold this peer's sealed input for t,
//     the peer signs and broadcasts its Reveal (the key) for t
//     (revealOrdered). No honest peer reveals before its commitment is in
//     the log, so nobody can learn its input in time to choose their own.
//  4. The leader orders tick t, with every seat's reveal as its entry, once
//     it holds all reveals for t or at t's deadline; every engine opens the
//     reveals against the ordered commitments, and a key that does not open
//     its commitment is a reveal-mismatch verdict.

// sealInput seals data as seat's input for tick and signs it with this
// peer's key (seat is another one only for a forge-input hook). The
// one-time key comes from crypto.Seal, its shares from
// crypto.Signer.DealShares.
func (c *Core) sealInput(seat int, tick uint64, data []byte) (crypto.Envelope, crypto.SealKey, error) {
	ad := gamestate.SealAD(c.cfg.Match, uint16(seat), tick)
	sealed, key, err := crypto.Seal(data, ad, nil)
	if err != nil {
		return crypto.Envelope{}, key, err
	}
	// The key's shares, one per seat, ride in the commitment: once it is
	// ordered, f+1 seats can open it without this player (shares.go).
	shares, err := c.cfg.Signer.DealShares(key, c.cfg.Verifier, ad, nil)
	if err != nil {
		return crypto.Envelope{}, key, err
	}
	m := gamestate.SealedInput{Seat: uint16(seat), Tick: tick, Sealed: sealed, Shares: shares}
	return c.cfg.Signer.Sign(wire.TypeSealedInput, m.Encode()), key, nil
}

// sampleSealed is sampleInputs' sealed path for one tick: seal, keep the
// key until the commitment is ordered, and return the signed sealed input.
// A SealAlt hook (lookahead) seals a second input too and keeps its key.
func (c *Core) sampleSealed(tick uint64, data []byte) (crypto.Envelope, bool) {
	env, key, err := c.sealInput(c.cfg.Seat, tick, data)
	if err != nil {
		c.log.Error("sealing input", "tick", tick, "err", err)
		return env, false
	}
	o := ownSeal{body: env.Body, key: key}
	if c.hooks.SealAlt != nil {
		if alt := c.hooks.SealAlt(tick, data); alt != nil {
			if _, k, err := crypto.Seal(alt, gamestate.SealAD(c.cfg.Match, uint16(c.cfg.Seat), tick), nil); err == nil {
				o.alt = &k
			}
		}
	}
	c.pool.keepOwn(tick, o)
	return env, true
}

// revealOrdered reveals this peer's keys for its sealed inputs that batch b
// ordered (after the pool saw b): the reveal is signed, added to the pool
// and queued for broadcast (sendReveal). A Reveal hook may withhold it.
func (c *Core) revealOrdered(b *gamestate.Batch) {
	for i := range b.Commits {
		cm := &b.Commits[i]
		if int(cm.Sender) != c.cfg.Seat || cm.Type != wire.TypeSealedInput {
			continue
		}
		m, err := gamestate.DecodeSealedInput(cm.Body)
		if err != nil || int(m.Seat) != c.cfg.Seat {
			continue
		}
		// Only the commitment the log holds for the tick can be opened:
		// the first one ordered (an equivocating cheater may have two).
		if ord, ok := c.pool.ordered[stKey{m.Tick, m.Seat}]; !ok || !bytes.Equal(ord.Body, cm.Body) {
			continue
		}
		o, ok := c.pool.takeOwn(m.Tick, cm.Body)
		if !ok {
			continue // already revealed (the commitment was ordered twice)
		}
		if o.alt != nil && c.hooks.Reveal != nil && c.hooks.Reveal(c.tools, m.Tick, *o.alt) {
			continue
		}
		if c.hooks.WithholdReveal != nil && c.hooks.WithholdReveal(m.Tick) {
			continue
		}
		c.sendReveal(m.Tick, o.key)
	}
}

// sendReveal signs this peer's reveal of key for tick, adds it to its own
// pool (so it is ordered if this peer leads) and queues it for broadcast.
func (c *Core) sendReveal(tick uint64, key crypto.SealKey) {
	m := gamestate.Reveal{Seat: uint16(c.cfg.Seat), Tick: tick, Key: key}
	env := c.cfg.Signer.Sign(wire.TypeReveal, m.Encode())
	c.pool.add(env, c.engine.Next())
	c.broadcast(env)
	c.rd.Wake = true // as leader, the tick may now be complete
}

// commitsDue decides whether pending sealed inputs are worth a batch of
// their own: yes once some tick's commitments are all in, or for a
// straggler sampled before the current beat. The leader's own commitment
// for the tick it just sampled waits for the others, which (with a shared
// Epoch) were sealed at the same moment and arrive within milliseconds:
// one slot orders them all instead of two.
func (c *Core) commitsDue(now time.Time, commits []crypto.Envelope) bool {
	sampled := c.clock + uint64(c.cfg.InputDelay)
	for i := range commits {
		seat, tick, ok := gameSeatTick(&commits[i])
		if !ok {
			continue
		}
		if c.pool.commitsComplete(tick) {
			return true
		}
		// A straggler waits a tick for others to join it, so that commits
		// arriving one by one do not each take a consensus slot.
		if tick < sampled && now.Sub(c.pool.since(commitID(stKey{tick, seat}))) >= c.cfg.Interval {
			return true
		}
	}
	return false
}
