package arena

import (
	"errors"
	"fmt"

	"github.com/paxsync/paxsync/gamestate"
)

// Controls is one tick's input of a ship.
type Controls struct {
	Thrust uint8 // 0..MaxThrust
	Turn   int8  // -MaxTurn..MaxTurn heading units per tick
	Fire   bool
}

// InputSize is the length of an encoded input.
const InputSize = 3

// ErrInput means input bytes that are not an arena input.
var ErrInput = errors.New("arena: malformed input")

// EncodeInput encodes c as thrust | turn | fire. It encodes any values,
// legal or not, so cheat tests can build illegal inputs with it.
func EncodeInput(c Controls) []byte {
	f := byte(0)
	if c.Fire {
		f = 1
	}
	return []byte{c.Thrust, byte(c.Turn), f}
}

// DecodeInput parses an input. It checks the format, not the rules.
func DecodeInput(b []byte) (Controls, error) {
	if len(b) != InputSize || b[2] > 1 {
		return Controls{}, ErrInput
	}
	return Controls{Thrust: b[0], Turn: int8(b[1]), Fire: b[2] == 1}, nil
}

// SpeedHackInput is c with thrust beyond the maximum: what a speed-hacking
// client sends. The rules reject it as ViolationSpeed.
func SpeedHackInput(c Controls) []byte {
	c.Thrust = MaxThrust * 4
	return EncodeInput(c)
}

// Validate checks one seat's input against the rules in the current state.
// A dead ship's input is legal (it is ignored), so clients need not track
// death exactly; firing with a cooling weapon while alive is not.
func (a *Arena) Validate(seat int, input []byte) *gamestate.Violation {
	c, err := DecodeInput(input)
	if err != nil {
		return &gamestate.Violation{Code: gamestate.ViolationMalformed, Detail: fmt.Sprintf("%d bytes", len(input))}
	}
	if c.Thrust > MaxThrust {
		return &gamestate.Violation{Code: gamestate.ViolationSpeed, Detail: fmt.Sprintf("thrust %d > max %d", c.Thrust, MaxThrust)}
	}
	if c.Turn > MaxTurn || c.Turn < -MaxTurn {
		return &gamestate.Violation{Code: gamestate.ViolationTurnRate, Detail: fmt.Sprintf("turn %d beyond ±%d", c.Turn, MaxTurn)}
	}
	if seat < 0 || seat >= a.seats {
		return &gamestate.Violation{Code: gamestate.ViolationRule, Detail: fmt.Sprintf("no seat %d", seat)}
	}
	if s := &a.ships[seat]; c.Fire && s.Alive && s.Cooldown > 0 {
		return &gamestate.Violation{Code: gamestate.ViolationFireRate, Detail: fmt.Sprintf("fired with %d ticks of cooldown left", s.Cooldown)}
	}
	return nil
}

// Advance applies one tick: ships in seat order (turn, thrust, drag, speed
// limit, move, bounce, fire), then bullets in creation order (move, expire,
// hit the first ship in seat order), then cooldowns. Inputs that break the
// rules never reach here through the engine; Advance still clamps them so
// that it is total.
func (a *Arena) Advance(tick uint64, inputs []gamestate.SeatInput) {
	for i := range a.ships {
		var c Controls
		if i < len(inputs) && inputs[i].Present {
			c, _ = DecodeInput(inputs[i].Data)
		}
		a.moveShip(i, clamp(c))
	}
	a.moveBullets()
	for i := range a.ships {
		if a.ships[i].Cooldown > 0 {
			a.ships[i].Cooldown--
		}
	}
	a.next = tick + 1
}

func clamp(c Controls) Controls {
	c.Thrust = min(c.Thrust, MaxThrust)
	c.Turn = max(min(c.Turn, MaxTurn), -MaxTurn)
	return c
}

func (a *Arena) moveShip(i int, c Controls) {
	s := &a.ships[i]
	if !s.Alive {
		if s.Respawn > 0 {
			s.Respawn--
		}
		if s.Respawn == 0 {
			s.X = spawnMargin + int32(a.rand()%uint64(Width-2*spawnMargin))
			s.Y = spawnMargin + int32(a.rand()%uint64(Height-2*spawnMargin))
			s.VX, s.VY = 0, 0
			s.Heading = uint8(a.rand())
			s.Alive = true
		}
		return
	}
	s.Heading += uint8(c.Turn)
	acc := int32(c.Thrust) * ThrustAccel
	s.VX += acc * Cos(s.Heading) / TrigOne
	s.VY += acc * Sin(s.Heading) / TrigOne
	s.VX -= s.VX >> DragShift
	s.VY -= s.VY >> DragShift
	s.VX, s.VY = limitSpeed(s.VX, s.VY, MaxSpeed)
	s.X, s.VX = bounce(s.X+s.VX, s.VX, Width)
	s.Y, s.VY = bounce(s.Y+s.VY, s.VY, Height)
	if c.Fire && s.Cooldown == 0 && len(a.bullets) < maxBullets {
		cos, sin := int64(Cos(s.Heading)), int64(Sin(s.Heading))
		a.bullets = append(a.bullets, Bullet{
			X:     s.X + int32(cos*ShipRadius/TrigOne),
			Y:     s.Y + int32(sin*ShipRadius/TrigOne),
			VX:    s.VX + int32(cos*BulletSpeed/TrigOne),
			VY:    s.VY + int32(sin*BulletSpeed/TrigOne),
			Owner: uint8(i),
			TTL:   BulletTTL,
		})
		s.Cooldown = FireCooldown
	}
}

// limitSpeed scales (vx, vy) down to at most length max when it is longer.
func limitSpeed(vx, vy, max int32) (int32, int32) {
	sq := int64(vx)*int64(vx) + int64(vy)*int64(vy)
	if sq <= int64(max)*int64(max) {
		return vx, vy
	}
	n := isqrt(sq) + 1 // > the true length, so the result is never longer than max
	return int32(int64(vx) * int64(max) / n), int32(int64(vy) * int64(max) / n)
}

// isqrt is the integer square root (floor), by Newton's method.
func isqrt(v int64) int64 {
	if v < 2 {
		return v
	}
	x := v
	y := (x + 1) / 2
	for y < x {
		x = y
		y = (x + v/x) / 2
	}
	return x
}

// bounce keeps a coordinate inside [0, size) by reflecting off the walls.
func bounce(p, v, size int32) (int32, int32) {
	if p < 0 {
		return -p, -v
	}
	if p >= size {
		return 2*(size-1) - p, -v
	}
	return p, v
}

func (a *Arena) moveBullets() {
	out := a.bullets[:0]
	for _, b := range a.bullets {
		b.X += b.VX
		b.Y += b.VY
		b.TTL--
		if b.TTL == 0 || b.X < 0 || b.X >= Width || b.Y < 0 || b.Y >= Height {
			continue
		}
		if a.hit(b) {
			continue
		}
		out = append(out, b)
	}
	clear(a.bullets[len(out):])
	a.bullets = out
}

// hit resolves bullet b against the ships in seat order: the first live
// ship (not its owner) within ShipRadius dies and the owner scores.
func (a *Arena) hit(b Bullet) bool {
	for i := range a.ships {
		s := &a.ships[i]
		if !s.Alive || i == int(b.Owner) {
			continue
		}
		dx, dy := int64(s.X-b.X), int64(s.Y-b.Y)
		if dx*dx+dy*dy < int64(ShipRadius)*int64(ShipRadius) {
			s.Alive, s.Respawn, s.VX, s.VY = false, RespawnTicks, 0, 0
			s.Deaths++
			if int(b.Owner) < len(a.ships) {
				a.ships[b.Owner].Score++
			}
			return true
		}
	}
	return false
}
