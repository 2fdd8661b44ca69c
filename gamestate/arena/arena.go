// Package arena is paxsync's demo game: 2–8 ships in a bounded arena that
// thrust, turn and fire; bullets hit, ships respawn, hits score. All
// physics is integer fixed point (Unit sub-units per pixel, 256 headings
// with an integer sine table) and every loop runs in seat or slice order,
// so every peer computes bit-identical states. The rules bound thrust, turn
// rate and fire rate; an input that breaks them is an invalid move, which
// is how a speed hack is caught. The package does not import Ebiten: the
// demo renders through the read-only accessors.
package arena

import (
	"errors"
	"fmt"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

// Geometry and rules. Distances are in sub-units (Unit per pixel), speeds
// in sub-units per tick, times in ticks.
const (
	MinSeats     = 2
	MaxSeats     = 8
	Unit         = 256
	Width        = 800 * Unit
	Height       = 600 * Unit
	MaxThrust    = 4         // thrust levels 0..MaxThrust
	ThrustAccel  = 16        // sub-units/tick² per thrust level
	MaxSpeed     = 4 * Unit  // sub-units/tick
	DragShift    = 6         // each tick v -= v>>DragShift
	MaxTurn      = 4         // heading units per tick
	FireCooldown = 10        // ticks between shots
	BulletSpeed  = 8 * Unit  // added to the ship's velocity
	BulletTTL    = 45        // ticks a bullet lives
	ShipRadius   = 12 * Unit // hit radius
	RespawnTicks = 60        // ticks dead before respawning
	maxBullets   = MaxSeats * (BulletTTL/FireCooldown + 1)
	spawnMargin  = 60 * Unit
)

// Ship is one ship's state, returned by value for rendering.
type Ship struct {
	X, Y     int32 // position in sub-units, 0 ≤ X < Width, 0 ≤ Y < Height
	VX, VY   int32 // velocity in sub-units per tick
	Heading  uint8 // 0..255, 0 = +X, 64 = +Y
	Alive    bool
	Respawn  uint16 // ticks until respawn while dead
	Cooldown uint16 // ticks until the weapon may fire again
	Score    int32  // hits scored
	Deaths   uint32
}

// Bullet is one bullet's state.
type Bullet struct {
	X, Y   int32
	VX, VY int32
	Owner  uint8 // the seat that fired it
	TTL    uint16
}

// Arena is the game state. It implements gamestate.Game.
type Arena struct {
	seats   int
	next    uint64 // first tick not yet applied
	rng     uint64 // splitmix64 state, for respawn points
	ships   []Ship
	bullets []Bullet
	buf     []byte // reused by Hash
}

var (
	_ gamestate.Game      = (*Arena)(nil)
	_ gamestate.Sectioned = (*Arena)(nil)
)

// ErrSeats means a seat count outside MinSeats..MaxSeats.
var ErrSeats = errors.New("arena: seats must be 2..8")

// New returns the initial arena for seats ships. seed makes respawn points
// differ between matches; every peer of one match must use the same seed.
func New(seats int, seed uint64) (*Arena, error) {
	if seats < MinSeats || seats > MaxSeats {
		return nil, fmt.Errorf("%w: %d", ErrSeats, seats)
	}
	a := &Arena{seats: seats, rng: seed, ships: make([]Ship, seats)}
	// Ships start on a circle around the centre, facing it.
	const r = 200 * Unit
	for i := range a.ships {
		h := uint8(i * Headings / seats)
		a.ships[i] = Ship{
			X:       Width/2 + int32(int64(Cos(h))*r/TrigOne),
			Y:       Height/2 + int32(int64(Sin(h))*r/TrigOne),
			Heading: h + Headings/2,
			Alive:   true,
		}
	}
	return a, nil
}

// Params encodes (seats, seed) for a replay header, so a replay verifier
// can rebuild the same initial arena.
func Params(seats int, seed uint64) []byte {
	w := wire.NewWriter(nil)
	w.U8(uint8(seats))
	w.U64(seed)
	return w.Bytes()
}

// FromParams builds the initial arena from Params bytes.
func FromParams(b []byte) (*Arena, error) {
	r := wire.NewReader(b)
	seats, seed := int(r.U8("arena.seats")), r.U64("arena.seed")
	if err := r.Done(); err != nil {
		return nil, err
	}
	return New(seats, seed)
}

// NewGame is a gamestate.VerifyReplay game factory for arena replays.
func NewGame(h *gamestate.Header) (gamestate.Game, error) {
	a, err := FromParams(h.Game)
	if err != nil {
		return nil, err
	}
	if a.seats != len(h.Roster) {
		return nil, fmt.Errorf("arena: %d seats, roster of %d", a.seats, len(h.Roster))
	}
	return a, nil
}

// NumSeats is the number of ships.
func (a *Arena) NumSeats() int { return a.seats }

// Next is the first tick not yet applied (0 before any).
func (a *Arena) Next() uint64 { return a.next }

// Ship returns ship i's state.
func (a *Arena) Ship(i int) Ship { return a.ships[i] }

// Bullets returns a copy of the live bullets, in creation order.
func (a *Arena) Bullets() []Bullet { return append([]Bullet(nil), a.bullets...) }

// NumBullets is the number of live bullets.
func (a *Arena) NumBullets() int { return len(a.bullets) }

// Hash is SHA-256 over a domain tag and the canonical snapshot.
func (a *Arena) Hash() crypto.Digest {
	a.buf = a.appendSnapshot(a.buf[:0], nil)
	return crypto.Sum([]byte("paxsync/arena/v1\x00"), a.buf)
}

// splitmix64 advances the arena's generator. It is integer-only and part of
// the hashed state, so respawn points are agreed.
func (a *Arena) rand() uint64 {
	a.rng += 0x9e3779b97f4a7c15
	z := a.rng
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
