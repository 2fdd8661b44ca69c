package spectator

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/wire"
)

// log is a certified decided log of a 4-seat arena match, built the way
// bft certifies one (bft/msgs.go's encodings): each slot decides one tick
// with an input from every seat; slot 10 also orders a vote equivocation
// by seat 2; a checkpoint every 20 slots.
type log struct {
	h       *gamestate.Header
	signers []*crypto.Signer
	values  map[uint64][]byte
	snaps   map[uint64][]byte // engine snapshot after the slot
	ref     *gamestate.Engine
}

func newGame(h *gamestate.Header) (gamestate.Game, error) { return arena.FromParams(h.Game) }

func vote(s *crypto.Signer, t wire.Type, view, slot uint64, d crypto.Digest) crypto.Envelope {
	w := wire.NewWriter(nil)
	w.Uvarint(view)
	w.Uvarint(1)
	w.Uvarint(slot)
	w.Bytes32(d)
	return s.Sign(t, w.Bytes())
}

func buildLog(t testing.TB, slots uint64) *log {
	t.Helper()
	l := &log{values: map[uint64][]byte{}, snaps: map[uint64][]byte{}}
	var roster []crypto.PublicKey
	var keys []*crypto.PrivateKey
	for i := 0; i < 4; i++ {
		k, err := crypto.KeyFromSeed(bytes.Repeat([]byte{byte(0x60 + i)}, 32))
		if err != nil {
			t.Fatal(err)
		}
		keys, roster = append(keys, k), append(roster, k.Public())
	}
	l.h = &gamestate.Header{Name: "watched", Roster: roster, TickRate: 30, InputDelay: 2, HashInterval: 10, Game: arena.Params(4, 3)}
	for i, k := range keys {
		l.signers = append(l.signers, crypto.NewSigner(k, l.h.MatchID(), uint16(i)))
	}
	g, _ := newGame(l.h)
	var err error
	if l.ref, err = gamestate.NewEngine(g, l.h.Config()); err != nil {
		t.Fatal(err)
	}
	bots := []*arena.Bot{arena.NewBot(0, 1), arena.NewBot(1, 1), arena.NewBot(2, 1), arena.NewBot(3, 1)}
	for s := uint64(1); s <= slots; s++ {
		tick := l.ref.Next()
		b := &gamestate.Batch{First: tick, Ticks: []gamestate.TickInputs{{Seats: make([]*crypto.Envelope, 4)}}}
		for seat := range 4 {
			in := bots[seat].Input(l.ref.Game().(*arena.Arena), tick)
			e := l.signers[seat].Sign(wire.TypeInput, (&gamestate.Input{Seat: uint16(seat), Tick: tick, Data: in}).Encode())
			b.Ticks[0].Seats[seat] = &e
		}
		var evs []bft.Evidence
		if s == 10 {
			evs = []bft.Evidence{{Kind: bft.VoteEquivocation, Offender: 2,
				A: vote(l.signers[2], wire.TypeConfirm, 0, 9, crypto.Sum([]byte("A"))),
				B: vote(l.signers[2], wire.TypeConfirm, 0, 9, crypto.Sum([]byte("B")))}}
		}
		l.ref.RecordOrdered(s, evs)
		if _, err := l.ref.Apply(b); err != nil {
			t.Fatal(err)
		}
		w := wire.NewWriter(nil)
		w.Blob(b.Encode())
		w.Uvarint(uint64(len(evs)))
		for i := range evs {
			w.Blob(bft.EncodeEvidence(&evs[i]))
		}
		l.values[s] = w.Bytes()
		if s%20 == 0 {
			l.snaps[s] = l.ref.Snapshot()
		}
	}
	return l
}

// signed is seat's signed answer frame to a spectator after slot after.
func (l *log) signed(seat int, after uint64, st *bft.SyncState) []byte {
	resp := bft.EncodeSyncState(st)
	return EncodeAnswer(l.signers[seat].Sign(wire.TypeSyncResponse, AnswerBody(after, resp)), resp)
}

// checkpoint is the certified checkpoint of slot, signed by seats.
func (l *log) checkpoint(slot uint64, snap []byte, seats ...int) ([]byte, []crypto.Envelope) {
	w := wire.NewWriter(nil)
	w.Uvarint(slot)
	w.Bytes32(crypto.Sum(snap))
	w.Uvarint(0)
	body := w.Bytes()
	var cert []crypto.Envelope
	for _, s := range seats {
		cert = append(cert, l.signers[s].Sign(wire.TypeCheckpoint, body))
	}
	return body, cert
}

// answer is what an honest player at slot `to` answers a spectator at
// `after`: its stable checkpoint of cp (with the snapshot when the
// spectator is below it), then the entries.
func (l *log) answer(after, cp, to uint64) *bft.SyncState {
	st := &bft.SyncState{}
	start := after + 1
	if cp > 0 {
		st.Checkpoint, st.CheckpointCert = l.checkpoint(cp, l.snaps[cp], 0, 1, 3)
		if after < cp {
			st.Snapshot = l.snaps[cp]
			start = cp + 1
		}
	}
	for s := start; s <= to; s++ {
		v := l.values[s]
		e := bft.SyncEntry{Slot: s, View: 0, Value: v}
		for _, seat := range []int{0, 1, 3} {
			e.Cert = append(e.Cert, uint32(len(st.Confirms)))
			st.Confirms = append(st.Confirms, vote(l.signers[seat], wire.TypeConfirm, 0, s, crypto.Sum(v)))
		}
		st.Entries = append(st.Entries, e)
	}
	return st
}

func TestFollowerChecksEveryAnswer(t *testing.T) {
	l := buildLog(t, 60)
	cases := map[string]func(st *bft.SyncState){
		"altered entry": func(st *bft.SyncState) {
			st.Entries[3].Value = append([]byte(nil), st.Entries[3].Value...)
			st.Entries[3].Value[5] ^= 1
		},
		"altered verdict": func(st *bft.SyncState) { // seat 2's vote equivocation, blamed on seat 1
			for i, e := range st.Entries {
				if e.Slot == 10 {
					_, evs, err := bft.DecodeValue(e.Value, gamestate.MaxValuePayload)
					if err != nil || len(evs) != 1 {
						t.Fatalf("slot 10: %v, %d evidence", err, len(evs))
					}
					evs[0].Offender = 1
					p, _, _ := bft.DecodeValue(e.Value, gamestate.MaxValuePayload)
					w := wire.NewWriter(nil)
					w.Blob(p)
					w.Uvarint(1)
					w.Blob(bft.EncodeEvidence(&evs[0]))
					st.Entries[i].Value = w.Bytes()
				}
			}
		},
		"forged checkpoint (snapshot)": func(st *bft.SyncState) {
			st.Snapshot = append([]byte(nil), st.Snapshot...)
			st.Snapshot[len(st.Snapshot)-1] ^= 1
		},
		"forged checkpoint (two signers)": func(st *bft.SyncState) {
			// The forger and one accomplice (f = 1 allows only one)
			// certify a snapshot with seat 3 flagged.
			g, _ := newGame(l.h)
			e, _ := gamestate.NewEngine(g, l.h.Config())
			_ = e.Restore(l.snaps[20])
			e.RecordConsensus(gamestate.VoteEquivocation, 3, nil, "made up")
			st.Snapshot = e.Snapshot()
			st.Checkpoint, st.CheckpointCert = l.checkpoint(20, st.Snapshot, 0, 1)
		},
		"gap": func(st *bft.SyncState) { st.Entries = append(st.Entries[:2], st.Entries[3:]...) },
		// Every entry points 1024 times at one unsigned Confirm naming
		// 4096 pairs: checking it cost seconds per entry (its body was
		// read once per reference). A certificate holds one Confirm per
		// acceptor at most.
		"padded certificates": func(st *bft.SyncState) {
			w := wire.NewWriter(nil)
			w.Uvarint(0)
			w.Uvarint(4096)
			for i := range 4096 {
				w.Uvarint(uint64(1000 + i))
				w.Bytes32(crypto.Digest{})
			}
			junk := crypto.Envelope{Type: wire.TypeConfirm, Sender: 2, Body: w.Bytes()}
			st.Confirms = append(st.Confirms, junk)
			for i := range st.Entries {
				for range 1024 {
					st.Entries[i].Cert = append(st.Entries[i].Cert, uint32(len(st.Confirms)-1))
				}
			}
		},
	}
	for name, forge := range cases {
		t.Run(name, func(t *testing.T) {
			f, err := New(l.h, newGame)
			if err != nil {
				t.Fatal(err)
			}
			cp := uint64(0)
			if strings.HasPrefix(name, "forged") {
				cp = 20
			}
			st := l.answer(0, cp, 40)
			forge(st)
			seat, _ := f.Source()
			_, err = f.Deliver(seat, l.signed(seat, 0, st))
			if !errors.Is(err, ErrForged) {
				t.Fatalf("forged answer accepted: %v (slot %d)", err, f.Slot())
			}
			if !f.Dropped(seat) || len(f.Forgeries()) != 1 || f.Forgeries()[0].Seat != seat {
				t.Fatalf("seat %d not dropped: %+v", seat, f.Forgeries())
			}
			t.Logf("%s: %v", name, err)
			// The signed answer proves it to anyone holding the roster.
			proof := f.Forgeries()[0].Proof
			if proof == nil {
				t.Fatal("no proof kept")
			}
			if who, why, err := VerifyForgery(l.h, proof); err != nil || who != seat || why == "" {
				t.Fatalf("proof: seat %d, %q, %v", who, why, err)
			}
			bad := append([]byte(nil), proof...)
			bad[len(bad)-1] ^= 1
			if _, _, err := VerifyForgery(l.h, bad); err == nil {
				t.Fatal("an altered proof still convicts")
			}
			if next, _ := f.Source(); next == seat {
				t.Fatal("the forger is asked again")
			}
			// The honest players' answer takes the spectator on, from
			// where the forgery stopped it, to the reference state.
			next, _ := f.Source()
			if _, err := f.Deliver(next, l.signed(next, f.Slot(), l.answer(f.Slot(), 40, 60))); err != nil {
				t.Fatal(err)
			}
			if f.Slot() != 60 || f.Engine().Hash() != l.ref.Hash() {
				t.Fatalf("slot %d, hash %s; want 60, %s", f.Slot(), f.Engine().Hash(), l.ref.Hash())
			}
			vs := f.Report().Verdicts
			if len(vs) != 1 || vs[0].Kind != gamestate.VoteEquivocation || vs[0].Offender != 2 {
				t.Fatalf("verdicts %v, want seat 2's vote equivocation only", vs)
			}
		})
	}
}

// TestFollowerFollowsInSteps: an honest log served in pieces (from slot 1,
// then on), with an empty answer between, ends at the reference state; a
// spectator whose every source forged has none left.
func TestFollowerFollowsInSteps(t *testing.T) {
	l := buildLog(t, 60)
	f, err := New(l.h, newGame)
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []uint64{15, 15, 33, 60} {
		seat, ok := f.Source()
		if !ok {
			t.Fatal("no source")
		}
		var resp []byte
		if to > f.Slot() {
			st := l.answer(f.Slot(), 0, to)
			resp = l.signed(seat, f.Slot(), st)
			// An honest answer proves nothing against its signer.
			if _, _, err := VerifyForgery(l.h, resp); !errors.Is(err, ErrNotForged) {
				t.Fatalf("an honest answer: %v", err)
			}
		}
		if _, err := f.Deliver(seat, resp); err != nil {
			t.Fatal(err)
		}
		if f.Slot() != to {
			t.Fatalf("slot %d, want %d", f.Slot(), to)
		}
	}
	if f.Engine().Hash() != l.ref.Hash() || len(f.Report().Verdicts) != 1 {
		t.Fatalf("hash %s (want %s), verdicts %v", f.Engine().Hash(), l.ref.Hash(), f.Report().Verdicts)
	}
	// Unsigned garbage, another seat's signature, an honest answer
	// signed for another request: dropped, with no proof (nothing shows
	// the seat signed a forgery).
	st := l.answer(f.Slot(), 0, 60)
	for i, frame := range [][]byte{[]byte("garbage"), nil, l.signed(0, f.Slot()-1, st), bft.EncodeSyncState(st)} {
		seat, _ := f.Source()
		if frame == nil {
			frame = l.signed((seat+1)%4, f.Slot(), st)
		}
		if _, err := f.Deliver(seat, frame); !errors.Is(err, ErrForged) {
			t.Fatalf("answer %d: %v", i, err)
		}
		if fg := f.Forgeries(); fg[len(fg)-1].Proof != nil {
			t.Fatalf("answer %d: a proof kept for %q", i, fg[len(fg)-1].Reason)
		}
	}
	if _, ok := f.Source(); ok {
		t.Fatal("a source is left after every seat forged")
	}
}

// BenchmarkFollowSlot is what a spectator pays per decided slot of a
// 4-seat match (an answer of 64 slots, each one tick with four signed
// inputs and three Confirms, checked and applied by a fresh follower),
// reported beside one Ed25519 verification measured in the same run: the
// floor is seven (three Confirms, four inputs).
func BenchmarkFollowSlot(b *testing.B) {
	const slots = 64
	l := buildLog(b, slots)
	frame := l.signed(0, 0, l.answer(0, 0, slots))
	const verifies = 200
	envs := make([]crypto.Envelope, verifies)
	for i := range envs {
		envs[i] = l.signers[1].Sign(wire.TypeInput, []byte(fmt.Sprint("verification ", i)))
	}
	// One verification, timed over a fixed count in this run (distinct
	// envelopes: a verifier remembers what it accepted).
	ver := crypto.NewVerifier(l.h.MatchID(), l.h.Roster)
	start := time.Now()
	for i := range envs {
		if err := ver.Verify(&envs[i]); err != nil {
			b.Fatal(err)
		}
	}
	verify := float64(time.Since(start).Nanoseconds()) / verifies
	b.ResetTimer()
	for b.Loop() {
		f, err := New(l.h, newGame)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := f.Deliver(0, frame); err != nil || n != slots {
			b.Fatalf("%d applied: %v", n, err)
		}
	}
	perSlot := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / slots
	b.ReportMetric(perSlot, "ns/slot")
	b.ReportMetric(perSlot/verify, "verifies/slot")
}
