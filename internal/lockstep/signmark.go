package lockstep

import "time"

// A player restarted from its WAL must never sign a second, different
// input (or NoInput, or sealed commitment) for a tick it signed before the
// crash: the others still hold the first, and the two are
// input-equivocation evidence against an honest seat. The inputs
// themselves are not in the WAL, so what is kept is a mark, as CometBFT's
// validators keep the last height they signed: the core signs an input
// only for a tick at or below a mark the WAL holds durably, reserving it
// ahead (markAhead ticks past what it may sign next) so that the
// reservation rides along with the vote group writes and sampling never
// waits for it in steady play. After a restart the core starts sampling
// above the restored mark: at most markAhead ticks of input are given up
// (about 2 s at 30 Hz), and a restart that took longer gives up nothing.
//
// The driver carries it: WantMark after each round of work, the node's
// ReserveMark (persisted with the next Ready), MarkDurable once written.

// markAhead is how far past the next tick to sign a reservation reaches;
// a new one is asked when fewer than half of it are left.
const markAhead = 64

// GuardInputs makes the core sign own inputs only for ticks covered by a
// durable mark, restored is the mark its WAL held (bft.Node.Mark, 0 for
// none): no tick at or below it is signed again. Call before Start.
func (c *Core) GuardInputs(restored uint64) {
	c.markGuard = true
	c.markDurable = restored
	c.markWanted = restored
	if restored > 0 && c.nextSample <= restored {
		c.nextSample = restored + 1
		c.cfg.Inputs.Open(c.nextSample)
	}
}

// WantMark is the mark the core wants durable (bft.Node.ReserveMark): ok
// is false without GuardInputs, or while the wanted mark is already
// durable.
func (c *Core) WantMark() (mark uint64, ok bool) {
	if !c.markGuard {
		return 0, false
	}
	reach := max(c.nextSample, c.clock+uint64(c.cfg.InputDelay))
	if c.markWanted < reach+markAhead/2 {
		c.markWanted = reach + markAhead
	}
	return c.markWanted, c.markWanted > c.markDurable
}

// MarkDurable reports that the WAL holds mark: own inputs may be signed
// for ticks up to it (on the next Step).
func (c *Core) MarkDurable(mark uint64) {
	c.markDurable = max(c.markDurable, mark)
}

// maySign reports whether the core may sign its own input for tick.
func (c *Core) maySign(tick uint64) bool {
	return !c.markGuard || (c.markDurable > 0 && tick <= c.markDurable) // 0: nothing reserved yet
}

// GuardLostWAL is for a player whose WAL was lost (RecoverLostWAL): no
// mark survived, but on the Epoch grid the clock never runs past the
// wall's tick, so nothing was signed before the loss past wallTick(now) +
// InputDelay, and the core starts sampling above that. Without an Epoch,
// or unpaced, no such bound exists: it returns false and the seat may
// sign again a tick it signed before (docs/PROTOCOL.md, "Recovering a seat
// that lost its WAL").
func (c *Core) GuardLostWAL(now time.Time) bool {
	if c.cfg.Epoch.IsZero() || c.cfg.Unpaced {
		return false
	}
	if floor := c.wallTick(now) + uint64(c.cfg.InputDelay) + 1; c.nextSample < floor {
		c.nextSample = floor
		c.cfg.Inputs.Open(floor)
	}
	return true
}
