package adversary

import (
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/internal/lockstep"
	"github.com/paxsync/paxsync/wire"
)

// slowEvery is how often slow-leader lets one tick through: under the
// core's old 2 s suspicion bound (4 stall bounds of 500 ms), which restarted
// on every decided tick, so no timeout ever fired.
const slowEvery = 1500 * time.Millisecond

// ignore is the Ignore hook: sealed, censor-input pretends it never got
// the victim's commitments, so that none is ever in its batches and it
// orders the victim's ticks at their deadline with "no input" (with no
// commitment in the log the victim never reveals, so no acceptor holds a
// reveal the batch leaves out; the acceptors' commitment check catches it).
func (p *Player) ignore(t *lockstep.Tools, env crypto.Envelope) bool {
	c := p.playing(CensorInput, t.Clock())
	return c != nil && p.cfg.Sealed && env.Type == wire.TypeSealedInput && int(env.Sender) == c.Target
}

// batch is the Batch hook: the leader cheats on what it is about to
// propose (censor-input, suppress-evidence) or when (slow-leader).
func (p *Player) batch(t *lockstep.Tools, now time.Time, b *gamestate.Batch) bool {
	clock := t.Clock()
	if c := p.playing(CensorInput, clock); c != nil {
		for i := range b.Ticks {
			if c.Target < len(b.Ticks[i].Seats) {
				b.Ticks[i].Seats[c.Target] = nil
			}
		}
	}
	if c := p.playing(SuppressEvidence, clock); c != nil {
		hidden := func(seat int) bool { return seat == t.Seat() || seat == c.Target }
		ev := b.Evidence[:0]
		for _, e := range b.Evidence {
			// Every game-level proof is made of its offender's own
			// signed messages (forged, equivocating, mismatched).
			if len(e.Envelopes) == 0 || !hidden(int(e.Envelopes[0].Sender)) {
				ev = append(ev, e)
			}
		}
		b.Evidence = ev
		hs := b.Hashes[:0]
		for _, h := range b.Hashes {
			if !hidden(int(h.Sender)) {
				hs = append(hs, h)
			}
		}
		b.Hashes = hs
	}
	if p.playing(SlowLeader, clock) != nil && len(b.Ticks) > 0 {
		if now.Sub(p.slowLast) < slowEvery {
			return false
		}
		p.slowLast = now
		b.Ticks = b.Ticks[:1]
	}
	return true
}
