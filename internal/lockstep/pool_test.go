package lockstep

import (
	"testing"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
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

// sealed signs a sealed input of data for (seat, tick) by signer, and
// returns it with its one-time key.
func (f *poolFixture) sealed(t *testing.T, signer, seat int, tick uint64, data string) (crypto.Envelope, crypto.SealKey) {
	t.Helper()
	ct, key, err := crypto.Seal([]byte(data), gamestate.SealAD(f.v.Match(), uint16(seat), tick), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := gamestate.SealedInput{Seat: uint16(seat), Tick: tick, Sealed: ct}
	return f.signers[signer].Sign(wire.TypeSealedInput, m.Encode()), key
}

func (f *poolFixture) reveal(seat int, tick uint64, key crypto.SealKey) crypto.Envelope {
	m := gamestate.Reveal{Seat: uint16(seat), Tick: tick, Key: key}
	return f.signers[seat].Sign(wire.TypeReveal, m.Encode())
}

// TestPoolSealed walks the pool through commit-reveal: sealed inputs are
// collected (first per seat and tick; a second different one and one
// signed for another seat are evidence), plain inputs are refused, the
// leader's pending commits respect the batch end and what was proposed or
// ordered, a tick is complete once every seat revealed, a reveal that does
// not open the ordered commitment is reveal-mismatch evidence, and the
// batches built this way pass ValidateBatch and apply in an engine.
func TestPoolSealed(t *testing.T) {
	f := newPoolFixture(t)
	f.p.sealed = true
	rules := gamestate.Rules{Seats: 4, Sealed: true, HashInterval: 30}
	must := func(got, want intake) {
		t.Helper()
		if got != want {
			t.Fatalf("intake %d, want %d", got, want)
		}
	}
	// Commitments for tick 5 (seat 3 will cheat) and 6 (seat 0 only).
	keys := make([]crypto.SealKey, 4)
	envs := make([]crypto.Envelope, 4)
	for seat := range 4 {
		// A legal arena input: thrust 0, turn = seat, no fire.
		envs[seat], keys[seat] = f.sealed(t, seat, seat, 5, string([]byte{0, byte(seat), 0}))
		must(f.p.add(envs[seat], 2), intakeOK)
		if f.p.commitsComplete(5) != (seat == 3) {
			t.Fatalf("commitsComplete(5) after %d seats", seat+1)
		}
	}
	late, _ := f.sealed(t, 0, 0, 6, "later")
	must(f.p.add(late, 2), intakeOK)
	must(f.p.add(envs[1], 2), intakeDup)
	// A plain input has no place in a sealed match; a second, different
	// sealed input is equivocation; one signed for another seat, forgery.
	must(f.p.add(f.input(2, 2, 5, "plain"), 2), intakeDropped)
	equiv, _ := f.sealed(t, 1, 1, 5, "other")
	must(f.p.add(equiv, 2), intakeEvidence)
	forged, _ := f.sealed(t, 2, 0, 7, "forged")
	must(f.p.add(forged, 2), intakeEvidence)
	if len(f.p.evidence) != 2 || f.p.evidence[0].Kind != gamestate.InputEquivocation || f.p.evidence[1].Kind != gamestate.ForgedInput {
		t.Fatalf("evidence %+v", f.p.evidence)
	}
	for _, ev := range f.p.evidence {
		if _, _, err := gamestate.CheckEvidence(f.v, ev.Kind, ev.Envelopes); err != nil {
			t.Fatalf("%s evidence does not check: %v", ev.Kind, err)
		}
	}

	// The leader's pending commits: sorted, only for ticks at or after the
	// batch end, not again in the same view until resend passes.
	now := time.Unix(100, 0)
	pend := f.p.pendingCommits(2, 1, now, time.Second)
	if len(pend) != 5 || pend[0].Sender != 0 || pend[3].Sender != 3 || pend[4].Sender != 0 {
		t.Fatalf("pending commits %d", len(pend))
	}
	if got := f.p.pendingCommits(6, 1, now, time.Second); len(got) != 1 {
		t.Fatalf("commits for ticks before the batch end: %d", len(got))
	}
	f.p.commitsProposed(pend, 1, now)
	if got := f.p.pendingCommits(2, 1, now.Add(time.Millisecond), time.Second); len(got) != 0 {
		t.Fatalf("proposed commits proposed again at once: %d", len(got))
	}
	if got := f.p.pendingCommits(2, 2, now, time.Second); len(got) != 5 {
		t.Fatalf("a new view must propose them again: %d", len(got))
	}
	if got := f.p.pendingCommits(2, 1, now.Add(2*time.Second), time.Second); len(got) != 5 {
		t.Fatalf("a lost proposal must go again after resend: %d", len(got))
	}

	// The commitments batch (no ticks) is valid and applies in an engine.
	game, err := arena.New(4, 1)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := gamestate.NewEngine(game, gamestate.Config{Verifier: f.v, Sealed: true})
	if err != nil {
		t.Fatal(err)
	}
	apply := func(b *gamestate.Batch) gamestate.Result {
		t.Helper()
		if err := gamestate.ValidateBatch(b, f.v, rules); err != nil {
			t.Fatalf("batch invalid: %v", err)
		}
		res, err := eng.Apply(b)
		if err != nil {
			t.Fatal(err)
		}
		f.p.decided(b, eng.Next())
		return res
	}
	var ticks []gamestate.TickInputs
	for range 2 {
		ticks = append(ticks, gamestate.TickInputs{Seats: make([]*crypto.Envelope, 4)})
	}
	apply(&gamestate.Batch{First: 0, Ticks: ticks})
	b := f.p.build(2, 2)
	b.Commits = pend
	b.Evidence = nil
	apply(b)
	if got := f.p.pendingCommits(2, 2, now, time.Second); len(got) != 0 {
		t.Fatalf("ordered commits still pending: %d", len(got))
	}

	// Reveals: before all are in, tick 5 is not complete. Seat 3 reveals a
	// key that does not open its commitment: evidence, queued at once
	// since the commitment is ordered.
	for seat := range 3 {
		must(f.p.add(f.reveal(seat, 5, keys[seat]), 2), intakeOK)
		if f.p.completeUpto(5, 1) != 5 {
			t.Fatalf("tick 5 complete after %d reveals", seat+1)
		}
	}
	if !f.p.revealsFrom(5, 3) || f.p.revealsFrom(5, 0) {
		t.Fatal("revealsFrom")
	}
	f.p.evidence = nil
	_, wrong := f.sealed(t, 3, 3, 5, "d2")
	must(f.p.add(f.reveal(3, 5, wrong), 2), intakeOK)
	if f.p.completeUpto(5, 1) != 6 {
		t.Fatal("tick 5 not complete with every reveal in")
	}
	if len(f.p.evidence) != 1 || f.p.evidence[0].Kind != gamestate.RevealMismatch {
		t.Fatalf("reveal-mismatch evidence not queued: %+v", f.p.evidence)
	}
	if off, tick, err := gamestate.CheckEvidence(f.v, gamestate.RevealMismatch, f.p.evidence[0].Envelopes); err != nil || off != 3 || tick != 5 {
		t.Fatalf("reveal-mismatch evidence: seat %d tick %d: %v", off, tick, err)
	}
	// The tick batch carries the reveals; every honest input opens, seat 3
	// is proven to have revealed the wrong key.
	b = f.p.build(2, 6)
	if b.Ticks[3].Seats[3] == nil || b.Ticks[3].Seats[3].Type != wire.TypeReveal {
		t.Fatalf("tick 5 entries %+v", b.Ticks[3].Seats)
	}
	res := apply(b)
	in := res.Ticks[3].Inputs
	if !in[0].Present || string(in[1].Data) != string([]byte{0, 1, 0}) || !in[2].Present || in[3].Present {
		t.Fatalf("tick 5 inputs %+v", in)
	}
	if len(res.Verdicts) != 1 || res.Verdicts[0].Kind != gamestate.RevealMismatch || res.Verdicts[0].Offender != 3 {
		t.Fatalf("verdicts %+v", res.Verdicts)
	}
	if err := res.Verdicts[0].Verify(f.v); err != nil {
		t.Fatalf("verdict does not verify: %v", err)
	}
	if len(f.p.commits) != 1 || len(f.p.ordered) != 1 || len(f.p.inputs) != 0 {
		t.Fatalf("decided ticks not forgotten: %d commits %d ordered %d inputs", len(f.p.commits), len(f.p.ordered), len(f.p.inputs))
	}
}

// TestPoolSealedOrderedEquivocation: a player that sent one commitment to
// this peer and another to the leader is proven an equivocator when the
// other one is ordered; a plain-mode pool refuses sealed messages.
func TestPoolSealedOrderedEquivocation(t *testing.T) {
	f := newPoolFixture(t)
	f.p.sealed = true
	mine, _ := f.sealed(t, 2, 2, 9, "x")
	theirs, _ := f.sealed(t, 2, 2, 9, "y")
	if got := f.p.add(mine, 0); got != intakeOK {
		t.Fatalf("intake %d", got)
	}
	f.p.decided(&gamestate.Batch{First: 0, Commits: []crypto.Envelope{theirs}}, 0)
	if len(f.p.evidence) != 1 || f.p.evidence[0].Kind != gamestate.InputEquivocation {
		t.Fatalf("evidence %+v", f.p.evidence)
	}
	if _, _, err := gamestate.CheckEvidence(f.v, gamestate.InputEquivocation, f.p.evidence[0].Envelopes); err != nil {
		t.Fatal(err)
	}
	if o, ok := f.p.ordered[stKey{9, 2}]; !ok || string(o.Body) != string(theirs.Body) {
		t.Fatal("the ordered commitment is the one the log holds")
	}
	plain := newPoolFixture(t)
	if got := plain.p.add(mine, 0); got != intakeDropped {
		t.Fatalf("plain pool took a sealed input: %d", got)
	}
	if got := plain.p.add(plain.reveal(0, 3, crypto.SealKey{}), 0); got != intakeDropped {
		t.Fatalf("plain pool took a reveal: %d", got)
	}
}

// A cheater that forges an input every tick queues evidence every tick:
// the pool's evidence index must forget the keys of ticks too far behind
// to be queued again, or it grows by one key per tick of the match.
func TestPoolEvidenceIndexBounded(t *testing.T) {
	f := newPoolFixture(t)
	const ticks = 4 * poolReplayAge
	var quarter int
	for tick := uint64(0); tick < ticks; tick++ {
		if got := f.p.add(f.input(2, 1, tick, "forged"), tick); got != intakeEvidence {
			t.Fatalf("tick %d: forged input gave intake %d, want evidence", tick, got)
		}
		f.p.decided(f.p.build(tick, tick+1), tick+1)
		if tick == ticks/4 {
			quarter = len(f.p.evKeys)
		}
	}
	if n := len(f.p.evKeys); n > quarter+2 {
		t.Fatalf("evidence index grew with the match: %d keys at tick %d, %d at tick %d", quarter, ticks/4, n, ticks)
	}
	if len(f.p.evidence) != 0 {
		t.Fatalf("%d evidence items never ordered", len(f.p.evidence))
	}
}

// TestPoolNoInputIsNotWaitedFor: a seat's signed NoInput for a tick lets
// the tick count as complete without its input (the leader orders it at
// once instead of at its deadline), for that tick only; the log is the
// same either way (the seat's entry is nil). Only the seat itself can say
// it: one signed by another seat is dropped, one for a decided tick is old,
// and decided ticks forget theirs.
func TestPoolNoInputIsNotWaitedFor(t *testing.T) {
	f := newPoolFixture(t)
	skip := func(signer, seat int, tick uint64) crypto.Envelope {
		m := gamestate.NoInput{Seat: uint16(seat), Tick: tick}
		return f.signers[signer].Sign(wire.TypeNoInput, m.Encode())
	}
	must := func(got, want intake) {
		t.Helper()
		if got != want {
			t.Fatalf("intake %d, want %d", got, want)
		}
	}
	for tk := uint64(10); tk < 13; tk++ {
		for s := 0; s < 3; s++ {
			must(f.p.add(f.input(s, s, tk, "a"), 10), intakeOK)
		}
	}
	if got := f.p.completeUpto(10, 3); got != 10 {
		t.Fatalf("complete up to %d without seat 3's input, want 10", got)
	}
	must(f.p.add(skip(2, 3, 10), 10), intakeDropped) // seat 2 cannot speak for seat 3
	if got := f.p.completeUpto(10, 3); got != 10 {
		t.Fatalf("a NoInput signed by another seat counted: complete up to %d", got)
	}
	must(f.p.add(skip(3, 3, 10), 10), intakeOK)
	must(f.p.add(skip(3, 3, 10), 10), intakeOK) // the same again: no replay observation
	must(f.p.add(skip(3, 3, 11), 10), intakeOK)
	if got := f.p.completeUpto(10, 3); got != 12 {
		t.Fatalf("complete up to %d, want 12 (seat 3 said it has nothing for 10 and 11, not 12)", got)
	}
	b := f.p.build(10, 12)
	for i, ti := range b.Ticks {
		// The entry is the seat's own signed NoInput: "no input" in the
		// player's words, which acceptors accept before the deadline.
		if e := ti.Seats[3]; e == nil || e.Type != wire.TypeNoInput || e.Sender != 3 {
			t.Fatalf("tick %d: seat 3's entry is %v, want its signed NoInput", 10+i, e)
		}
		if err := gamestate.ValidateBatch(b, f.v, gamestate.Rules{Seats: 4, HashInterval: 30}); err != nil {
			t.Fatalf("batch with signed NoInputs: %v", err)
		}
	}
	f.p.decided(b, 12)
	if len(f.p.skips) != 0 {
		t.Fatalf("%d NoInputs kept for decided ticks", len(f.p.skips))
	}
	// Arriving after its tick was decided is normal (ordered at the
	// deadline first): no observation; only a replay from far behind is.
	must(f.p.add(skip(3, 3, 11), 12), intakeOK)
	if len(f.p.skips) != 0 {
		t.Fatal("a NoInput for a decided tick was kept")
	}
	must(f.p.add(skip(3, 3, 11), 12+poolReplayAge), intakeOld)
	must(f.p.add(skip(3, 3, 12+poolAhead+1), 12), intakeDropped)
}
