// Package cli is the part of paxsync-demo that must work without a display:
// its flags, their validation, the usage text and the check that an X
// display is reachable. It imports only the standard library, on purpose:
// Ebiten opens the display in a package init, before main runs, and panics
// when there is none, so everything that answers --help, a bad flag or "no
// display" has to run before that init (see package preflight) and must
// not pull Ebiten, or anything large, into its dependencies (package
// demo/cheats is standard library only, too).
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/paxsync/paxsync/demo/cheats"
)

// Exit statuses of paxsync-demo.
const (
	ExitOK    = 0 // played to the end, closed, or stopped by a signal
	ExitError = 1 // failed at run time (including: no display)
	ExitUsage = 2 // bad flags
)

// DefaultInputDelay is the demo's input delay: the session's
// default (gamestate.DefaultInputDelay, which this package does not import
// to stay small; a test keeps them equal).
const DefaultInputDelay = 2

// maxInputDelay is the session's bound on Config.InputDelay.
const maxInputDelay = 30

// stringList is a repeatable string flag (--peer A --peer B).
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// Options are the parsed and checked flags.
type Options struct {
	Bots       int
	Cheater    int    // seat that cheats (0: the local player), -1 for none
	Cheat      string // one of cheats.Kinds()
	CheatAfter time.Duration
	// CheatAfterTicks is --cheat-after given as a tick count (CheatAfter
	// is then 0).
	CheatAfterTicks uint64
	TickHz          int
	// InputDelay is every session's input delay in ticks (--input-delay,
	// default DefaultInputDelay). With prediction it is not felt: the
	// predicted view runs to the last tick this player has sampled.
	InputDelay int
	// Prediction makes the local session speculate, so the ship answers
	// the keys on the next frame (the P key switches the drawing between
	// the predicted and the agreed state).
	Prediction bool
	Seed       uint64

	// LAN is set when any LAN flag is given (--match, --key, --roster,
	// --mdns, --peer, --listen, --start-at).
	LAN         bool
	Match       string
	Key, Roster string
	MDNS        bool
	Peers       []string
	Listen      string
	StartAt     time.Time
	// Spectate are spectator service addresses to watch a LAN match from
	// (with --roster, no seat); Spectators is where this LAN player
	// serves spectators, or where this spectator relays to others.
	Spectate   []string
	Spectators string

	Record      string
	Replay      string
	ReplaySpeed float64
	Ticks       uint64
	Screenshot  string
	Net         bool
	// Verbose prints every verdict as it arrives (not only the first of
	// each kind against each player) and logs the demo's internal notes
	// to stderr.
	Verbose bool
}

func newFlagSet(o *Options, peers, spectate *stringList, cheatAfter, startAt *string) *flag.FlagSet {
	fs := flag.NewFlagSet("paxsync-demo", flag.ContinueOnError)
	fs.IntVar(&o.Bots, "bots", 3, "bot peers to start on this machine (1..7), each a real paxsync peer")
	fs.IntVar(&o.Cheater, "cheater", -1, "seat of the bot that cheats (1..bots), 0 for you (like the F keys, for\n"+
		"headless runs), -1 for none. A leader-only cheat (silent-leader,\n"+
		"equivocate-proposal) needs to lead: that bot then takes seat 0, the first\n"+
		"leader, and you take its seat")
	fs.StringVar(&o.Cheat, "cheat", "invalid-move", "what the --cheater does: "+strings.Join(cheats.Kinds(), ", "))
	fs.StringVar(cheatAfter, "cheat-after", "0", "when the cheater starts: a duration (10s) or a tick count (300)")
	fs.IntVar(&o.TickHz, "tick-hz", 30, "agreed ticks per second (1..60)")
	fs.IntVar(&o.InputDelay, "input-delay", DefaultInputDelay, "ticks between sampling and applying an input (1..30); with --prediction\n"+
		"the predicted view shows your input on the next frame at any delay")
	fs.BoolVar(&o.Prediction, "prediction", true, "predict: draw your session's speculative state, so your ship answers your\n"+
		"keys on the next frame (P toggles what is drawn); --prediction=false draws\nonly agreed ticks")
	fs.Uint64Var(&o.Seed, "seed", 0, "arena seed (0: random)")
	fs.StringVar(&o.Match, "match", "", "LAN: the match name to join (with --key and --roster)")
	fs.StringVar(&o.Key, "key", "", "LAN: this player's key file (paxsync keygen)")
	fs.StringVar(&o.Roster, "roster", "", "LAN: the match's roster file ({\"match\":..., \"players\":[...]})")
	fs.BoolVar(&o.MDNS, "mdns", false, "LAN: find the other players by mDNS")
	fs.Var(peers, "peer", "LAN: a peer's multiaddr (repeatable), for networks without multicast;\n"+
		"the first player needs none: it prints the --peer line for the others")
	fs.StringVar(&o.Listen, "listen", "", "LAN: listen multiaddr (default /ip4/0.0.0.0/tcp/0)")
	fs.StringVar(&o.Spectators, "spectators", "", "LAN: serve spectators on this multiaddr (e.g. /ip4/0.0.0.0/tcp/4101); the\n"+
		"demo prints the --spectate line for them. With --spectate: relay to other spectators there")
	fs.Var(spectate, "spectate", "watch a LAN match as a spectator from this player's spectator service\n"+
		"or another spectator's relay (repeatable; with the players' --roster, --start-at,\n"+
		"--tick-hz, --input-delay): every answer is checked, a player serving a forged log is dropped")
	fs.StringVar(startAt, "start-at", "", "LAN: the match's tick grid, the same for every player (RFC 3339, e.g.\n"+
		"2026-11-23T20:00:00Z); with NTP-synced clocks each tick is agreed one consensus\nround after its inputs")
	fs.StringVar(&o.Record, "record", "", "record the match to this replay file")
	fs.StringVar(&o.Replay, "replay", "", "watch a recorded match instead of playing")
	fs.Float64Var(&o.ReplaySpeed, "replay-speed", 1, "replay playback speed factor")
	fs.Uint64Var(&o.Ticks, "ticks", 0, "exit after this many agreed ticks (headless check)")
	fs.StringVar(&o.Screenshot, "screenshot", "", "write the final frame to this PNG (needs --ticks)")
	fs.BoolVar(&o.Net, "net", false, "start with the network statistics shown under the arena (toggle with Tab)")
	fs.BoolVar(&o.Verbose, "v", false, "print every verdict, not one line per cheat and player, and log internal notes to stderr")
	return fs
}

// Usage writes the usage text.
func Usage(w io.Writer) {
	var o Options
	var peers, spectate stringList
	var a, b string
	fs := newFlagSet(&o, &peers, &spectate, &a, &b)
	fs.SetOutput(w)
	fmt.Fprintln(w, "usage: paxsync-demo [flags]")
	fmt.Fprintln(w, "\n  paxsync-demo                                   you + 3 bot peers on this machine")
	fmt.Fprintln(w, "  paxsync-demo --bots 3 --cheater 2 --cheat invalid-move   watch bot 2 get caught")
	fmt.Fprintln(w, "  paxsync-demo --prediction=false                feel lockstep's input delay (or press P)")
	fmt.Fprintln(w, "  paxsync-demo --replay match.replay             watch a recorded match")
	fmt.Fprintln(w, "  paxsync-demo --match NAME --key me.key --roster match.json [--peer ADDR | --mdns]")
	fmt.Fprintln(w, "  paxsync-demo --spectate ADDR --roster match.json  watch a LAN match, trusting no player")
	fmt.Fprintln(w, "  xvfb-run -a paxsync-demo --ticks 900 --screenshot out.png   headless check")
	fmt.Fprintln(w, "\nIt needs a display (X11); Ctrl-C ends it cleanly and prints the verdict summary.")
	fmt.Fprintln(w, "\nflags:")
	fs.PrintDefaults()
}

// Parse reads and checks args. It returns flag.ErrHelp for -h/--help and
// otherwise an error worth one line on stderr, which means exit status
// ExitUsage. Parse writes nothing.
func Parse(args []string) (*Options, error) {
	o := &Options{}
	var peers, spectate stringList
	var cheatAfter, startAt string
	fs := newFlagSet(o, &peers, &spectate, &cheatAfter, &startAt)
	fs.SetOutput(io.Discard) // the returned error carries the flag package's message
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		return nil, err // flag.ErrHelp, or e.g. "flag provided but not defined: -x"
	}
	o.Peers, o.Spectate = peers, spectate
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o.LAN = o.Match != "" || o.Key != "" || o.Roster != "" || o.MDNS || len(o.Peers) > 0 || o.Listen != "" || startAt != "" || o.Spectators != ""
	switch {
	case o.Screenshot != "" && o.Ticks == 0:
		return nil, errors.New("--screenshot needs --ticks N")
	case o.TickHz < 1 || o.TickHz > 60:
		return nil, fmt.Errorf("--tick-hz %d: want 1..60", o.TickHz)
	case o.InputDelay < 1 || o.InputDelay > maxInputDelay:
		return nil, fmt.Errorf("--input-delay %d: want 1..%d", o.InputDelay, maxInputDelay)
	case o.ReplaySpeed <= 0:
		return nil, fmt.Errorf("--replay-speed %v: want more than 0", o.ReplaySpeed)
	case o.Replay != "" && (o.Record != "" || o.LAN):
		return nil, errors.New("--replay cannot be combined with --record or the LAN flags (--match, --key, --roster, --peer, --mdns)")
	}
	if _, ok := cheats.Lookup(o.Cheat); !ok {
		return nil, fmt.Errorf("--cheat %q: want one of %s", o.Cheat, strings.Join(cheats.Kinds(), ", "))
	}
	var err error
	if o.CheatAfter, o.CheatAfterTicks, err = parseAfter(cheatAfter); err != nil {
		return nil, err
	}
	if len(o.Spectate) > 0 {
		if o.Roster == "" {
			return nil, errors.New("--spectate needs the match's --roster FILE (and the players' --start-at, --tick-hz, --input-delay)")
		}
		for _, name := range []string{"key", "record", "replay", "bots", "cheater", "cheat", "cheat-after", "peer", "mdns", "listen"} {
			if set[name] {
				return nil, fmt.Errorf("--%s cannot be combined with --spectate: a spectator has no seat and plays nothing", name)
			}
		}
		if startAt != "" {
			if o.StartAt, err = time.Parse(time.RFC3339, startAt); err != nil {
				return nil, fmt.Errorf("--start-at %q: want an RFC 3339 time, e.g. 2026-11-23T20:00:00Z", startAt)
			}
		}
		o.LAN = false
		return o, nil
	}
	if o.LAN {
		if o.Key == "" || o.Roster == "" {
			return nil, errors.New("LAN play needs --key FILE and --roster FILE (see paxsync keygen)")
		}
		for _, name := range []string{"bots", "cheater", "cheat", "cheat-after"} {
			if set[name] {
				return nil, fmt.Errorf("--%s is for the one-machine demo; in a LAN match every seat is a player (use the F keys to cheat yourself)", name)
			}
		}
		if startAt != "" {
			if o.StartAt, err = time.Parse(time.RFC3339, startAt); err != nil {
				return nil, fmt.Errorf("--start-at %q: want an RFC 3339 time, e.g. 2026-11-23T20:00:00Z", startAt)
			}
		}
		return o, nil
	}
	if o.Replay != "" {
		return o, nil
	}
	if o.Bots < 1 || o.Bots > 7 {
		return nil, fmt.Errorf("--bots %d: want 1..7 (the arena seats 2..8 players)", o.Bots)
	}
	if o.Cheater < -1 || o.Cheater > o.Bots {
		return nil, fmt.Errorf("--cheater %d: want a bot seat 1..%d, 0 for you, or -1 for none", o.Cheater, o.Bots)
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

// ParseFailed answers a Parse error: the usage on stdout for flag.ErrHelp
// (ExitOK), else one line on stderr (ExitUsage). It returns the exit
// status.
func ParseFailed(err error, stdout, stderr io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		Usage(stdout)
		return ExitOK
	}
	fmt.Fprintf(stderr, "paxsync-demo: %v (paxsync-demo --help lists the flags)\n", err)
	return ExitUsage
}

// Preflight does everything that must happen before Ebiten's init opens
// the display: --help (usage on stdout, ExitOK), bad flags (one line on
// stderr, ExitUsage) and no reachable display (one line naming xvfb-run,
// ExitError). exit is false when the demo should go on; getenv reads the
// environment.
func Preflight(args []string, stdout, stderr io.Writer, getenv func(string) string) (code int, exit bool) {
	if _, err := Parse(args); err != nil {
		return ParseFailed(err, stdout, stderr), true
	}
	if err := CheckDisplay(getenv); err != nil {
		fmt.Fprintf(stderr, "paxsync-demo: %v; run it on a desktop, or headless under Xvfb: xvfb-run -a paxsync-demo %s\n",
			err, headlessArgs(args))
		return ExitError, true
	}
	return ExitOK, false
}

// headlessArgs is the xvfb-run suggestion's argument list: the user's own,
// plus a headless check (a tick count and a screenshot) unless they gave
// --ticks, since nobody sees a window under Xvfb.
func headlessArgs(args []string) string {
	quoted := make([]string, len(args), len(args)+4)
	for i, a := range args {
		quoted[i] = a
		if a == "" || strings.ContainsAny(a, " \t'\"\\$`!*?;&|<>()[]{}#~") {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	o, err := Parse(args)
	if err != nil || o.Ticks == 0 {
		quoted = append(quoted, "--ticks", "900", "--screenshot", "out.png")
	}
	return strings.Join(quoted, " ")
}
