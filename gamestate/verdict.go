package gamestate

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// VerdictKind names a proven cheat. Every honest peer derives the same
// verdicts from the same log, so a verdict is agreed, not merely observed.
type VerdictKind uint8

// Verdict kinds. The first five are derived by the Engine from the log; the
// two consensus kinds are handed to the engine by the bft layer, whose
// evidence it records as opaque signed envelopes.
const (
	ForgedInput          VerdictKind = 1 // a player signed an input for another seat
	InputEquivocation    VerdictKind = 2 // two different signed inputs for one (seat, tick)
	InvalidMove          VerdictKind = 3 // the game's rules reject the input
	StateDivergence      VerdictKind = 4 // a signed state hash differs from the replayed state
	RevealMismatch       VerdictKind = 5 // a revealed key does not open the ordered sealed input
	ProposalEquivocation VerdictKind = 6 // consensus: conflicting proposals for one slot
	VoteEquivocation     VerdictKind = 7 // consensus: conflicting votes for one slot
	// WithheldReveal: a seat's ordered commitment was opened from f+1 key
	// shares because its reveal did not come by the tick's deadline. The
	// opened input is applied, so the abort gains nothing. It is a report
	// in the log, identical on every honest peer, but it does not flag the
	// seat: a lost or late reveal looks the same (see Flags).
	WithheldReveal VerdictKind = 8
	// BadShares: f+1 key shares, each matching the hash its dealer signed,
	// do not open the dealer's commitment: the dealer dealt shares of
	// another key (a transferable proof against it).
	BadShares VerdictKind = 9
	// FalseShare: a seat signed a key share that does not match the hash
	// the commitment's player signed for it. An honest seat checks its
	// share before sending it, so the two signed messages prove the lie.
	FalseShare VerdictKind = 10
	// LastVerdict is the highest verdict kind (for tables).
	LastVerdict = FalseShare
)

var verdictNames = [...]string{"", "forged-input", "input-equivocation", "invalid-move",
	"state-divergence", "reveal-mismatch", "proposal-equivocation", "vote-equivocation",
	"withheld-reveal", "bad-shares", "false-share"}

// String is the kind's name as used in scenario files and reports.
func (k VerdictKind) String() string {
	if k >= 1 && int(k) < len(verdictNames) {
		return verdictNames[k]
	}
	return fmt.Sprintf("verdict-%d", uint8(k))
}

// MarshalText lets reports print kinds by name in JSON.
func (k VerdictKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// ParseVerdictKind is the inverse of String, for scenario files.
func ParseVerdictKind(s string) (VerdictKind, bool) {
	for i := 1; i < len(verdictNames); i++ {
		if verdictNames[i] == s {
			return VerdictKind(i), true
		}
	}
	return 0, false
}

func (k VerdictKind) valid() bool { return k >= ForgedInput && k <= LastVerdict }

// Flags reports whether a verdict of kind k flags its offender as a proven
// cheater. Every kind does but WithheldReveal, whose log entry proves only
// that the reveal was not ordered in time, not that it was never sent.
func (k VerdictKind) Flags() bool { return k != WithheldReveal }

// Verdict is a proven cheat: who, what, at which tick, and the signed
// messages that prove it. Evidence holds encoded crypto.Envelopes.
type Verdict struct {
	Kind      VerdictKind
	Offender  int           // the cheater's seat
	Tick      uint64        // the tick the cheat concerns (consensus kinds: the tick at which it was recorded)
	Violation ViolationCode // InvalidMove only: the game's typed reason
	Evidence  [][]byte      // encoded signed envelopes
	Detail    string        // human explanation, deterministic
}

// Verification outcomes that are not plain failures. A verdict whose proof
// needs more than its own messages says so instead of claiming success.
var (
	// ErrBadEvidence means the evidence does not prove the verdict.
	ErrBadEvidence = errors.New("gamestate: evidence does not prove the verdict")
	// ErrNeedsReplay means the signatures check out, but the claim (an
	// illegal move, a wrong state hash) can only be confirmed by replaying
	// the log: use VerifyReplay.
	ErrNeedsReplay = errors.New("gamestate: signatures verified; the claim needs a replay (VerifyReplay)")
	// ErrNeedsConsensusCheck means the consensus envelopes are validly
	// signed, conflicting messages of the offender, but whether they
	// conflict for one slot is bft's to decide: pass a checker to VerifyWith.
	ErrNeedsConsensusCheck = errors.New("gamestate: signatures verified; the conflict needs the bft checker")
	// ErrMisbound means a message is not bound to the seat/tick it is used for.
	ErrMisbound = errors.New("gamestate: message bound to another seat or tick")
)

// ConsensusChecker confirms that consensus evidence proves kind against
// offender (bft.Evidence.Check can back one). A certified replay needs
// none: its consensus verdicts come from evidence a quorum ordered.
type ConsensusChecker func(kind VerdictKind, offender int, evidence []crypto.Envelope) error

// Verify re-checks the verdict's evidence offline against the match's
// roster. For forged-input, input-equivocation and reveal-mismatch a nil
// result is a full proof. For invalid-move and state-divergence it returns
// ErrNeedsReplay after checking the signatures; for the consensus kinds,
// ErrNeedsConsensusCheck (use VerifyWith).
func (vd *Verdict) Verify(v *crypto.Verifier) error { return vd.VerifyWith(v, nil) }

// VerifyWith is Verify with a checker for the consensus kinds.
func (vd *Verdict) VerifyWith(v *crypto.Verifier, consensus ConsensusChecker) error {
	envs := make([]crypto.Envelope, len(vd.Evidence))
	for i, b := range vd.Evidence {
		e, err := crypto.DecodeEnvelope(b)
		if err != nil {
			return fmt.Errorf("%w: evidence %d: %v", ErrBadEvidence, i, err)
		}
		envs[i] = e
	}
	switch vd.Kind {
	case ProposalEquivocation, VoteEquivocation:
		if err := checkConflictingSigned(v, vd.Offender, envs); err != nil {
			return err
		}
		if consensus == nil {
			return ErrNeedsConsensusCheck
		}
		if err := consensus(vd.Kind, vd.Offender, envs); err != nil {
			return fmt.Errorf("%w: %v", ErrBadEvidence, err)
		}
		return nil
	case InvalidMove, StateDivergence:
		if err := checkReplayClaim(v, vd, envs); err != nil {
			return err
		}
		return ErrNeedsReplay
	}
	off, tick, err := CheckEvidence(v, vd.Kind, envs)
	if err != nil {
		return err
	}
	if off != vd.Offender || tick != vd.Tick {
		return fmt.Errorf("%w: proves seat %d at tick %d, verdict says seat %d at tick %d",
			ErrBadEvidence, off, tick, vd.Offender, vd.Tick)
	}
	return nil
}

// CheckEvidence checks a self-contained proof (forged-input,
// input-equivocation, reveal-mismatch) and returns the offender and tick it
// proves. The same check guards evidence items in a Batch and verdicts read
// back from reports, so both accept exactly the same proofs.
func CheckEvidence(v *crypto.Verifier, kind VerdictKind, envs []crypto.Envelope) (offender int, tick uint64, err error) {
	bad := func(format string, a ...any) (int, uint64, error) {
		return 0, 0, fmt.Errorf("%w: %s: %s", ErrBadEvidence, kind, fmt.Sprintf(format, a...))
	}
	for i := range envs {
		if err := v.Verify(&envs[i]); err != nil {
			return bad("message %d: %v", i, err)
		}
	}
	switch kind {
	case ForgedInput:
		if t := envs[0].Type; len(envs) != 1 || (t != wire.TypeInput && t != wire.TypeSealedInput && t != wire.TypeReveal) {
			return bad("want one input message")
		}
		seat, t, err := seatTick(&envs[0])
		if err != nil {
			return bad("%v", err)
		}
		if seat == envs[0].Sender {
			return bad("seat %d signed its own input", seat)
		}
		return int(envs[0].Sender), t, nil
	case InputEquivocation:
		if len(envs) != 2 || envs[0].Type != envs[1].Type ||
			(envs[0].Type != wire.TypeInput && envs[0].Type != wire.TypeSealedInput) {
			return bad("want two inputs (or two sealed inputs)")
		}
		s0, t0, err0 := seatTick(&envs[0])
		s1, t1, err1 := seatTick(&envs[1])
		if err0 != nil || err1 != nil {
			return bad("undecodable body")
		}
		if envs[0].Sender != envs[1].Sender || s0 != envs[0].Sender || s1 != s0 || t0 != t1 {
			return bad("not the same signer, seat and tick")
		}
		if bytes.Equal(envs[0].Body, envs[1].Body) {
			return bad("the two inputs are identical")
		}
		return int(s0), t0, nil
	case RevealMismatch:
		if len(envs) != 2 || envs[0].Type != wire.TypeSealedInput || envs[1].Type != wire.TypeReveal {
			return bad("want a sealed input and its reveal")
		}
		sl, err0 := DecodeSealedInput(envs[0].Body)
		rv, err1 := DecodeReveal(envs[1].Body)
		if err0 != nil || err1 != nil {
			return bad("undecodable body")
		}
		if envs[0].Sender != envs[1].Sender || sl.Seat != envs[0].Sender || rv.Seat != sl.Seat || rv.Tick != sl.Tick {
			return bad("not the same signer, seat and tick")
		}
		if _, err := crypto.Open(sl.Sealed, rv.Key, SealAD(v.Match(), sl.Seat, sl.Tick)); !errors.Is(err, crypto.ErrSealMismatch) {
			return bad("the key opens the sealed input")
		}
		return int(sl.Seat), sl.Tick, nil
	case WithheldReveal, BadShares:
		o, err := openShares(v, envs)
		if err != nil {
			return bad("%v", err)
		}
		if (kind == WithheldReveal) != o.opened {
			return bad("the shares open the commitment: %v", o.opened)
		}
		return o.seat, o.tick, nil
	case FalseShare:
		if len(envs) != 2 {
			return bad("want a sealed input and one key share")
		}
		if err := CheckKeyShare(v, &envs[0], &envs[1]); !errors.Is(err, ErrShareLie) {
			return bad("the share is not a lie: %v", err)
		}
		sl, _ := DecodeSealedInput(envs[0].Body)
		return int(envs[1].Sender), sl.Tick, nil
	}
	return bad("not a self-contained evidence kind")
}

// checkReplayClaim checks the signed half of invalid-move and
// state-divergence: the messages are the offender's own, for the tick.
func checkReplayClaim(v *crypto.Verifier, vd *Verdict, envs []crypto.Envelope) error {
	want := []wire.Type{wire.TypeInput}
	switch {
	case vd.Kind == StateDivergence:
		want = []wire.Type{wire.TypeStateHash}
	case len(envs) == 2:
		want = []wire.Type{wire.TypeSealedInput, wire.TypeReveal}
	}
	if len(envs) != len(want) {
		return fmt.Errorf("%w: %s: want %d messages, got %d", ErrBadEvidence, vd.Kind, len(want), len(envs))
	}
	if vd.Offender < 0 || vd.Offender >= MaxSeats {
		return fmt.Errorf("%w: offender seat %d", ErrBadEvidence, vd.Offender)
	}
	for i := range envs {
		if err := checkBound(v, &envs[i], want[i], vd.Offender, vd.Tick); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadEvidence, vd.Kind, err)
		}
	}
	return nil
}

// checkConflictingSigned is what gamestate can check of consensus evidence:
// at least two validly signed messages of the offender, same type,
// different bodies.
func checkConflictingSigned(v *crypto.Verifier, offender int, envs []crypto.Envelope) error {
	if len(envs) < 2 {
		return fmt.Errorf("%w: want at least two conflicting messages", ErrBadEvidence)
	}
	for i := range envs {
		if err := v.Verify(&envs[i]); err != nil {
			return fmt.Errorf("%w: message %d: %v", ErrBadEvidence, i, err)
		}
		if int(envs[i].Sender) != offender || envs[i].Type != envs[0].Type {
			return fmt.Errorf("%w: message %d is not the offender's or not the same type", ErrBadEvidence, i)
		}
	}
	if bytes.Equal(envs[0].Body, envs[1].Body) {
		return fmt.Errorf("%w: the messages are identical", ErrBadEvidence)
	}
	return nil
}

// Limits on an encoded verdict.
const (
	maxVerdictEvidence = 8
	maxDetail          = 1024
)

// Encode returns the verdict's canonical encoding, for reports and for
// shipping verdicts between processes.
func (vd *Verdict) Encode() []byte {
	w := wire.NewWriter(nil)
	w.U8(uint8(vd.Kind))
	w.U16(uint16(vd.Offender))
	w.Uvarint(vd.Tick)
	w.U8(uint8(vd.Violation))
	w.Uvarint(uint64(len(vd.Evidence)))
	for _, e := range vd.Evidence {
		w.Blob(e)
	}
	w.String(vd.Detail)
	return w.Bytes()
}

// DecodeVerdict parses a verdict written by Encode.
func DecodeVerdict(b []byte) (Verdict, error) {
	r := wire.NewReader(b)
	var vd Verdict
	vd.Kind = VerdictKind(r.U8("verdict.kind"))
	if r.Err() == nil && !vd.Kind.valid() {
		r.Fail("verdict.kind", wire.ErrMalformed)
	}
	vd.Offender = int(r.U16("verdict.offender"))
	if r.Err() == nil && vd.Offender >= MaxSeats {
		r.Fail("verdict.offender", wire.ErrMalformed)
	}
	vd.Tick = r.Uvarint("verdict.tick")
	vd.Violation = ViolationCode(r.U8("verdict.violation"))
	n := r.Len("verdict.evidence", maxVerdictEvidence, 1)
	for i := 0; i < n; i++ {
		vd.Evidence = append(vd.Evidence, r.Blob("verdict.evidence", crypto.MaxBodySize+128))
	}
	vd.Detail = r.String("verdict.detail", maxDetail)
	if err := r.Done(); err != nil {
		return Verdict{}, err
	}
	return vd, nil
}

// ObservationKind names something a peer saw but cannot prove to others.
type ObservationKind uint8

// Local observation kinds. They are reported by the session that saw them
// and never become verdicts: a bad signature could have been forged by the
// relay, floods and silence are not signed.
const (
	BadSignature     ObservationKind = 1 // a peer delivered a message whose signature fails
	ReplayedMessage  ObservationKind = 2 // an old signed message re-sent for a later tick
	MalformedMessage ObservationKind = 3 // bytes that do not decode
	Flooding         ObservationKind = 4 // message rate far above normal
	Unresponsive     ObservationKind = 5 // a leader or player that stopped sending
	// Censorship: the leader proposed a tick that marks a seat "no input"
	// although this acceptor held that seat's signed input since before
	// the tick's deadline, or before the deadline had come at all; or it
	// left out evidence or a state hash this acceptor held for long.
	// The acceptor refused to vote for it (docs/PROTOCOL.md, "Fair play").
	Censorship ObservationKind = 6
	// SlowLeader: the leader's decided tick rate stayed under the
	// throughput floor for a whole window while it kept its view.
	SlowLeader ObservationKind = 7
	// SelectiveSend: leaders of f+1 different seats left out this seat's
	// input although this acceptor held it in time: the player sends its
	// inputs to others but not to the leaders (or cannot reach them), and
	// its inputs are no longer held against a leader here.
	SelectiveSend ObservationKind = 8
	// LastObservation is the highest observation kind (for tables).
	LastObservation = SelectiveSend
)

var observationNames = [...]string{"", "bad-signature", "replayed-message", "malformed-message", "flooding", "unresponsive",
	"censorship", "slow-leader", "selective-send"}

// String is the kind's name as used in scenario files and reports.
func (k ObservationKind) String() string {
	if k >= 1 && int(k) < len(observationNames) {
		return observationNames[k]
	}
	return fmt.Sprintf("observation-%d", uint8(k))
}

// MarshalText lets reports print kinds by name in JSON.
func (k ObservationKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Observation is a local, unprovable report about a peer. It is kept apart
// from Verdict on purpose: it may differ between honest peers.
type Observation struct {
	Kind   ObservationKind
	About  int // the seat of the peer observed (for relayed messages: the deliverer)
	Detail string
}
