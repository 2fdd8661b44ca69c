package gamestate

// The match-result certificate: what a ladder or tournament backend checks
// to learn a match's result with no replay, no game and no re-simulation.
//
// It is a stable checkpoint, opened. Every peer already signs (slot,
// Sum(engine snapshot), ordered consensus verdicts) at each checkpoint, and
// a quorum of those signatures is the checkpoint certificate that lagging
// peers catch up from (bft/checkpoint.go). The engine snapshot starts with
// the engine's own fields — next tick, the cheater flags, every recorded
// verdict, the recent state hashes — in a layout gamestate decodes without
// the game. So the certificate file is the match's identity (name, roster,
// epoch: what every signature is bound to), the checkpoint body, its q
// signatures and the snapshot, and checking it is q signature checks, one
// hash, and one decode. docs/PROTOCOL.md, "The match-result certificate".

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// resultMagic starts an encoded result certificate (format version 1).
const resultMagic = "paxsync-result\x00\x01"

// MaxResultCertificateSize is the largest certificate file
// DecodeResultCertificate accepts: the magic and one wire message
// (wire.MaxMessageSize). A reader of certificate files need read no more.
const MaxResultCertificateSize = len(resultMagic) + wire.MaxMessageSize

// ErrResultInvalid wraps every reason a result certificate is refused.
var ErrResultInvalid = errors.New("gamestate: result certificate does not verify")

// ResultCertificate is a match result with the quorum certificate that
// proves it: a stable checkpoint of the match, with its snapshot.
type ResultCertificate struct {
	Name       string             // the match name
	Roster     []crypto.PublicKey // seat i is played by Roster[i]
	Epoch      int64              // the match's start in Unix nanoseconds, 0 if none
	Checkpoint []byte             // the signed checkpoint body: slot, Sum(Snapshot), ordered consensus verdicts
	Cert       []crypto.Envelope  // exactly one quorum of signed Checkpoints of that body
	Snapshot   []byte             // the engine snapshot the body names
}

// MatchResult is what a verified certificate says about the match.
type MatchResult struct {
	Slot uint64 // the log slot of the checkpoint
	// NextTick is the first tick not yet applied: ticks 0..NextTick-1 are
	// in the result.
	NextTick uint64
	// StateDigest is crypto.Sum of the game's canonical snapshot at
	// NextTick: two results with the same digest hold the same game state.
	StateDigest crypto.Digest
	// LastHashTick and LastHash are the game's own Hash at the most recent
	// state-hash tick, the value the peers compared live (zero before the
	// first one).
	LastHashTick uint64
	LastHash     crypto.Digest
	Flags        []Flag            // per seat: flagged as a proven cheater, and since which verdict
	Verdicts     []ResultVerdict   // every game verdict recorded, sorted
	Consensus    []ConsensusResult // the consensus-level verdicts ordered in the log, sorted
	Signers      []int             // the seats whose signatures form the certificate
}

// ResultVerdict is one recorded game verdict: seat Offender was proven to
// have committed Kind at Tick.
type ResultVerdict struct {
	Kind     VerdictKind
	Offender int
	Tick     uint64
}

// ConsensusResult is one consensus-level verdict in the checkpoint body
// (its Kind is a bft.EvidenceKind: gamestate sits below bft and keeps the
// number).
type ConsensusResult struct {
	Offender int
	Kind     uint8
}

// MatchID is the ID every signature in the certificate is bound to.
func (c *ResultCertificate) MatchID() crypto.MatchID {
	return crypto.NewMatchInstanceIDNanos(c.Name, c.Roster, c.Epoch)
}

// Encode returns the certificate file's bytes.
func (c *ResultCertificate) Encode() []byte {
	w := wire.NewWriter(nil)
	w.Fixed([]byte(resultMagic))
	w.String(c.Name)
	w.Uvarint(uint64(len(c.Roster)))
	for _, k := range c.Roster {
		w.Bytes32(k)
	}
	w.Varint(c.Epoch)
	w.Blob(c.Checkpoint)
	writeCertEnvs(w, c.Cert)
	w.Blob(c.Snapshot)
	return w.Bytes()
}

// DecodeResultCertificate parses a certificate file. It checks structure
// and bounds only: call Verify.
func DecodeResultCertificate(b []byte) (*ResultCertificate, error) {
	if !bytes.HasPrefix(b, []byte(resultMagic)) {
		return nil, fmt.Errorf("%w: not a paxsync result certificate (bad magic)", ErrResultInvalid)
	}
	r := wire.NewReader(b[len(resultMagic):])
	c := &ResultCertificate{Name: r.String("result.name", MaxMatchName)}
	n := r.Len("result.roster", MaxSeats, 32)
	for i := 0; i < n && r.Err() == nil; i++ {
		c.Roster = append(c.Roster, r.Bytes32("result.key"))
	}
	if r.Err() == nil && n == 0 {
		r.Fail("result.roster", wire.ErrMalformed)
	}
	c.Epoch = r.Varint("result.epoch")
	c.Checkpoint = r.Blob("result.checkpoint", 1<<20)
	c.Cert = readCertEnvs(r, "result.cert")
	c.Snapshot = r.Blob("result.snapshot", wire.MaxMessageSize)
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrResultInvalid, err)
	}
	return c, nil
}

// ResultQuorum is how many distinct seats must sign a result of an n-seat
// match: Byzantine consensus's (n+f+2)/2 with f = (n-1)/3, whatever the
// match itself ran. A crash-consensus peer's certificate (f+1 signers) is
// short of it; but nothing in a signature says which mode a match ran, and
// at n = 3f+1 a crash match's 2f+1 acceptors are exactly this many, so
// someone who collects all their Checkpoint broadcasts can assemble a
// certificate that verifies. It proves what every acceptor signed, which
// crash consensus's own assumption (no liar) makes the agreed state; a
// backend must know the match ran Byzantine consensus to trust it against
// liars.
func ResultQuorum(n int) int { return (n + (n-1)/3 + 2) / 2 }

// Verify checks the certificate against the match the verifier expects —
// its name and roster (the seats' keys, in seat order), as the roster file
// gives them — and returns the result it proves. The same players may
// play several matches: a certificate of another name is refused, and one
// of another instance of this name (a rematch: another Epoch, so another
// MatchID) is for the caller to tell apart by MatchID or Epoch. It
// refuses a certificate of another name or roster, one
// whose signatures are not exactly ResultQuorum distinct seats' valid
// Checkpoints of its body, in strictly ascending seat order as honest
// peers write them (a damaged or duplicate extra signature, or the same
// signatures in another order, is refused too, so that no byte of the file
// goes unchecked and one certificate has one encoding), and one whose
// snapshot is not the one the body names or does not decode. A roster
// with a key crypto.CheckRoster refuses (a small-order or non-canonical
// point, for which anyone can forge signatures, or one point at two
// seats) is refused whatever the certificate holds.
func (c *ResultCertificate) Verify(name string, roster []crypto.PublicKey) (*MatchResult, error) {
	if c.Name != name {
		return nil, fmt.Errorf("%w: it is of match %q, not %q", ErrResultInvalid, c.Name, name)
	}
	if len(roster) != len(c.Roster) {
		return nil, fmt.Errorf("%w: certificate has %d seats, roster %d", ErrResultInvalid, len(c.Roster), len(roster))
	}
	for i := range roster {
		if roster[i] != c.Roster[i] {
			return nil, fmt.Errorf("%w: seat %d's key differs from the roster's", ErrResultInvalid, i)
		}
	}
	n := len(roster)
	q := ResultQuorum(n)
	if len(c.Cert) != q {
		return nil, fmt.Errorf("%w: %d signatures, want exactly %d", ErrResultInvalid, len(c.Cert), q)
	}
	if err := crypto.CheckRoster(roster); err != nil {
		return nil, fmt.Errorf("%w: the roster: %w", ErrResultInvalid, err)
	}
	ver := crypto.NewOneShotVerifier(c.MatchID(), c.Roster)
	res := &MatchResult{}
	for i := range c.Cert {
		e := &c.Cert[i]
		switch {
		case e.Type != wire.TypeCheckpoint:
			return nil, fmt.Errorf("%w: signature %d is a %v, not a Checkpoint", ErrResultInvalid, i, e.Type)
		case int(e.Sender) >= n:
			return nil, fmt.Errorf("%w: signature %d is by seat %d of %d", ErrResultInvalid, i, e.Sender, n)
		case i > 0 && e.Sender == c.Cert[i-1].Sender:
			return nil, fmt.Errorf("%w: seat %d signed twice", ErrResultInvalid, e.Sender)
		case i > 0 && e.Sender < c.Cert[i-1].Sender:
			// Honest peers write them by ascending seat (bft's exactCert):
			// one certificate has one file encoding.
			return nil, fmt.Errorf("%w: signature %d is by seat %d, after seat %d: signatures must be in ascending seat order",
				ErrResultInvalid, i, e.Sender, c.Cert[i-1].Sender)
		case !bytes.Equal(e.Body, c.Checkpoint):
			return nil, fmt.Errorf("%w: seat %d signed another checkpoint", ErrResultInvalid, e.Sender)
		}
		if err := ver.Verify(e); err != nil {
			return nil, fmt.Errorf("%w: seat %d's signature: %v", ErrResultInvalid, e.Sender, err)
		}
		res.Signers = append(res.Signers, int(e.Sender))
	}
	if err := decodeResultCheckpoint(c.Checkpoint, n, res); err != nil {
		return nil, err
	}
	if _, app, _ := checkpointSlot(c.Checkpoint); crypto.Sum(c.Snapshot) != app {
		return nil, fmt.Errorf("%w: snapshot digest %s, certified %s", ErrResultInvalid, crypto.Sum(c.Snapshot), app)
	}
	d, err := decodeEngineSnapshot(c.Snapshot, n)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrResultInvalid, err)
	}
	res.NextTick, res.StateDigest, res.Flags = d.next, crypto.Sum(d.game), d.flags
	for _, k := range d.seen {
		if k.off >= n {
			return nil, fmt.Errorf("%w: a verdict against seat %d of %d", ErrResultInvalid, k.off, n)
		}
		res.Verdicts = append(res.Verdicts, ResultVerdict{Kind: k.kind, Offender: k.off, Tick: k.tick})
	}
	if len(d.own) > 0 {
		last := d.own[len(d.own)-1]
		res.LastHashTick, res.LastHash = last.tick, last.hash
	}
	return res, nil
}

// decodeResultCheckpoint reads the checkpoint body bft signs (slot | app
// digest | count | (offender u16, kind u8)*, strictly sorted) into res.
func decodeResultCheckpoint(body []byte, n int, res *MatchResult) error {
	r := wire.NewReader(body)
	res.Slot = r.Uvarint("checkpoint.slot")
	r.Bytes32("checkpoint.app")
	k := r.Len("checkpoint.ordered", 1<<16, 3)
	for i := 0; i < k && r.Err() == nil; i++ {
		v := ConsensusResult{Offender: int(r.U16("checkpoint.offender")), Kind: r.U8("checkpoint.kind")}
		if r.Err() == nil && v.Offender >= n {
			r.Fail("checkpoint.offender", wire.ErrMalformed)
		}
		if p := res.Consensus; r.Err() == nil && len(p) > 0 && !consensusLess(p[len(p)-1], v) {
			r.Fail("checkpoint.ordered", wire.ErrMalformed) // bft signs them strictly sorted, each once
		}
		res.Consensus = append(res.Consensus, v)
	}
	if err := r.Done(); err != nil {
		return fmt.Errorf("%w: checkpoint body: %v", ErrResultInvalid, err)
	}
	return nil
}

func consensusLess(a, b ConsensusResult) bool {
	if a.Offender != b.Offender {
		return a.Offender < b.Offender
	}
	return a.Kind < b.Kind
}
