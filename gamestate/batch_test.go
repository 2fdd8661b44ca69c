package gamestate

import (
	"bytes"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

func TestMessagesRoundTrip(t *testing.T) {
	in := Input{Seat: 3, Tick: 1 << 40, Data: []byte("abc")}
	if got, err := DecodeInput(in.Encode()); err != nil || got.Seat != 3 || got.Tick != in.Tick || string(got.Data) != "abc" {
		t.Fatalf("input %+v %v", got, err)
	}
	sl := SealedInput{Seat: 1, Tick: 7, Sealed: bytes.Repeat([]byte{9}, 80)}
	if got, err := DecodeSealedInput(sl.Encode()); err != nil || !bytes.Equal(got.Sealed, sl.Sealed) || got.Tick != 7 {
		t.Fatalf("sealed %+v %v", got, err)
	}
	rv := Reveal{Seat: 2, Tick: 8, Key: crypto.SealKey{1, 2, 3}}
	if got, err := DecodeReveal(rv.Encode()); err != nil || got != rv {
		t.Fatalf("reveal %+v %v", got, err)
	}
	sh := StateHash{Seat: 5, Tick: 30, Hash: crypto.Sum([]byte("s"))}
	if got, err := DecodeStateHash(sh.Encode()); err != nil || got != sh {
		t.Fatalf("state hash %+v %v", got, err)
	}
	big := Input{Data: make([]byte, MaxInputSize+1)}
	if _, err := DecodeInput(big.Encode()); err == nil {
		t.Fatal("oversize input accepted")
	}
	if _, err := DecodeInput(append(in.Encode(), 0)); err == nil {
		t.Fatal("trailing bytes accepted")
	}
}

func sampleBatch(f *fixture) *Batch {
	t0 := f.fullTick(5, 1)
	t0.Seats[2] = nil
	return &Batch{First: 5, Ticks: []TickInputs{t0, f.fullTick(6, 2)},
		Hashes:   []crypto.Envelope{f.stateHash(1, 0, crypto.Sum([]byte("h")))},
		Evidence: []Evidence{{Kind: InputEquivocation, Envelopes: []crypto.Envelope{*f.input(0, 3, 1), *f.input(0, 3, 2)}}}}
}

func TestBatchEncodeRoundTrip(t *testing.T) {
	f := newFixture(t, 3)
	b := sampleBatch(f)
	enc := b.Encode()
	got, err := DecodeBatch(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Encode(), enc) || got.Digest() != b.Digest() {
		t.Fatal("batch does not round-trip")
	}
	if got.Ticks[0].Seats[2] != nil || got.Ticks[1].Seats[2] == nil {
		t.Fatal("NoInput marker lost")
	}
	if err := ValidateBatch(got, f.ver, Rules{Seats: 3, HashInterval: 30}); err != nil {
		t.Fatalf("decoded batch no longer validates: %v", err)
	}
}

func TestValidateBatchRejects(t *testing.T) {
	f := newFixture(t, 3)
	rules := Rules{Seats: 3, HashInterval: 30}
	cases := map[string]func(b *Batch){
		"input for another tick": func(b *Batch) { b.Ticks[0].Seats[0] = f.input(0, 6, 1) },
		"input in another seat's slot": func(b *Batch) {
			b.Ticks[0].Seats[1] = f.input(0, 5, 1)
		},
		"forged input in a slot": func(b *Batch) { b.Ticks[0].Seats[1] = f.inputBy(0, 1, 5, []byte{1}) },
		"bad signature": func(b *Batch) {
			e := *f.input(1, 5, 1)
			e.Sig[0] ^= 1
			b.Ticks[0].Seats[1] = &e
		},
		"wrong message type": func(b *Batch) {
			e := f.signers[1].Sign(wire.TypeReveal, (&Reveal{Seat: 1, Tick: 5}).Encode())
			b.Ticks[0].Seats[1] = &e
		},
		"missing seat entry": func(b *Batch) { b.Ticks[0].Seats = b.Ticks[0].Seats[:2] },
		"extra seat entry":   func(b *Batch) { b.Ticks[0].Seats = append(b.Ticks[0].Seats, nil) },
		"duplicate state hash": func(b *Batch) {
			b.Hashes = append(b.Hashes, b.Hashes[0])
		},
		"state hash not at a checkpoint": func(b *Batch) { b.Hashes[0] = f.stateHash(1, 3, crypto.Digest{}) },
		"state hash for an undecided tick": func(b *Batch) {
			b.Hashes[0] = f.stateHash(1, 30, crypto.Digest{})
		},
		"evidence that proves nothing": func(b *Batch) {
			b.Evidence[0].Envelopes[1] = b.Evidence[0].Envelopes[0]
		},
		"evidence of unknown kind": func(b *Batch) { b.Evidence[0].Kind = 99 },
		"too many ticks":           func(b *Batch) { b.Ticks = make([]TickInputs, MaxBatchTicks+1) },
	}
	if err := ValidateBatch(sampleBatch(f), f.ver, rules); err != nil {
		t.Fatalf("the sample batch must be valid: %v", err)
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			b := sampleBatch(f)
			mutate(b)
			wantErr(t, ValidateBatch(b, f.ver, rules), ErrInvalidBatch)
		})
	}
	// The roster must match the rules.
	wantErr(t, ValidateBatch(sampleBatch(f), f.ver, Rules{Seats: 4}), ErrInvalidBatch)
}

func TestEngineIgnoresMisboundEntriesWithoutPanicking(t *testing.T) {
	f := newFixture(t, 2)
	e, g := f.engine(Config{})
	junk := crypto.Envelope{Type: wire.TypeInput, Sender: 0, Body: []byte{0xff}}
	b := &Batch{First: 0, Ticks: []TickInputs{{Seats: []*crypto.Envelope{&junk}}, {Seats: []*crypto.Envelope{nil, f.input(0, 1, 1), f.input(1, 1, 1)}}}}
	if _, err := e.Apply(b); err != nil {
		t.Fatal(err)
	}
	if g.seen[0][0].Present || g.seen[1][1].Present {
		t.Fatalf("misbound entries must be no input: %+v", g.seen)
	}
}
