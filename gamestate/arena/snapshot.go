package arena

import (
	"fmt"
	"strconv"

	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

const snapshotVersion = 1

// Snapshot returns the canonical encoding of the state. Fixed-width fields
// in a fixed order: it is also what Hash covers.
func (a *Arena) Snapshot() []byte { return a.appendSnapshot(nil, nil) }

// appendSnapshot appends the snapshot to dst. If cuts is not nil, the
// offset (into the returned slice) where each of Sections' parts ends is
// appended to it: the encoding is written once, so the sections cannot
// drift from the snapshot.
func (a *Arena) appendSnapshot(dst []byte, cuts *[]int) []byte {
	w := wire.NewWriter(dst)
	cut := func() {
		if cuts != nil {
			*cuts = append(*cuts, w.Len())
		}
	}
	w.U8(snapshotVersion)
	w.U8(uint8(a.seats))
	w.U64(a.next)
	cut()
	w.U64(a.rng)
	cut()
	for i := range a.ships {
		s := &a.ships[i]
		w.U32(uint32(s.X))
		w.U32(uint32(s.Y))
		w.U32(uint32(s.VX))
		w.U32(uint32(s.VY))
		w.U8(s.Heading)
		w.Bool(s.Alive)
		w.U16(s.Respawn)
		w.U16(s.Cooldown)
		w.U32(uint32(s.Score))
		w.U32(s.Deaths)
		cut()
	}
	w.U16(uint16(len(a.bullets)))
	for _, b := range a.bullets {
		w.U32(uint32(b.X))
		w.U32(uint32(b.Y))
		w.U32(uint32(b.VX))
		w.U32(uint32(b.VY))
		w.U8(b.Owner)
		w.U16(b.TTL)
	}
	cut()
	return w.Bytes()
}

// Sections splits the snapshot into named parts for desync debugging
// (gamestate.Sectioned): "tick" (format version, seats, next tick), "rng"
// (the respawn generator), "ship/0".."ship/N-1" (one per seat: position,
// velocity, heading, life, cooldown, score, deaths) and "bullets" (count,
// then each bullet). They concatenate, in order, to exactly Snapshot, so a
// difference anywhere in the hashed state is in exactly one section, and a
// sync test names the ship or the bullets that diverged.
func (a *Arena) Sections() []gamestate.Section {
	var cuts []int
	snap := a.appendSnapshot(nil, &cuts)
	names := make([]string, 0, len(cuts))
	names = append(names, "tick", "rng")
	for i := range a.ships {
		names = append(names, "ship/"+strconv.Itoa(i))
	}
	names = append(names, "bullets")
	out := make([]gamestate.Section, len(cuts))
	prev := 0
	for i, c := range cuts {
		out[i] = gamestate.Section{Name: names[i], Data: snap[prev:c:c]}
		prev = c
	}
	return out
}

// Restore replaces the state with a snapshot of an arena with the same
// number of seats. On error the state is unchanged.
func (a *Arena) Restore(snap []byte) error {
	r := wire.NewReader(snap)
	if v := r.U8("arena.version"); r.Err() == nil && v != snapshotVersion {
		r.Fail("arena.version", wire.ErrVersion)
	}
	if n := int(r.U8("arena.seats")); r.Err() == nil && n != a.seats {
		return fmt.Errorf("arena: snapshot has %d seats, arena %d", n, a.seats)
	}
	next, rng := r.U64("arena.next"), r.U64("arena.rng")
	ships := make([]Ship, a.seats)
	for i := range ships {
		s := &ships[i]
		s.X, s.Y = int32(r.U32("ship.x")), int32(r.U32("ship.y"))
		s.VX, s.VY = int32(r.U32("ship.vx")), int32(r.U32("ship.vy"))
		s.Heading, s.Alive = r.U8("ship.heading"), r.Bool("ship.alive")
		s.Respawn, s.Cooldown = r.U16("ship.respawn"), r.U16("ship.cooldown")
		s.Score, s.Deaths = int32(r.U32("ship.score")), r.U32("ship.deaths")
	}
	nb := int(r.U16("arena.bullets"))
	if r.Err() == nil && nb > maxBullets {
		r.Fail("arena.bullets", wire.ErrOversize)
	}
	var bullets []Bullet
	for i := 0; i < nb && r.Err() == nil; i++ {
		b := Bullet{X: int32(r.U32("bullet.x")), Y: int32(r.U32("bullet.y")),
			VX: int32(r.U32("bullet.vx")), VY: int32(r.U32("bullet.vy")),
			Owner: r.U8("bullet.owner"), TTL: r.U16("bullet.ttl")}
		if r.Err() == nil && int(b.Owner) >= a.seats {
			r.Fail("bullet.owner", wire.ErrMalformed)
		}
		bullets = append(bullets, b)
	}
	if err := r.Done(); err != nil {
		return fmt.Errorf("arena: restore: %w", err)
	}
	a.next, a.rng, a.ships, a.bullets = next, rng, ships, bullets
	return nil
}
