package synctest_test

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/gamestate/synctest"
)

// arenaConfig is the arena of `paxsync synctest`: 4 ships, its bots.
func arenaConfig(ticks uint64, k int) synctest.Config {
	const seed = 7
	var bots []*arena.Bot
	return synctest.Config{
		NewGame: func() (gamestate.Game, error) { return arena.New(4, seed) },
		Inputs: func(tick uint64, seat int, g gamestate.Game) gamestate.SeatInput {
			if bots == nil {
				for s := range g.NumSeats() {
					bots = append(bots, arena.NewBot(s, seed))
				}
			}
			return gamestate.SeatInput{Present: true, Data: bots[seat].Input(g.(*arena.Arena), tick)}
		},
		Ticks: ticks, Rollback: k,
	}
}

// TestArenaPasses: the demo game is deterministic under rollback at
// several distances, and the run really rolled back and re-simulated.
func TestArenaPasses(t *testing.T) {
	for _, k := range []int{1, 2, 7} {
		rep, err := synctest.Run(arenaConfig(300, k))
		if err != nil {
			t.Fatal(err)
		}
		if err := rep.Err(); err != nil {
			t.Fatalf("k=%d: %v", k, err)
		}
		if rep.Ticks != 300 || rep.Rollbacks != uint64(300-k+1) || rep.Resimulated != rep.Rollbacks*uint64(k) {
			t.Errorf("k=%d: %d ticks, %d rollbacks, %d re-simulated", k, rep.Ticks, rep.Rollbacks, rep.Resimulated)
		}
		if want := 1 + rep.Ticks + rep.Rollbacks + rep.Resimulated; rep.Checked != want {
			t.Errorf("k=%d: %d hashes checked, want %d", k, rep.Checked, want)
		}
		if rep.FinalHash.Hex() != "ab11a7fb312e775f308c457797a708a6c258520e6f41fdf7d6cdfc0a918101fb" {
			t.Errorf("k=%d: final hash %s is not the straight-through match's", k, rep.FinalHash.Hex())
		}
		if k == 2 && !strings.HasPrefix(rep.String(), "synctest ok: 300 ticks, 299 rollbacks of 2") {
			t.Errorf("summary %q", rep.String())
		}
	}
}

// TestDefaultsAndConfigErrors: Rollback 0 means DefaultRollback; what
// cannot run is an error, not a report.
func TestDefaultsAndConfigErrors(t *testing.T) {
	rep, err := synctest.Run(arenaConfig(10, 0))
	if err != nil || rep.Rollback != synctest.DefaultRollback || rep.Err() != nil {
		t.Fatalf("rollback 0: %v, %+v", err, rep)
	}
	bad := []synctest.Config{{}, arenaConfig(10, -1), arenaConfig(10, synctest.MaxRollback+1)}
	failing := arenaConfig(10, 2)
	failing.NewGame = func() (gamestate.Game, error) { return nil, errors.New("boom") }
	same := arenaConfig(10, 2)
	g, _ := arena.New(4, 1)
	same.NewGame = func() (gamestate.Game, error) { return g, nil }
	for i, cfg := range append(bad, failing, same) {
		if _, err := synctest.Run(cfg); err == nil {
			t.Errorf("config %d: no error", i)
		}
	}
}

// twoSections is a small test game's state: "order" and "counter", the
// sections the planted bugs below must be told apart by.
type twoSections struct {
	seats   int
	order   uint64 // order-dependent: folds each seat's move in the order applied
	counter uint64 // order-independent: the sum of all moves
}

func (g *twoSections) NumSeats() int                             { return g.seats }
func (g *twoSections) Validate(int, []byte) *gamestate.Violation { return nil }
func (g *twoSections) Hash() crypto.Digest                       { return crypto.Sum(g.Snapshot()) }
func (g *twoSections) Snapshot() []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, g.order), g.counter)
}
func (g *twoSections) Restore(b []byte) error {
	if len(b) != 16 {
		return errors.New("bad snapshot")
	}
	g.order, g.counter = binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])
	return nil
}
func (g *twoSections) Sections() []gamestate.Section {
	s := g.Snapshot()
	return []gamestate.Section{{Name: "order", Data: s[:8]}, {Name: "counter", Data: s[8:]}}
}

func (g *twoSections) apply(seat int, in gamestate.SeatInput) {
	if in.Present {
		m := uint64(in.Data[0]) + uint64(seat)
		g.order = g.order*1000003 + m
		g.counter += m
	}
}

// seatOrder advances in seat order: the deterministic version.
type seatOrder struct{ twoSections }

func (g *seatOrder) Advance(_ uint64, in []gamestate.SeatInput) {
	for s := range in {
		g.apply(s, in[s])
	}
}

// mapOrder is the planted bug: it collects the tick's moves in a map and
// applies them in map-iteration order, which Go randomizes. Every
// Advance's order is logged so the test can tell which tick first
// diverged.
type mapOrder struct {
	twoSections
	log *[]advance
}

type advance struct {
	g     *mapOrder
	tick  uint64
	order []int
}

func (g *mapOrder) Advance(tick uint64, in []gamestate.SeatInput) {
	moves := map[int]gamestate.SeatInput{}
	for s := range in {
		moves[s] = in[s]
	}
	var order []int
	for s, m := range moves { // the bug
		g.apply(s, m)
		order = append(order, s)
	}
	*g.log = append(*g.log, advance{g, tick, order})
}

func moveInputs(tick uint64, seat int, _ gamestate.Game) gamestate.SeatInput {
	return gamestate.SeatInput{Present: true, Data: []byte{byte(tick*7 + uint64(seat)*3 + 1)}}
}

func sectionNames(ds []synctest.SectionDiff) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

// TestSeatOrderPasses: the test game without its bug passes, so what the
// next test catches is the map iteration.
func TestSeatOrderPasses(t *testing.T) {
	rep, err := synctest.Run(synctest.Config{
		NewGame: func() (gamestate.Game, error) { return &seatOrder{twoSections{seats: 8}}, nil },
		Inputs:  moveInputs, Ticks: 100, Rollback: 3,
	})
	if err != nil || rep.Err() != nil {
		t.Fatal(err, rep.Err())
	}
}

// TestMapIterationCaught: a game that applies moves in map order is
// caught at the first tick whose order differed between the two runs
// compared, and the report names the "order" section, not "counter".
func TestMapIterationCaught(t *testing.T) {
	var log []advance
	var first *mapOrder
	rep, err := synctest.Run(synctest.Config{
		NewGame: func() (gamestate.Game, error) {
			g := &mapOrder{twoSections{seats: 8}, &log}
			if first == nil {
				first = g
			}
			return g, nil
		},
		Inputs: moveInputs, Ticks: 200, Rollback: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Mismatch
	if m == nil {
		t.Fatal("map-order game passed the sync test")
	}
	t.Logf("%s", m)
	if m.Kind != synctest.Instance && m.Kind != synctest.Resimulated {
		t.Fatalf("kind %s", m.Kind)
	}
	if got := sectionNames(m.Sections); !slices.Equal(got, []string{"order"}) {
		t.Fatalf("sections %q differ, want exactly [order]", got)
	}
	if m.Want == m.Got || m.Sections[0].Offset < 0 || m.Sections[0].Offset >= 8 {
		t.Fatalf("hashes %s %s, section diff %+v", m.Want, m.Got, m.Sections[0])
	}
	// The orders applied the first time (primary and second instance) and
	// on the last re-simulation, per tick.
	firstPass := map[*mapOrder]map[uint64][]int{}
	lastPass := map[uint64][]int{}
	for _, a := range log {
		if firstPass[a.g] == nil {
			firstPass[a.g] = map[uint64][]int{}
		}
		if _, seen := firstPass[a.g][a.tick]; !seen {
			firstPass[a.g][a.tick] = a.order
		} else if a.g == first {
			lastPass[a.tick] = a.order
		}
	}
	var second *mapOrder
	for g := range firstPass {
		if g != first {
			second = g
		}
	}
	for tick := uint64(0); tick < m.Tick; tick++ {
		if !slices.Equal(firstPass[first][tick], firstPass[second][tick]) {
			t.Fatalf("the orders first differed at tick %d, but the report says tick %d", tick, m.Tick)
		}
	}
	want := firstPass[first][m.Tick]
	other := firstPass[second][m.Tick]
	if m.Kind == synctest.Resimulated {
		other = lastPass[m.Tick]
	}
	if slices.Equal(want, other) {
		t.Fatalf("tick %d: the orders compared were the same (%v)", m.Tick, want)
	}
	if !strings.Contains(m.String(), "section order differs at byte") || strings.Contains(m.String(), "counter") {
		t.Errorf("report:\n%s", m)
	}
}

// forgetful is a correct game whose Restore forgets the counter: after a
// rollback the counter keeps its later value, state leaking across the
// restore.
type forgetful struct{ seatOrder }

func (g *forgetful) Restore(b []byte) error {
	keep := g.counter
	err := g.seatOrder.Restore(b)
	g.counter = keep // the bug
	return err
}

// TestForgottenFieldCaught: the restored state's hash is checked before
// re-simulating, so the leak is reported at the state restored, naming
// "counter" alone.
func TestForgottenFieldCaught(t *testing.T) {
	for _, k := range []int{1, 4} {
		rep, err := synctest.Run(synctest.Config{
			NewGame: func() (gamestate.Game, error) { return &forgetful{seatOrder{twoSections{seats: 4}}}, nil },
			Inputs:  moveInputs, Ticks: 50, Rollback: k,
		})
		if err != nil {
			t.Fatal(err)
		}
		m := rep.Mismatch
		if m == nil {
			t.Fatalf("k=%d: forgetful Restore passed", k)
		}
		if m.Kind != synctest.Restored || !m.Initial || m.Tick != 0 || m.RolledBackAt != uint64(k-1) {
			t.Fatalf("k=%d: %s", k, m)
		}
		if got := sectionNames(m.Sections); !slices.Equal(got, []string{"counter"}) {
			t.Fatalf("k=%d: sections %q, want [counter]", k, got)
		}
		if k == 4 {
			t.Logf("%s", m)
		}
	}
}

// hidden keeps state outside its snapshot that changes what Advance does:
// the restore is "complete" as far as Hash can see, but re-simulating
// gives another result.
type hidden struct {
	seatOrder
	calls uint64
}

func (g *hidden) Advance(tick uint64, in []gamestate.SeatInput) {
	g.calls++
	g.seatOrder.Advance(tick, in)
	if g.calls%5 == 0 {
		g.counter++
	}
}

// TestHiddenStateCaught: state outside the snapshot that a restore cannot
// bring back is caught, with the affected section named.
func TestHiddenStateCaught(t *testing.T) {
	rep, err := synctest.Run(synctest.Config{
		NewGame: func() (gamestate.Game, error) { return &hidden{seatOrder: seatOrder{twoSections{seats: 4}}}, nil },
		Inputs:  moveInputs, Ticks: 50, Rollback: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Mismatch
	// The primary's extra Advance calls (its re-simulations) show first
	// against the second instance, or in a re-simulation.
	if m == nil || m.Kind != synctest.Instance && m.Kind != synctest.Resimulated {
		t.Fatalf("hidden state: %v", rep)
	}
	if got := sectionNames(m.Sections); !slices.Equal(got, []string{"counter"}) {
		t.Fatalf("sections %q, want [counter]", got)
	}
}

// fickle's Validate depends on how often it was called: peers would
// disagree on invalid-move verdicts.
type fickle struct {
	seatOrder
	calls int
}

func (g *fickle) Validate(int, []byte) *gamestate.Violation {
	g.calls++
	if g.calls%7 == 0 {
		return &gamestate.Violation{Code: gamestate.ViolationRule, Detail: "seventh"}
	}
	return nil
}

// TestValidateCaught: a Validate that judges the same input differently
// is reported with the tick and seat.
func TestValidateCaught(t *testing.T) {
	rep, err := synctest.Run(synctest.Config{
		NewGame: func() (gamestate.Game, error) { return &fickle{seatOrder: seatOrder{twoSections{seats: 4}}}, nil },
		Inputs:  moveInputs, Ticks: 50, Rollback: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Mismatch
	if m == nil || m.Kind != synctest.Validated || m.Seat < 0 {
		t.Fatalf("fickle Validate: %v", rep)
	}
	if rep.Dropped == 0 {
		t.Error("no dropped input counted")
	}
}

// unsectioned hides the Sections method: the report says so instead of
// naming sections.
type unsectioned struct{ g *mapOrder }

func (u unsectioned) NumSeats() int                                 { return u.g.NumSeats() }
func (u unsectioned) Validate(s int, b []byte) *gamestate.Violation { return u.g.Validate(s, b) }
func (u unsectioned) Advance(t uint64, in []gamestate.SeatInput)    { u.g.Advance(t, in) }
func (u unsectioned) Hash() crypto.Digest                           { return u.g.Hash() }
func (u unsectioned) Snapshot() []byte                              { return u.g.Snapshot() }
func (u unsectioned) Restore(b []byte) error                        { return u.g.Restore(b) }

func TestUnsectionedGame(t *testing.T) {
	var log []advance
	rep, err := synctest.Run(synctest.Config{
		NewGame: func() (gamestate.Game, error) { return unsectioned{&mapOrder{twoSections{seats: 8}, &log}}, nil },
		Inputs:  moveInputs, Ticks: 200,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Mismatch
	if m == nil || m.Sectioned || m.Sections != nil || !strings.Contains(m.String(), "does not implement gamestate.Sectioned") {
		t.Fatalf("%v", rep)
	}
}

// TestDiffSections: lengths, missing sections and the byte hint.
func TestDiffSections(t *testing.T) {
	want := []gamestate.Section{{Name: "a", Data: []byte{1, 2, 3}}, {Name: "b", Data: []byte{9}}, {Name: "c", Data: []byte{5}}}
	got := []gamestate.Section{{Name: "a", Data: []byte{1, 2, 4, 4}}, {Name: "c", Data: []byte{5}}, {Name: "d", Data: []byte{0}}}
	ds := synctest.DiffSections(want, got)
	if len(ds) != 3 {
		t.Fatalf("%+v", ds)
	}
	if d := ds[0]; d.Name != "a" || d.Offset != 2 || d.WantLen != 3 || d.GotLen != 4 || !slices.Equal(d.Want, []byte{3}) || !slices.Equal(d.Got, []byte{4, 4}) {
		t.Errorf("a: %+v", d)
	}
	if d := ds[1]; d.Name != "b" || d.GotLen != -1 {
		t.Errorf("b: %+v", d)
	}
	if d := ds[2]; d.Name != "d" || d.WantLen != -1 {
		t.Errorf("d: %+v", d)
	}
	if synctest.DiffSections(want, want) != nil {
		t.Error("equal sections differ")
	}
}
