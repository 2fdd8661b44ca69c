package main

import (
	"errors"
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
It re-simulates a recorded match from the file alone, with nothing but the
roster its header names: every decided entry's commit certificate (a
quorum of signed Confirms naming its slot and value) is checked, slots must
follow one another (a dropped entry is a gap, reported by slot), every
signature and recorded state hash is checked, and every verdict is
re-derived and its evidence re-checked. A peer that caught up recorded the
certified checkpoint it installed, and verification resumes from it; one
that restarted recorded a resume marker and verification starts over. The
recorder's signed end record names every record before it by count and
hash chain, so dropping or altering any record is found. A replay whose
entries are all certified and that has a valid end record is a proof: its
invalid-move and state-divergence verdicts follow from what the match
decided, not from what the recorder says. Verdicts are summarised per
(seat, kind); -v lists every one.

A replay without the end record (cut short, or the recording peer died)
is incomplete: what it holds is checked, but it fails with exit status 3
unless --allow-partial is given.

Exit status: 0 the replay verifies and is complete (or --allow-partial);
1 it does not verify (a certificate, signature, hash or verdict fails, an
entry is missing or altered, a record was dropped); 2 bad arguments or an
unreadable or old-format file; 3 it verifies as far as it goes but is
incomplete.
`

// exitIncomplete is replay verify's exit status for an incomplete replay:
// distinct from 1 so scripts tell "cut short" from "forged".
const exitIncomplete = 3

// exitError carries an exit status other than 1 to run.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// ExitCode is the status run returns for it.
func (e *exitError) ExitCode() int { return e.code }

// runReplay is `paxsync replay verify [-v] [--allow-partial] FILE`: it
// re-simulates a recorded match, checks every certificate, recorded state
// hash and signature, and prints the verdicts. Exit status 1 means the
// replay is invalid, 3 incomplete (see replayHelp).
func runReplay(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "print every verdict with its detail (default: one line per seat and kind)")
	partial := fs.Bool("allow-partial", false, "accept a replay without its end record (cut short, torn, or no tick at all) with a warning")
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
	if errors.Is(err, gamestate.ErrReplayOldFormat) {
		return usagef("%s: %v", path, err)
	}
	if err != nil {
		if rep != nil {
			fmt.Fprintf(stdout, "replay invalid after %d ticks, slot %d (byte %d)\n", rep.Ticks, rep.LastSlot, rep.End)
		}
		return fmt.Errorf("%s does not verify: %w", path, err)
	}
	fmt.Fprintf(stdout, "match %q (%s), %d players\n", rep.Header.Name, rep.MatchID, len(rep.Header.Roster))
	fmt.Fprintf(stdout, "ticks: %d in %d batches; state hashes checked: %d; final state hash %s\n",
		rep.Ticks, rep.Batches, rep.HashesChecked, rep.FinalHash.Hex())
	printCertified(stdout, rep)
	printVerdicts(stdout, rep.Verdicts, *verbose)
	if err := rep.Incomplete(); err != nil {
		if !*partial {
			return &exitError{exitIncomplete, fmt.Errorf("%s is incomplete: %s (--allow-partial accepts it)", path, trimPrefix(err))}
		}
		fmt.Fprintf(stderr, "warning: %s is incomplete: %s\n", path, trimPrefix(err))
	}
	return nil
}

// printCertified says what the file proves on its own.
func printCertified(w io.Writer, rep *gamestate.Report) {
	q := rep.Header.CertQuorum()
	fmt.Fprintf(w, "certified: %d entries to slot %d, each with a commit certificate of %d Confirms", rep.Entries, rep.LastSlot, q)
	if rep.Checkpoints > 0 {
		fmt.Fprintf(w, "; %d checkpoints (certified by %d signed Checkpoints each; %d slots before them covered by their snapshots, not re-derived)", rep.Checkpoints, q, rep.Skipped)
	}
	if rep.Resumes > 0 {
		fmt.Fprintf(w, "; the recorder restarted %d times", rep.Resumes)
	}
	fmt.Fprintln(w)
	if rep.Uncertified > 0 {
		fmt.Fprintf(w, "uncertified: %d batches (broadcast mode: nothing was agreed, signatures checked only)\n", rep.Uncertified)
	}
	if rep.Ended {
		fmt.Fprintf(w, "end record: signed by seat %d, names every record before it\n", rep.EndSeat)
	}
	if rep.Result != nil {
		fmt.Fprintf(w, "result certificate: slot %d, %d ticks applied, signed by seats %v (paxsync result extract takes it out)\n",
			rep.Result.Slot, rep.Result.NextTick, rep.Result.Signers)
	}
	if rep.Proves() {
		fmt.Fprintln(w, "proof: every verdict below (invalid-move and state-divergence included) is proved by this file alone")
	}
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
