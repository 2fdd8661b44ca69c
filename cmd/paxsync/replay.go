package main

import (
	"fmt"
	"os"

	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
)

// runReplay is `paxsync replay verify FILE`: it re-simulates a recorded
// match, checks every recorded state hash and signature, and prints the
// verdicts with their evidence. Exit status 1 means the replay is invalid.
func runReplay(args []string) error {
	if len(args) != 2 || args[0] != "verify" {
		return fmt.Errorf("%w: usage: paxsync replay verify FILE", errUsage)
	}
	f, err := os.Open(args[1])
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := gamestate.VerifyReplay(f, arena.NewGame)
	if err != nil {
		if rep != nil {
			fmt.Printf("replay invalid after %d ticks\n", rep.Ticks)
		}
		return fmt.Errorf("replay %s does not verify: %w", args[1], err)
	}
	fmt.Printf("match %q (%s), %d players\n", rep.Header.Name, rep.MatchID, len(rep.Header.Roster))
	fmt.Printf("ticks: %d in %d batches; state hashes checked: %d; final state hash %s\n",
		rep.Ticks, rep.Batches, rep.HashesChecked, rep.FinalHash.Hex())
	if rep.Truncated {
		fmt.Println("warning: the file ends mid-record (the recording peer stopped abruptly); verified up to the last whole record")
	}
	if len(rep.Verdicts) == 0 {
		fmt.Println("verdicts: none")
	}
	for _, v := range rep.Verdicts {
		fmt.Printf("verdict: %s against seat %d at tick %d: %s (%d signed messages of evidence)\n",
			v.Kind, v.Offender, v.Tick, v.Detail, len(v.Evidence))
	}
	return nil
}
