package tests

import (
	"bytes"
	"testing"

	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/internal/adversary"
)

// TestResultCertificateProvesTheCheater: in a real 4-seat session match
// where seat 3 speed-hacks from tick 30, every honest peer's result
// certificate verifies against the roster with no replay, flags seat 3
// (and only seat 3) for its invalid move, and two honest peers'
// certificates of one checkpoint prove one result. Each honest peer's
// replay ends with its certificate, checked by VerifyReplay.
func TestResultCertificateProvesTheCheater(t *testing.T) {
	if testing.Short() {
		t.Skip("session test")
	}
	o := matchOpts{peers: 4, ticks: 240, rate: 60, seed: 5, net: overMemnet}
	o.cheat = map[int]*adversary.Cheat{3: {Kind: adversary.InvalidMove, FromTick: 30, Mutate: func(in []byte) []byte {
		c, err := arena.DecodeInput(in)
		if err != nil {
			return in
		}
		return arena.SpeedHackInput(c)
	}}}
	peers := runSessionMatch(t, o)
	bySlot := map[uint64]*gamestate.MatchResult{}
	for i := 0; i < 3; i++ {
		c, err := peers[i].s.ResultCertificate()
		if err != nil {
			t.Fatalf("honest seat %d: %v", i, err)
		}
		dec, err := gamestate.DecodeResultCertificate(c.Encode())
		if err != nil {
			t.Fatal(err)
		}
		res, err := dec.Verify("session-test", c.Roster)
		if err != nil {
			t.Fatalf("honest seat %d's certificate: %v", i, err)
		}
		if res.NextTick <= 40 {
			t.Fatalf("seat %d: result at tick %d, before the cheat could be judged (slot %d)", i, res.NextTick, res.Slot)
		}
		for seat, f := range res.Flags {
			if want := seat == 3; f.Flagged != want || (want && f.Kind != gamestate.InvalidMove) {
				t.Fatalf("seat %d's result flags %+v, want only seat 3 for invalid-move", i, res.Flags)
			}
		}
		if prev, ok := bySlot[res.Slot]; ok && (prev.StateDigest != res.StateDigest || prev.NextTick != res.NextTick) {
			t.Fatalf("two honest results of slot %d differ", res.Slot)
		}
		bySlot[res.Slot] = res

		rep, err := gamestate.VerifyReplay(bytes.NewReader(peers[i].rec.Bytes()), arena.NewGame)
		if err != nil {
			t.Fatalf("seat %d's replay: %v", i, err)
		}
		if rep.Result == nil || rep.Result.Slot != res.Slot || rep.Result.StateDigest != res.StateDigest {
			t.Fatalf("seat %d's replay ends with result %+v, its session's is %+v", i, rep.Result, res)
		}
	}
}
