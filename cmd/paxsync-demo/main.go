// Command paxsync-demo is the Ebiten arena client. With no --match or
// --peer it starts "one machine, one command": the local player plus
// --bots bot peers, each a real paxsync session with its own key, talking
// libp2p over loopback, so the whole system (and a cheater being caught)
// is visible at once. --replay watches a recorded match; --ticks with
// --screenshot makes a headless check that works under Xvfb.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/paxsync/paxsync/demo"
)

// stringList is a repeatable string flag (--peer A --peer B).
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// options are the parsed flags.
type options struct {
	bots        int
	cheater     int
	cheat       string
	cheatAfter  string
	tickHz      int
	inputDelay  int
	seed        uint64
	match       string
	key, roster string
	mdns        bool
	peers       stringList
	listen      string
	startAt     string
	record      string
	replay      string
	replaySpeed float64
	ticks       uint64
	screenshot  string
	net         bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("paxsync-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.bots, "bots", 3, "bot peers to start on this machine (1..7), each a real paxsync peer")
	fs.IntVar(&o.cheater, "cheater", -1, "seat of the bot that cheats (1..bots); -1 for none")
	fs.StringVar(&o.cheat, "cheat", "invalid-move", "what the --cheater does: "+strings.Join(demo.CheatKinds(), ", "))
	fs.StringVar(&o.cheatAfter, "cheat-after", "0", "when the cheater starts: a duration (10s) or a tick count (300)")
	fs.IntVar(&o.tickHz, "tick-hz", 30, "agreed ticks per second (1..60)")
	fs.IntVar(&o.inputDelay, "input-delay", 0, "ticks between sampling and applying an input (0: the session's default)")
	fs.Uint64Var(&o.seed, "seed", 0, "arena seed (0: random)")
	fs.StringVar(&o.match, "match", "", "LAN: the match name to join (with --key and --roster)")
	fs.StringVar(&o.key, "key", "", "LAN: this player's key file (paxsync keygen)")
	fs.StringVar(&o.roster, "roster", "", "LAN: the match's roster file ({\"match\":..., \"players\":[...]})")
	fs.BoolVar(&o.mdns, "mdns", false, "LAN: find the other players by mDNS")
	fs.Var(&o.peers, "peer", "LAN: a peer's multiaddr (repeatable), for networks without multicast")
	fs.StringVar(&o.listen, "listen", "", "LAN: listen multiaddr (default /ip4/0.0.0.0/tcp/0)")
	fs.StringVar(&o.startAt, "start-at", "", "LAN: the match's tick grid, the same for every player (RFC 3339, e.g. 2026-11-23T20:00:00Z); with NTP-synced clocks each tick is agreed one consensus round after its inputs")
	fs.StringVar(&o.record, "record", "", "record the match to this replay file")
	fs.StringVar(&o.replay, "replay", "", "watch a recorded match instead of playing")
	fs.Float64Var(&o.replaySpeed, "replay-speed", 1, "replay playback speed factor")
	fs.Uint64Var(&o.ticks, "ticks", 0, "exit after this many agreed ticks (headless check)")
	fs.StringVar(&o.screenshot, "screenshot", "", "write the final frame to this PNG (needs --ticks)")
	fs.BoolVar(&o.net, "net", false, "start with the network panel shown (toggle with Tab)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: paxsync-demo [flags]")
		fmt.Fprintln(stderr, "\n  paxsync-demo                                   you + 3 bot peers on this machine")
		fmt.Fprintln(stderr, "  paxsync-demo --bots 3 --cheater 2 --cheat invalid-move   watch bot 2 get caught")
		fmt.Fprintln(stderr, "  paxsync-demo --replay match.replay             watch a recorded match")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.screenshot != "" && o.ticks == 0 {
		return nil, errors.New("--screenshot needs --ticks N")
	}
	if o.tickHz < 1 || o.tickHz > 60 {
		return nil, fmt.Errorf("--tick-hz %d: want 1..60", o.tickHz)
	}
	if o.replay != "" && (o.record != "" || o.match != "" || len(o.peers) > 0) {
		return nil, errors.New("--replay cannot be combined with --record, --match or --peer")
	}
	return o, nil
}

// parseAfter reads --cheat-after: a Go duration or a whole number of ticks.
func parseAfter(s string) (time.Duration, uint64, error) {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return 0, n, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, 0, fmt.Errorf("--cheat-after %q: want a duration (10s) or a tick count (300)", s)
	}
	return d, 0, nil
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "paxsync-demo:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := play(ctx, o, stdout); err != nil {
		fmt.Fprintln(stderr, "paxsync-demo:", err)
		return 1
	}
	return 0
}

// play builds the source the flags ask for, runs the window, and prints
// every verdict seen (one line each) so scripts and tests can check them.
func play(ctx context.Context, o *options, stdout io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gopt := demo.Options{ExitAfterTicks: o.ticks, Screenshot: o.screenshot, ShowNet: o.net}
	title := "paxsync arena"
	var closeFn func() error
	switch {
	case o.replay != "":
		r, err := demo.OpenReplay(o.replay, o.replaySpeed)
		if err != nil {
			return err
		}
		gopt.World = r.World
		title = "paxsync replay"
		go r.Play(ctx)
	default:
		lc := demo.LiveConfig{TickRate: o.tickHz, InputDelay: o.inputDelay, Seed: o.seed, Record: o.record}
		var live *demo.Live
		var err error
		if o.match != "" || len(o.peers) > 0 || o.mdns {
			lc.Match, lc.KeyFile, lc.RosterFile, lc.MDNS, lc.Peers, lc.Listen = o.match, o.key, o.roster, o.mdns, o.peers, o.listen
			if o.startAt != "" {
				at, err := time.Parse(time.RFC3339, o.startAt)
				if err != nil {
					return fmt.Errorf("--start-at %q: want RFC 3339 time, e.g. 2026-11-23T20:00:00Z", o.startAt)
				}
				lc.StartAt = at
			}
			live, err = demo.JoinLAN(ctx, lc)
		} else {
			if o.bots < 1 || o.bots > 7 {
				return fmt.Errorf("--bots %d: want 1..7 (the arena seats 2..8 players)", o.bots)
			}
			if o.cheater == 0 || o.cheater > o.bots {
				return fmt.Errorf("--cheater %d: want a bot seat 1..%d (seat 0 is you; use the F keys to cheat yourself)", o.cheater, o.bots)
			}
			lc.Bots, lc.Cheater, lc.Cheat = o.bots, o.cheater, o.cheat
			if lc.CheatAfter, lc.CheatAfterTicks, err = parseAfter(o.cheatAfter); err != nil {
				return err
			}
			live, err = demo.StartLocal(ctx, lc)
		}
		if err != nil {
			return err
		}
		gopt.World, gopt.Input, gopt.Cheats = live.World, live.Input, live.CheatKeys()
		title = live.Title()
		closeFn = live.Close
	}
	runErr := demo.Run(demo.NewGame(gopt), title)
	cancel()
	if closeFn != nil {
		if err := closeFn(); err != nil && runErr == nil {
			runErr = err
		}
	}
	names := gopt.World.Names()
	for _, f := range gopt.World.Verdicts() {
		who := fmt.Sprintf("seat %d", f.Verdict.Offender)
		if f.Verdict.Offender < len(names) {
			who = names[f.Verdict.Offender]
		}
		fmt.Fprintf(stdout, "verdict: %s player %d (%s): %s\n", f.Verdict.Kind, f.Verdict.Offender, who, f.Text)
	}
	return runErr
}
