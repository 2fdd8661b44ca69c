package adversary

import (
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/internal/lockstep"
	"github.com/paxsync/paxsync/wire"
)

// coreHooks are the cheats on the game's messages: inputs, state hashes,
// reveals and what the peer relays.
func (p *Player) coreHooks() *lockstep.Hooks {
	return &lockstep.Hooks{
		Input: func(tick uint64, data []byte) []byte {
			if c := p.playing(InvalidMove, tick); c != nil {
				return c.Mutate(data)
			}
			return data
		},
		Signed:   p.signed,
		Beat:     p.beat,
		Received: p.received,
		StateHash: func(tick uint64, h crypto.Digest) crypto.Digest {
			if p.playing(StateHashLie, tick) != nil {
				h[0] ^= 0xff
			}
			return h
		},
		Silent: func(clock uint64) bool { return p.playing(SilentLeader, clock) != nil },
		Batch:  p.batch,
		SealAlt: func(tick uint64, data []byte) []byte {
			if p.playing(Lookahead, tick) == nil {
				return nil
			}
			return append(append([]byte(nil), data...), 0x4C)
		},
		WithholdReveal: func(tick uint64) bool { return p.playing(WithholdReveal, tick) != nil },
		Ignore:         p.ignore,
		Reveal: func(t *lockstep.Tools, tick uint64, alt crypto.SealKey) bool {
			if p.playing(Lookahead, tick) == nil {
				return false
			}
			if p.lookahead == nil {
				p.lookahead = map[uint64]crypto.SealKey{}
			}
			p.lookahead[tick] = alt
			return true
		},
	}
}

// signed adds the input cheats' messages for tick, made from this
// player's honest input data and its signed envelope. In sealed mode the
// forged and the second input are sealed inputs (commitments), which prove
// the same cheats.
func (p *Player) signed(t *lockstep.Tools, tick uint64, data []byte, honest crypto.Envelope) []lockstep.Out {
	var out []lockstep.Out
	if c := p.playing(ForgeInput, tick); c != nil {
		// Signed by this seat for the victim's seat: proof of forgery.
		if !t.Sealed() {
			out = append(out, lockstep.Out{Env: t.SignInput(c.Target, tick, data)})
		} else if env, _, err := t.SealInput(c.Target, tick, data); err == nil {
			out = append(out, lockstep.Out{Env: env})
		}
	}
	if p.playing(EquivocateInput, tick) != nil {
		// A second, different input for the same tick, sent directly to
		// every other peer (the first went by broadcast).
		alt := append(append([]byte(nil), data...), 0xEE)
		if !t.Sealed() {
			out = append(out, lockstep.Out{Env: t.SignInput(t.Seat(), tick, alt), Direct: true})
		} else if env, key, err := t.SealInput(t.Seat(), tick, alt); err == nil {
			// Whichever of the two the log orders is the one revealed.
			t.KeepSeal(tick, env, key)
			out = append(out, lockstep.Out{Env: env, Direct: true})
		}
	}
	p.remember(honest)
	return out
}

// received keeps recent inputs for replay-input, tampers with others'
// inputs (tamper-relay), and releases held reveals (lookahead).
func (p *Player) received(t *lockstep.Tools, env crypto.Envelope) []lockstep.Out {
	p.remember(env)
	var out []lockstep.Out
	if lockstep.IsInput(env) && int(env.Sender) != t.Seat() && len(env.Body) > 0 && p.playing(TamperRelay, t.Clock()) != nil {
		body := append([]byte(nil), env.Body...)
		body[len(body)-1] ^= 0x01
		env.Body = body
		out = append(out, lockstep.Out{Env: env})
	}
	if env.Type == wire.TypeReveal {
		p.releaseReveals(t)
	}
	return out
}

// beat runs on every clock step: the cheats that send on their own.
func (p *Player) beat(t *lockstep.Tools, now time.Time) []lockstep.Out {
	p.mu.Lock()
	p.status, p.clockTick = t.Status(), t.Clock()
	p.mu.Unlock()
	var out []lockstep.Out
	clock := t.Clock()
	if p.playing(ReplayInput, clock) != nil && len(p.history) > 32 {
		for _, e := range p.history[:4] {
			out = append(out, lockstep.Out{Env: e})
		}
		p.history = p.history[4:]
	}
	if p.playing(Garbage, clock) != nil {
		// Type 0 is no message type: receivers fail to decode it.
		out = append(out, lockstep.Out{Env: crypto.Envelope{Type: 0, Sender: uint16(t.Seat()), Body: []byte("garbage")}, Direct: true})
	}
	if p.playing(Flood, clock) != nil {
		if p.flood == nil {
			e := t.Sign(wire.TypeHello, []byte("flood"))
			p.flood = &e
		}
		for i := 0; i < 100; i++ {
			out = append(out, lockstep.Out{Env: *p.flood})
		}
	}
	out = append(out, p.badSyncLure(t, now)...)
	p.releaseReveals(t)
	return out
}

// remember keeps recent inputs of anyone (in sealed mode: sealed inputs
// and reveals), for replay-input.
func (p *Player) remember(env crypto.Envelope) {
	if !lockstep.IsInput(env) {
		return
	}
	if len(p.history) >= 128 {
		p.history = append(p.history[:0], p.history[64:]...)
	}
	p.history = append(p.history, env)
}

// releaseReveals is lookahead's second half: for each tick whose reveal it
// holds back, once it holds every other seat's reveal (it has seen their
// inputs), or the tick's scheduled time came (the others may never
// reveal), it reveals the wrong key.
func (p *Player) releaseReveals(t *lockstep.Tools) {
	next := t.Next()
	for tick, key := range p.lookahead {
		switch {
		case tick < next:
			delete(p.lookahead, tick) // decided without it
		case t.RevealsFrom(tick, t.Seat()) || t.Clock() >= tick:
			delete(p.lookahead, tick)
			t.SendReveal(tick, key)
		}
	}
}
