// Command memmatch runs a whole 4-seat arena match in one process, over the
// in-memory transport (transport/memnet) instead of libp2p, through the
// public API only: every seat is a paxsync.Session with its own key and a
// bot player, exactly as four separate games would be. It plays until tick
// -ticks (rounded up to the next checkpoint) is decided, prints every
// seat's decided ticks and its state hash there, and exits with status 1
// if the seats do not agree.
//
//	go run ./examples/memmatch -ticks 300
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/transport/memnet"
)

const (
	seats = 4
	// ahead is how many ticks before its tick each input is submitted
	// (SubmitInputAt). The clock samples an input at most 2·InputDelay +
	// Grace + 8 ticks past the decided log (42 ticks with the settings
	// below), so an input submitted this far ahead is always in before
	// its tick is sampled, however slowly this machine runs; and it stays
	// well inside the window the peers keep (SubmitInputAt returns
	// ErrTooEarly past it).
	ahead = 64
	// seed is the arena's seed, the same for every seat.
	seed = 1
)

func main() {
	ticks := flag.Int("ticks", 300, "play until this tick (rounded up to the next checkpoint) is decided")
	flag.Parse()
	if err := run(*ticks, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "memmatch:", err)
		os.Exit(1)
	}
}

// result is what one seat saw when it reached the last tick.
type result struct {
	decided  uint64        // ticks decided and applied (the last tick + 1)
	hash     crypto.Digest // its engine's state hash at the last tick (a checkpoint)
	present  int           // seat inputs applied (not "no input")
	late     int           // inputs SubmitInputAt refused as too late
	verdicts int
	err      error
}

// run plays one match until tick ticks (rounded up to a multiple of the
// hash interval, where every engine hashes its state) is decided on every
// seat, writes what each seat saw to w, and returns an error if the seats
// disagree or the match does not get there in time.
func run(ticks int, w io.Writer) error {
	if ticks < 1 {
		return fmt.Errorf("ticks %d: want at least 1", ticks)
	}
	net := memnet.New() // the match's whole network: every seat opens its endpoint here
	keys := make([]*crypto.PrivateKey, seats)
	roster := make([]crypto.PublicKey, seats)
	for i := range keys {
		k, err := crypto.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		keys[i], roster[i] = k, k.Public()
	}
	params := arena.Params(seats, seed)
	// A fresh name per run: the memnet and the WAL are per process anyway,
	// but a match name should name one match.
	name := fmt.Sprintf("memmatch-%d", time.Now().UnixNano())

	sessions := make([]*paxsync.Session, seats)
	bots := make([]*arena.Bot, seats)
	late := make([]int, seats)
	defer func() {
		for _, s := range sessions {
			if s != nil {
				s.Close()
			}
		}
	}()
	var last uint64
	for i := range keys {
		cfg := paxsync.DefaultConfig()
		cfg.Key, cfg.MatchName, cfg.Roster, cfg.GameParams = keys[i], name, roster, params
		cfg.NewGame = func() (gamestate.Game, error) { return arena.FromParams(params) }
		cfg.Transport = net                // in-memory, no sockets (nil would be libp2p)
		cfg.WALDir = paxsync.MemoryWAL     // throwaway keys: nothing to restart from
		cfg.TickRate = 60                  // DefaultConfig's Grace is one tick at 30 Hz: set it too
		cfg.Grace = 500 * time.Millisecond // a slow input is waited for rather than ordered as "no input"
		if err := cfg.Validate(); err != nil {
			return err
		}
		last = (uint64(ticks) + cfg.HashInterval - 1) / cfg.HashInterval * cfg.HashInterval
		s, err := paxsync.Join(context.Background(), cfg)
		if err != nil {
			return fmt.Errorf("seat %d: %w", i, err)
		}
		sessions[i] = s
		// The first ahead ticks' inputs, from the initial state, before the
		// match starts (it starts once every seat has joined).
		bots[i] = arena.NewBot(s.Seat(), seed)
		for at := uint64(0); at < ahead; at++ {
			if tooLate, err := submit(s, bots[i], at); err != nil {
				return fmt.Errorf("seat %d: %w", i, err)
			} else if tooLate {
				late[i]++
			}
		}
	}

	timeout := 2*time.Minute + time.Duration(last)*100*time.Millisecond
	results := make([]result, seats)
	var wg sync.WaitGroup
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = play(s, bots[i], last, timeout)
			results[i].late += late[i]
		}()
	}
	wg.Wait()

	fmt.Fprintf(w, "memmatch: %d seats over transport/memnet, ticks 0..%d\n", seats, last)
	fmt.Fprintf(w, "%-5s %-8s %-17s %-15s %-9s %s\n", "seat", "decided", fmt.Sprintf("hash @%d", last), "inputs applied", "verdicts", "late inputs")
	var errs []error
	for i, r := range results {
		if r.err != nil {
			fmt.Fprintf(w, "%-5d %v\n", i, r.err)
			errs = append(errs, fmt.Errorf("seat %d: %w", i, r.err))
			continue
		}
		fmt.Fprintf(w, "%-5d %-8d %-17s %-15s %-9d %d\n", i, r.decided, r.hash,
			fmt.Sprintf("%d/%d", r.present, seats*int(r.decided)), r.verdicts, r.late)
		if r0 := results[0]; r0.err == nil && (r.decided != r0.decided || r.hash != r0.hash) {
			errs = append(errs, fmt.Errorf("seat %d disagrees with seat 0: %d ticks, hash %s; seat 0: %d ticks, hash %s",
				i, r.decided, r.hash, r0.decided, r0.hash))
		}
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(w, "agree: no")
		return err
	}
	fmt.Fprintln(w, "agree: yes")
	return nil
}

// play reads s's events until tick last is applied, feeding the bot's
// input for tick t+ahead at every TickEvent t.
func play(s *paxsync.Session, bot *arena.Bot, last uint64, timeout time.Duration) result {
	var r result
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				r.err = fmt.Errorf("events closed at tick %d: %v", r.decided, s.Err())
				return r
			}
			switch ev := ev.(type) {
			case paxsync.TickEvent:
				r.decided = ev.Tick + 1 // ticks arrive in order; a catch-up may skip some
				for _, in := range ev.Inputs {
					if in.Present {
						r.present++
					}
				}
				if ev.Tick >= last {
					if ev.Tick != last || !ev.Checkpoint {
						r.err = fmt.Errorf("tick %d skipped (caught up from a checkpoint to tick %d)", last, ev.Tick)
					}
					r.hash = ev.Hash
					return r
				}
				tooLate, err := submit(s, bot, ev.Tick+ahead)
				if err != nil {
					r.err = err
					return r
				}
				if tooLate {
					r.late++
				}
			case paxsync.VerdictEvent:
				r.verdicts++
			}
		case <-deadline:
			r.err = fmt.Errorf("only %d ticks decided after %v", r.decided, timeout)
			return r
		}
	}
}

// submit gives s the bot's input for tick, chosen from the latest state
// (View: a copy the session publishes once per decided tick). tooLate: the
// tick was already sampled, so the seat gets the agreed "no input" there
// (at the start, when the match began before every input was in); any
// other refusal is an error.
func submit(s *paxsync.Session, bot *arena.Bot, tick uint64) (tooLate bool, err error) {
	var in []byte
	s.View(func(g gamestate.Game, _ uint64) { in = bot.Input(g.(*arena.Arena), tick) })
	err = s.SubmitInputAt(tick, in)
	if errors.Is(err, paxsync.ErrTooLate) {
		return true, nil
	}
	return false, err
}
