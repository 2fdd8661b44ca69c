package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
)

const replayUsage = "usage: paxsync replay verify [-v] [--allow-partial] FILE"

const replayHelp = `
It re-simulates a recorded match, checks every signature and recorded state
hash, re-derives every verdict and re-checks its evidence. Verdicts are
summarised per (seat, kind); -v lists every one.

A replay that ends inside a record (the recording peer stopped abruptly)
or holds no tick (a peer that restarted from its WAL records nothing)
proves nothing about the match: it fails as incomplete unless
--allow-partial is given. A file cut exactly between two records cannot be
told from a match that ended there.

Exit status: 0 the replay verifies (and is complete, or --allow-partial),
1 it does not verify or is incomplete, 2 bad arguments.
`

// runReplay is `paxsync replay verify [-v] [--allow-partial] FILE`: it
// re-simulates a recorded match, checks every recorded state hash and
// signature, and prints the verdicts. Exit status 1 means the replay is
// invalid or incomplete.
func runReplay(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "print every verdict with its detail (default: one line per seat and kind)")
	partial := fs.Bool("allow-partial", false, "accept a replay that ends early (torn last record, or no tick at all) with a warning")
	fs.Usage = func() {
		fmt.Fprintln(stderr, replayUsage)
		fs.PrintDefaults()
		fmt.Fprint(stderr, replayHelp)
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fs.Usage()
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "verify" {
		return usagef("%s", replayUsage)
	}
	// Flags may come before or after FILE.
	var files []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return flagErr(err)
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) != 1 {
		return usagef("want exactly one FILE, got %d (%s)", len(files), replayUsage)
	}
	path := files[0]
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := gamestate.VerifyReplay(f, arena.NewGame)
	if err != nil {
		if rep != nil {
			fmt.Fprintf(stdout, "replay invalid after %d ticks (byte %d)\n", rep.Ticks, rep.End)
		}
		return fmt.Errorf("%s does not verify: %w", path, err)
	}
	fmt.Fprintf(stdout, "match %q (%s), %d players\n", rep.Header.Name, rep.MatchID, len(rep.Header.Roster))
	fmt.Fprintf(stdout, "ticks: %d in %d batches; state hashes checked: %d; final state hash %s\n",
		rep.Ticks, rep.Batches, rep.HashesChecked, rep.FinalHash.Hex())
	printVerdicts(stdout, rep.Verdicts, *verbose)
	if err := rep.Incomplete(); err != nil {
		if !*partial {
			return fmt.Errorf("%s is incomplete: %s (--allow-partial accepts it)", path, trimPrefix(err))
		}
		fmt.Fprintf(stderr, "warning: %s is incomplete: %s\n", path, trimPrefix(err))
	}
	return nil
}

// printVerdicts prints one line per (seat, kind), or with verbose every
// verdict: a cheater caught every tick must not bury the report.
func printVerdicts(w io.Writer, vs []gamestate.Verdict, verbose bool) {
	if len(vs) == 0 {
		fmt.Fprintln(w, "verdicts: none")
		return
	}
	sums := gamestate.SummarizeVerdicts(vs)
	fmt.Fprintf(w, "verdicts: %d, against %d (seat, kind) pairs, each re-checked\n", len(vs), len(sums))
	for _, s := range sums {
		fmt.Fprintf(w, "  %s\n", s)
	}
	if !verbose {
		return
	}
	for _, v := range vs {
		fmt.Fprintf(w, "verdict: %s against seat %d at tick %d: %s (%d signed messages of evidence)\n",
			v.Kind, v.Offender, v.Tick, v.Detail, len(v.Evidence))
	}
}

// trimPrefix drops the package prefix of ErrReplayIncomplete, which the
// message printed around it already says in words.
func trimPrefix(err error) string {
	return strings.TrimPrefix(err.Error(), gamestate.ErrReplayIncomplete.Error()+": ")
}
