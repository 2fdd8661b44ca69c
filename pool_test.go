package paxsync

import (
	"testing"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

type poolFixture struct {
	v       *crypto.Verifier
	signers []*crypto.Signer
	p       *pool
}

func newPoolFixture(t *testing.T) *poolFixture {
	keys, roster := testRoster(t, 4)
	m := crypto.NewMatchID("pool", roster)
	f := &poolFixture{v: crypto.NewVerifier(m, roster)}
	for i, k := range keys {
		f.signers = append(f.signers, crypto.NewSigner(k, m, uint16(i)))
	}
	f.p = newPool(f.v, 30)
	return f
}

func (f *poolFixture) input(signer, seat int, tick uint64, data string) crypto.Envelope {
	m := gamestate.Input{Seat: uint16(seat), Tick: tick, Data: []byte(data)}
	return f.signers[signer].Sign(wire.TypeInput, m.Encode())
}

func TestPoolBuildsBatchWithNoInputAndEvidence(t *testing.T) {
	f := newPoolFixture(t)
	must := func(got, want intake) {
		t.Helper()
		if got != want {
			t.Fatalf("intake %d, want %d", got, want)
		}
	}
	must(f.p.add(f.input(0, 0, 5, "a"), 5), intakeOK)
	must(f.p.add(f.input(1, 1, 5, "b"), 5), intakeOK)
	must(f.p.add(f.input(2, 2, 6, "c"), 5), intakeOK)
	// seat 3 equivocates at tick 5; seat 2 forges seat 1's input at tick 6
	must(f.p.add(f.input(3, 3, 5, "x"), 5), intakeOK)
	must(f.p.add(f.input(3, 3, 5, "y"), 5), intakeEvidence)
	must(f.p.add(f.input(2, 1, 6, "forged"), 5), intakeEvidence)
	// the same envelope again is a replay, as is one far behind the log
	dup := f.input(0, 0, 7, "d")
	must(f.p.add(dup, 5), intakeOK)
	must(f.p.add(dup, 5), intakeDup)
	must(f.p.add(f.input(0, 0, 1, "old"), 1000), intakeOld)
	// a bad signature is dropped
	bad := f.input(0, 0, 8, "e")
	bad.Sig[0] ^= 1
	must(f.p.add(bad, 5), intakeDropped)
	hash := f.signers[1].Sign(wire.TypeStateHash, (&gamestate.StateHash{Seat: 1, Tick: 0}).Encode())
	must(f.p.add(hash, 5), intakeOK)

	b := f.p.build(5, 7)
	if b.First != 5 || len(b.Ticks) != 2 {
		t.Fatalf("batch %d+%d", b.First, len(b.Ticks))
	}
	present := func(tick, seat int) bool { return b.Ticks[tick].Seats[seat] != nil }
	if !present(0, 0) || !present(0, 1) || present(0, 2) || !present(0, 3) {
		t.Errorf("tick 5 entries wrong")
	}
	if present(1, 0) || present(1, 1) || !present(1, 2) || present(1, 3) {
		t.Errorf("tick 6 entries wrong (forged input must not fill seat 1)")
	}
	if len(b.Evidence) != 2 || b.Evidence[0].Kind != gamestate.InputEquivocation || b.Evidence[1].Kind != gamestate.ForgedInput {
		t.Errorf("evidence %+v", b.Evidence)
	}
	if len(b.Hashes) != 1 {
		t.Errorf("hashes %d", len(b.Hashes))
	}
	if err := gamestate.ValidateBatch(b, f.v, gamestate.Rules{Seats: 4, HashInterval: 30}); err != nil {
		t.Fatalf("built batch invalid: %v", err)
	}
	// Applying it in an engine gives the verdicts.
	f.p.decided(b, 7)
	if len(f.p.evidence) != 0 || len(f.p.hashes) != 0 {
		t.Errorf("decided batch not pruned: %d evidence %d hashes", len(f.p.evidence), len(f.p.hashes))
	}
	if b2 := f.p.build(7, 8); len(b2.Evidence) != 0 || b2.Ticks[0].Seats[0] == nil {
		t.Errorf("next batch: %+v", b2)
	}
	// the same evidence is not queued twice
	must(f.p.add(f.input(3, 3, 5, "z"), 7), intakeOK)
}

func TestProposerContiguousAcrossLeaderChange(t *testing.T) {
	now := time.Unix(0, 0)
	p := proposer{stall: time.Second, graceTicks: 1}
	// not leader: nothing
	if _, _, ok := p.plan(now, false, 0, 0, 10); ok {
		t.Fatal("non-leader proposes")
	}
	// leader of view 1 from tick 0; ticks up to clock-grace are due
	first, upto, ok := p.plan(now, true, 1, 0, 5)
	if !ok || first != 0 || upto != 5 {
		t.Fatalf("plan %d..%d %v", first, upto, ok)
	}
	p.proposed(upto)
	first, upto, ok = p.plan(now, true, 1, 0, 7)
	if !ok || first != 5 || upto != 7 {
		t.Fatalf("pipelined plan %d..%d %v", first, upto, ok)
	}
	p.proposed(upto)
	// view change: the new view's leader (us again) restarts from the log:
	// [3,7) was lost with the old view and must be proposed again.
	first, upto, ok = p.plan(now, true, 2, 3, 8)
	if !ok || first != 3 || upto != 8 {
		t.Fatalf("after view change %d..%d %v", first, upto, ok)
	}
	p.proposed(upto)
	// someone else's batches got decided further: continue after them
	first, _, ok = p.plan(now, true, 2, 9, 12)
	if !ok || first != 9 {
		t.Fatalf("after foreign decision first=%d", first)
	}
	p.proposed(11)
	// a stale duplicate was skipped: restart from the log
	p.skipped(9)
	if first, _, _ = p.plan(now, true, 2, 9, 12); first != 9 {
		t.Fatalf("after skip first=%d", first)
	}
	p.proposed(11)
	// stall: nothing decided for longer than stall → propose again
	if first, _, ok = p.plan(now.Add(2*time.Second), true, 2, 9, 13); !ok || first != 9 {
		t.Fatalf("after stall first=%d ok=%v", first, ok)
	}
	// losing leadership, then regaining it in a later view
	p.plan(now, false, 3, 9, 13)
	if first, _, _ = p.plan(now, true, 6, 10, 14); first != 10 {
		t.Fatalf("regained first=%d", first)
	}
	// in-flight bound
	p.proposed(10 + maxInFlight)
	if _, _, ok = p.plan(now, true, 6, 10, 200); ok {
		t.Fatal("proposes beyond the in-flight bound")
	}
}
