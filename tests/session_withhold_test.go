package tests

import (
	"bytes"
	"testing"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/internal/adversary"
)

// TestSessionSealedWithholdReveal: seat 0, the leader of the first view,
// plays withhold-reveal from tick 15: it commits every input and never
// reveals one. The other seats' key shares open its commitments anyway
// (docs/PROTOCOL.md, "Sealed mode: no free abort"), so the abort gains nothing: every honest peer
// applies the cheater's committed inputs (the same ones on every peer),
// records withheld-reveal against it with evidence that verifies offline,
// flags nobody (a withheld reveal is a report, not a proof), reports no
// honest seat, and the recorded replay re-derives the reports. On the old
// code the cheater's seat simply got "no input" from tick 15 on, with no
// report at all.
func TestSessionSealedWithholdReveal(t *testing.T) {
	const ticks, seed, cheater, from = 60, 41, 0, 15
	epoch := time.Now().Add(time.Second)
	var rec bytes.Buffer
	var roster []crypto.PublicKey
	var match crypto.MatchID
	sess, runs := playBotsCheats(t, "withhold-test", 90*time.Second, ticks, seed, true, overMemnet, func(seat int, c *paxsync.Config) {
		sealedConfig(c, epoch)
		roster, match = c.Roster, crypto.NewMatchInstanceID(c.MatchName, c.Roster, c.Epoch)
		if seat == 1 {
			c.Record = &rec
		}
	}, map[int]*adversary.Cheat{cheater: {Kind: adversary.WithholdReveal, FromTick: from}})
	verifier := crypto.NewVerifier(match, roster)
	opened := map[uint64][]byte{} // the cheater's applied input per tick, as the first honest peer saw it
	for i, r := range runs {
		if i == cheater {
			continue
		}
		reports := 0
		for _, v := range sess[i].Verdicts() {
			if v.Offender != cheater {
				t.Errorf("seat %d: %s against honest seat %d: %s", i, v.Kind, v.Offender, v.Detail)
				continue
			}
			if v.Kind != gamestate.WithheldReveal {
				t.Errorf("seat %d: unexpected %s against the cheater", i, v.Kind)
				continue
			}
			if v.Tick < from {
				t.Errorf("seat %d: withheld-reveal at tick %d, before the cheat started at %d", i, v.Tick, from)
			}
			if err := v.Verify(verifier); err != nil {
				t.Errorf("seat %d: withheld-reveal evidence does not verify offline: %v", i, err)
			}
			reports++
		}
		if reports == 0 {
			t.Fatalf("seat %d never reported the withheld reveals: %v", i, sess[i].Verdicts())
		}
		for seat, f := range sess[i].Flags() {
			if f.Flagged {
				t.Errorf("seat %d: seat %d flagged (%s); a withheld reveal flags nobody", i, seat, f.Kind)
			}
		}
		// The opened inputs are applied: the cheater's seat is not empty.
		present, total := 0, 0
		for _, te := range r.ticks {
			if te.Tick < from+5 {
				continue
			}
			total++
			in := te.Inputs[cheater]
			if in.Present {
				present++
			}
			if prev, ok := opened[te.Tick]; ok && !bytes.Equal(prev, in.Data) {
				t.Errorf("seat %d: cheater's input at tick %d is %x, another peer applied %x", i, te.Tick, in.Data, prev)
			} else if !ok && in.Present {
				opened[te.Tick] = in.Data
			}
		}
		if total == 0 || present*100 < total*sealedPresent(80) {
			t.Errorf("seat %d: the withholding seat's input was applied at %d of %d ticks", i, present, total)
		}
		if p, n := presentAfter(r.ticks, from+5, cheater); n == 0 || p*100 < n*sealedPresent(80) {
			t.Errorf("seat %d: %d of %d honest inputs present during the cheat", i, p, n)
		}
	}
	for _, s := range sess {
		s.Close()
	}
	rep := verifyRecorded(t, &rec, ticks)
	found := false
	for _, v := range rep.Verdicts {
		found = found || (v.Kind == gamestate.WithheldReveal && v.Offender == cheater)
	}
	if !found {
		t.Errorf("replay does not re-derive withheld-reveal against seat %d: %v", cheater, rep.Verdicts)
	}
}
