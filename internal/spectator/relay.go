package spectator

import (
	"encoding/binary"
	"slices"
)

// Spectators relay to each other, so that a match's players serve a
// bounded number of spectators however many watch. A relaying spectator
// keeps the players' signed answers it has checked and serves them as
// they are: the player's signature stays on every answer, so a spectator
// served by a relay checks it exactly as it would the player's own
// answer, and a forgery still convicts the player who signed it
// (VerifyForgery). A relay can withhold or serve stale answers, which
// only slows those it serves (they ask their other sources in turn);
// anything else it serves is refused as a RelayFault.
//
// What a relay keeps is bounded: the answers since the newest one that
// carries a certified checkpoint with its snapshot (what a spectator
// joining later starts from), at most relayMaxBytes in all, the snapshot
// answer evicted last. Every relayRefresh answers it asks a player after
// slot 0 instead of after its own slot, which brings the player's latest
// stable checkpoint: a fresh start for newcomers, at one snapshot's cost
// to the player now and then. A refresh that brings no checkpoint (the
// player has none yet, or withholds it) is asked again relayRetry
// answers later.

const (
	relayRefresh  = 256     // answers kept between two checkpoint refreshes
	relayRetry    = 32      // answers before a refresh that brought none is asked again
	relayMaxBytes = 8 << 20 // all the answers kept
)

// relayFrame is one kept answer: signed after slot after, it brings a
// spectator at any slot in [after, end) to end, and, when it carries a
// snapshot (of snapSlot), any spectator below snapSlot too.
type relayFrame struct {
	after, end, snapSlot uint64
	snap                 bool
	frame                []byte
}

// serves reports whether the frame takes a spectator at slot x further.
func (r *relayFrame) serves(x uint64) bool {
	return r.end > x && (r.after <= x || (r.snap && r.snapSlot >= x))
}

type relayCache struct {
	frames    []relayFrame
	bytes     int
	sinceSnap int // answers kept since the last one with a checkpoint
	due       int // sinceSnap at which to ask for a checkpoint (0: relayRefresh)
}

func (c *relayCache) refreshDue() bool {
	if c.due == 0 {
		c.due = relayRefresh
	}
	return c.sinceSnap >= c.due
}

// refreshAsked notes a refresh asked for: the next is due relayRetry
// answers on, unless a checkpoint comes first.
func (c *relayCache) refreshAsked() { c.due = c.sinceSnap + relayRetry }

// add keeps r. One carrying a checkpoint makes every kept answer that
// ends at or below it useless: a spectator that far behind jumps by r.
func (c *relayCache) add(r relayFrame) {
	if r.snap {
		kept := c.frames[:0]
		c.bytes = 0
		for _, o := range c.frames {
			if o.end > r.snapSlot {
				kept = append(kept, o)
				c.bytes += len(o.frame)
			}
		}
		clear(c.frames[len(kept):])
		c.frames = kept
		c.sinceSnap, c.due = 0, relayRefresh
	} else {
		c.sinceSnap++
	}
	c.frames = append(c.frames, r)
	c.bytes += len(r.frame)
	for c.bytes > relayMaxBytes && len(c.frames) > 1 {
		// The oldest answer goes; those with a checkpoint go last.
		i := slices.IndexFunc(c.frames, func(o relayFrame) bool { return !o.snap })
		if i < 0 {
			i = 0
		}
		c.bytes -= len(c.frames[i].frame)
		c.frames = slices.Delete(c.frames, i, i+1)
	}
}

// best is the kept answer that takes a spectator at slot x furthest, or
// nil.
func (c *relayCache) best(x uint64) []byte {
	var out *relayFrame
	for i := range c.frames {
		r := &c.frames[i]
		if r.serves(x) && (out == nil || r.end > out.end) {
			out = r
		}
	}
	if out == nil {
		return nil
	}
	return out.frame
}

// EnableRelay makes the follower keep the answers it checks, to serve
// them to other spectators (Relay).
func (f *Follower) EnableRelay() {
	if f.cache == nil {
		f.cache = &relayCache{}
	}
}

// Relay answers another spectator's request (its Request: the slot it
// holds) with a kept player's answer that takes it further, or nil when
// none does (or the follower does not relay). The answer is the player's
// signed frame, unchanged.
func (f *Follower) Relay(req []byte) []byte {
	x, n := binary.Uvarint(req)
	if n <= 0 || n != len(req) || f.cache == nil {
		return nil
	}
	return f.cache.best(x)
}
