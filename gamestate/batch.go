package gamestate

import (
	"errors"
	"fmt"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// Batch is the payload of one consensus slot, built by the leader. It
// carries, in this order of effect on the engine:
//
//   - Evidence: game-level proofs seen off the log (input equivocation,
//     forged inputs, reveal mismatches). A forged input never occupies a
//     seat's slot: the victim keeps its genuine input, the forger is flagged.
//   - Ticks: the contiguous ticks First, First+1, ... to apply now. Each has
//     exactly one entry per seat: the seat player's signed Input (or, in
//     sealed mode, its Reveal) or nil, the explicit agreed "no input".
//   - Hashes: signed StateHash messages for ticks applied by the end of this
//     batch; each is compared with the engine's own hash.
//   - Commits (sealed mode only): SealedInputs for ticks after this batch.
//     They take effect after the ticks, so a reveal can only open a
//     commitment ordered in an earlier slot.
//
// A batch may have no ticks (evidence, hashes or commitments only), but its
// First must still be the engine's next tick, which keeps the log's tick
// order checkable.
type Batch struct {
	First    uint64
	Ticks    []TickInputs
	Hashes   []crypto.Envelope
	Commits  []crypto.Envelope
	Evidence []Evidence
}

// TickInputs holds one tick's entry per seat: the seat's signed Input (or
// Reveal in sealed mode); its own signed NoInput for the tick or its signed
// Leave from this tick or earlier, which say "no input" in the player's own
// words; or nil, the leader's "no input by the deadline", which honest
// acceptors vote for only once the tick's deadline has passed and they hold
// no input of the seat from well before it (docs/PROTOCOL.md, "Fair play").
type TickInputs struct {
	Seats []*crypto.Envelope
}

// Evidence is a self-contained proof carried in a batch (see CheckEvidence).
type Evidence struct {
	Kind      VerdictKind
	Envelopes []crypto.Envelope
}

// Structural bounds of a batch, so that a leader cannot make acceptors
// decode or store without limit.
const (
	// MaxValuePayload bounds the batch a decided value carries: every
	// session's bft.Config.MaxValueSize, so a replay verifier reads a
	// value exactly as the peers' consensus did.
	MaxValuePayload  = 64 << 10
	MaxBatchTicks    = 64
	MaxBatchHashes   = 8 * MaxSeats
	MaxBatchCommits  = 8 * MaxSeats
	MaxBatchEvidence = 64
	// MaxCommitAhead is how far past the batch a sealed input may commit.
	MaxCommitAhead = 256
	maxEnvSize     = crypto.MaxBodySize + 128
)

// Encode returns the batch's canonical encoding. Envelopes are stored in
// their own wire form, so signatures survive exactly.
func (b *Batch) Encode() []byte {
	w := wire.NewWriter(nil)
	w.Uvarint(b.First)
	w.Uvarint(uint64(len(b.Ticks)))
	for _, t := range b.Ticks {
		w.Uvarint(uint64(len(t.Seats)))
		for _, e := range t.Seats {
			w.Bool(e != nil)
			if e != nil {
				w.Blob(e.Encode(nil))
			}
		}
	}
	writeEnvs(w, b.Hashes)
	writeEnvs(w, b.Commits)
	w.Uvarint(uint64(len(b.Evidence)))
	for _, ev := range b.Evidence {
		w.U8(uint8(ev.Kind))
		writeEnvs(w, ev.Envelopes)
	}
	return w.Bytes()
}

// EncodeEvidence encodes evidence items on their own: the body of the
// wire.TypeEvidenceRelay message a finder broadcasts so that whoever leads
// holds them too (an acceptor refuses a batch that leaves out evidence it
// has held for long, so the leader must be able to have it). At most
// MaxBatchEvidence items.
func EncodeEvidence(evs []Evidence) []byte {
	w := wire.NewWriter(nil)
	w.Uvarint(uint64(len(evs)))
	for _, ev := range evs {
		w.U8(uint8(ev.Kind))
		writeEnvs(w, ev.Envelopes)
	}
	return w.Bytes()
}

// DecodeEvidence parses EncodeEvidence's output (structure only: run
// CheckEvidence for what each item proves).
func DecodeEvidence(buf []byte) ([]Evidence, error) {
	r := wire.NewReader(buf)
	n := r.Len("evidence", MaxBatchEvidence, 2)
	var evs []Evidence
	for i := 0; i < n && r.Err() == nil; i++ {
		ev := Evidence{Kind: VerdictKind(r.U8("evidence.kind"))}
		ev.Envelopes = readEnvs(r, "evidence.envelopes", 4)
		evs = append(evs, ev)
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	return evs, nil
}

// MaxRelay bounds the messages one wire.TypeRelay carries.
const MaxRelay = 64

// EncodeRelay is the body of a wire.TypeRelay: other players' signed
// messages, passed on as they are (at most MaxRelay).
func EncodeRelay(envs []crypto.Envelope) []byte {
	w := wire.NewWriter(nil)
	writeEnvs(w, envs)
	return w.Bytes()
}

// DecodeRelay parses EncodeRelay's output (structure only: each message is
// checked as if it had arrived on its own).
func DecodeRelay(buf []byte) ([]crypto.Envelope, error) {
	r := wire.NewReader(buf)
	envs := readEnvs(r, "relay", MaxRelay)
	if err := r.Done(); err != nil {
		return nil, err
	}
	return envs, nil
}

// Digest names the batch in consensus messages.
func (b *Batch) Digest() crypto.Digest { return crypto.Sum(b.Encode()) }

func writeEnvs(w *wire.Writer, envs []crypto.Envelope) {
	w.Uvarint(uint64(len(envs)))
	for i := range envs {
		w.Blob(envs[i].Encode(nil))
	}
}

func readEnv(r *wire.Reader, field string) crypto.Envelope {
	b := r.Blob(field, maxEnvSize)
	if r.Err() != nil {
		return crypto.Envelope{}
	}
	e, err := crypto.DecodeEnvelope(b)
	if err != nil {
		r.Fail(field, wire.ErrMalformed)
	}
	return e
}

func readEnvs(r *wire.Reader, field string, max int) []crypto.Envelope {
	n := r.Len(field, max, 1)
	var out []crypto.Envelope
	for i := 0; i < n && r.Err() == nil; i++ {
		out = append(out, readEnv(r, field))
	}
	return out
}

// DecodeBatch parses a batch. It checks structure and bounds, not
// signatures or bindings: run ValidateBatch for those.
func DecodeBatch(buf []byte) (*Batch, error) {
	r := wire.NewReader(buf)
	b := &Batch{First: r.Uvarint("batch.first")}
	nt := r.Len("batch.ticks", MaxBatchTicks, 1)
	for i := 0; i < nt && r.Err() == nil; i++ {
		ns := r.Len("batch.seats", MaxSeats, 1)
		t := TickInputs{Seats: make([]*crypto.Envelope, ns)}
		for s := 0; s < ns && r.Err() == nil; s++ {
			if r.Bool("batch.present") {
				e := readEnv(r, "batch.input")
				t.Seats[s] = &e
			}
		}
		b.Ticks = append(b.Ticks, t)
	}
	b.Hashes = readEnvs(r, "batch.hashes", MaxBatchHashes)
	b.Commits = readEnvs(r, "batch.commits", MaxBatchCommits)
	ne := r.Len("batch.evidence", MaxBatchEvidence, 2)
	for i := 0; i < ne && r.Err() == nil; i++ {
		ev := Evidence{Kind: VerdictKind(r.U8("evidence.kind"))}
		ev.Envelopes = readEnvs(r, "evidence.envelopes", 4)
		b.Evidence = append(b.Evidence, ev)
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	return b, nil
}

// checkEntry checks one seat entry of tick: the seat's input (want), or a
// signed absence of its own (NoInput for this tick, Leave from it or an
// earlier tick).
func checkEntry(v *crypto.Verifier, e *crypto.Envelope, want wire.Type, seat int, tick uint64) error {
	switch e.Type {
	case wire.TypeNoInput:
		return checkBound(v, e, wire.TypeNoInput, seat, tick)
	case wire.TypeLeave:
		m, err := DecodeLeave(e.Body)
		if err != nil {
			return err
		}
		if m.Tick > tick {
			return fmt.Errorf("%w: leave from tick %d in tick %d", ErrMisbound, m.Tick, tick)
		}
		return checkBound(v, e, wire.TypeLeave, seat, m.Tick)
	}
	return checkBound(v, e, want, seat, tick)
}

// Rules are what ValidateBatch needs to know about the match.
type Rules struct {
	Seats        int    // roster size
	Sealed       bool   // commit-reveal mode
	HashInterval uint64 // state hashes only at ticks that are multiples of this (0: any)
}

// ErrInvalidBatch wraps every reason ValidateBatch rejects a batch.
var ErrInvalidBatch = errors.New("gamestate: invalid batch")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidBatch, fmt.Sprintf(format, a...))
}

type seatTickKey struct {
	tick uint64
	seat uint16
}

// ValidateBatch is the pure validity predicate acceptors run before voting.
// It checks that every input (or reveal) is signed by its seat's player and
// bound to its slot's seat and tick, that there is one entry per seat,
// that hashes and commitments are signed, bound and not duplicated, that
// sizes are bounded, and that every evidence item proves what it claims.
// It needs no engine state, so any peer can check any batch at any time.
func ValidateBatch(b *Batch, v *crypto.Verifier, rules Rules) error {
	if rules.Seats <= 0 || rules.Seats > MaxSeats || v.Size() != rules.Seats {
		return invalid("rules: %d seats, roster of %d", rules.Seats, v.Size())
	}
	if len(b.Ticks) > MaxBatchTicks || len(b.Hashes) > MaxBatchHashes ||
		len(b.Commits) > MaxBatchCommits || len(b.Evidence) > MaxBatchEvidence {
		return invalid("too many items")
	}
	end := b.First + uint64(len(b.Ticks)) // first tick not applied by this batch
	if end < b.First {
		return invalid("tick overflow")
	}
	want := wire.TypeInput
	if rules.Sealed {
		want = wire.TypeReveal
	}
	for i, t := range b.Ticks {
		tick := b.First + uint64(i)
		if len(t.Seats) != rules.Seats {
			return invalid("tick %d: %d seat entries, want %d", tick, len(t.Seats), rules.Seats)
		}
		for s, e := range t.Seats {
			if e == nil {
				continue
			}
			if err := checkEntry(v, e, want, s, tick); err != nil {
				return invalid("tick %d seat %d: %v", tick, s, err)
			}
		}
	}
	seen := map[seatTickKey]bool{}
	for i := range b.Hashes {
		e := &b.Hashes[i]
		_, t, err := seatTick(e)
		if err != nil || int(e.Sender) >= rules.Seats {
			return invalid("hash %d: bad message", i)
		}
		if err := checkBound(v, e, wire.TypeStateHash, int(e.Sender), t); err != nil {
			return invalid("hash %d: %v", i, err)
		}
		if t >= end || (rules.HashInterval > 0 && t%rules.HashInterval != 0) {
			return invalid("hash %d: tick %d not a decided checkpoint", i, t)
		}
		k := seatTickKey{t, e.Sender}
		if seen[k] {
			return invalid("hash %d: duplicate for seat %d tick %d", i, e.Sender, t)
		}
		seen[k] = true
	}
	if !rules.Sealed && len(b.Commits) > 0 {
		return invalid("sealed inputs in a match without sealed mode")
	}
	clear(seen)
	for i := range b.Commits {
		e := &b.Commits[i]
		_, t, err := seatTick(e)
		if err != nil || int(e.Sender) >= rules.Seats {
			return invalid("commit %d: bad message", i)
		}
		if err := checkBound(v, e, wire.TypeSealedInput, int(e.Sender), t); err != nil {
			return invalid("commit %d: %v", i, err)
		}
		if t < end || t-end >= MaxCommitAhead {
			return invalid("commit %d: tick %d outside [%d, %d)", i, t, end, end+MaxCommitAhead)
		}
		k := seatTickKey{t, e.Sender}
		if seen[k] {
			return invalid("commit %d: duplicate for seat %d tick %d", i, e.Sender, t)
		}
		seen[k] = true
	}
	for i, ev := range b.Evidence {
		off, _, err := CheckEvidence(v, ev.Kind, ev.Envelopes)
		if err != nil {
			return invalid("evidence %d: %v", i, err)
		}
		if off >= rules.Seats {
			return invalid("evidence %d: offender %d", i, off)
		}
	}
	return nil
}
