package lockstep

import (
	"fmt"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

// Receive takes one game message from the network at now (from: the seat
// that delivered it).
func (c *Core) Receive(now time.Time, from int, env crypto.Envelope) {
	c.msgsIn++
	c.at(now)
	if c.hooks.Ignore != nil && c.hooks.Ignore(c.tools, env) {
		return
	}
	c.intake(now, from, env)
	if c.hooks.Received != nil {
		c.sendOut(c.hooks.Received(c.tools, env))
	}
}

// intake adds one game message to the pool and reacts to what it found.
func (c *Core) intake(now time.Time, from int, env crypto.Envelope) {
	if env.Type == wire.TypeRelay {
		// Other players' messages passed on by an acceptor that refused a
		// batch without them: each is taken as if it came on its own, but
		// one this peer holds already is no replay by the relayer.
		if c.cfg.Verifier.Verify(&env) != nil {
			return
		}
		envs, err := gamestate.DecodeRelay(env.Body)
		if err != nil {
			return
		}
		for _, e := range envs {
			if e.Type == wire.TypeRelay || e.Type == wire.TypeEvidenceRelay || (c.hooks.Ignore != nil && c.hooks.Ignore(c.tools, e)) {
				continue
			}
			if r := c.pool.add(e, c.engine.Next()); r == intakeOK && c.status.IsLeader {
				c.rd.Wake = true
			}
		}
		return
	}
	if env.Type == wire.TypeNoInput && c.cfg.Mode == Broadcast {
		// Broadcast mode has no leader to skip a wait: a player says "no
		// input" with a signed empty Input, which every peer applies alike.
		return
	}
	switch c.pool.add(env, c.engine.Next()) {
	case intakeEvidence:
		if env.Type == wire.TypeKeyShare && c.status.IsLeader { // sealed-shares: a held tick's opening is in
			c.rd.Wake = true
		}
	case intakeDup, intakeOld:
		c.observe(now, gamestate.ReplayedMessage, from, fmt.Sprintf("seat %d delivered an old signed %s of seat %d", from, env.Type, env.Sender))
	case intakeOK:
		switch env.Type {
		case wire.TypeInput, wire.TypeReveal, wire.TypeLeave, wire.TypeNoInput:
			if env.Type == wire.TypeLeave {
				c.emit(PeerEvent{Seat: int(env.Sender), Kind: PeerLeft})
			}
			if c.cfg.Mode == Broadcast {
				c.applyComplete(now)
			} else if c.status.IsLeader && c.pool.completeUpto(c.prop.proposedNext, 1) > c.prop.proposedNext {
				c.rd.Wake = true // the next tick to order holds every input: order it now
			}
		case wire.TypeSealedInput:
			// Every seat's commitment for the tick is in: order them now
			// rather than at the next beat (stragglers go then).
			if m, err := gamestate.DecodeSealedInput(env.Body); err == nil && c.status.IsLeader && c.pool.commitsComplete(m.Tick) {
				c.rd.Wake = true
			}
		}
	}
}
