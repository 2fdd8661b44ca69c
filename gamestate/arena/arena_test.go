package arena

import (
	"bytes"
	"testing"

	"github.com/paxsync/paxsync/gamestate"
)

func mustNew(t testing.TB, seats int, seed uint64) *Arena {
	t.Helper()
	a, err := New(seats, seed)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// step applies one tick where every seat sends c (nil entries: no input).
func step(a *Arena, cs ...*Controls) {
	in := make([]gamestate.SeatInput, a.seats)
	for i, c := range cs {
		if c != nil {
			in[i] = gamestate.SeatInput{Present: true, Data: EncodeInput(*c)}
		}
	}
	a.Advance(a.next, in)
}

func TestSinTable(t *testing.T) {
	want := map[uint8]int32{0: 0, 32: 11585, 64: TrigOne, 128: 0, 160: -11585, 192: -TrigOne, 21: 8076}
	for h, v := range want {
		if got := Sin(h); got != v {
			t.Errorf("Sin(%d) = %d, want %d", h, got, v)
		}
	}
	for h := 0; h < Headings; h++ {
		s, c := int64(Sin(uint8(h))), int64(Cos(uint8(h)))
		if n := s*s + c*c; n < TrigOne*TrigOne-2*TrigOne || n > TrigOne*TrigOne+2*TrigOne {
			t.Fatalf("heading %d: sin²+cos² = %d", h, n)
		}
	}
}

func TestNewChecksSeats(t *testing.T) {
	for _, n := range []int{0, 1, 9} {
		if _, err := New(n, 1); err == nil {
			t.Errorf("%d seats accepted", n)
		}
	}
	a := mustNew(t, 8, 1)
	for i := 0; i < 8; i++ {
		s := a.Ship(i)
		if !s.Alive || s.X <= 0 || s.X >= Width || s.Y <= 0 || s.Y >= Height {
			t.Fatalf("ship %d starts at %+v", i, s)
		}
	}
}

func TestValidateRules(t *testing.T) {
	a := mustNew(t, 2, 1)
	cases := []struct {
		name  string
		input []byte
		want  gamestate.ViolationCode
	}{
		{"legal", EncodeInput(Controls{Thrust: MaxThrust, Turn: -MaxTurn, Fire: true}), gamestate.ViolationNone},
		{"speed hack", SpeedHackInput(Controls{}), gamestate.ViolationSpeed},
		{"thrust one over", EncodeInput(Controls{Thrust: MaxThrust + 1}), gamestate.ViolationSpeed},
		{"turn too fast", EncodeInput(Controls{Turn: MaxTurn + 1}), gamestate.ViolationTurnRate},
		{"turn too fast left", EncodeInput(Controls{Turn: -MaxTurn - 1}), gamestate.ViolationTurnRate},
		{"short", []byte{1, 2}, gamestate.ViolationMalformed},
		{"fire flag not 0/1", []byte{0, 0, 2}, gamestate.ViolationMalformed},
	}
	for _, c := range cases {
		v := a.Validate(0, c.input)
		got := gamestate.ViolationNone
		if v != nil {
			got = v.Code
		}
		if got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}

func TestFireRateIsExactlyTheCooldown(t *testing.T) {
	a := mustNew(t, 2, 1)
	fire := EncodeInput(Controls{Fire: true})
	step(a, &Controls{Fire: true})
	if a.NumBullets() != 1 {
		t.Fatal("no bullet fired")
	}
	for k := 1; k < FireCooldown; k++ {
		if v := a.Validate(0, fire); v == nil || v.Code != gamestate.ViolationFireRate {
			t.Fatalf("%d ticks after a shot: want fire-rate violation, got %v", k, v)
		}
		if v := a.Validate(0, EncodeInput(Controls{})); v != nil {
			t.Fatalf("not firing is always legal: %v", v)
		}
		step(a)
	}
	if v := a.Validate(0, fire); v != nil {
		t.Fatalf("%d ticks after a shot firing is legal, got %v", FireCooldown, v)
	}
}

func TestSpeedNeverExceedsMax(t *testing.T) {
	a := mustNew(t, 2, 1)
	full := &Controls{Thrust: MaxThrust, Turn: 1}
	for i := 0; i < 2000; i++ {
		step(a, full, full)
		for j := 0; j < 2; j++ {
			s := a.Ship(j)
			if sq := int64(s.VX)*int64(s.VX) + int64(s.VY)*int64(s.VY); sq > MaxSpeed*MaxSpeed {
				t.Fatalf("tick %d ship %d speed² %d > %d", i, j, sq, MaxSpeed*MaxSpeed)
			}
			if s.X < 0 || s.X >= Width || s.Y < 0 || s.Y >= Height {
				t.Fatalf("tick %d ship %d left the arena: %+v", i, j, s)
			}
		}
	}
	// Thrust beyond the maximum, if it ever reached Advance, is clamped.
	b := mustNew(t, 2, 1)
	hack := gamestate.SeatInput{Present: true, Data: SpeedHackInput(Controls{})}
	for i := 0; i < 200; i++ {
		b.Advance(b.next, []gamestate.SeatInput{hack, hack})
	}
	c := mustNew(t, 2, 1)
	for i := 0; i < 200; i++ {
		step(c, &Controls{Thrust: MaxThrust}, &Controls{Thrust: MaxThrust})
	}
	if b.Hash() != c.Hash() {
		t.Fatal("an out-of-rule thrust had more effect than the maximum")
	}
}

// aimAt puts ship 1 right in front of ship 0.
func aimAt(a *Arena) {
	s0 := &a.ships[0]
	s0.Heading, s0.VX, s0.VY = 0, 0, 0
	a.ships[1].X, a.ships[1].Y = s0.X+ShipRadius+3*BulletSpeed, s0.Y
	a.ships[1].VX, a.ships[1].VY = 0, 0
}

func TestBulletHitScoresAndRespawns(t *testing.T) {
	a := mustNew(t, 2, 5)
	aimAt(a)
	step(a, &Controls{Fire: true})
	for i := 0; i < 5 && a.Ship(1).Alive; i++ {
		step(a)
	}
	if a.Ship(1).Alive || a.Ship(0).Score != 1 || a.Ship(1).Deaths != 1 || a.NumBullets() != 0 {
		t.Fatalf("hit not resolved: %+v %+v bullets %d", a.Ship(0), a.Ship(1), a.NumBullets())
	}
	// A dead ship's input is legal but has no effect; it respawns in time.
	if v := a.Validate(1, EncodeInput(Controls{Fire: true})); v != nil {
		t.Fatalf("dead ship input: %v", v)
	}
	for i := 0; i < RespawnTicks; i++ {
		step(a, nil, &Controls{Fire: true, Thrust: MaxThrust})
	}
	if s := a.Ship(1); !s.Alive || s.X < spawnMargin || s.X >= Width-spawnMargin {
		t.Fatalf("no respawn: %+v", s)
	}
	if a.NumBullets() != 0 {
		t.Fatal("a dead ship fired")
	}
}

func TestOwnBulletsDoNotHitAndBulletsExpire(t *testing.T) {
	a := mustNew(t, 2, 5)
	a.ships[1].X, a.ships[1].Y = 10*Unit, 10*Unit // out of the way
	step(a, &Controls{Fire: true})
	for i := 0; i < BulletTTL+1; i++ {
		step(a)
	}
	if a.NumBullets() != 0 || a.Ship(0).Deaths != 0 {
		t.Fatalf("bullets %d, own deaths %d", a.NumBullets(), a.Ship(0).Deaths)
	}
}

func TestSnapshotRestoreAndHash(t *testing.T) {
	a := mustNew(t, 4, 9)
	bots := []*Bot{NewBot(0, 1), NewBot(1, 1), NewBot(2, 1), NewBot(3, 1)}
	run := func(a *Arena, n int) {
		for i := 0; i < n; i++ {
			in := make([]gamestate.SeatInput, 4)
			for s, b := range bots {
				in[s] = gamestate.SeatInput{Present: true, Data: b.Input(a, a.next)}
			}
			a.Advance(a.next, in)
		}
	}
	run(a, 300)
	snap := a.Snapshot()
	b := mustNew(t, 4, 0)
	if err := b.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if b.Hash() != a.Hash() || !bytes.Equal(b.Snapshot(), snap) {
		t.Fatal("restore does not reproduce the state")
	}
	h := a.Hash()
	a.ships[2].Score++
	if a.Hash() == h {
		t.Fatal("hash ignores the score")
	}
	if err := mustNew(t, 2, 0).Restore(snap); err == nil {
		t.Fatal("a 4-seat snapshot restored into a 2-seat arena")
	}
	if err := b.Restore(snap[:len(snap)-3]); err == nil || b.Hash() != h {
		t.Fatal("a truncated snapshot must fail and leave the state alone")
	}
}

func TestBotsNeverCheatWithInputDelay(t *testing.T) {
	const seats, delay, ticks = 8, 2, 3000
	a := mustNew(t, seats, 3)
	bots := make([]*Bot, seats)
	for i := range bots {
		bots[i] = NewBot(i, 77)
	}
	// pending[t][s] is the input seat s chose for tick t, delay ticks ahead.
	pending := map[uint64][][]byte{}
	shots := 0
	for tick := uint64(0); tick < ticks; tick++ {
		pending[tick+delay] = make([][]byte, seats)
		for s, b := range bots {
			pending[tick+delay][s] = b.Input(a, tick+delay)
		}
		in := make([]gamestate.SeatInput, seats)
		for s := 0; s < seats; s++ {
			if p := pending[tick]; p != nil {
				if v := a.Validate(s, p[s]); v != nil {
					t.Fatalf("tick %d: bot %d made an invalid move: %v", tick, s, v)
				}
				in[s] = gamestate.SeatInput{Present: true, Data: p[s]}
			}
		}
		before := a.NumBullets()
		a.Advance(tick, in)
		if a.NumBullets() > before {
			shots++
		}
		delete(pending, tick)
	}
	score := int32(0)
	for i := 0; i < seats; i++ {
		score += a.Ship(i).Score
	}
	if shots < 50 || score == 0 {
		t.Fatalf("bots are not playing: %d shooting ticks, %d hits", shots, score)
	}
	t.Logf("%d shooting ticks, %d hits in %d ticks", shots, score, ticks)
}

func TestParams(t *testing.T) {
	a, err := FromParams(Params(6, 42))
	if err != nil || a.NumSeats() != 6 || a.Hash() != mustNew(t, 6, 42).Hash() {
		t.Fatalf("%v", err)
	}
	if _, err := FromParams([]byte{6}); err == nil {
		t.Fatal("short params accepted")
	}
}
