package paxsync

import (
	"bytes"

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
// peer's key (seat is another one only for the forge-input cheat). The
// one-time key comes from crypto.Seal.
func (s *Session) sealInput(seat int, tick uint64, data []byte) (crypto.Envelope, crypto.SealKey, error) {
	sealed, key, err := crypto.Seal(data, gamestate.SealAD(s.match, uint16(seat), tick), nil)
	if err != nil {
		return crypto.Envelope{}, key, err
	}
	m := gamestate.SealedInput{Seat: uint16(seat), Tick: tick, Sealed: sealed}
	return s.signer.Sign(wire.TypeSealedInput, m.Encode()), key, nil
}

// sampleSealed is sampleInputs' sealed path for one tick: seal, keep the
// key until the commitment is ordered, and return the signed sealed input.
// Playing lookahead, a different input is sealed too, and its key is what
// will be revealed.
func (s *Session) sampleSealed(tick uint64, data []byte) (crypto.Envelope, bool) {
	env, key, err := s.sealInput(s.seat, tick, data)
	if err != nil {
		s.log.Error("sealing input", "tick", tick, "err", err)
		return env, false
	}
	o := ownSeal{body: env.Body, key: key}
	if s.cheating(CheatLookahead, tick) {
		alt := append(append([]byte(nil), data...), 0x4C)
		if _, k, err := crypto.Seal(alt, gamestate.SealAD(s.match, uint16(s.seat), tick), nil); err == nil {
			o.alt = &k
		}
	}
	s.pool.keepOwn(tick, o)
	return env, true
}

// revealOrdered reveals this peer's keys for its sealed inputs that batch b
// ordered (mu held, after the pool saw b): the reveal is signed, added to
// the pool and queued for broadcast (sendReveal). Playing lookahead, the
// reveal is held back (lookaheadReveals sends it).
func (s *Session) revealOrdered(b *gamestate.Batch) {
	for i := range b.Commits {
		c := &b.Commits[i]
		if int(c.Sender) != s.seat || c.Type != wire.TypeSealedInput {
			continue
		}
		m, err := gamestate.DecodeSealedInput(c.Body)
		if err != nil || int(m.Seat) != s.seat {
			continue
		}
		// Only the commitment the log holds for the tick can be opened:
		// the first one ordered (an equivocating cheater may have two).
		if ord, ok := s.pool.ordered[stKey{m.Tick, m.Seat}]; !ok || !bytes.Equal(ord.Body, c.Body) {
			continue
		}
		o, ok := s.pool.takeOwn(m.Tick, c.Body)
		if !ok {
			continue // already revealed (the commitment was ordered twice)
		}
		if o.alt != nil && s.cheating(CheatLookahead, m.Tick) {
			if s.cheat.lookahead == nil {
				s.cheat.lookahead = map[uint64]crypto.SealKey{}
			}
			s.cheat.lookahead[m.Tick] = *o.alt
			continue
		}
		s.sendReveal(m.Tick, o.key)
	}
	s.lookaheadReveals()
}

// sendReveal signs this peer's reveal of key for tick, adds it to its own
// pool (so it is ordered if this peer leads) and queues it for the clock
// goroutine, which it wakes, to broadcast (mu held). The driver goroutine,
// which applies batches, must not block on the network: publishing can
// wait on pubsub while consensus messages pile up behind it.
func (s *Session) sendReveal(tick uint64, key crypto.SealKey) {
	m := gamestate.Reveal{Seat: uint16(s.seat), Tick: tick, Key: key}
	env := s.signer.Sign(wire.TypeReveal, m.Encode())
	s.pool.add(env, s.engine.Next())
	s.pool.outbox = append(s.pool.outbox, env)
	s.poke()
}

// lookaheadReveals is the lookahead cheat's second half (mu held): for
// each tick whose reveal it holds back, once it holds every other seat's
// reveal (it has seen their inputs), or the tick's scheduled time came
// (the others may never reveal), it reveals the wrong key.
func (s *Session) lookaheadReveals() {
	next := s.engine.Next()
	for t, key := range s.cheat.lookahead {
		switch {
		case t < next:
			delete(s.cheat.lookahead, t) // decided without it
		case s.pool.revealsFrom(t, s.seat) || s.clock >= t:
			delete(s.cheat.lookahead, t)
			s.sendReveal(t, key)
		}
	}
}

// commitsDue decides whether pending sealed inputs are worth a batch of
// their own (mu held): yes once some tick's commitments are all in, or for
// a straggler sampled before the current beat. The leader's own
// commitment for the tick it just sampled waits for the others, which
// (with a shared Epoch) were sealed at the same moment and arrive within
// milliseconds: one slot orders them all instead of two.
func (s *Session) commitsDue(commits []crypto.Envelope) bool {
	now := s.clock + uint64(s.cfg.InputDelay)
	for i := range commits {
		_, tick, ok := gameSeatTick(&commits[i])
		if ok && (tick < now || s.pool.commitsComplete(tick)) {
			return true
		}
	}
	return false
}
