package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/paxsync/paxsync/internal/cli"
	"github.com/paxsync/paxsync/internal/match"
)

// matchHelp says what the numbers of a scenario mean, since the report's
// "decided" column is routinely a little above the scenario's ticks.
const matchHelp = `
The scenario format is in docs/MATCH.md. A scenario's "ticks" N is when a
peer is done: it reports done once it has applied ticks 0..N-1. Peers keep
playing until every peer is done (the runner then stops them all), so the
report's "decided" column and final hash are taken a few ticks past N, by
as much as the slowest peer lagged; "min_decided_ticks" is checked against
the decided count. Compare peers by their checkpoint hashes (honest_agree).

Exit status: 0 every expectation held, 1 one did not (named), 2 bad
scenario or flags (the field is named).
`

// runMatch is `paxsync match --scenario FILE [--json] [--out DIR]`. It also
// dispatches `paxsync match play`, the hidden per-peer helper the runner
// spawns (the helper lives under match so the command table keeps one
// entry per user-facing command).
func runMatch(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "play" {
		return runPlay(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("match", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenario := fs.String("scenario", "", "scenario file (JSON; see docs/MATCH.md)")
	asJSON := fs.Bool("json", false, "print the report as one JSON object on stdout (the table goes to stderr)")
	out := fs.String("out", "", "keep keys, every peer's log, replay and report in this directory")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: paxsync match --scenario FILE [--json] [--out DIR]")
		fs.PrintDefaults()
		fmt.Fprint(stderr, matchHelp)
	}
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	if *scenario == "" || fs.NArg() != 0 {
		return usagef("--scenario FILE is required and no other arguments are allowed")
	}
	sc, err := match.Load(*scenario)
	if err != nil {
		if errors.Is(err, match.ErrScenario) {
			return &cli.UsageError{Err: err}
		}
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	rep, err := match.Run(sc, match.Options{Exe: exe, Args: []string{"match", "play"}, OutDir: *out, Progress: stderr})
	if err != nil {
		return err
	}
	if *asJSON {
		rep.PrintTable(stderr)
		if err := rep.PrintJSON(stdout); err != nil {
			return err
		}
	} else {
		rep.PrintTable(stdout)
	}
	if !rep.ExpectOK {
		return fmt.Errorf("scenario %s: %d expectation(s) failed: %s", sc.Name, len(rep.Failed), rep.Failed[0])
	}
	return nil
}
