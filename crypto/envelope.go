package crypto

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/paxsync/paxsync/wire"
)

// MatchID names one match. It is part of every signature, so a message
// signed in one match is worthless in any other.
type MatchID Digest

// NewMatchID derives the ID of a match from its name and its roster (the
// players' public keys in seat order): two matches with the same name but
// different players never share an ID.
func NewMatchID(name string, roster []PublicKey) MatchID {
	w := wire.NewWriter(nil)
	w.String("paxsync/match/v1")
	w.String(name)
	w.Uvarint(uint64(len(roster)))
	for _, k := range roster {
		w.Bytes32(k)
	}
	return MatchID(Sum(w.Bytes()))
}

// NewMatchInstanceID derives the ID of one playing of a match: its name,
// its roster and the moment it starts (Config.Epoch, which its lobby
// picks). Friends who play "friday" again with the same keys start a new
// instance, and nothing signed in the last one verifies in it: without
// the start time, a peer that kept last week's messages could replay an
// honest player's old input or vote for a tick or slot it signs again and
// have it convicted of equivocation. A zero start is NewMatchID (a match
// that sets no Epoch has no instance to tell apart).
func NewMatchInstanceID(name string, roster []PublicKey, start time.Time) MatchID {
	if start.IsZero() {
		return NewMatchID(name, roster)
	}
	return NewMatchInstanceIDNanos(name, roster, start.UnixNano())
}

// NewMatchInstanceIDNanos is NewMatchInstanceID with the start in Unix
// nanoseconds, as a replay header records it; 0 means none (so a start at
// exactly the Unix epoch counts as none, the same in both).
func NewMatchInstanceIDNanos(name string, roster []PublicKey, startUnixNano int64) MatchID {
	if startUnixNano == 0 {
		return NewMatchID(name, roster)
	}
	base := NewMatchID(name, roster)
	w := wire.NewWriter(nil)
	w.String("paxsync/match-instance/v1")
	w.Bytes32(base)
	w.Varint(startUnixNano)
	return MatchID(Sum(w.Bytes()))
}

// String shows the first bytes in hex.
func (m MatchID) String() string { return Digest(m).String() }

// Signature is an Ed25519 signature over an envelope's signing bytes.
type Signature [ed25519.SignatureSize]byte

// Envelope is one signed paxsync message. The signature covers a
// domain-separation tag, the match ID, the type, the sender and the body;
// the body is the type's canonical encoding of every field that gives the
// message its meaning (view, slot, tick, seat, digest, ...).
type Envelope struct {
	Type   wire.Type
	Sender uint16 // the signer's seat in the roster
	Body   []byte
	Sig    Signature
}

// MaxBodySize bounds an envelope's body.
const MaxBodySize = wire.MaxMessageSize - 128

// signTag separates paxsync signatures from any other use of the same key
// (the network layer's own handshakes sign with it too).
const signTag = "paxsync/v1/signed-message\x00"

// appendSigningBytes builds the exact byte string a signature covers.
func appendSigningBytes(dst []byte, match MatchID, typ wire.Type, sender uint16, body []byte) []byte {
	dst = append(dst, signTag...)
	dst = append(dst, match[:]...)
	dst = append(dst, byte(typ), byte(sender>>8), byte(sender))
	return append(dst, body...)
}

// Encode appends the envelope's wire form to dst:
// version | type | sender | body (length-prefixed) | signature.
func (e *Envelope) Encode(dst []byte) []byte {
	w := wire.NewWriter(dst)
	w.U8(wire.Version)
	w.U8(uint8(e.Type))
	w.U16(e.Sender)
	w.Blob(e.Body)
	w.Fixed(e.Sig[:])
	return w.Bytes()
}

// DecodeEnvelope parses an envelope. It checks the version, the type and the
// bounds, not the signature: call Verifier.Verify for that.
func DecodeEnvelope(b []byte) (Envelope, error) {
	var e Envelope
	r := wire.NewReader(b)
	if v := r.U8("version"); r.Err() == nil && v != wire.Version {
		r.Fail("version", wire.ErrVersion)
	}
	e.Type = wire.Type(r.U8("type"))
	if r.Err() == nil && !e.Type.Known() {
		r.Fail("type", wire.ErrUnknownType)
	}
	e.Sender = r.U16("sender")
	e.Body = r.Blob("body", MaxBodySize)
	copy(e.Sig[:], r.Fixed("signature", ed25519.SignatureSize))
	if err := r.Done(); err != nil {
		return Envelope{}, err
	}
	return e, nil
}

// ID is the digest of the whole signed envelope: a content address used for
// de-duplication and as the pubsub message ID.
func (e *Envelope) ID() Digest { return Sum(e.Encode(nil)) }

// Signer signs envelopes for one player in one match.
type Signer struct {
	key   *PrivateKey
	match MatchID
	seat  uint16
	buf   []byte
}

// NewSigner returns a Signer for the player in seat of match. A Signer is
// not safe for concurrent use.
func NewSigner(key *PrivateKey, match MatchID, seat uint16) *Signer {
	return &Signer{key: key, match: match, seat: seat}
}

// Seat is the signer's seat in the roster.
func (s *Signer) Seat() uint16 { return s.seat }

// Sign returns a signed envelope of type typ with body. The body is kept,
// not copied. Each call counts one sign in Ops.
func (s *Signer) Sign(typ wire.Type, body []byte) Envelope {
	s.buf = appendSigningBytes(s.buf[:0], s.match, typ, s.seat, body)
	e := Envelope{Type: typ, Sender: s.seat, Body: body}
	copy(e.Sig[:], ed25519.Sign(s.key.priv, s.buf))
	signs.Add(1)
	return e
}

// Verification errors.
var (
	ErrUnknownSender = errors.New("sender is not in the roster")
	ErrBadSignature  = errors.New("signature does not verify")
)

// Verifier checks envelopes against a match's roster. It is safe for
// concurrent use.
type Verifier struct {
	match MatchID
	keys  []PublicKey
	weak  []bool // NewVerifier's: per seat, its key fails PublicKey.Check, so nothing it "signs" verifies
	seen  *verifiedSet
}

// NewVerifier returns a Verifier for match whose seat i is played by
// roster[i]. A seat whose key fails PublicKey.Check (a small-order or
// non-canonical point, for which signatures can be forged) verifies
// nothing: Verify refuses its envelopes with ErrWeakKey. Check the roster
// with CheckRoster first to refuse such a match outright.
func NewVerifier(match MatchID, roster []PublicKey) *Verifier {
	v := &Verifier{match: match, keys: append([]PublicKey(nil), roster...), seen: newVerifiedSet(verifiedSetSize)}
	for i, k := range v.keys {
		if k.check() != nil {
			if v.weak == nil {
				v.weak = make([]bool, len(v.keys))
			}
			v.weak[i] = true
		}
	}
	return v
}

// NewOneShotVerifier is a Verifier without the cache of verified
// envelopes: for checking a handful of signatures once (a result
// certificate), where NewVerifier's cache would cost more to allocate
// than the checks themselves. Weak keys verify nothing, as in NewVerifier;
// each Verify checks its sender's key (under a tenth of a signature
// check), so seats that sign nothing cost nothing.
func NewOneShotVerifier(match MatchID, roster []PublicKey) *Verifier {
	return &Verifier{match: match, keys: append([]PublicKey(nil), roster...)}
}

// Match is the ID of the match this verifier checks.
func (v *Verifier) Match() MatchID { return v.match }

// Size is the number of seats in the roster.
func (v *Verifier) Size() int { return len(v.keys) }

// Key returns the public key of seat i.
func (v *Verifier) Key(i int) PublicKey { return v.keys[i] }

// Seat returns the seat of key, or -1 if key is not in the roster.
func (v *Verifier) Seat(key PublicKey) int {
	for i, k := range v.keys {
		if k == key {
			return i
		}
	}
	return -1
}

// Verify checks that e was signed by its sender for this match, type and
// body. An envelope this Verifier already accepted (the very same type,
// sender, body and signature) is accepted again from a set of recent
// successes without a second Ed25519 check: a peer meets every message
// several times (network validator, input pool, the batch that orders it,
// consensus quorums), and each re-check would cost a full verification on
// the critical path. Only real checks count in Ops.Verifies (whether or
// not they succeed); answers from the set count in Ops.VerifyHits. The
// Verifier is safe for concurrent use.
func (v *Verifier) Verify(e *Envelope) error {
	if int(e.Sender) >= len(v.keys) {
		return fmt.Errorf("crypto: seat %d: %w", e.Sender, ErrUnknownSender)
	}
	if v.weak != nil && v.weak[e.Sender] {
		return fmt.Errorf("crypto: %s from seat %d: its key is %w", e.Type, e.Sender, ErrWeakKey)
	}
	var stack [256]byte
	msg := appendSigningBytes(stack[:0], v.match, e.Type, e.Sender, e.Body)
	if v.seen == nil {
		if v.keys[e.Sender].check() != nil {
			return fmt.Errorf("crypto: %s from seat %d: its key is %w", e.Type, e.Sender, ErrWeakKey)
		}
		verifies.Add(1)
		if !ed25519.Verify(v.keys[e.Sender][:], msg, e.Sig[:]) {
			return fmt.Errorf("crypto: %s from seat %d: %w", e.Type, e.Sender, ErrBadSignature)
		}
		return nil
	}
	key := verifiedKey(msg, &e.Sig)
	if v.seen.has(key) {
		verifyHits.Add(1)
		return nil
	}
	verifies.Add(1)
	if !ed25519.Verify(v.keys[e.Sender][:], msg, e.Sig[:]) {
		return fmt.Errorf("crypto: %s from seat %d: %w", e.Type, e.Sender, ErrBadSignature)
	}
	v.seen.add(key)
	return nil
}
