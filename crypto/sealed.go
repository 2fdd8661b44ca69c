package crypto

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// SealKey is the one-time key of a sealed input. Its owner publishes the
// sealed bytes first (a commitment) and the key only after every player's
// commitment is ordered, so nobody can choose an input after seeing others'.
type SealKey [chacha20poly1305.KeySize]byte

// sealed layout: key commitment (32) | nonce (24) | ciphertext+tag.
const (
	commitSize = 32
	nonceSize  = chacha20poly1305.NonceSizeX
	// SealOverhead is how many bytes Seal adds to the plaintext.
	SealOverhead = commitSize + nonceSize + chacha20poly1305.Overhead
)

// ErrSealMismatch means a revealed key does not open the sealed bytes it was
// revealed for: in commit-reveal that is proof of a lookahead attempt.
var ErrSealMismatch = errors.New("revealed key does not open the sealed input")

const sealCommitTag = "paxsync/v1/seal-key-commitment\x00"

func keyCommitment(k SealKey) Digest { return Sum([]byte(sealCommitTag), k[:]) }

// Seal encrypts plain under a fresh one-time key with XChaCha20-Poly1305.
// ad binds the sealed input to its context (match, seat, tick) and must be
// given again to Open. The output starts with a hash of the key, which makes
// the commitment binding: Poly1305 alone is not key-committing, so without
// it a cheater could craft bytes that open to two different inputs under two
// keys. r is the randomness source (crypto/rand.Reader when nil).
func Seal(plain, ad []byte, r io.Reader) (sealed []byte, key SealKey, err error) {
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, key[:]); err != nil {
		return nil, key, fmt.Errorf("crypto: seal key: %w", err)
	}
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, key, err
	}
	out := make([]byte, commitSize+nonceSize, SealOverhead+len(plain))
	c := keyCommitment(key)
	copy(out, c[:])
	if _, err := io.ReadFull(r, out[commitSize:]); err != nil {
		return nil, key, fmt.Errorf("crypto: seal nonce: %w", err)
	}
	out = aead.Seal(out, out[commitSize:commitSize+nonceSize], plain, ad)
	return out, key, nil
}

// Open decrypts sealed with the revealed key and the same ad given to Seal.
// Any mismatch (wrong key, other context, altered bytes) is ErrSealMismatch.
func Open(sealed []byte, key SealKey, ad []byte) ([]byte, error) {
	if len(sealed) < SealOverhead {
		return nil, ErrSealMismatch
	}
	c := keyCommitment(key)
	if subtle.ConstantTimeCompare(c[:], sealed[:commitSize]) != 1 {
		return nil, ErrSealMismatch
	}
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, err
	}
	nonce := sealed[commitSize : commitSize+nonceSize]
	plain, err := aead.Open(nil, nonce, sealed[commitSize+nonceSize:], ad)
	if err != nil {
		return nil, ErrSealMismatch
	}
	return plain, nil
}
