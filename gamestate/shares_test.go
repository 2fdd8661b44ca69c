package gamestate

import (
	"errors"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// sealedDealt is seat's sealed input for tick with its key's shares dealt
// to the roster; dealKey, if set, is the key whose shares are dealt
// instead (a dealer that lies).
func (f *fixture) sealedDealt(seat int, tick uint64, data []byte, dealKey *crypto.SealKey) crypto.Envelope {
	ad := SealAD(f.match, uint16(seat), tick)
	s, key, err := crypto.Seal(data, ad, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if dealKey != nil {
		key = *dealKey
	}
	shares, err := f.signers[seat].DealShares(key, f.ver, ad, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	m := SealedInput{Seat: uint16(seat), Tick: tick, Sealed: s, Shares: shares}
	return f.signers[seat].Sign(wire.TypeSealedInput, m.Encode())
}

func (f *fixture) keyShare(holder int, commit crypto.Envelope) crypto.Envelope {
	ks, err := OpenOwnShare(f.signers[holder], f.ver, &commit)
	if err != nil {
		f.t.Fatalf("seat %d opens its share: %v", holder, err)
	}
	return f.signers[holder].Sign(wire.TypeKeyShare, ks.Encode())
}

// A withheld reveal is opened from f+1 shares: the committed input is
// applied on the tick, the report is recorded without flagging, and the
// evidence verifies offline; the opening survives a snapshot taken between
// the batch that orders it and the one that orders its tick.
func TestWithheldRevealOpened(t *testing.T) {
	f := newFixture(t, 4) // f = 1: two shares open
	cfg := Config{Sealed: true, HashInterval: 100}
	e, g := f.engine(cfg)
	c0 := f.sealedDealt(0, 1, []byte{3}, nil)
	mustApply(t, f, e, &Batch{First: 0, Ticks: []TickInputs{{Seats: make([]*crypto.Envelope, 4)}}, Commits: []crypto.Envelope{c0}})
	s1, s2, s3 := f.keyShare(1, c0), f.keyShare(2, c0), f.keyShare(3, c0)
	// Any valid set of f+1 builds the same canonical evidence.
	ev, err := OpeningEvidence(f.ver, c0, []crypto.Envelope{s3, s1, s2})
	if err != nil || ev.Kind != WithheldReveal || len(ev.Envelopes) != 3 || ev.Envelopes[1].Sender != 1 || ev.Envelopes[2].Sender != 2 {
		t.Fatalf("opening evidence %v %+v", err, ev)
	}
	if _, err := OpeningEvidence(f.ver, c0, []crypto.Envelope{s1}); !errors.Is(err, ErrBadEvidence) {
		t.Fatalf("one share of four opened it: %v", err)
	}
	// Ordered before its tick, in a batch of its own.
	res := mustApply(t, f, e, &Batch{First: 1, Evidence: []Evidence{ev}})
	v := onlyVerdict(t, res, WithheldReveal, 0, 1)
	if err := v.Verify(f.ver); err != nil {
		t.Fatalf("withheld-reveal evidence does not verify: %v", err)
	}
	if e.Flag(0).Flagged {
		t.Fatal("a withheld reveal flagged its seat")
	}
	snap := e.Snapshot()
	e2, g2 := f.engine(cfg)
	if err := e2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	tick := &Batch{First: 1, Ticks: []TickInputs{{Seats: make([]*crypto.Envelope, 4)}}}
	mustApply(t, f, e, tick)
	mustApply(t, f, e2, tick)
	for _, gg := range []*counter{g, g2} {
		if in := gg.seen[len(gg.seen)-1][0]; !in.Present || len(in.Data) != 1 || in.Data[0] != 3 {
			t.Fatalf("the withheld input was not applied: %+v", in)
		}
	}
	if e.Hash() != e2.Hash() {
		t.Fatal("restored engine diverged")
	}
	// The same opening again, now that its tick is applied, changes nothing.
	if res := mustApply(t, f, e, &Batch{First: 2, Evidence: []Evidence{ev}}); len(res.Verdicts) != 0 {
		t.Fatalf("stale opening recorded: %+v", res.Verdicts)
	}
}

// A share that does not match its dealt hash is its holder's lie and is
// not used; shares that all match but do not open the seal prove that the
// dealer dealt another key (bad-shares, which flags it); an opening of a
// commitment other than the ordered one is ignored.
func TestKeyShareLiesAndBadDealing(t *testing.T) {
	f := newFixture(t, 4)
	cfg := Config{Sealed: true, HashInterval: 100}
	e, g := f.engine(cfg)
	c0 := f.sealedDealt(0, 1, []byte{3}, nil)
	wrong := crypto.SealKey{7}
	c3 := f.sealedDealt(3, 1, []byte{4}, &wrong)
	other := f.sealedDealt(0, 1, []byte{9}, nil) // seat 0 equivocates; c0 is ordered
	mustApply(t, f, e, &Batch{First: 0, Ticks: []TickInputs{{Seats: make([]*crypto.Envelope, 4)}}, Commits: []crypto.Envelope{c0, c3}})

	ks, _ := OpenOwnShare(f.signers[2], f.ver, &c0)
	ks.Share[0] ^= 1
	lie := f.signers[2].Sign(wire.TypeKeyShare, ks.Encode())
	if err := CheckKeyShare(f.ver, &c0, &lie); !errors.Is(err, ErrShareLie) {
		t.Fatalf("altered share: %v", err)
	}
	if _, err := OpeningEvidence(f.ver, c0, []crypto.Envelope{f.keyShare(1, c0), lie}); err == nil {
		t.Fatal("a lying share was used")
	}
	if off, tick, err := CheckEvidence(f.ver, FalseShare, []crypto.Envelope{c0, lie}); err != nil || off != 2 || tick != 1 {
		t.Fatalf("false-share proof: seat %d tick %d %v", off, tick, err)
	}
	if _, _, err := CheckEvidence(f.ver, FalseShare, []crypto.Envelope{c0, f.keyShare(2, c0)}); !errors.Is(err, ErrBadEvidence) {
		t.Fatalf("an honest share proved false-share: %v", err)
	}
	// A share of another commitment is not one of this.
	if err := CheckKeyShare(f.ver, &c0, ptr(f.keyShare(1, other))); !errors.Is(err, ErrMisbound) {
		t.Fatalf("share of another commitment: %v", err)
	}

	bad, err := OpeningEvidence(f.ver, c3, []crypto.Envelope{f.keyShare(0, c3), f.keyShare(1, c3)})
	if err != nil || bad.Kind != BadShares {
		t.Fatalf("bad dealing: %v %+v", err, bad)
	}
	if _, _, err := CheckEvidence(f.ver, WithheldReveal, bad.Envelopes); !errors.Is(err, ErrBadEvidence) {
		t.Fatalf("bad shares accepted as an opening: %v", err)
	}
	stale, err := OpeningEvidence(f.ver, other, []crypto.Envelope{f.keyShare(1, other), f.keyShare(2, other)})
	if err != nil || stale.Kind != WithheldReveal {
		t.Fatalf("opening of the unordered commitment: %v", err)
	}
	res := mustApply(t, f, e, &Batch{First: 1, Evidence: []Evidence{bad, stale},
		Ticks: []TickInputs{{Seats: make([]*crypto.Envelope, 4)}}})
	v := onlyVerdict(t, res, BadShares, 3, 1)
	if err := v.Verify(f.ver); err != nil || !e.Flag(3).Flagged {
		t.Fatalf("bad-shares verdict: %v, flag %+v", err, e.Flag(3))
	}
	if in := g.seen[1]; in[0].Present || in[3].Present {
		t.Fatalf("an unordered opening or bad shares gave an input: %+v", in)
	}
}

func ptr(e crypto.Envelope) *crypto.Envelope { return &e }
