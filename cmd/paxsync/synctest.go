package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/gamestate/synctest"
)

const synctestUsage = "usage: paxsync synctest [--ticks N] [--rollback K] [--seats N] [--seed S]"

const synctestHelp = `
It runs the arena alone, with its bots playing every seat, and after every
tick rolls back K ticks and re-simulates them, comparing each re-simulated
state hash with the first one; a second arena, never rolled back, is
advanced alongside and must agree too (see docs/SYNCTEST.md). It is the
check a game must pass before rollback or a networked match can work, and
the Go helper gamestate/synctest runs it on any game.

Exit status: 0 every hash agreed (a one-line summary is printed); 1 a
desync was found (the first diverging tick, both hashes and the sections
of the state that differ are printed); 2 bad flags.
`

// progressEvery is how many ticks a run must have before it reports
// progress on stderr, and then it does so ten times: short runs stay quiet.
const progressEvery = 20000

// synctestWrap wraps each arena the sync test builds; tests replace it to
// plant a bug and see the command find it.
var synctestWrap = func(a *arena.Arena) gamestate.Game { return a }

// runSynctest is `paxsync synctest`: the arena under forced rollbacks
// (synctest.Run), so a change to the game that breaks determinism is seen
// without a networked match.
func runSynctest(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("synctest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ticks := fs.Uint64("ticks", 600, "ticks to simulate")
	rollback := fs.Int("rollback", synctest.DefaultRollback, fmt.Sprintf("ticks rolled back and re-simulated after every tick (1..%d)", synctest.MaxRollback))
	seats := fs.Int("seats", 4, fmt.Sprintf("ships, %d..%d", arena.MinSeats, arena.MaxSeats))
	seed := fs.Uint64("seed", 1, "the arena's and the bots' seed (the same seed gives the same run)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, synctestUsage)
		fs.PrintDefaults()
		fmt.Fprint(stderr, synctestHelp)
	}
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	switch {
	case fs.NArg() > 0:
		return usagef("unexpected argument %q", fs.Arg(0))
	case *ticks == 0:
		return usagef("--ticks must be at least 1")
	case *rollback < 1 || *rollback > synctest.MaxRollback:
		return usagef("--rollback %d: must be 1..%d", *rollback, synctest.MaxRollback)
	case *seats < arena.MinSeats || *seats > arena.MaxSeats:
		return usagef("--seats %d: must be %d..%d", *seats, arena.MinSeats, arena.MaxSeats)
	}
	bots := make([]*arena.Bot, *seats)
	for s := range bots {
		bots[s] = arena.NewBot(s, *seed)
	}
	var primary *arena.Arena // the first game built, the one Inputs is given
	cfg := synctest.Config{
		NewGame: func() (gamestate.Game, error) {
			a, err := arena.New(*seats, *seed)
			if err != nil {
				return nil, err
			}
			if primary == nil {
				primary = a
			}
			return synctestWrap(a), nil
		},
		Inputs: func(tick uint64, seat int, _ gamestate.Game) gamestate.SeatInput {
			return gamestate.SeatInput{Present: true, Data: bots[seat].Input(primary, tick)}
		},
		Ticks:    *ticks,
		Rollback: *rollback,
	}
	if *ticks >= progressEvery {
		step := *ticks / 10
		cfg.Progress = func(done uint64) {
			if done%step == 0 && done < *ticks {
				fmt.Fprintf(stderr, "synctest: %d/%d ticks\n", done, *ticks)
			}
		}
	}
	rep, err := synctest.Run(cfg)
	if err != nil {
		return err
	}
	if rep.Mismatch == nil {
		fmt.Fprintln(stdout, rep)
		return nil
	}
	fmt.Fprintln(stdout, rep.Mismatch)
	fmt.Fprintf(stdout, "so far: %d ticks simulated, %d rollbacks, %d hashes agreed\n", rep.Ticks, rep.Rollbacks, rep.Checked)
	return errors.New("the arena is not deterministic under rollback (see above)")
}
