package crypto

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"math/big"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"
)

// Threshold sharing of a sealed input's one-time key (docs/PROTOCOL.md, "Sealed mode: no free abort").
// The sealing player splits its SealKey into one Shamir share per seat over
// GF(2^8) (byte by byte, threshold t = f+1) and encrypts share i to seat i.
// The encrypted shares and a hash of each share ride in the SealedInput the
// player signs, so once its commitment is ordered any t seats can open the
// input without the player: withholding the reveal no longer aborts it. Up
// to t-1 shares say nothing about the key (every key is equally likely), so
// f Byzantine seats cannot open an honest player's input early.
//
// Share i is encrypted with a one-time pad derived (HKDF-SHA256) from the
// static X25519 secret between the dealer and seat i (both X25519 keys are
// the standard conversions of the roster's Ed25519 keys), bound to the
// sealed input's associated data and i. The pad is unique per (dealer,
// seat, match, seat, tick), so it is only reused if the dealer seals two
// inputs for one tick, which is already input equivocation and only
// exposes the dealer's own shares. Integrity does not come from the
// encryption but from the hash the dealer signs: an opened share either
// matches it (and anyone can check that) or it does not.

// ShareSize is the size of one key share (and of one encrypted share).
const ShareSize = len(SealKey{})

// KeyShare is one seat's Shamir share of a SealKey. Its x-coordinate is
// the seat's index plus one and is not stored.
type KeyShare [ShareSize]byte

// DealtShare is what a SealedInput carries for one seat: its share,
// encrypted to it, and the hash that binds the share (ShareHash).
type DealtShare struct {
	Enc  [ShareSize]byte
	Hash Digest
}

// DealtShareSize is the encoded size of a DealtShare.
const DealtShareSize = ShareSize + len(Digest{})

// Errors of threshold sharing.
var (
	// ErrShareMismatch means a share does not match the hash its dealer
	// signed for it: whoever signed that share lied about it.
	ErrShareMismatch = errors.New("crypto: key share does not match its dealt hash")
	// ErrShares means the shares cannot be combined (too few, duplicate or
	// out-of-range seats).
	ErrShares = errors.New("crypto: unusable set of key shares")
)

const (
	shareHashTag = "paxsync/v1/key-share-hash\x00"
	sharePadTag  = "paxsync/v1/key-share-pad\x00"
)

// ShareThreshold is how many shares open a key in a roster of n: f+1 with
// f = (n-1)/3, the most Byzantine seats the match tolerates.
func ShareThreshold(n int) int { return (n-1)/3 + 1 }

// ShareHash is the hash a dealer signs for seat's share under ad.
func ShareHash(ad []byte, seat int, s KeyShare) Digest {
	return Sum([]byte(shareHashTag), ad, []byte{byte(seat)}, s[:])
}

// DealShares splits key into one share per roster seat (threshold
// ShareThreshold), encrypts each to its seat and hashes it, under ad (the
// sealed input's associated data). r is the randomness source for the
// polynomials (crypto/rand.Reader when nil).
func (s *Signer) DealShares(key SealKey, v *Verifier, ad []byte, r io.Reader) ([]DealtShare, error) {
	if r == nil {
		r = rand.Reader
	}
	n := v.Size()
	if n < 1 || n > 255 {
		return nil, fmt.Errorf("%w: roster of %d", ErrShares, n)
	}
	shares, err := splitKey(key, n, ShareThreshold(n), r)
	if err != nil {
		return nil, err
	}
	priv := s.key.x25519()
	out := make([]DealtShare, n)
	for i := range shares {
		pad, err := sharePad(priv, v.Key(i), ad, i)
		if err != nil {
			return nil, err
		}
		out[i].Hash = ShareHash(ad, i, shares[i])
		subtle.XORBytes(out[i].Enc[:], shares[i][:], pad[:])
	}
	return out, nil
}

// OpenShare decrypts the share that dealer dealt to this signer's seat
// under ad and checks it against its hash: ErrShareMismatch means the
// dealer dealt a share that is not the one it signed a hash of.
func (s *Signer) OpenShare(v *Verifier, dealer int, d DealtShare, ad []byte) (KeyShare, error) {
	var ks KeyShare
	if dealer < 0 || dealer >= v.Size() {
		return ks, fmt.Errorf("%w: dealer %d", ErrShares, dealer)
	}
	pad, err := sharePad(s.key.x25519(), v.Key(dealer), ad, int(s.seat))
	if err != nil {
		return ks, err
	}
	subtle.XORBytes(ks[:], d.Enc[:], pad[:])
	if ShareHash(ad, int(s.seat), ks) != d.Hash {
		return ks, ErrShareMismatch
	}
	return ks, nil
}

// CombineShares reconstructs a key from shares of distinct seats (seats[i]
// holds shares[i]); it needs at least threshold of them and uses the first
// threshold. Wrong shares give a wrong key, which crypto.Open rejects:
// check each share against its ShareHash first to tell who lied.
func CombineShares(seats []int, shares []KeyShare, threshold int) (SealKey, error) {
	var key SealKey
	if threshold < 1 || len(seats) < threshold || len(shares) != len(seats) {
		return key, fmt.Errorf("%w: %d shares, threshold %d", ErrShares, len(seats), threshold)
	}
	xs := make([]byte, threshold)
	for i := 0; i < threshold; i++ {
		if seats[i] < 0 || seats[i] > 254 {
			return key, fmt.Errorf("%w: seat %d", ErrShares, seats[i])
		}
		xs[i] = byte(seats[i] + 1)
		for j := 0; j < i; j++ {
			if xs[j] == xs[i] {
				return key, fmt.Errorf("%w: seat %d twice", ErrShares, seats[i])
			}
		}
	}
	// Lagrange basis at 0: l_i = prod_{j != i} x_j / (x_j - x_i).
	for i := 0; i < threshold; i++ {
		l := byte(1)
		for j := 0; j < threshold; j++ {
			if j != i {
				l = gfMul(l, gfMul(xs[j], gfInv(xs[j]^xs[i])))
			}
		}
		for b := range key {
			key[b] ^= gfMul(l, shares[i][b])
		}
	}
	return key, nil
}

// splitKey makes n shares of key with threshold t: byte b of share i is
// p_b(i+1) for a random polynomial p_b of degree t-1 with p_b(0) = key[b].
func splitKey(key SealKey, n, t int, r io.Reader) ([]KeyShare, error) {
	coef := make([]byte, (t-1)*ShareSize)
	if _, err := io.ReadFull(r, coef); err != nil {
		return nil, fmt.Errorf("crypto: share polynomial: %w", err)
	}
	out := make([]KeyShare, n)
	for i := range out {
		x := byte(i + 1)
		for b := 0; b < ShareSize; b++ {
			// Horner, highest coefficient first.
			y := byte(0)
			for k := t - 2; k >= 0; k-- {
				y = gfMul(y, x) ^ coef[k*ShareSize+b]
			}
			out[i][b] = gfMul(y, x) ^ key[b]
		}
	}
	clear(coef)
	return out, nil
}

// gfMul multiplies in GF(2^8) modulo x^8+x^4+x^3+x+1 (AES's field), in a
// fixed number of steps.
func gfMul(a, b byte) byte {
	var p byte
	for i := 0; i < 8; i++ {
		p ^= -(b & 1) & a
		hi := a >> 7
		a = a<<1 ^ (-hi & 0x1b)
		b >>= 1
	}
	return p
}

// gfInv is a^254 = a^-1 (0 for 0).
func gfInv(a byte) byte {
	r := byte(1)
	for i := 0; i < 7; i++ { // a^(2+4+...+128) = a^254
		a = gfMul(a, a)
		r = gfMul(r, a)
	}
	return r
}

// sharePad derives the one-time pad of seat's share from the X25519 secret
// of priv and peer's Ed25519 key converted to X25519.
func sharePad(priv []byte, peer PublicKey, ad []byte, seat int) ([ShareSize]byte, error) {
	var pad [ShareSize]byte
	pub, err := edToMontgomery(peer)
	if err != nil {
		return pad, err
	}
	dh, err := curve25519.X25519(priv, pub)
	if err != nil {
		return pad, fmt.Errorf("crypto: share key agreement: %w", err)
	}
	info := append(append([]byte(sharePadTag), ad...), byte(seat))
	if _, err := io.ReadFull(hkdf.New(sha256.New, dh, nil, info), pad[:]); err != nil {
		return pad, err
	}
	return pad, nil
}

// x25519 is the X25519 private scalar of an Ed25519 key: the first half of
// SHA-512 of its seed (curve25519.X25519 clamps it), as in RFC 8032.
func (k *PrivateKey) x25519() []byte {
	h := sha512.Sum512(k.priv.Seed())
	return h[:32]
}

var p25519 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))

// edToMontgomery converts an Ed25519 public key to its X25519 u-coordinate,
// u = (1+y)/(1-y) mod 2^255-19. Roster keys are public, so the conversion
// need not be constant time.
func edToMontgomery(pk PublicKey) ([]byte, error) {
	le := pk
	le[31] &= 0x7f
	y := new(big.Int).SetBytes(reverse(le[:]))
	if y.Cmp(p25519) >= 0 {
		return nil, fmt.Errorf("crypto: public key %s is not a curve point", pk)
	}
	one := big.NewInt(1)
	den := new(big.Int).Sub(one, y)
	den.Mod(den, p25519)
	if den.Sign() == 0 {
		return nil, fmt.Errorf("crypto: public key %s has no X25519 form", pk)
	}
	u := new(big.Int).Add(one, y)
	u.Mul(u, den.ModInverse(den, p25519))
	u.Mod(u, p25519)
	out := make([]byte, 32)
	u.FillBytes(out)
	return reverse(out), nil
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[len(b)-1-i] = b[i]
	}
	return out
}
