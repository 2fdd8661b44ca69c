package gamestate

import (
	"bytes"
	"errors"
	"testing"

	"github.com/paxsync/paxsync/crypto"
)

func TestEngineAppliesInputsAndExplicitNoInput(t *testing.T) {
	f := newFixture(t, 3)
	e, g := f.engine(Config{})
	t0 := f.fullTick(0, 1)
	t0.Seats[1] = nil // agreed no input
	res := mustApply(t, f, e, &Batch{First: 0, Ticks: []TickInputs{t0, f.fullTick(1, 2)}})
	if len(res.Verdicts) != 0 || len(res.Ticks) != 2 || e.Next() != 2 {
		t.Fatalf("res %+v next %d", res, e.Next())
	}
	if g.seen[0][1].Present || !g.seen[0][0].Present || !bytes.Equal(g.seen[1][2].Data, []byte{2}) {
		t.Fatalf("inputs given to the game: %+v", g.seen)
	}
	if g.totals[0] != 3 || g.totals[1] != 2 || g.totals[2] != 3 {
		t.Fatalf("totals %v", g.totals)
	}
	if !res.Ticks[0].Checkpoint || res.Ticks[1].Checkpoint || res.Ticks[0].Hash.IsZero() {
		t.Fatalf("tick 0 is a checkpoint (interval 30), tick 1 is not: %+v", res.Ticks)
	}
}

func TestEngineRejectsNonContiguousBatch(t *testing.T) {
	f := newFixture(t, 2)
	e, g := f.engine(Config{})
	mustApply(t, f, e, &Batch{First: 0, Ticks: []TickInputs{f.fullTick(0, 1)}})
	for _, first := range []uint64{0, 2} { // re-applying a tick, skipping a tick
		_, err := e.Apply(&Batch{First: first, Ticks: []TickInputs{f.fullTick(first, 1)}})
		wantErr(t, err, ErrNotContiguous)
	}
	if len(g.seen) != 1 {
		t.Fatalf("a refused batch changed the game: %d ticks", len(g.seen))
	}
}

func TestForgedInputVerdict(t *testing.T) {
	f := newFixture(t, 3)
	e, g := f.engine(Config{})
	forged := f.inputBy(2, 0, 0, []byte{9}) // seat 2 signs an input for seat 0
	b := &Batch{First: 0, Ticks: []TickInputs{f.fullTick(0, 1)},
		Evidence: []Evidence{{Kind: ForgedInput, Envelopes: []crypto.Envelope{*forged}}}}
	res := mustApply(t, f, e, b)
	v := onlyVerdict(t, res, ForgedInput, 2, 0)
	if err := v.Verify(f.ver); err != nil {
		t.Fatalf("forged-input verdict does not verify: %v", err)
	}
	if g.totals[0] != 1 {
		t.Fatalf("the victim's genuine input must stand, forged one have no effect: %v", g.totals)
	}
	// The forged input may not occupy the victim's slot.
	bad := &Batch{First: 1, Ticks: []TickInputs{f.fullTick(1, 1)}}
	bad.Ticks[0].Seats[0] = f.inputBy(2, 0, 1, []byte{9})
	wantErr(t, ValidateBatch(bad, f.ver, e.Config().Rules()), ErrInvalidBatch)
	// Its own input is not evidence of forgery; nor is a framed offender.
	_, _, err := CheckEvidence(f.ver, ForgedInput, []crypto.Envelope{*f.input(1, 0, 1)})
	wantErr(t, err, ErrBadEvidence)
	v.Offender = 0
	wantErr(t, v.Verify(f.ver), ErrBadEvidence)
}

func TestInputEquivocationVerdict(t *testing.T) {
	f := newFixture(t, 2)
	e, _ := f.engine(Config{})
	a, b := f.input(1, 0, 3), f.input(1, 0, 4)
	res := mustApply(t, f, e, &Batch{First: 0, Ticks: []TickInputs{f.fullTick(0, 1)},
		Evidence: []Evidence{{Kind: InputEquivocation, Envelopes: []crypto.Envelope{*a, *b}}}})
	v := onlyVerdict(t, res, InputEquivocation, 1, 0)
	if err := v.Verify(f.ver); err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][]crypto.Envelope{
		"identical":     {*a, *a},
		"other tick":    {*a, *f.input(1, 1, 4)},
		"other signers": {*a, *f.input(0, 0, 4)},
	} {
		if _, _, err := CheckEvidence(f.ver, InputEquivocation, pair); !errors.Is(err, ErrBadEvidence) {
			t.Errorf("%s: want ErrBadEvidence, got %v", name, err)
		}
	}
	tampered := *b
	tampered.Body = (&Input{Seat: 1, Tick: 0, Data: []byte{5}}).Encode()
	_, _, err := CheckEvidence(f.ver, InputEquivocation, []crypto.Envelope{*a, tampered})
	wantErr(t, err, ErrBadEvidence)
}

func TestInvalidMoveVerdictAndDefaultPolicy(t *testing.T) {
	f := newFixture(t, 2)
	e, g := f.engine(Config{})
	res := mustApply(t, f, e, &Batch{First: 0, Ticks: []TickInputs{{Seats: []*crypto.Envelope{f.input(0, 0, 1), f.input(1, 0, 50)}}}})
	v := onlyVerdict(t, res, InvalidMove, 1, 0)
	if v.Violation != ViolationSpeed {
		t.Fatalf("violation %s, want speed", v.Violation)
	}
	wantErr(t, v.Verify(f.ver), ErrNeedsReplay)
	if g.seen[0][1].Present || g.totals[1] != 0 {
		t.Fatal("the invalid input reached the game")
	}
	if fl := e.Flag(1); !fl.Flagged || fl.Kind != InvalidMove || fl.Tick != 0 {
		t.Fatalf("flag %+v", fl)
	}
	mustApply(t, f, e, &Batch{First: 1, Ticks: []TickInputs{f.fullTick(1, 2)}})
	if g.seen[1][1].Present || !g.seen[1][0].Present {
		t.Fatalf("a proven cheater's later legal input must be ignored by default: %+v", g.seen[1])
	}
	// A verdict pointing at another player's input does not even pass the signature half.
	v.Offender = 0
	wantErr(t, v.Verify(f.ver), ErrBadEvidence)
}

func TestPolicyKeepCheaterInputs(t *testing.T) {
	f := newFixture(t, 2)
	e, g := f.engine(Config{Policy: Policy{KeepCheaterInputs: true}})
	mustApply(t, f, e, &Batch{First: 0, Ticks: []TickInputs{f.fullTick(0, 11), f.fullTick(1, 2)}})
	if !e.Flag(0).Flagged || g.totals[0] != 2 || g.totals[1] != 2 {
		t.Fatalf("flags %+v totals %v", e.flags, g.totals)
	}
}

func TestStateDivergenceVerdict(t *testing.T) {
	f := newFixture(t, 3)
	e, _ := f.engine(Config{HashInterval: 2})
	res := mustApply(t, f, e, &Batch{First: 0, Ticks: []TickInputs{f.fullTick(0, 1), f.fullTick(1, 1), f.fullTick(2, 1)}})
	good, _ := e.CheckpointHash(2)
	if good != res.Ticks[2].Hash || good.IsZero() {
		t.Fatal("checkpoint hash not remembered")
	}
	lie := crypto.Sum([]byte("lie"))
	res = mustApply(t, f, e, &Batch{First: 3, Hashes: []crypto.Envelope{
		f.stateHash(0, 2, good), f.stateHash(1, 2, lie), f.stateHash(2, 0, res.Ticks[0].Hash)}})
	v := onlyVerdict(t, res, StateDivergence, 1, 2)
	wantErr(t, v.Verify(f.ver), ErrNeedsReplay)
	// Hashes must be at decided checkpoints.
	for _, h := range []crypto.Envelope{f.stateHash(0, 1, good), f.stateHash(0, 4, good)} {
		wantErr(t, ValidateBatch(&Batch{First: 3, Hashes: []crypto.Envelope{h}}, f.ver, e.Config().Rules()), ErrInvalidBatch)
	}
}

func TestRevealMismatchVerdictSealedMode(t *testing.T) {
	f := newFixture(t, 3)
	cfg := Config{Sealed: true}
	e, g := f.engine(cfg)
	c0, k0 := f.sealed(0, 1, []byte{3})
	c1, _ := f.sealed(1, 1, []byte{4})
	_, other := f.sealed(1, 1, []byte{7}) // the key of an input seat 1 wishes it had sent
	c2, k2 := f.sealed(2, 0, []byte{5})   // committed in the same slot as its reveal: too late
	b := &Batch{First: 0, Ticks: []TickInputs{{Seats: []*crypto.Envelope{nil, nil, f.reveal(2, 0, k2)}}},
		Commits: []crypto.Envelope{c0, c1}}
	wantErr(t, ValidateBatch(&Batch{First: 0, Commits: []crypto.Envelope{c2}, Ticks: b.Ticks}, f.ver, f.rules(cfg)), ErrInvalidBatch)
	res := mustApply(t, f, e, b)
	if len(res.Verdicts) != 0 || g.seen[0][2].Present {
		t.Fatal("a reveal without an earlier ordered commitment must be no input")
	}
	res = mustApply(t, f, e, &Batch{First: 1, Ticks: []TickInputs{{Seats: []*crypto.Envelope{f.reveal(0, 1, k0), f.reveal(1, 1, other), nil}}}})
	v := onlyVerdict(t, res, RevealMismatch, 1, 1)
	if err := v.Verify(f.ver); err != nil {
		t.Fatalf("reveal-mismatch verdict does not verify: %v", err)
	}
	if !g.seen[1][0].Present || g.totals[0] != 3 || g.seen[1][1].Present {
		t.Fatalf("honest reveal must apply and the mismatched one be ignored: %+v", g.seen[1])
	}
	// Plain inputs are not accepted in sealed mode, nor commits without it.
	wantErr(t, ValidateBatch(&Batch{First: 2, Ticks: []TickInputs{f.fullTick(2, 1)}}, f.ver, f.rules(cfg)), ErrInvalidBatch)
	c3, _ := f.sealed(0, 9, []byte{1})
	wantErr(t, ValidateBatch(&Batch{First: 2, Commits: []crypto.Envelope{c3}}, f.ver, f.rules(Config{})), ErrInvalidBatch)
	// A correct reveal is not a mismatch.
	_, _, err := CheckEvidence(f.ver, RevealMismatch, []crypto.Envelope{c0, *f.reveal(0, 1, k0)})
	wantErr(t, err, ErrBadEvidence)
}

func TestConsensusVerdictPassThrough(t *testing.T) {
	f := newFixture(t, 4)
	e, _ := f.engine(Config{})
	mustApply(t, f, e, &Batch{First: 0, Ticks: []TickInputs{f.fullTick(0, 1), f.fullTick(1, 1)}})
	p1 := f.signers[0].Sign(1 /* wire.TypeAccept */, []byte("view 1 slot 5 value A"))
	p2 := f.signers[0].Sign(1, []byte("view 1 slot 5 value B"))
	ev := [][]byte{p1.Encode(nil), p2.Encode(nil)}
	v, fresh, err := e.RecordConsensus(ProposalEquivocation, 0, ev, "two proposals")
	if err != nil || !fresh || v.Tick != 1 || !e.Flag(0).Flagged {
		t.Fatalf("v %+v fresh %v err %v", v, fresh, err)
	}
	if _, fresh, _ := e.RecordConsensus(ProposalEquivocation, 0, ev, "again"); fresh {
		t.Fatal("the same verdict recorded twice")
	}
	wantErr(t, v.Verify(f.ver), ErrNeedsConsensusCheck)
	called := false
	ok := func(k VerdictKind, off int, envs []crypto.Envelope) error { called = true; return nil }
	if err := v.VerifyWith(f.ver, ok); err != nil || !called {
		t.Fatalf("VerifyWith: %v", err)
	}
	no := func(VerdictKind, int, []crypto.Envelope) error { return errors.New("different slots") }
	wantErr(t, v.VerifyWith(f.ver, no), ErrBadEvidence)
	framed := v
	framed.Offender = 1
	wantErr(t, framed.Verify(f.ver), ErrBadEvidence)
	if _, _, err := e.RecordConsensus(InvalidMove, 0, ev, ""); err == nil {
		t.Fatal("only consensus kinds may be recorded this way")
	}
}

func TestEngineSnapshotRestore(t *testing.T) {
	f := newFixture(t, 3)
	cfg := Config{Sealed: true, HashInterval: 2}
	e, _ := f.engine(cfg)
	c, k := f.sealed(0, 2, []byte{4})
	none := TickInputs{Seats: make([]*crypto.Envelope, 3)}
	mustApply(t, f, e, &Batch{First: 0, Ticks: []TickInputs{none, none}, Commits: []crypto.Envelope{c}})
	e.RecordConsensus(VoteEquivocation, 2, nil, "")
	snap := e.Snapshot()
	e2, g2 := f.engine(cfg)
	if err := e2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e2.Snapshot(), snap) || e2.Hash() != e.Hash() || !e2.Flag(2).Flagged {
		t.Fatal("restored engine differs")
	}
	mustApply(t, f, e2, &Batch{First: 2, Ticks: []TickInputs{{Seats: []*crypto.Envelope{f.reveal(0, 2, k), nil, nil}}}})
	if g2.totals[0] != 4 {
		t.Fatal("the pending commitment did not survive the snapshot")
	}
	if err := e2.Restore(snap[:len(snap)-1]); err == nil {
		t.Fatal("truncated snapshot accepted")
	}
	e3, _ := newFixture(t, 2).engine(cfg)
	wantErr(t, e3.Restore(snap), ErrSnapshot)
}

func TestVerdictEncodeRoundTrip(t *testing.T) {
	v := Verdict{Kind: InvalidMove, Offender: 3, Tick: 99, Violation: ViolationFireRate, Evidence: [][]byte{{1, 2}, {3}}, Detail: "x"}
	got, err := DecodeVerdict(v.Encode())
	if err != nil || got.Kind != v.Kind || got.Offender != 3 || got.Tick != 99 || got.Violation != v.Violation ||
		len(got.Evidence) != 2 || !bytes.Equal(got.Evidence[0], []byte{1, 2}) || got.Detail != "x" {
		t.Fatalf("%+v %v", got, err)
	}
	for _, k := range []VerdictKind{ForgedInput, InputEquivocation, InvalidMove, StateDivergence, RevealMismatch, ProposalEquivocation, VoteEquivocation} {
		if p, ok := ParseVerdictKind(k.String()); !ok || p != k {
			t.Errorf("kind %d does not round-trip its name %q", k, k)
		}
	}
}

// TestVerdictsPerKindAreBounded: a cheater that forges an input every tick
// for 200 ticks is flagged by the first verdict and has MaxVerdictsPerKind
// of that kind recorded, not 200: its later forgeries prove nothing new,
// and each would otherwise cost every honest peer a verdict with its
// evidence, an index entry and snapshot bytes for the rest of the match.
// The rule reads only the log, so an engine restored from a snapshot in the
// middle records exactly what one that applied every batch does; other
// kinds and other offenders keep their own bound.
func TestVerdictsPerKindAreBounded(t *testing.T) {
	f := newFixture(t, 3)
	full, _ := f.engine(Config{})
	var restored *Engine
	got, gotRestored := 0, 0
	for tick := uint64(0); tick < 200; tick++ {
		b := &Batch{First: tick, Ticks: []TickInputs{f.fullTick(tick, 1)},
			Evidence: []Evidence{{Kind: ForgedInput, Envelopes: []crypto.Envelope{*f.inputBy(2, 0, tick, []byte{9})}}}}
		if tick == 150 {
			// Seat 1 forges once too: its first verdict is recorded.
			b.Evidence = append(b.Evidence, Evidence{Kind: ForgedInput, Envelopes: []crypto.Envelope{*f.inputBy(1, 0, tick, []byte{8})}})
		}
		res := mustApply(t, f, full, b)
		got += len(res.Verdicts)
		if tick == 100 {
			restored, _ = f.engine(Config{})
			if err := restored.Restore(full.Snapshot()); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if restored != nil {
			r := mustApply(t, f, restored, b)
			gotRestored += len(r.Verdicts)
			if len(r.Verdicts) != len(res.Verdicts) {
				t.Fatalf("tick %d: the restored engine recorded %d verdicts, the other %d", tick, len(r.Verdicts), len(res.Verdicts))
			}
		}
	}
	if want := MaxVerdictsPerKind + 1; got != want {
		t.Fatalf("%d verdicts recorded, want %d (%d for seat 2, 1 for seat 1)", got, want, MaxVerdictsPerKind)
	}
	if !full.Flag(2).Flagged || full.Flag(2).Tick != 0 || !full.Flag(1).Flagged {
		t.Fatalf("flags %+v %+v", full.Flag(2), full.Flag(1))
	}
	if gotRestored != 1 {
		t.Fatalf("the engine restored at tick 100 recorded %d verdicts after it, want 1 (seat 1's)", gotRestored)
	}
}
