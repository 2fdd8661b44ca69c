package gamestate_test

import (
	"bytes"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/wire"
)

// match drives an arena match the way a session would: bots choose inputs,
// every input is signed, a leader packs ticks into batches, peers sign
// state hashes at checkpoints, and the decided batches are applied by a
// reference engine (and optionally recorded to a replay).
type match struct {
	t       testing.TB
	seats   int
	seed    uint64
	header  *gamestate.Header
	cfg     gamestate.Config
	signers []*crypto.Signer
	bots    []*arena.Bot
	ref     *gamestate.Engine
	game    *arena.Arena
	rw      *gamestate.ReplayWriter
	hashes  []crypto.Envelope // signed hashes waiting for the next batch
	rng     uint64

	speedHacker int // seat sending SpeedHackInput from tick 50 (-1: none)
	liar        int // seat signing a wrong state hash (-1: none)
	equivocator int // seat whose two inputs for tick 40 get reported (-1: none)
	verdicts    []gamestate.Verdict
	tickHashes  []crypto.Digest // reference hash after every tick
}

func newMatch(t testing.TB, seats int, hashInterval uint64, replay *bytes.Buffer) *match {
	m := &match{t: t, seats: seats, seed: 11, speedHacker: -1, liar: -1, equivocator: -1, rng: 0x1234567}
	var keys []*crypto.PrivateKey
	var roster []crypto.PublicKey
	for i := 0; i < seats; i++ {
		k, err := crypto.KeyFromSeed(bytes.Repeat([]byte{byte(0x40 + i)}, 32))
		if err != nil {
			t.Fatal(err)
		}
		keys, roster = append(keys, k), append(roster, k.Public())
	}
	m.header = &gamestate.Header{Name: "arena-test", Roster: roster, TickRate: 30, InputDelay: 2,
		HashInterval: hashInterval, Game: arena.Params(seats, m.seed)}
	m.cfg = m.header.Config()
	for i, k := range keys {
		m.signers = append(m.signers, crypto.NewSigner(k, m.header.MatchID(), uint16(i)))
		m.bots = append(m.bots, arena.NewBot(i, 99))
	}
	m.game = m.newArena()
	var err error
	if m.ref, err = gamestate.NewEngine(m.game, m.cfg); err != nil {
		t.Fatal(err)
	}
	if replay != nil {
		if m.rw, err = gamestate.NewReplayWriter(replay, m.header); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func (m *match) newArena() *arena.Arena {
	a, err := arena.New(m.seats, m.seed)
	if err != nil {
		m.t.Fatal(err)
	}
	return a
}

func (m *match) rand() uint64 {
	m.rng ^= m.rng << 13
	m.rng ^= m.rng >> 7
	m.rng ^= m.rng << 17
	return m.rng
}

func (m *match) signInput(seat int, tick uint64, data []byte) crypto.Envelope {
	body := (&gamestate.Input{Seat: uint16(seat), Tick: tick, Data: data}).Encode()
	return m.signers[seat].Sign(wire.TypeInput, body)
}

// nextBatch builds the next batch of 1..3 ticks; some seats miss some ticks.
func (m *match) nextBatch() *gamestate.Batch {
	b := &gamestate.Batch{First: m.ref.Next(), Hashes: m.hashes}
	m.hashes = nil
	n := 1 + int(m.rand()%3)
	for i := 0; i < n; i++ {
		tick := b.First + uint64(i)
		ti := gamestate.TickInputs{Seats: make([]*crypto.Envelope, m.seats)}
		for s := 0; s < m.seats; s++ {
			if m.rand()%20 == 0 {
				continue // missed the deadline: explicit no input
			}
			data := m.bots[s].Input(m.game, tick)
			if s == m.speedHacker && tick >= 50 {
				data = arena.SpeedHackInput(arena.Controls{Thrust: arena.MaxThrust})
			}
			e := m.signInput(s, tick, data)
			ti.Seats[s] = &e
			if s == m.equivocator && tick == 40 {
				other := m.signInput(s, tick, arena.EncodeInput(arena.Controls{Turn: 1}))
				if !bytes.Equal(other.Body, e.Body) {
					b.Evidence = append(b.Evidence, gamestate.Evidence{Kind: gamestate.InputEquivocation,
						Envelopes: []crypto.Envelope{e, other}})
				}
			}
		}
		b.Ticks = append(b.Ticks, ti)
	}
	return b
}

// step builds, validates, records and applies one batch on the reference
// engine, then has every seat sign its hash for any checkpoint reached.
func (m *match) step() *gamestate.Batch {
	m.t.Helper()
	b := m.nextBatch()
	if err := gamestate.ValidateBatch(b, m.cfg.Verifier, m.cfg.Rules()); err != nil {
		m.t.Fatalf("leader built an invalid batch: %v", err)
	}
	if m.rw != nil {
		if err := m.rw.WriteBatch(b); err != nil {
			m.t.Fatal(err)
		}
	}
	res, err := m.ref.Apply(b)
	if err != nil {
		m.t.Fatal(err)
	}
	m.verdicts = append(m.verdicts, res.Verdicts...)
	for _, tr := range res.Ticks {
		if tr.Checkpoint {
			for s := 0; s < m.seats; s++ {
				h := tr.Hash
				if s == m.liar {
					h[0] ^= 0xff
				}
				body := (&gamestate.StateHash{Seat: uint16(s), Tick: tr.Tick, Hash: h}).Encode()
				m.hashes = append(m.hashes, m.signers[s].Sign(wire.TypeStateHash, body))
			}
			if m.rw != nil {
				if err := m.rw.WriteHash(tr.Tick, tr.Hash); err != nil {
					m.t.Fatal(err)
				}
			}
		}
		m.tickHashes = append(m.tickHashes, tr.Hash)
	}
	return b
}

// TestDeterminismFreshAndSnapshotRestore runs one bot match's decided
// batches through two fresh engines and through an engine that is
// snapshotted and restored into a brand-new engine at random ticks; all
// must match the reference hash at every tick.
func TestDeterminismFreshAndSnapshotRestore(t *testing.T) {
	m := newMatch(t, 8, 1, nil) // hash interval 1: a hash per tick in every result
	m.speedHacker = 3           // verdicts and ignored inputs are part of what must agree
	var batches []*gamestate.Batch
	for m.ref.Next() < 600 {
		batches = append(batches, m.step())
	}
	engines := make([]*gamestate.Engine, 3)
	for i := range engines {
		var err error
		if engines[i], err = gamestate.NewEngine(m.newArena(), m.cfg); err != nil {
			t.Fatal(err)
		}
	}
	rng, restores := uint64(0x9e37), 0
	for bi, b := range batches {
		for i, e := range engines {
			res, err := e.Apply(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, tr := range res.Ticks {
				if tr.Hash != m.tickHashes[tr.Tick] {
					t.Fatalf("engine %d diverged at tick %d (batch %d)", i, tr.Tick, bi)
				}
			}
		}
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		if rng%5 == 0 {
			fresh, err := gamestate.NewEngine(m.newArena(), m.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := fresh.Restore(engines[2].Snapshot()); err != nil {
				t.Fatal(err)
			}
			engines[2], restores = fresh, restores+1
		}
	}
	if restores < 20 {
		t.Fatalf("only %d restores", restores)
	}
	for i, e := range engines {
		if !bytes.Equal(e.Snapshot(), m.ref.Snapshot()) {
			t.Fatalf("engine %d final snapshot differs", i)
		}
	}
	if !m.ref.Flag(3).Flagged {
		t.Fatal("the speed hacker was not flagged")
	}
}

// TestArenaCheatsThroughEngine: every game-level cheat of the arena match
// produces exactly its verdict against exactly its cheater.
func TestArenaCheatsThroughEngine(t *testing.T) {
	m := newMatch(t, 4, 30, nil)
	m.speedHacker, m.liar, m.equivocator = 1, 2, 3
	for m.ref.Next() < 200 {
		m.step()
	}
	m.step() // order the last checkpoint's hashes
	got := map[int][]gamestate.VerdictKind{}
	for _, v := range m.verdicts {
		got[v.Offender] = append(got[v.Offender], v.Kind)
		if v.Kind == gamestate.InvalidMove && v.Violation != gamestate.ViolationSpeed {
			t.Errorf("speed hack judged as %s", v.Violation)
		}
	}
	if len(got[0]) != 0 {
		t.Fatalf("honest seat 0 flagged: %v", got[0])
	}
	if len(got[1]) != 1 || got[1][0] != gamestate.InvalidMove {
		t.Fatalf("speed hacker: %v", got[1])
	}
	// The liar lies at every checkpoint: 0, 30, ..., 180.
	if len(got[2]) != 7 || got[2][0] != gamestate.StateDivergence {
		t.Fatalf("liar: %v", got[2])
	}
	if len(got[3]) != 1 || got[3][0] != gamestate.InputEquivocation {
		t.Fatalf("equivocator: %v", got[3])
	}
}

func TestArenaFireRateCheatThroughEngine(t *testing.T) {
	m := newMatch(t, 2, 30, nil)
	fire := arena.EncodeInput(arena.Controls{Fire: true})
	var verdicts []gamestate.Verdict
	for tick := uint64(0); tick < 3; tick++ {
		e0, e1 := m.signInput(0, tick, fire), m.signInput(1, tick, nil)
		res, err := m.ref.Apply(&gamestate.Batch{First: tick, Ticks: []gamestate.TickInputs{{Seats: []*crypto.Envelope{&e0, &e1}}}})
		if err != nil {
			t.Fatal(err)
		}
		verdicts = append(verdicts, res.Verdicts...)
	}
	// Tick 0 fires legally; tick 1 fires during cooldown; seat 1's empty input is malformed.
	var kinds []string
	for _, v := range verdicts {
		kinds = append(kinds, v.Kind.String()+"/"+v.Violation.String())
	}
	want := []string{"invalid-move/malformed", "invalid-move/fire-rate"}
	if len(kinds) != 2 || kinds[0] != want[0] || kinds[1] != want[1] {
		t.Fatalf("verdicts %v, want %v", kinds, want)
	}
	if m.game.NumBullets() != 1 {
		t.Fatalf("%d bullets, want 1: the rapid-fire shot must not happen", m.game.NumBullets())
	}
}
