// Package demo is paxsync's Ebiten arena client. The simulation itself
// (package gamestate/arena) only advances on ticks the peers agreed on; this
// package copies each agreed state into an immutable Frame, interpolates
// between the last two frames so that 30 Hz ticks look smooth at 60 FPS,
// and draws the arena, a HUD that flags proven cheaters, and a network
// panel. Floats appear only here, in rendering, never in the game state.
//
// Frames come from a Source: a live paxsync.Session (the local player plus
// in-process bot peers, or a LAN match) or a replay file re-simulated with
// gamestate.Engine. Only this package and cmd/paxsync-demo import Ebiten.
package demo

import (
	"math"
	"slices"

	"github.com/paxsync/paxsync/gamestate/arena"
)

// Frame is an immutable copy of the agreed arena state after one tick. It
// is copied out of the game while the producer owns it, so the render
// goroutine never reads game state that is being advanced.
type Frame struct {
	Tick    uint64 // the tick this state follows (arena.Next()-1)
	Ships   []arena.Ship
	Bullets []arena.Bullet
}

// Capture copies a's rendering-relevant state.
func Capture(a *arena.Arena) Frame {
	f := Frame{Ships: make([]arena.Ship, a.NumSeats()), Bullets: a.Bullets()}
	if n := a.Next(); n > 0 {
		f.Tick = n - 1
	}
	for i := range f.Ships {
		f.Ships[i] = a.Ship(i)
	}
	return f
}

// Equal reports whether f and g show the same state: the predicted view is
// pushed to the World only when it changed.
func (f Frame) Equal(g Frame) bool {
	return f.Tick == g.Tick && slices.Equal(f.Ships, g.Ships) && slices.Equal(f.Bullets, g.Bullets)
}

// shipPose is a ship's interpolated position in screen pixels (relative to
// the arena's top-left corner) and heading in radians.
type shipPose struct {
	X, Y, Angle float64
	Alive       bool
	Respawn     uint16
}

// teleport is the distance (pixels) beyond which a ship is considered to
// have jumped (respawn) rather than moved, so it is not smeared across the
// arena by interpolation.
const teleport = 40

// lerpShips interpolates ship poses between prev and cur by t in [0,1].
// Headings interpolate along the shorter way round the circle.
func lerpShips(prev, cur *Frame, t float64) []shipPose {
	out := make([]shipPose, len(cur.Ships))
	for i, c := range cur.Ships {
		cx, cy := float64(c.X)/arena.Unit, float64(c.Y)/arena.Unit
		ca := float64(c.Heading)
		p := shipPose{X: cx, Y: cy, Alive: c.Alive, Respawn: c.Respawn}
		if prev != nil && i < len(prev.Ships) && prev.Ships[i].Alive && c.Alive {
			q := prev.Ships[i]
			px, py := float64(q.X)/arena.Unit, float64(q.Y)/arena.Unit
			if math.Hypot(cx-px, cy-py) < teleport {
				p.X, p.Y = px+(cx-px)*t, py+(cy-py)*t
				d := float64(int8(c.Heading - q.Heading)) // signed shortest turn
				ca = float64(q.Heading) + d*t
			}
		}
		p.Angle = ca * 2 * math.Pi / arena.Headings
		out[i] = p
	}
	return out
}

// bulletPos is one bullet's interpolated position, with its owner.
type bulletPos struct {
	X, Y  float64
	Owner int
}

// lerpBullets places cur's bullets t of a tick back along their velocity:
// a bullet moves in a straight line for its whole life, so its previous
// position is exactly cur − v, and no matching between frames is needed.
func lerpBullets(cur *Frame, t float64) []bulletPos {
	out := make([]bulletPos, len(cur.Bullets))
	for i, b := range cur.Bullets {
		x := float64(b.X) - float64(b.VX)*(1-t)
		y := float64(b.Y) - float64(b.VY)*(1-t)
		out[i] = bulletPos{X: x / arena.Unit, Y: y / arena.Unit, Owner: int(b.Owner)}
	}
	return out
}
