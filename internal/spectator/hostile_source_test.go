package spectator

import (
	"errors"
	"runtime"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// poisonedAnswer is seat 2's valid answer for slot 1 whose certificate
// also lists, first, honest seat 0's genuine signature of its slot-2
// Confirm beside another body. The extra envelope fails verification, so
// slot 1 still holds and seat 2 cannot be convicted for it; a checker
// that remembered that body under the signature would afterwards take
// seat 0's genuine slot-2 Confirm for a vote for something else.
func poisonedAnswer(l *log) []byte {
	st := l.answer(0, 0, 1)
	genuine := vote(l.signers[0], wire.TypeConfirm, 0, 2, crypto.Sum(l.values[2]))
	w := wire.NewWriter(nil)
	w.Uvarint(99) // another view
	w.Uvarint(0)
	st.Confirms = append(st.Confirms, crypto.Envelope{Type: wire.TypeConfirm, Sender: 0, Body: w.Bytes(), Sig: genuine.Sig})
	st.Entries[0].Cert = append([]uint32{uint32(len(st.Confirms) - 1)}, st.Entries[0].Cert...)
	return l.signed(2, 0, st)
}

// TestSignatureBesideAnotherBodyFramesNoOne: a Byzantine player's answer
// that pairs an honest Confirm's signature with another body must not
// make the honest players' answers look forged afterwards (on the old
// code every honest seat was convicted and dropped, leaving the attacker
// as the spectator's only source).
func TestSignatureBesideAnotherBodyFramesNoOne(t *testing.T) {
	l := buildLog(t, 10)
	f, err := New(l.h, newGame)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Deliver(2, poisonedAnswer(l)); err != nil {
		t.Fatalf("seat 2's answer (valid, with one envelope that verifies for nothing) refused: %v", err)
	}
	for _, seat := range []int{0, 1, 3} {
		if _, err := f.Deliver(seat, l.signed(seat, f.Slot(), l.answer(f.Slot(), 0, 10))); err != nil {
			t.Errorf("honest seat %d's answer after slot %d: %v", seat, f.Slot(), err)
		}
		if f.Dropped(seat) {
			t.Errorf("honest seat %d dropped", seat)
		}
	}
	if fg := f.Forgeries(); len(fg) != 0 {
		t.Errorf("forgeries %+v, want none", fg)
	}
	if f.Slot() != 10 {
		t.Errorf("at slot %d, want 10", f.Slot())
	}
}

// TestPoisonedAnswerDoesNotSpreadThroughRelay: a relay that checked and
// kept such an answer hands it on; the spectator behind it must still
// take the honest players' answers.
func TestPoisonedAnswerDoesNotSpreadThroughRelay(t *testing.T) {
	l := buildLog(t, 10)
	relay, err := New(l.h, newGame)
	if err != nil {
		t.Fatal(err)
	}
	relay.EnableRelay()
	if _, err := relay.Deliver(2, poisonedAnswer(l)); err != nil {
		t.Fatal(err)
	}
	down, err := New(l.h, newGame)
	if err != nil {
		t.Fatal(err)
	}
	down.UseRelays(1)
	fwd := relay.Relay(down.Request(4))
	if fwd == nil {
		t.Fatal("the relay kept nothing to serve")
	}
	if _, err := down.Deliver(4, fwd); err != nil {
		t.Fatal(err)
	}
	for _, seat := range []int{0, 1, 3} {
		if _, err := down.Deliver(seat, l.signed(seat, down.Slot(), l.answer(down.Slot(), 0, 10))); err != nil {
			t.Errorf("behind the relay, honest seat %d: %v", seat, err)
		}
	}
	if fg := down.Forgeries(); len(fg) != 0 {
		t.Errorf("forgeries %+v, want none", fg)
	}
}

// TestHugeConfirmsDoNotGrowSpectator: a Byzantine player whose every
// entry's certificate also carries a Confirm naming 4,096 pairs, signed
// (by itself, a roster seat) or not, must not make the spectator hold
// what those bodies parse into: on the old code 700 of them (23 s of a
// 30 Hz match) held 306 MiB, and the cache's count bound allowed 7 GiB.
func TestHugeConfirmsDoNotGrowSpectator(t *testing.T) {
	const slots = 700
	l := buildLog(t, slots)
	f, err := New(l.h, newGame)
	if err != nil {
		t.Fatal(err)
	}
	junkBody := func(seed uint64) []byte {
		w := wire.NewWriter(nil)
		w.Uvarint(0)
		w.Uvarint(4096)
		for i := range 4096 {
			w.Uvarint(seed*10000 + uint64(i) + 1<<40)
			w.Bytes32(crypto.Digest{byte(i)})
		}
		return w.Bytes()
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	junks := 0
	for f.Slot() < slots {
		after := f.Slot()
		st := l.answer(after, 0, min(after+6, slots))
		for i := range st.Entries {
			junk := l.signers[2].Sign(wire.TypeConfirm, junkBody(uint64(junks)))
			if junks%2 == 1 {
				junk.Sig[0] ^= 1 // half of them verify for nothing
			}
			st.Confirms = append(st.Confirms, junk)
			st.Entries[i].Cert = append([]uint32{uint32(len(st.Confirms) - 1)}, st.Entries[i].Cert...)
			junks++
		}
		if _, err := f.Deliver(2, l.signed(2, after, st)); err != nil {
			t.Fatalf("answer after slot %d refused: %v", after, err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	grown := int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
	t.Logf("%d junk Confirms of 4,096 pairs; heap grew %.1f MiB", junks, float64(grown)/(1<<20))
	// The cache holds at most maxCachedPairs pairs (about 30 MiB).
	if grown > 64<<20 {
		t.Errorf("heap grew %.1f MiB over %d junk Confirms, want a bound (64 MiB)", float64(grown)/(1<<20), junks)
	}
	runtime.KeepAlive(f)
}

// TestCertifiedAnswerNamesNoForger: an answer whose every certificate
// holds (here a checkpoint whose snapshot no engine can restore, certified
// by a quorum, as only more than f lying seats or a fault of the
// spectator's own could produce) proves nothing against the seat that
// served it: it is refused without naming or dropping that seat, and an
// honest seat's answer is then taken.
func TestCertifiedAnswerNamesNoForger(t *testing.T) {
	l := buildLog(t, 30)
	f, err := New(l.h, newGame)
	if err != nil {
		t.Fatal(err)
	}
	good := l.snaps[20]
	l.snaps[20] = []byte("no snapshot at all")
	bad := l.answer(0, 20, 30) // checkpoint certified by seats 0, 1 and 3
	l.snaps[20] = good
	if _, _, err := VerifyForgery(l.h, l.signed(2, 0, bad)); !errors.Is(err, ErrNotForged) {
		t.Fatalf("VerifyForgery: %v, want ErrNotForged (every certificate holds)", err)
	}
	if _, err := f.Deliver(2, l.signed(2, 0, bad)); err == nil || errors.Is(err, ErrForged) {
		t.Fatalf("Deliver: %v, want an error that convicts no one", err)
	}
	if f.Dropped(2) || len(f.Forgeries()) != 0 {
		t.Errorf("seat 2 dropped %v, forgeries %+v: want neither", f.Dropped(2), f.Forgeries())
	}
	if _, err := f.Deliver(0, l.signed(0, f.Slot(), l.answer(f.Slot(), 20, 30))); err != nil || f.Slot() != 30 {
		t.Errorf("seat 0's answer: %v, at slot %d", err, f.Slot())
	}
}

// TestUntrustedPathCannotCutSpectatorOff: over links that prove nothing
// of who answered, a path that garbles one answer from every player must
// not leave the spectator without sources (on the old code each such
// answer dropped its source for good, and four of them ended the
// spectator): a source sits out turns, twice as many after each fault, and
// the honest answers it serves afterwards are taken.
func TestUntrustedPathCannotCutSpectatorOff(t *testing.T) {
	l := buildLog(t, 10)
	f, err := New(l.h, newGame)
	if err != nil {
		t.Fatal(err)
	}
	f.UntrustedLinks()
	for seat := range 4 {
		frame := l.signed(seat, 0, l.answer(0, 0, 10))
		frame[len(frame)-1] ^= 1 // the path alters what the player signed
		if _, err := f.Deliver(seat, frame); !errors.Is(err, ErrBadRelay) {
			t.Fatalf("seat %d's altered answer: %v, want ErrBadRelay", seat, err)
		}
	}
	if len(f.Forgeries()) != 0 || len(f.RelayFaults()) != 4 {
		t.Fatalf("forgeries %+v, faults %+v: want 4 faults naming no one", f.Forgeries(), f.RelayFaults())
	}
	src, ok := f.Source()
	if !ok {
		t.Fatal("no source left after one garbled answer from each player")
	}
	if _, err := f.Deliver(src, l.signed(src, 0, l.answer(0, 0, 10))); err != nil || f.Slot() != 10 {
		t.Fatalf("source %d's honest answer: %v, at slot %d", src, err, f.Slot())
	}
	// A path that always lies on one source costs turns, not the source:
	// at most one fault per maxBackoff turns of the others.
	g, _ := New(l.h, newGame)
	g.UntrustedLinks()
	asked := map[int]int{}
	for range 200 {
		s, ok := g.Source()
		if !ok {
			t.Fatal("no source")
		}
		asked[s]++
		if s == 1 {
			bad := l.signed(1, 0, l.answer(0, 0, 1))
			bad[len(bad)-1] ^= 1
			g.Deliver(1, bad)
		}
	}
	if n := len(g.RelayFaults()); n < 3 || n > 4+200/4/maxBackoff+1 {
		t.Errorf("%d faults from the lying path in 200 turns (asked %v), want a handful", n, asked)
	}
}

// TestGarbledSourcesAreForgiven: a path that garbles every other answer
// of each honest source must not hand their turns to a source that
// withholds (answers nothing, never faults): on the old code the honest
// sources' back-off only grew, they were asked 87 of 20,000 turns, and
// the spectator stalled half way; now an intact answer forgives them.
func TestGarbledSourcesAreForgiven(t *testing.T) {
	const slots = 400
	l := buildLog(t, slots)
	f, err := New(l.h, newGame)
	if err != nil {
		t.Fatal(err)
	}
	f.UntrustedLinks()
	asks, answers := map[int]int{}, map[int]int{}
	const turns = 20000
	for range turns {
		s, ok := f.Source()
		if !ok {
			t.Fatal("no source")
		}
		asks[s]++
		if s == 3 {
			f.Deliver(3, nil) // withholds
			continue
		}
		answers[s]++
		at := f.Slot()
		frame := l.signed(s, at, l.answer(at, 0, min(at+5, slots)))
		if answers[s]%2 == 1 {
			frame[len(frame)-1] ^= 1 // the path garbles this one
		}
		f.Deliver(s, frame)
	}
	if honest := asks[0] + asks[1] + asks[2]; honest < turns/10 {
		t.Errorf("honest sources asked %d of %d turns (asked %v)", honest, turns, asks)
	}
	if f.Slot() != slots || len(f.Forgeries()) != 0 {
		t.Errorf("at slot %d of %d, forgeries %v", f.Slot(), slots, f.Forgeries())
	}
}
