package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/roster"
)

const resultUsage = `usage: paxsync result verify [-v] --roster ROSTER [--match-id ID] FILE
       paxsync result extract [-o OUT] REPLAY`

const resultHelp = `
verify checks a match-result certificate (written by a peer: the match
runner's result-<seat>.cert, Session.ResultCertificate, or extract below)
against the roster file, with no replay and no game: exactly a Byzantine
quorum of the roster's seats must have signed the checkpoint it holds, the
snapshot must be the one they signed, and the match name must be the
roster's. The roster file names no match instance: a rematch of the same
name and roster signs with another match ID, which --match-id pins (the ID
is printed on the first line). It prints the result: the tick, the game state's digest, who is
flagged a proven cheater, every verdict and the signers.

extract takes the result certificate a replay ends with (the recorder's
stable checkpoint when it closed) and writes it to OUT (default: REPLAY
with .cert appended). It does not check it: run verify on OUT.

Exit status: 0 the certificate verifies (extract: written); 1 it does not
verify; 2 bad arguments or an unreadable file.
`

// runResult is `paxsync result verify|extract`.
func runResult(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("result", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rosterPath := fs.String("roster", "", "verify: the match's roster file (required)")
	out := fs.String("o", "", "extract: the certificate file to write (default: REPLAY.cert)")
	verbose := fs.Bool("v", false, "verify: list every verdict (default: one line per seat and kind)")
	matchID := fs.String("match-id", "", "verify: also require this match ID (the 64 hex digits printed; tells a rematch of the same name and roster apart)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, resultUsage)
		fs.PrintDefaults()
		fmt.Fprint(stderr, resultHelp)
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fs.Usage()
		return flag.ErrHelp
	}
	if len(args) == 0 || (args[0] != "verify" && args[0] != "extract") {
		return usagef("%s", resultUsage)
	}
	sub := args[0]
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
		return usagef("want exactly one file, got %d\n%s", len(files), resultUsage)
	}
	if sub == "extract" {
		return extractResult(files[0], *out, stdout)
	}
	if *rosterPath == "" {
		return usagef("verify needs --roster ROSTER")
	}
	r, err := roster.Load(*rosterPath)
	if err != nil {
		return usagef("%v", err)
	}
	data, err := readCertFile(files[0])
	if err != nil {
		return err
	}
	c, err := gamestate.DecodeResultCertificate(data)
	if err != nil {
		return fmt.Errorf("%s does not verify: %w", files[0], err)
	}
	res, err := c.Verify(r.Match, r.Keys)
	if id := crypto.Digest(c.MatchID()).Hex(); err == nil && *matchID != "" && id != strings.ToLower(*matchID) {
		err = fmt.Errorf("%w: it is of match instance %s, not %s", gamestate.ErrResultInvalid, id, *matchID)
	}
	if err != nil {
		return fmt.Errorf("%s does not verify: %w", files[0], err)
	}
	printResult(stdout, c, res, *verbose)
	return nil
}

// readCertFile reads a certificate file, at most one byte more than the
// largest certificate the decoder accepts: a huge file (or /dev/zero)
// costs no more memory than a valid one, and is refused as too large (it
// cannot be a certificate, so it does not verify).
func readCertFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("%v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(gamestate.MaxResultCertificateSize)+1))
	if err != nil {
		return nil, usagef("%v", err)
	}
	if len(data) > gamestate.MaxResultCertificateSize {
		return nil, fmt.Errorf("%s does not verify: %w: the file is larger than %d bytes, the largest certificate there is",
			path, gamestate.ErrResultInvalid, gamestate.MaxResultCertificateSize)
	}
	return data, nil
}

// printResult says what a verified certificate proves.
func printResult(w io.Writer, c *gamestate.ResultCertificate, res *gamestate.MatchResult, verbose bool) {
	fmt.Fprintf(w, "result verified: match %q, %d players, match ID %s\n", c.Name, len(c.Roster), crypto.Digest(c.MatchID()).Hex())
	fmt.Fprintf(w, "checkpoint: slot %d, %d ticks applied (0..next-1); signed by seats %v (quorum %d)\n",
		res.Slot, res.NextTick, res.Signers, gamestate.ResultQuorum(len(c.Roster)))
	fmt.Fprintf(w, "game state digest: %s\n", res.StateDigest.Hex())
	if res.LastHashTick > 0 || res.LastHash != ([32]byte{}) {
		fmt.Fprintf(w, "last compared state hash: tick %d %s\n", res.LastHashTick, res.LastHash.Hex())
	}
	flagged := 0
	for seat, f := range res.Flags {
		if f.Flagged {
			flagged++
			fmt.Fprintf(w, "flagged: seat %d, %s at tick %d\n", seat, f.Kind, f.Tick)
		}
	}
	if flagged == 0 {
		fmt.Fprintln(w, "flagged: none")
	}
	fmt.Fprintf(w, "verdicts: %d\n", len(res.Verdicts))
	type key struct {
		kind gamestate.VerdictKind
		seat int
	}
	var order []key
	sums := map[key][]uint64{}
	for _, v := range res.Verdicts {
		if verbose {
			fmt.Fprintf(w, "  %s against seat %d at tick %d\n", v.Kind, v.Offender, v.Tick)
			continue
		}
		k := key{v.Kind, v.Offender}
		if _, ok := sums[k]; !ok {
			order = append(order, k)
		}
		sums[k] = append(sums[k], v.Tick)
	}
	for _, k := range order {
		ts := sums[k]
		fmt.Fprintf(w, "  %s against seat %d: %d, ticks %d..%d\n", k.kind, k.seat, len(ts), slices.Min(ts), slices.Max(ts))
	}
	for _, v := range res.Consensus {
		fmt.Fprintf(w, "  consensus: %s against seat %d\n", bft.EvidenceKind(v.Kind), v.Offender)
	}
}

// extractResult writes the result certificate a replay ends with.
func extractResult(path, out string, stdout io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return usagef("%v", err)
	}
	defer f.Close()
	rr, err := gamestate.NewReplayReader(f)
	if err != nil {
		return usagef("%s: %v", path, err)
	}
	var found *gamestate.ResultCertificate
	for {
		rec, err := rr.Next()
		if err == io.EOF || errors.Is(err, gamestate.ErrReplayTruncated) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		switch rec.Kind {
		case "result":
			found = rec.Result
		case "resume":
			found = nil // the recorder restarted: an earlier result is not its last
		}
	}
	if found == nil {
		return fmt.Errorf("%s holds no result certificate (the recorder closed before its first stable checkpoint, ran crash or broadcast consensus, or was cut short)", path)
	}
	if out == "" {
		out = path + ".cert"
	}
	if err := os.WriteFile(out, found.Encode(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes); check it with: paxsync result verify --roster ROSTER %s\n", out, len(found.Encode()), out)
	return nil
}
