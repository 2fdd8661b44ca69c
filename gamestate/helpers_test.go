package gamestate

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// counter is a minimal deterministic game for engine tests: each seat's
// input is one byte added to its total; a byte above 10 is a "speed hack".
type counter struct {
	totals []uint64
	ticks  uint64
	seen   [][]SeatInput // every Advance call's inputs, for assertions
}

func newCounter(n int) *counter { return &counter{totals: make([]uint64, n)} }

func (c *counter) NumSeats() int { return len(c.totals) }

func (c *counter) Validate(seat int, in []byte) *Violation {
	if len(in) != 1 {
		return &Violation{Code: ViolationMalformed}
	}
	if in[0] > 10 {
		return &Violation{Code: ViolationSpeed, Detail: "over 10"}
	}
	return nil
}

func (c *counter) Advance(tick uint64, in []SeatInput) {
	cp := make([]SeatInput, len(in))
	for i, s := range in {
		cp[i] = SeatInput{Present: s.Present, Data: append([]byte(nil), s.Data...)}
		if s.Present && len(s.Data) == 1 {
			c.totals[i] += uint64(s.Data[0])
		}
	}
	c.seen = append(c.seen, cp)
	c.ticks = tick + 1
}

func (c *counter) Snapshot() []byte {
	w := wire.NewWriter(nil)
	w.Uvarint(c.ticks)
	for _, t := range c.totals {
		w.Uvarint(t)
	}
	return w.Bytes()
}

func (c *counter) Restore(b []byte) error {
	r := wire.NewReader(b)
	ticks := r.Uvarint("ticks")
	totals := make([]uint64, len(c.totals))
	for i := range totals {
		totals[i] = r.Uvarint("total")
	}
	if err := r.Done(); err != nil {
		return err
	}
	c.ticks, c.totals = ticks, totals
	return nil
}

func (c *counter) Hash() crypto.Digest { return crypto.Digest(sha256.Sum256(c.Snapshot())) }

// fixture is a match with n seats and deterministic keys.
type fixture struct {
	t       testing.TB
	n       int
	keys    []*crypto.PrivateKey
	roster  []crypto.PublicKey
	match   crypto.MatchID
	ver     *crypto.Verifier
	signers []*crypto.Signer
}

func newFixture(t testing.TB, n int) *fixture {
	f := &fixture{t: t, n: n}
	for i := 0; i < n; i++ {
		k, err := crypto.KeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, 32))
		if err != nil {
			t.Fatal(err)
		}
		f.keys = append(f.keys, k)
		f.roster = append(f.roster, k.Public())
	}
	f.match = crypto.NewMatchID("test", f.roster)
	f.ver = crypto.NewVerifier(f.match, f.roster)
	for i, k := range f.keys {
		f.signers = append(f.signers, crypto.NewSigner(k, f.match, uint16(i)))
	}
	return f
}

// input is seat's own signed input; signer may differ to forge.
func (f *fixture) inputBy(signer, seat int, tick uint64, data []byte) *crypto.Envelope {
	m := Input{Seat: uint16(seat), Tick: tick, Data: data}
	e := f.signers[signer].Sign(wire.TypeInput, m.Encode())
	return &e
}

func (f *fixture) input(seat int, tick uint64, data byte) *crypto.Envelope {
	return f.inputBy(seat, seat, tick, []byte{data})
}

func (f *fixture) stateHash(seat int, tick uint64, h crypto.Digest) crypto.Envelope {
	m := StateHash{Seat: uint16(seat), Tick: tick, Hash: h}
	return f.signers[seat].Sign(wire.TypeStateHash, m.Encode())
}

func (f *fixture) sealed(seat int, tick uint64, data []byte) (crypto.Envelope, crypto.SealKey) {
	s, key, err := crypto.Seal(data, SealAD(f.match, uint16(seat), tick), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	m := SealedInput{Seat: uint16(seat), Tick: tick, Sealed: s}
	return f.signers[seat].Sign(wire.TypeSealedInput, m.Encode()), key
}

func (f *fixture) reveal(seat int, tick uint64, key crypto.SealKey) *crypto.Envelope {
	m := Reveal{Seat: uint16(seat), Tick: tick, Key: key}
	e := f.signers[seat].Sign(wire.TypeReveal, m.Encode())
	return &e
}

// fullTick is a tick where every seat sends byte v.
func (f *fixture) fullTick(tick uint64, v byte) TickInputs {
	t := TickInputs{Seats: make([]*crypto.Envelope, f.n)}
	for s := range t.Seats {
		t.Seats[s] = f.input(s, tick, v)
	}
	return t
}

func (f *fixture) engine(cfg Config) (*Engine, *counter) {
	g := newCounter(f.n)
	cfg.Verifier = f.ver
	e, err := NewEngine(g, cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return e, g
}

func (f *fixture) rules(cfg Config) Rules {
	cfg.Verifier = f.ver
	return cfg.Rules()
}

// mustApply validates then applies b.
func mustApply(t testing.TB, f *fixture, e *Engine, b *Batch) Result {
	t.Helper()
	if err := ValidateBatch(b, f.ver, e.Config().Rules()); err != nil {
		t.Fatalf("ValidateBatch: %v", err)
	}
	res, err := e.Apply(b)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return res
}

func onlyVerdict(t testing.TB, res Result, kind VerdictKind, off int, tick uint64) Verdict {
	t.Helper()
	if len(res.Verdicts) != 1 {
		t.Fatalf("want one %s verdict, got %+v", kind, res.Verdicts)
	}
	v := res.Verdicts[0]
	if v.Kind != kind || v.Offender != off || v.Tick != tick {
		t.Fatalf("want %s against %d at %d, got %s against %d at %d", kind, off, tick, v.Kind, v.Offender, v.Tick)
	}
	return v
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("want %v, got %v", target, err)
	}
}
