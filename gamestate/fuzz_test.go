package gamestate

import (
	"bytes"
	"io"
	"testing"

	"github.com/paxsync/paxsync/crypto"
)

// Every decoder must reject or accept any input without panicking, and
// whatever it accepts must re-encode to the same bytes (one encoding per
// value: signatures cover bytes).

func FuzzDecodeInput(f *testing.F) {
	f.Add((&Input{Seat: 1, Tick: 300, Data: []byte{1, 2, 3}}).Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeInput(b)
		if err == nil && !bytes.Equal(m.Encode(), b) {
			t.Fatalf("%x re-encodes as %x", b, m.Encode())
		}
	})
}

func FuzzDecodeSealedInput(f *testing.F) {
	f.Add((&SealedInput{Seat: 1, Tick: 2, Sealed: make([]byte, 90)}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeSealedInput(b)
		if err == nil && !bytes.Equal(m.Encode(), b) {
			t.Fatal("does not re-encode")
		}
	})
}

func FuzzDecodeReveal(f *testing.F) {
	f.Add((&Reveal{Seat: 1, Tick: 2}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeReveal(b)
		if err == nil && !bytes.Equal(m.Encode(), b) {
			t.Fatal("does not re-encode")
		}
	})
}

func FuzzDecodeStateHash(f *testing.F) {
	f.Add((&StateHash{Seat: 1, Tick: 30}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeStateHash(b)
		if err == nil && !bytes.Equal(m.Encode(), b) {
			t.Fatal("does not re-encode")
		}
	})
}

func FuzzDecodeBatch(f *testing.F) {
	fx := newFixture(f, 3)
	f.Add(sampleBatch(fx).Encode())
	f.Add((&Batch{}).Encode())
	c, k := fx.sealed(1, 4, []byte{2})
	_, k2 := fx.sealed(1, 4, []byte{3})
	f.Add((&Batch{First: 0, Ticks: []TickInputs{{Seats: []*crypto.Envelope{fx.reveal(0, 0, k), nil, fx.reveal(2, 0, k2)}}},
		Commits: []crypto.Envelope{c}, Evidence: []Evidence{{Kind: RevealMismatch, Envelopes: []crypto.Envelope{c, *fx.reveal(1, 4, k2)}},
			{Kind: ForgedInput, Envelopes: []crypto.Envelope{*fx.inputBy(0, 1, 0, []byte{1})}}}}).Encode())
	f.Add((&Batch{Ticks: []TickInputs{{Seats: make([]*crypto.Envelope, 3)}, {Seats: make([]*crypto.Envelope, 3)}}}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		batch, err := DecodeBatch(b)
		if err != nil {
			return
		}
		if !bytes.Equal(batch.Encode(), b) {
			t.Fatal("does not re-encode")
		}
		_ = ValidateBatch(batch, fx.ver, Rules{Seats: 3, HashInterval: 30})
		e, _ := fx.engine(Config{Sealed: len(b)%2 == 0})
		batch.First = 0
		if _, err := e.Apply(batch); err != nil {
			t.Fatal(err)
		}
		if err := e.Restore(e.Snapshot()); err != nil {
			t.Fatalf("own snapshot does not restore: %v", err)
		}
	})
}

func FuzzDecodeVerdict(f *testing.F) {
	fx := newFixture(f, 2)
	f.Add((&Verdict{Kind: InputEquivocation, Offender: 1, Tick: 3, Evidence: [][]byte{fx.input(1, 3, 1).Encode(nil), fx.input(1, 3, 2).Encode(nil)}}).Encode())
	f.Add((&Verdict{Kind: InvalidMove, Offender: 0, Evidence: [][]byte{fx.input(0, 0, 50).Encode(nil)}}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeVerdict(b)
		if err != nil {
			return
		}
		if !bytes.Equal(v.Encode(), b) {
			t.Fatal("does not re-encode")
		}
		_ = v.Verify(fx.ver)
	})
}

func FuzzReplayReader(f *testing.F) {
	fx := newFixture(f, 3)
	var buf bytes.Buffer
	rw, err := NewReplayWriter(&buf, &Header{Name: "fuzz", Roster: fx.roster, HashInterval: 30})
	if err != nil {
		f.Fatal(err)
	}
	rw.WriteBatch(&Batch{Ticks: []TickInputs{fx.fullTick(0, 1)}})
	rw.WriteHash(0, crypto.Digest{})
	rw.WriteConsensus(&Verdict{Kind: VoteEquivocation, Offender: 1})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = VerifyReplay(bytes.NewReader(b), func(h *Header) (Game, error) { return newCounter(len(h.Roster)), nil })
		rr, err := NewReplayReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		for i := 0; i < 1000; i++ {
			if _, err := rr.Next(); err == io.EOF || err != nil {
				return
			}
		}
	})
}

func FuzzEngineRestore(f *testing.F) {
	fx := newFixture(f, 2)
	e, _ := fx.engine(Config{Sealed: true})
	c, _ := fx.sealed(0, 3, []byte{1})
	e.Apply(&Batch{Ticks: []TickInputs{{Seats: make([]*crypto.Envelope, 2)}}, Commits: []crypto.Envelope{c}})
	e.RecordConsensus(VoteEquivocation, 1, nil, "")
	f.Add(e.Snapshot())
	f.Fuzz(func(t *testing.T, b []byte) {
		e, _ := fx.engine(Config{Sealed: true})
		if e.Restore(b) != nil {
			return
		}
		if !bytes.Equal(e.Snapshot(), b) {
			t.Fatal("restored snapshot does not re-encode")
		}
		e.Apply(&Batch{First: e.Next(), Ticks: []TickInputs{fx.fullTick(e.Next(), 1)}})
	})
}
