package gamestate

import (
	"errors"
	"fmt"
	"sort"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// Opening a sealed input without its player (docs/PROTOCOL.md, "Sealed mode: no free abort"). The
// evidence of a WithheldReveal or BadShares verdict is the player's signed
// commitment followed by exactly crypto.ShareThreshold(n) signed KeyShares
// of distinct holders, in ascending holder order: a canonical form, so the
// same opening is one evidence item however the leader found it.

// opening is what a set of shares proves about one commitment.
type opening struct {
	seat   int
	tick   uint64
	commit []byte // the commitment's body
	opened bool   // the shares open it (else the dealer dealt bad shares)
	plain  []byte // the opened input
}

// CheckKeyShare checks that share is a validly signed KeyShare of its
// holder for the commitment commit (a SealedInput envelope) and matches the
// hash the commitment's player signed for that holder. An error means the
// share cannot be used; ErrShareLie that its holder lied about it.
func CheckKeyShare(v *crypto.Verifier, commit, share *crypto.Envelope) error {
	sl, err := DecodeSealedInput(commit.Body)
	if commit.Type != wire.TypeSealedInput || err != nil || sl.Seat != commit.Sender {
		return fmt.Errorf("%w: not a sealed input", ErrBadEvidence)
	}
	ks, err := DecodeKeyShare(share.Body)
	if share.Type != wire.TypeKeyShare || err != nil {
		return fmt.Errorf("%w: not a key share", ErrBadEvidence)
	}
	if err := v.Verify(share); err != nil {
		return err
	}
	if ks.Holder != share.Sender || ks.Seat != sl.Seat || ks.Tick != sl.Tick || ks.Commit != crypto.Sum(commit.Body) {
		return fmt.Errorf("%w: key share of seat %d for (seat %d, tick %d) does not name this commitment", ErrMisbound, share.Sender, ks.Seat, ks.Tick)
	}
	if int(ks.Holder) >= len(sl.Shares) || len(sl.Shares) != v.Size() {
		return fmt.Errorf("%w: commitment deals no share to seat %d", ErrBadEvidence, ks.Holder)
	}
	if crypto.ShareHash(SealAD(v.Match(), sl.Seat, sl.Tick), int(ks.Holder), ks.Share) != sl.Shares[ks.Holder].Hash {
		return ErrShareLie
	}
	return nil
}

// ErrShareLie means a signed key share does not match the hash its dealer
// signed: its holder lied (the two signed messages prove it).
var ErrShareLie = errors.New("gamestate: key share does not match its dealt hash")

// OpenOwnShare decrypts the share of commit (a SealedInput envelope) dealt
// to s's seat and returns the KeyShare body to sign. It fails if the
// commitment deals no share to the seat or a share that is not the one
// hashed (a dealer's lie that only this seat can see).
func OpenOwnShare(s *crypto.Signer, v *crypto.Verifier, commit *crypto.Envelope) (KeyShare, error) {
	sl, err := DecodeSealedInput(commit.Body)
	if commit.Type != wire.TypeSealedInput || err != nil || sl.Seat != commit.Sender {
		return KeyShare{}, fmt.Errorf("%w: not a sealed input", ErrBadEvidence)
	}
	me := int(s.Seat())
	if me >= len(sl.Shares) || len(sl.Shares) != v.Size() {
		return KeyShare{}, fmt.Errorf("%w: commitment deals no share to seat %d", ErrBadEvidence, me)
	}
	share, err := s.OpenShare(v, int(sl.Seat), sl.Shares[me], SealAD(v.Match(), sl.Seat, sl.Tick))
	if err != nil {
		return KeyShare{}, err
	}
	return KeyShare{Seat: sl.Seat, Tick: sl.Tick, Holder: uint16(me), Commit: crypto.Sum(commit.Body), Share: share}, nil
}

// OpeningEvidence builds the evidence that opens commit from shares (valid
// KeyShares of it, per CheckKeyShare, in any order and number): the first
// threshold of them by holder. Its kind is WithheldReveal if they open the
// commitment and BadShares if they do not.
func OpeningEvidence(v *crypto.Verifier, commit crypto.Envelope, shares []crypto.Envelope) (Evidence, error) {
	th := crypto.ShareThreshold(v.Size())
	var ok []crypto.Envelope
	for i := range shares {
		if CheckKeyShare(v, &commit, &shares[i]) == nil {
			ok = append(ok, shares[i])
		}
	}
	sort.SliceStable(ok, func(i, j int) bool { return ok[i].Sender < ok[j].Sender })
	uniq := ok[:0]
	for i := range ok {
		if len(uniq) == 0 || uniq[len(uniq)-1].Sender != ok[i].Sender {
			uniq = append(uniq, ok[i])
		}
	}
	if len(uniq) < th {
		return Evidence{}, fmt.Errorf("%w: %d valid shares, need %d", ErrBadEvidence, len(uniq), th)
	}
	envs := append([]crypto.Envelope{commit}, uniq[:th]...)
	o, err := openShares(v, envs)
	if err != nil {
		return Evidence{}, err
	}
	kind := WithheldReveal
	if !o.opened {
		kind = BadShares
	}
	return Evidence{Kind: kind, Envelopes: envs}, nil
}

// openShares checks the canonical opening evidence envs (see above) and
// combines the shares. Signatures are checked by the caller's
// CheckEvidence for every envelope; CheckKeyShare checks them again, which
// the verifier's cache makes cheap.
func openShares(v *crypto.Verifier, envs []crypto.Envelope) (opening, error) {
	th := crypto.ShareThreshold(v.Size())
	if len(envs) != 1+th || envs[0].Type != wire.TypeSealedInput {
		return opening{}, fmt.Errorf("want a sealed input and %d key shares", th)
	}
	c := &envs[0]
	if err := v.Verify(c); err != nil {
		return opening{}, err
	}
	sl, err := DecodeSealedInput(c.Body)
	if err != nil || sl.Seat != c.Sender {
		return opening{}, errors.New("undecodable or misbound sealed input")
	}
	seats := make([]int, th)
	shares := make([]crypto.KeyShare, th)
	for i := 0; i < th; i++ {
		e := &envs[1+i]
		if err := CheckKeyShare(v, c, e); err != nil {
			return opening{}, fmt.Errorf("share %d: %v", i, err)
		}
		if i > 0 && e.Sender <= envs[i].Sender {
			return opening{}, errors.New("shares not in ascending holder order")
		}
		ks, _ := DecodeKeyShare(e.Body)
		seats[i], shares[i] = int(ks.Holder), ks.Share
	}
	key, err := crypto.CombineShares(seats, shares, th)
	if err != nil {
		return opening{}, err
	}
	o := opening{seat: int(sl.Seat), tick: sl.Tick, commit: c.Body}
	if plain, err := crypto.Open(sl.Sealed, key, SealAD(v.Match(), sl.Seat, sl.Tick)); err == nil {
		o.opened, o.plain = true, plain
	}
	return o, nil
}

// addOpening stores the input that opening evidence envs (already checked
// by CheckEvidence) opens, on the commitment the log ordered for its seat
// and tick, if that tick is not applied yet and envs opens that very
// commitment. It reports whether it did: only then is the report recorded.
func (e *Engine) addOpening(envs []crypto.Envelope) bool {
	o, err := openShares(e.cfg.Verifier, envs)
	if err != nil || !o.opened || o.tick < e.next {
		return false
	}
	i := e.commitIndex(seatTickKey{o.tick, uint16(o.seat)})
	if i >= len(e.commits) || e.commits[i].key != (seatTickKey{o.tick, uint16(o.seat)}) ||
		string(e.commits[i].env.Body) != string(o.commit) {
		return false
	}
	if e.commits[i].opened {
		return false // opened already: one report per commitment
	}
	e.commits[i].opened, e.commits[i].plain = true, o.plain
	return true
}

// openedCommit is the ordered commitment for k if key shares opened it.
func (e *Engine) openedCommit(k seatTickKey) *commit {
	i := e.commitIndex(k)
	if i < len(e.commits) && e.commits[i].key == k && e.commits[i].opened {
		return &e.commits[i]
	}
	return nil
}

// openedInput is a seat's input for tick when its log entry is "no input"
// but key shares opened its ordered commitment: the input it committed to,
// checked by the game like any other. A proven cheater's stays ignored
// (Policy), as its reveal would be.
func (e *Engine) openedInput(res *Result, seat int, tick uint64, c *commit) SeatInput {
	if !e.cfg.Sealed || (e.flags[seat].Flagged && !e.cfg.Policy.KeepCheaterInputs) {
		return SeatInput{}
	}
	return e.gameInput(res, seat, tick, c.plain, []*crypto.Envelope{&c.env})
}
