package arena

// Bot plays one seat with plausible, always-legal inputs. It is
// deterministic for a given seed and sequence of states, so bot matches are
// reproducible. It tracks its own shots to respect the fire cooldown even
// though its input is applied InputDelay ticks after the state it sees.
type Bot struct {
	seat     int
	rng      uint64 // xorshift64 state, never zero
	lastFire uint64 // tick of the last shot requested
	fired    bool
	thrust   uint8
}

// NewBot returns a bot for seat.
func NewBot(seat int, seed uint64) *Bot {
	s := seed ^ (uint64(seat)+1)*0x9e3779b97f4a7c15
	if s == 0 {
		s = 1
	}
	return &Bot{seat: seat, rng: s, thrust: 2}
}

func (b *Bot) rand() uint64 {
	b.rng ^= b.rng << 13
	b.rng ^= b.rng >> 7
	b.rng ^= b.rng << 17
	return b.rng
}

// Input returns the encoded input for tick (the tick it will be applied
// at, tick ≥ a.Next()), given the latest state a.
func (b *Bot) Input(a *Arena, tick uint64) []byte { return EncodeInput(b.Controls(a, tick)) }

// Controls chooses the controls for tick: steer toward the nearest live
// enemy (or away from a wall), vary thrust, fire when roughly aligned and
// the weapon is certainly cool by then.
func (b *Bot) Controls(a *Arena, tick uint64) Controls {
	me := a.ships[b.seat]
	if !me.Alive {
		return Controls{}
	}
	tx, ty, found := int64(0), int64(0), false
	best := int64(-1)
	for i := range a.ships {
		s := &a.ships[i]
		if i == b.seat || !s.Alive {
			continue
		}
		dx, dy := int64(s.X-me.X), int64(s.Y-me.Y)
		if d := dx*dx + dy*dy; best < 0 || d < best {
			best, tx, ty, found = d, dx, dy, true
		}
	}
	const wall = 80 * Unit
	nearWall := me.X < wall || me.X > Width-wall || me.Y < wall || me.Y > Height-wall
	if nearWall || !found {
		tx, ty = int64(Width/2-me.X), int64(Height/2-me.Y)
	}
	cos, sin := int64(Cos(me.Heading)), int64(Sin(me.Heading))
	cross := cos*ty - sin*tx // >0: target is clockwise of heading (toward +Y)
	dot := cos*tx + sin*ty
	dist := isqrt(tx*tx + ty*ty)
	aligned := dot > 0 && abs64(cross) < dist*TrigOne/6
	var c Controls
	switch {
	case aligned && abs64(cross) < dist*TrigOne/24:
		c.Turn = 0
	case cross > 0:
		c.Turn = MaxTurn
	default:
		c.Turn = -MaxTurn
	}
	if aligned && !nearWall {
		c.Turn /= 2
	}
	if b.rand()%16 == 0 {
		b.thrust = uint8(b.rand() % (MaxThrust + 1))
	}
	c.Thrust = b.thrust
	if nearWall {
		c.Thrust = 1
	}
	if found && !nearWall && aligned && b.rand()%3 != 0 && b.canFire(a, tick) {
		c.Fire = true
		b.lastFire, b.fired = tick, true
	}
	return c
}

// canFire is true when the weapon is cool at tick whatever happens between
// the state a and tick: the state's cooldown has run out by then and no
// shot this bot asked for since is still cooling.
func (b *Bot) canFire(a *Arena, tick uint64) bool {
	if tick < a.next {
		return false
	}
	if uint64(a.ships[b.seat].Cooldown) > tick-a.next {
		return false
	}
	if !b.fired {
		return true
	}
	d := tick - b.lastFire
	if tick < b.lastFire {
		d = b.lastFire - tick
	}
	return d >= FireCooldown
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
