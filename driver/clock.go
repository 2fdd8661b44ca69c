package driver

import (
	"time"

	"github.com/paxsync/paxsync/internal/lockstep"
)

type lockstepReady = lockstep.Ready

// clock beats the core on the driver goroutine. Lockstep starts when
// everyone can hear us: it waits (up to StartWait) until every other seat
// is Reachable, so the first ticks are not all "no input" because a peer
// was still connecting, and stops waiting as soon as ticks are being
// decided (the match started without us: every peer bootstrapped from one
// hub, say, so the others are reachable through it but never directly).
// With an Epoch it then waits for the grid's start and beats on the grid.
type clock struct {
	d       *Driver
	t       *time.Timer
	phase   int // waitPeers, waitEpoch, beating
	startBy time.Time
}

const (
	waitPeers = iota
	waitEpoch
	beating
)

// startPoll is how often the clock looks for the peers before it starts.
const startPoll = 20 * time.Millisecond

func newClock(d *Driver, now time.Time) *clock {
	c := &clock{d: d, startBy: now.Add(d.cfg.StartWait)}
	if d.cfg.Core != nil {
		c.t = time.NewTimer(0)
	}
	return c
}

// C is the clock's timer channel (nil without a core: never fires).
func (c *clock) C() <-chan time.Time {
	if c.t == nil {
		return nil
	}
	return c.t.C
}

func (c *clock) stop() {
	if c.t != nil {
		c.t.Stop()
	}
}

// fire handles one expiry of the timer.
func (c *clock) fire(now time.Time) {
	core := c.d.cfg.Core
	switch c.phase {
	case waitPeers:
		if len(c.d.cfg.Transport.Reachable()) < c.d.cfg.N-1 && core.Next() == 0 && now.Before(c.startBy) {
			c.t.Reset(startPoll)
			return
		}
		c.phase = waitEpoch
		c.fire(now)
	case waitEpoch:
		if d := core.UntilEpoch(now); d > 0 {
			c.t.Reset(d)
			return
		}
		c.phase = beating
		core.Start(now)
		c.t.Reset(core.UntilBeat(now))
	case beating:
		c.t.Reset(core.UntilBeat(now))
		core.Step(now, c.d.status(), true)
	}
}
