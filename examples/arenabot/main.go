// Command arenabot is a headless arena player that embeds paxsync the way
// a game would: join the match, feed a bot's input every tick, print
// verdicts. Run one per player:
//
//	arenabot --key p0.key --roster match.json --listen /ip4/127.0.0.1/tcp/4001
//	arenabot --key p1.key --roster match.json --peer /ip4/127.0.0.1/tcp/4001/p2p/<ID>
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/roster"
)

type list []string

func (l *list) String() string     { return fmt.Sprint(*l) }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	keyFile := flag.String("key", "", "player key file (paxsync keygen)")
	rosterFile := flag.String("roster", "", `match file: {"match": name, "players": [hex keys]}`)
	seed := flag.Uint64("seed", 1, "arena seed (the same for every player)")
	ticks := flag.Uint64("ticks", 1800, "stop after this many ticks")
	var peers, listen list
	flag.Var(&peers, "peer", "peer multiaddr with /p2p/ID (repeatable)")
	flag.Var(&listen, "listen", "listen multiaddr (repeatable)")
	flag.Parse()

	key, err := crypto.LoadKeyFile(*keyFile)
	if err != nil {
		log.Fatal(err)
	}
	rs, err := roster.Load(*rosterFile)
	if err != nil {
		log.Fatal(err)
	}
	name, roster := rs.Match, rs.Keys
	params := arena.Params(len(roster), *seed)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	s, err := paxsync.Join(ctx, paxsync.Config{
		Key: key, MatchName: name, Roster: roster, GameParams: params,
		NewGame: func() (gamestate.Game, error) { return arena.FromParams(params) },
		Network: paxsync.NetworkConfig{ListenAddrs: listen, Peers: peers},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	log.Printf("seat %d listening on %v", s.Seat(), s.Addrs())
	bot := arena.NewBot(s.Seat(), *seed)
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-s.Events():
			switch ev := ev.(type) {
			case paxsync.TickEvent:
				at := s.InputTick() // the tick our next input will be applied at
				var in []byte
				s.View(func(g gamestate.Game, _ uint64) { in = bot.Input(g.(*arena.Arena), at) })
				if err := s.SubmitInput(in); err != nil {
					log.Printf("input for tick %d: %v", at, err)
				}
				if ev.Checkpoint {
					st := s.Stats()
					log.Printf("tick %d hash %s | commit p50 %v p99 %v | leader %d", ev.Tick, ev.Hash, st.CommitP50, st.CommitP99, st.Leader)
				}
				if ev.Tick+1 >= *ticks {
					return
				}
			case paxsync.VerdictEvent:
				log.Printf("CHEATER seat %d: %s at tick %d (%s)", ev.Verdict.Offender, ev.Verdict.Kind, ev.Verdict.Tick, ev.Verdict.Detail)
			case paxsync.ObservationEvent:
				log.Printf("observed %s about seat %d: %s", ev.Observation.Kind, ev.Observation.About, ev.Observation.Detail)
			}
		}
	}
}
