package spectator

import (
	"encoding/binary"
	"errors"
	"testing"
)

// follow takes f to slot to in answers of step slots from the log's
// players, with a stable checkpoint of cp (0: none).
func (l *log) follow(t *testing.T, f *Follower, cp, to, step uint64) {
	t.Helper()
	for f.Slot() < to {
		seat, ok := f.Source()
		if !ok {
			t.Fatal("no source")
		}
		if f.IsRelay(seat) {
			continue
		}
		req := f.Request(seat)
		after, _ := binary.Uvarint(req)
		end := min(max(f.Slot(), after)+step, to)
		if _, err := f.Deliver(seat, l.signed(seat, after, l.answer(after, cp, end))); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRelayServesWhatItChecked: a spectator that watches only through
// another one's relay, joining at slot 0 and later, reaches the reference
// state; every answer it checks is a player's signed answer.
func TestRelayServesWhatItChecked(t *testing.T) {
	l := buildLog(t, 60)
	up, err := New(l.h, newGame)
	if err != nil {
		t.Fatal(err)
	}
	up.EnableRelay()
	l.follow(t, up, 0, 25, 4)
	down := relayOnly(t, l)
	for i := 0; down.Slot() < up.Slot(); i++ {
		if i > 50 {
			t.Fatalf("stuck at slot %d of %d", down.Slot(), up.Slot())
		}
		if _, err := down.Deliver(4, up.Relay(down.Request(4))); err != nil {
			t.Fatal(err)
		}
	}
	// The upstream goes on past a checkpoint (slot 40) it is served with
	// its snapshot; a newcomer then starts there.
	l.follow(t, up, 40, 60, 7)
	late := relayOnly(t, l)
	if _, err := late.Deliver(4, up.Relay(late.Request(4))); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*Follower{down, late} {
		for i := 0; f.Slot() < 60; i++ {
			if i > 50 {
				t.Fatalf("stuck at slot %d", f.Slot())
			}
			if _, err := f.Deliver(4, up.Relay(f.Request(4))); err != nil {
				t.Fatal(err)
			}
		}
		if f.Engine().Hash() != l.ref.Hash() || len(f.Forgeries()) != 0 || len(f.RelayFaults()) != 0 {
			t.Fatalf("hash %s (want %s), forgeries %v, relay faults %v", f.Engine().Hash(), l.ref.Hash(), f.Forgeries(), f.RelayFaults())
		}
	}
	if late.Report().Checkpoints == 0 {
		t.Fatal("the newcomer did not start from the checkpoint")
	}
	// Nothing further to give a spectator as far as the relay.
	if fr := up.Relay(late.Request(4)); fr != nil {
		t.Fatalf("a %d-byte answer to a spectator at the relay's own slot", len(fr))
	}
}

// relayOnly is a follower whose one source is a relay.
func relayOnly(t *testing.T, l *log) *Follower {
	t.Helper()
	f, err := New(l.h, newGame)
	if err != nil {
		t.Fatal(err)
	}
	f.UseRelays(1) // source 4; the tests ask only it
	return f
}

// TestRelayFaults: what a relay can do wrong. Serving garbage, an altered
// answer, or a player's answer from further on than asked drops the relay
// and blames no player; forwarding a player's signed forgery convicts
// that player with a proof, and drops the relay too.
func TestRelayFaults(t *testing.T) {
	l := buildLog(t, 60)
	honest := l.signed(1, 0, l.answer(0, 0, 30))
	altered := append([]byte(nil), honest...)
	altered[len(altered)-3] ^= 1
	forged := l.answer(0, 0, 30)
	forged.Entries = append(forged.Entries[:2], forged.Entries[3:]...) // a gap
	cases := []struct {
		name  string
		frame []byte
		fault bool // a RelayFault; otherwise a Forgery by seat 1
	}{
		{"garbage", []byte("garbage"), true},
		{"altered answer", altered, true},
		{"answer after a later slot", l.signed(1, 20, l.answer(20, 0, 30)), true},
		{"a player's forgery", l.signed(1, 0, forged), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := relayOnly(t, l)
			_, err := f.Deliver(4, c.frame)
			if !f.Dropped(4) {
				t.Fatalf("relay kept: %v", err)
			}
			if c.fault {
				if !errors.Is(err, ErrBadRelay) || len(f.RelayFaults()) != 1 || len(f.Forgeries()) != 0 || f.Dropped(1) {
					t.Fatalf("err %v, faults %v, forgeries %v", err, f.RelayFaults(), f.Forgeries())
				}
				return
			}
			fg := f.Forgeries()
			if !errors.Is(err, ErrForged) || len(fg) != 1 || fg[0].Seat != 1 || fg[0].Via != 0 || !f.Dropped(1) {
				t.Fatalf("err %v, forgeries %+v", err, fg)
			}
			if who, _, err := VerifyForgery(l.h, fg[0].Proof); err != nil || who != 1 {
				t.Fatalf("proof: seat %d, %v", who, err)
			}
		})
	}
	// The honest answer through the relay, asked at a later slot, takes
	// the spectator on from where it is.
	f := relayOnly(t, l)
	if _, err := f.Deliver(4, l.signed(0, 0, l.answer(0, 0, 12))); err != nil {
		t.Fatal(err)
	}
	if n, err := f.Deliver(4, honest); err != nil || n != 18 || f.Slot() != 30 {
		t.Fatalf("%d applied, slot %d: %v", n, f.Slot(), err)
	}
}

// TestRelayKeepsBoundedAnswers: a relay that follows a long match one
// slot an answer keeps at most relayRefresh of them: every relayRefresh
// answers it asks a player after slot 0, gets the latest checkpoint with
// its snapshot, and forgets what that checkpoint makes useless.
func TestRelayKeepsBoundedAnswers(t *testing.T) {
	const slots = 2*relayRefresh + 40
	l := buildLog(t, slots)
	up, err := New(l.h, newGame)
	if err != nil {
		t.Fatal(err)
	}
	up.EnableRelay()
	refreshes := 0
	for up.Slot() < slots {
		cp := up.Slot() / 20 * 20 // the players' stable checkpoint
		seat, _ := up.Source()
		after, _ := binary.Uvarint(up.Request(seat))
		if after == 0 && up.Slot() > 0 {
			refreshes++
		}
		if _, err := up.Deliver(seat, l.signed(seat, after, l.answer(after, cp, up.Slot()+1))); err != nil {
			t.Fatal(err)
		}
		// What is kept: the answers since the last refresh, and those
		// since the checkpoint it brought (one every 20 slots).
		if n := len(up.cache.frames); n > relayRefresh+20+1 {
			t.Fatalf("slot %d: %d answers kept", up.Slot(), n)
		}
	}
	if refreshes < 2 {
		t.Fatalf("%d refreshes in %d slots", refreshes, slots)
	}
	late := relayOnly(t, l)
	for i := 0; late.Slot() < slots; i++ {
		if i > relayRefresh+10 {
			t.Fatalf("stuck at slot %d", late.Slot())
		}
		if _, err := late.Deliver(4, up.Relay(late.Request(4))); err != nil {
			t.Fatal(err)
		}
	}
	if late.Engine().Hash() != l.ref.Hash() || late.Report().Checkpoints != 1 {
		t.Fatalf("hash %s (want %s), %d checkpoints", late.Engine().Hash(), l.ref.Hash(), late.Report().Checkpoints)
	}
}

// TestRelayForwardsOnlyWhatItChecked: a player signs a right answer with
// one more entry past its end, a repeat under a junk certificate (which
// the follower would skip as held). The relay convicts the player with a
// proof and keeps nothing of the answer, so a spectator it serves, at a
// slot of its own, never meets the answer, and never drops the relay.
func TestRelayForwardsOnlyWhatItChecked(t *testing.T) {
	l := buildLog(t, 60)
	up, _ := New(l.h, newGame)
	up.EnableRelay()
	if _, err := up.Deliver(0, l.signed(0, 0, l.answer(0, 0, 10))); err != nil {
		t.Fatal(err)
	}
	st := l.answer(10, 0, 30)
	dup := st.Entries[0]
	dup.Cert = []uint32{9999}
	st.Entries = append(st.Entries, dup)
	up.Request(1)
	if _, err := up.Deliver(1, l.signed(1, 10, st)); !errors.Is(err, ErrForged) || !up.Dropped(1) {
		t.Fatalf("the relay took the answer: %v", err)
	}
	if fg := up.Forgeries(); len(fg) != 1 || fg[0].Proof == nil {
		t.Fatalf("forgeries %+v, want seat 1's with a proof", fg)
	}
	down, _ := New(l.h, newGame)
	down.EnableRelay()
	down.UseRelays(1)
	if _, err := down.Deliver(0, l.signed(0, 0, l.answer(0, 0, 5))); err != nil {
		t.Fatal(err)
	}
	if _, err := down.Deliver(4, up.Relay(down.Request(4))); err != nil || down.Dropped(4) {
		t.Fatalf("the honest relay was dropped: %v", err)
	}
	if down.Slot() != 10 {
		t.Fatalf("slot %d, want the relay's checked 10", down.Slot())
	}
	// An answer from a relay that starts below the follower's slot is
	// applied but not kept: checking what it repeats would let a relay
	// make every slot cost a whole answer's certificates.
	if _, err := down.Deliver(4, l.signed(2, 0, l.answer(0, 0, 12))); err != nil || down.Slot() != 12 {
		t.Fatalf("slot %d: %v", down.Slot(), err)
	}
	if fr := down.Relay(binary.AppendUvarint(nil, 10)); fr != nil {
		t.Fatal("a relayed answer from below the slot was kept")
	}
}

// TestRelayRefreshIsRetried: a refresh (asked of players only) that
// brings no checkpoint is asked again relayRetry answers later, not
// relayRefresh.
func TestRelayRefreshIsRetried(t *testing.T) {
	l := buildLog(t, 60)
	f, _ := New(l.h, newGame)
	f.EnableRelay()
	f.UseRelays(1)
	l.follow(t, f, 0, 1, 1)
	f.cache.sinceSnap = relayRefresh
	after := func(src int) uint64 { a, _ := binary.Uvarint(f.Request(src)); return a }
	if after(4) != 1 {
		t.Fatal("a refresh asked of a relay")
	}
	if after(0) != 0 {
		t.Fatal("no refresh due after relayRefresh answers")
	}
	if _, err := f.Deliver(0, nil); err != nil || after(0) != 1 {
		t.Fatalf("a refresh again at once after an empty answer: %v", err)
	}
	f.cache.sinceSnap += relayRetry
	if after(0) != 0 {
		t.Fatal("a refresh that brought nothing is not asked again")
	}
}
