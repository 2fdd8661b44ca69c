package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/paxsync/paxsync/match"
)

// runMatch is `paxsync match --scenario FILE [--json] [--out DIR]`. It also
// dispatches `paxsync match play`, the hidden per-peer helper the runner
// spawns (the helper lives under match so the command table keeps one
// entry per user-facing command).
func runMatch(args []string) error {
	if len(args) > 0 && args[0] == "play" {
		return runPlay(args[1:])
	}
	fs := flag.NewFlagSet("match", flag.ContinueOnError)
	scenario := fs.String("scenario", "", "scenario file (JSON; see docs/MATCH.md)")
	asJSON := fs.Bool("json", false, "print the report as one JSON object on stdout (the table goes to stderr)")
	out := fs.String("out", "", "keep keys, every peer's log, replay and report in this directory")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: paxsync match --scenario FILE [--json] [--out DIR]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *scenario == "" || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("%w: --scenario FILE is required and no other arguments are allowed", errUsage)
	}
	sc, err := match.Load(*scenario)
	if err != nil {
		if errors.Is(err, match.ErrScenario) {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	rep, err := match.Run(sc, match.Options{Exe: exe, Args: []string{"match", "play"}, OutDir: *out, Progress: os.Stderr})
	if err != nil {
		return err
	}
	if *asJSON {
		rep.PrintTable(os.Stderr)
		if err := rep.PrintJSON(os.Stdout); err != nil {
			return err
		}
	} else {
		rep.PrintTable(os.Stdout)
	}
	if !rep.ExpectOK {
		return fmt.Errorf("scenario %s: %d expectation(s) failed: %s", sc.Name, len(rep.Failed), rep.Failed[0])
	}
	return nil
}
