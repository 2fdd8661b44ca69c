package match

import (
	"fmt"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/wire"
)

// Game names for PeerConfig.Game.
const (
	// GameArena is the demo game (2..arena.MaxSeats seats), played by
	// arena.Bot: what scripted matches always play.
	GameArena = "arena"
	// GameTally is a minimal deterministic game for any seat count the
	// roster allows. The benchmark plays it where the arena cannot seat
	// everyone (1 peer, or more than arena.MaxSeats), so the consensus and
	// network cost can still be measured at n = 10 or 16. Its inputs have
	// the arena's size, so messages are the same size as in an arena match.
	GameTally = "tally"
)

// GameFor returns the game a bench run with peers seats plays: the arena
// when it seats them, else the tally game.
func GameFor(peers int) string {
	if peers >= arena.MinSeats && peers <= arena.MaxSeats {
		return GameArena
	}
	return GameTally
}

// tally folds every agreed input into one running value per seat. Its
// whole state is the tick counter and those values, so it costs next to
// nothing and any divergence between peers shows in the hash.
type tally struct {
	next uint64
	acc  []uint64
}

var _ gamestate.Game = (*tally)(nil)

func newTally(seats int) (*tally, error) {
	if seats < 1 || seats > gamestate.MaxSeats {
		return nil, fmt.Errorf("tally: %d seats, want 1..%d", seats, gamestate.MaxSeats)
	}
	return &tally{acc: make([]uint64, seats)}, nil
}

func (g *tally) NumSeats() int { return len(g.acc) }

func (g *tally) Validate(_ int, in []byte) *gamestate.Violation {
	if len(in) != arena.InputSize {
		return &gamestate.Violation{Code: gamestate.ViolationMalformed, Detail: fmt.Sprintf("tally input has %d bytes, want %d", len(in), arena.InputSize)}
	}
	return nil
}

func (g *tally) Advance(tick uint64, inputs []gamestate.SeatInput) {
	for i, in := range inputs {
		if !in.Present {
			continue
		}
		v := g.acc[i]
		for _, b := range in.Data {
			v = (v ^ uint64(b)) * 0x100000001b3 // FNV-1a step
		}
		g.acc[i] = v
	}
	g.next = tick + 1
}

func (g *tally) Hash() crypto.Digest { return crypto.Sum(g.Snapshot()) }

func (g *tally) Snapshot() []byte {
	w := wire.NewWriter(nil)
	w.U64(g.next)
	w.U16(uint16(len(g.acc)))
	for _, v := range g.acc {
		w.U64(v)
	}
	return w.Bytes()
}

func (g *tally) Restore(snap []byte) error {
	r := wire.NewReader(snap)
	next := r.U64("tally.next")
	if n := int(r.U16("tally.seats")); r.Err() == nil && n != len(g.acc) {
		return fmt.Errorf("tally: snapshot has %d seats, game %d", n, len(g.acc))
	}
	acc := make([]uint64, len(g.acc))
	for i := range acc {
		acc[i] = r.U64("tally.acc")
	}
	if err := r.Done(); err != nil {
		return err
	}
	g.next, g.acc = next, acc
	return nil
}

// tallyBot makes the tally game's inputs: a seeded xorshift sequence per
// seat, so runs are reproducible.
type tallyBot struct{ rng uint64 }

func newTallyBot(seat int, seed uint64) *tallyBot {
	s := seed ^ (uint64(seat)+1)*0x9e3779b97f4a7c15
	if s == 0 {
		s = 1
	}
	return &tallyBot{rng: s}
}

func (b *tallyBot) input(_ gamestate.Game, _ uint64) []byte {
	b.rng ^= b.rng << 13
	b.rng ^= b.rng >> 7
	b.rng ^= b.rng << 17
	in := make([]byte, arena.InputSize)
	for i := range in {
		in[i] = byte(b.rng >> (8 * i))
	}
	return in
}

// gameSetup returns what a peer plays: the game constructor, its replay
// parameters and the bot that makes this seat's input for a tick from the
// latest state.
func gameSetup(cfg PeerConfig, seats, seat int) (func() (gamestate.Game, error), []byte, func(gamestate.Game, uint64) []byte, error) {
	switch cfg.Game {
	case "", GameArena:
		params := arena.Params(seats, cfg.Seed)
		bot := arena.NewBot(seat, cfg.Seed)
		return func() (gamestate.Game, error) { return arena.FromParams(params) }, params,
			func(g gamestate.Game, tick uint64) []byte { return bot.Input(g.(*arena.Arena), tick) }, nil
	case GameTally:
		bot := newTallyBot(seat, cfg.Seed)
		return func() (gamestate.Game, error) { return newTally(seats) }, nil, bot.input, nil
	}
	return nil, nil, nil, fmt.Errorf("game %q: want %q or %q", cfg.Game, GameArena, GameTally)
}
