package gamestate_test

import (
	"bytes"
	"testing"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/wire"
)

// confirmBy is seat's signed Confirm of (view, slot, d) (bft/msgs.go's
// vote body).
func confirmBy(m *match, seat int, view, slot uint64, d crypto.Digest) crypto.Envelope {
	v := wire.NewWriter(nil)
	v.Uvarint(view)
	v.Uvarint(1)
	v.Uvarint(slot)
	v.Bytes32(d)
	return m.signers[seat].Sign(wire.TypeConfirm, v.Bytes())
}

// decided is what bft decides at slot for batch b with evidence evs: the
// value (payload and evidence) and seats 0, 1 and 3's Confirms of it.
func decided(m *match, slot uint64, b *gamestate.Batch, evs []bft.Evidence) ([]byte, []crypto.Envelope) {
	w := wire.NewWriter(nil)
	w.Blob(b.Encode())
	w.Uvarint(uint64(len(evs)))
	for i := range evs {
		w.Blob(bft.EncodeEvidence(&evs[i]))
	}
	value := w.Bytes()
	var cert []crypto.Envelope
	for _, seat := range []int{0, 1, 3} {
		cert = append(cert, confirmBy(m, seat, 0, slot, crypto.Sum(value)))
	}
	return value, cert
}

// TestCertifiedReplayDerivesConsensusVerdicts: a consensus verdict (seat
// 2 signed two Confirms for one slot) is ordered with the value of slot 10.
// The replay holds it three ways: as recorded (a consensus record before
// the entry), with that record dropped, and with a consensus record added
// that the log never ordered. The verifier derives consensus verdicts from
// the certified values, as every peer does: the first two give exactly
// the one verdict against seat 2, the third is refused. Before, the
// verifier took the recorder's word: a recorder that dropped the record
// re-simulated a state without the verdict, so every honest seat's later
// signed state hash looked like a lie (state-divergence against seats 0,
// 1 and 3: honest players framed by a "verified" replay).
func TestCertifiedReplayDerivesConsensusVerdicts(t *testing.T) {
	m := newMatch(t, 4, 30, nil)
	var files [3]bytes.Buffer
	var rws [3]*gamestate.ReplayWriter
	for i := range rws {
		rw, err := gamestate.NewReplayWriter(&files[i], m.header)
		if err != nil {
			t.Fatal(err)
		}
		rws[i] = rw
	}
	const dropped, added = 1, 2
	signed := 0 // state hashes the batches carry
	ev := bft.Evidence{Kind: bft.VoteEquivocation, Offender: 2,
		A: confirmBy(m, 2, 0, 9, crypto.Sum([]byte("A"))), B: confirmBy(m, 2, 0, 9, crypto.Sum([]byte("B")))}
	for s := uint64(1); s <= 100; s++ {
		var evs []bft.Evidence
		if s == 10 {
			evs = []bft.Evidence{ev}
		}
		// A peer records what the slot's evidence proves, then applies
		// its batch (internal/lockstep/apply.go).
		derived := m.ref.RecordOrdered(s, evs)
		if s == 10 && len(derived) != 1 {
			t.Fatalf("slot 10 ordered %d verdicts, want 1", len(derived))
		}
		m.verdicts = append(m.verdicts, derived...)
		b := m.step()
		signed += len(b.Hashes)
		value, cert := decided(m, s, b, evs)
		for i, rw := range rws {
			claims := derived
			switch {
			case i == dropped:
				claims = nil
			case i == added && s == 40:
				// seat 1's two Confirms are genuine signatures (this test
				// holds its key), but no entry ordered them.
				a, b := confirmBy(m, 1, 0, 30, crypto.Sum([]byte("A"))), confirmBy(m, 1, 0, 30, crypto.Sum([]byte("B")))
				claims = []gamestate.Verdict{{Kind: gamestate.VoteEquivocation, Offender: 1, Tick: m.ref.Next() - 2,
					Evidence: [][]byte{a.Encode(nil), b.Encode(nil)}, Detail: "seat 1: vote-equivocation at slot 40"}}
			}
			for j := range claims {
				if err := rw.WriteConsensus(&claims[j]); err != nil {
					t.Fatal(err)
				}
			}
			if err := rw.WriteEntry(s, 0, value, cert); err != nil {
				t.Fatal(err)
			}
		}
	}
	if signed == 0 {
		t.Fatal("no state hash was signed: the test would not show framing")
	}
	for i, rw := range rws {
		if err := rw.WriteEnd(m.signers[0], m.ref.Next()); err != nil {
			t.Fatal(err)
		}
		rep, err := gamestate.VerifyReplay(bytes.NewReader(files[i].Bytes()), arena.NewGame)
		if i == added {
			if err == nil {
				t.Fatalf("a consensus record the log never ordered was accepted: verdicts %v", rep.Verdicts)
			}
			t.Logf("added record: %v", err)
			continue
		}
		if err != nil {
			t.Fatalf("replay %d: %v", i, err)
		}
		if len(rep.Verdicts) != 1 || rep.Verdicts[0].Kind != gamestate.VoteEquivocation || rep.Verdicts[0].Offender != 2 {
			for _, v := range rep.Verdicts {
				t.Errorf("replay %d: %s against seat %d at tick %d", i, v.Kind, v.Offender, v.Tick)
			}
			t.Fatalf("replay %d: want exactly the vote-equivocation against seat 2", i)
		}
		if rep.FinalHash != m.ref.Hash() || rep.Ticks != m.ref.Next() || !rep.Proves() {
			t.Fatalf("replay %d: final hash %s at %d (reference %s at %d), proves %v", i, rep.FinalHash, rep.Ticks, m.ref.Hash(), m.ref.Next(), rep.Proves())
		}
	}
}

// honestCertified plays slots certified slots with no evidence and returns
// the match and each slot's value and commit certificate.
func honestCertified(t *testing.T, slots int) (*match, [][]byte, [][]crypto.Envelope, []*gamestate.Batch) {
	m := newMatch(t, 4, 30, nil)
	var values [][]byte
	var certs [][]crypto.Envelope
	var batches []*gamestate.Batch
	for s := uint64(1); s <= uint64(slots); s++ {
		b := m.step()
		value, cert := decided(m, s, b, nil)
		values, certs, batches = append(values, value), append(certs, cert), append(batches, b)
	}
	return m, values, certs, batches
}

// TestConsensusRecordBeforeTheFirstEntryIsAClaim: a recorder needs no key
// to make "evidence" that passes Verdict.Verify: two of an honest seat's
// ordinary signed inputs (same type, different bodies). Written before the
// first entry of an honest match, where the verifier used to believe a
// consensus record (nothing certified had been seen yet), it flagged seat
// 0 at tick 0, its inputs were then dropped, and every seat's signed state
// hash read as a lie in a replay that proved. It is a claim like any other
// now, and the entry after it orders nothing.
func TestConsensusRecordBeforeTheFirstEntryIsAClaim(t *testing.T) {
	m, values, certs, batches := honestCertified(t, 100)
	var ev [][]byte
	for _, b := range batches {
		for _, tk := range b.Ticks {
			if e := tk.Seats[0]; e != nil && e.Type == wire.TypeInput && len(ev) < 2 {
				ev = append(ev, e.Encode(nil))
			}
		}
	}
	var file bytes.Buffer
	rw, err := gamestate.NewReplayWriter(&file, m.header)
	if err != nil {
		t.Fatal(err)
	}
	fake := gamestate.Verdict{Kind: gamestate.VoteEquivocation, Offender: 0, Evidence: ev, Detail: "seat 0: vote-equivocation at slot 1"}
	if err := rw.WriteConsensus(&fake); err != nil {
		t.Fatal(err)
	}
	for i := range values {
		if err := rw.WriteEntry(uint64(i+1), 0, values[i], certs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := rw.WriteEnd(m.signers[3], m.ref.Next()); err != nil {
		t.Fatal(err)
	}
	rep, err := gamestate.VerifyReplay(bytes.NewReader(file.Bytes()), arena.NewGame)
	if err == nil {
		t.Fatalf("a consensus claim no entry orders was believed: %d verdicts, proves %v", len(rep.Verdicts), rep.Proves())
	}
	t.Logf("refused: %v", err)
}

// TestCheckpointReportsTheVerdictsItSkips: seat 2's vote equivocation is
// ordered at slot 10. Its recorder writes the certified checkpoint of
// slot 30 in place of entries 1..30, then the rest: the replay verifies
// and proves, and must still show the verdict, as the checkpoint's
// snapshot holds it. Before, it showed none.
func TestCheckpointReportsTheVerdictsItSkips(t *testing.T) {
	m := newMatch(t, 4, 30, nil)
	ev := bft.Evidence{Kind: bft.VoteEquivocation, Offender: 2,
		A: confirmBy(m, 2, 0, 9, crypto.Sum([]byte("A"))), B: confirmBy(m, 2, 0, 9, crypto.Sum([]byte("B")))}
	var file bytes.Buffer
	rw, err := gamestate.NewReplayWriter(&file, m.header)
	if err != nil {
		t.Fatal(err)
	}
	for s := uint64(1); s <= 60; s++ {
		var evs []bft.Evidence
		if s == 10 {
			evs = []bft.Evidence{ev}
		}
		m.ref.RecordOrdered(s, evs)
		b := m.step()
		if s == 30 {
			snap := m.ref.Snapshot()
			w := wire.NewWriter(nil)
			w.Uvarint(30)
			w.Bytes32(crypto.Sum(snap))
			w.Uvarint(0)
			body := w.Bytes()
			var cert []crypto.Envelope
			for _, seat := range []int{0, 1, 3} {
				cert = append(cert, m.signers[seat].Sign(wire.TypeCheckpoint, body))
			}
			if err := rw.WriteCheckpoint(body, cert, snap); err != nil {
				t.Fatal(err)
			}
		}
		if s <= 30 {
			continue
		}
		value, cert := decided(m, s, b, nil)
		if err := rw.WriteEntry(s, 0, value, cert); err != nil {
			t.Fatal(err)
		}
	}
	if err := rw.WriteEnd(m.signers[2], m.ref.Next()); err != nil {
		t.Fatal(err)
	}
	rep, err := gamestate.VerifyReplay(bytes.NewReader(file.Bytes()), arena.NewGame)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Proves() || rep.Skipped != 30 || rep.FinalHash != m.ref.Hash() {
		t.Fatalf("proves %v, skipped %d, hash %s (reference %s)", rep.Proves(), rep.Skipped, rep.FinalHash, m.ref.Hash())
	}
	if len(rep.Verdicts) != 1 || rep.Verdicts[0].Kind != gamestate.VoteEquivocation || rep.Verdicts[0].Offender != 2 {
		t.Fatalf("verdicts %v, want the vote-equivocation against seat 2 the checkpoint holds", rep.Verdicts)
	}
}
