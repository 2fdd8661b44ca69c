// Package crypto holds everything in paxsync that touches keys and
// signatures: player identities (Ed25519), key files, signed envelopes bound
// to a match and a message type, digests, and sealed inputs for
// commit-reveal. Other packages handle signatures only as opaque values.
package crypto

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"filippo.io/edwards25519"
)

// PublicKey is a player's Ed25519 public key: its identity in the game and,
// through netp2p, on the network.
type PublicKey [ed25519.PublicKeySize]byte

// String is the key in hex, short enough for logs.
func (k PublicKey) String() string { return hex.EncodeToString(k[:6]) }

// Hex is the full key in hex, as written in match files.
func (k PublicKey) Hex() string { return hex.EncodeToString(k[:]) }

// ParsePublicKey reads a public key written by Hex. It refuses a key that
// Check refuses, so no weak key enters a roster from a file.
func ParsePublicKey(s string) (PublicKey, error) {
	var k PublicKey
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("crypto: public key must be %d hex characters", 2*len(k))
	}
	copy(k[:], b)
	if err := k.Check(); err != nil {
		return PublicKey{}, err
	}
	return k, nil
}

// ErrWeakKey marks a public key that no one may play a seat with: not the
// canonical encoding of a curve point, or a point of small order. For a
// small-order key A (the identity has several encodings, and there are
// seven more such points), Ed25519 verification accepts the signature
// R = B (the base point), S = 1 on every message, so anyone could sign for
// its seat without a private key; and one point under two encodings would
// hold two seats.
var ErrWeakKey = errors.New("not a valid Ed25519 public key")

// Check refuses a key that is not a canonical encoding of a point on the
// curve, or whose point is of small order ([8]A is the identity). Every key
// made by GenerateKey or KeyFromSeed passes. Accepted keys encode distinct
// points exactly when their bytes differ.
func (k PublicKey) Check() error {
	if err := k.check(); err != nil {
		return fmt.Errorf("crypto: %w", err)
	}
	return nil
}

func (k PublicKey) check() error {
	if !canonicalY(k) {
		return fmt.Errorf("public key %s: %w: not the canonical encoding of its point (y >= 2^255-19)", k.Hex(), ErrWeakKey)
	}
	p, err := new(edwards25519.Point).SetBytes(k[:])
	switch {
	case err != nil:
		return fmt.Errorf("public key %s: %w: not a point on the curve", k.Hex(), ErrWeakKey)
	case new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1:
		return fmt.Errorf("public key %s: %w: a point of small order, for which anyone can forge signatures", k.Hex(), ErrWeakKey)
	}
	// y < p, and x ≠ 0 (only y = ±1, both of small order, have x = 0), so
	// the sign bit is meaningful too: k is the point's canonical encoding.
	return nil
}

// canonicalY reports whether k's y coordinate (its low 255 bits, little
// endian) is below p = 2^255-19. Cheaper than re-encoding the point, which
// costs a field inversion.
func canonicalY(k PublicKey) bool {
	if k[31]&0x7f != 0x7f || k[0] < 0xed {
		return true
	}
	for _, b := range k[1:31] {
		if b != 0xff {
			return true
		}
	}
	return false
}

// Canonical returns the canonical encoding of the point k encodes, and
// false if k encodes no point: two keys encode the same point exactly when
// their Canonical encodings are equal. For a key Check accepts it is k.
func (k PublicKey) Canonical() (PublicKey, bool) {
	p, err := new(edwards25519.Point).SetBytes(k[:])
	if err != nil {
		return k, false
	}
	var c PublicKey
	copy(c[:], p.Bytes())
	return c, true
}

// CheckRoster checks every key of a roster (seat i is played by roster[i])
// with Check and that no point holds two seats (keys Check accepts are
// canonical encodings, so comparing their bytes compares the points).
// Errors name the seat.
func CheckRoster(roster []PublicKey) error {
	seen := make(map[PublicKey]int, len(roster))
	for i, k := range roster {
		if err := k.check(); err != nil {
			return fmt.Errorf("crypto: seat %d: %w", i, err)
		}
		// k passed check, so it is its point's canonical encoding: equal
		// points have equal bytes.
		if j, dup := seen[k]; dup {
			return fmt.Errorf("crypto: seats %d and %d have the same key %s", j, i, k)
		}
		seen[k] = i
	}
	return nil
}

// PrivateKey is a player's Ed25519 signing key. It never leaves this package
// except as the seed handed to the network layer, which derives the same
// identity (the libp2p peer ID) from it.
type PrivateKey struct {
	priv ed25519.PrivateKey
	pub  PublicKey
}

// GenerateKey makes a new key from r (crypto/rand.Reader when r is nil).
func GenerateKey(r io.Reader) (*PrivateKey, error) {
	if r == nil {
		r = rand.Reader
	}
	_, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return nil, fmt.Errorf("crypto: generate key: %w", err)
	}
	return newPrivateKey(priv), nil
}

// KeyFromSeed derives a key from a 32-byte seed. Tests and simulations use
// it to make reproducible identities; real players use GenerateKey.
func KeyFromSeed(seed []byte) (*PrivateKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("crypto: seed must be %d bytes, got %d", ed25519.SeedSize, len(seed))
	}
	return newPrivateKey(ed25519.NewKeyFromSeed(seed)), nil
}

func newPrivateKey(priv ed25519.PrivateKey) *PrivateKey {
	k := &PrivateKey{priv: priv}
	copy(k.pub[:], priv.Public().(ed25519.PublicKey))
	return k
}

// Public returns the key's public half.
func (k *PrivateKey) Public() PublicKey { return k.pub }

// Seed returns the 32-byte seed. Only the network layer should need it, to
// build the libp2p host identity from the same key.
func (k *PrivateKey) Seed() []byte { return append([]byte(nil), k.priv.Seed()...) }

const pemType = "PAXSYNC ED25519 PRIVATE KEY"

// Key-file errors, for callers that want to tell the user what to do.
var (
	ErrKeyExists      = errors.New("key file already exists (use --force to overwrite)")
	ErrKeyPermissions = errors.New("key file is readable by group or others (run: chmod 600 FILE)")
	ErrKeyMalformed   = errors.New("key file is not a paxsync Ed25519 private key")
)

// WriteKeyFile writes k to path with mode 0600. It refuses to replace an
// existing file unless force is set, so a player cannot lose an identity by
// accident.
func WriteKeyFile(path string, k *PrivateKey, force bool) error {
	data := pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: k.priv.Seed()})
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("crypto: %w", err)
		}
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("crypto: %s: %w", path, ErrKeyExists)
	}
	if err != nil {
		return fmt.Errorf("crypto: %w", err)
	}
	// An existing file opened with O_TRUNC keeps its old mode: fix it.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("crypto: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("crypto: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("crypto: sync %s: %w", path, err)
	}
	return f.Close()
}

// LoadKeyFile reads a key written by WriteKeyFile. It refuses a file that
// group or others can read, as ssh does, and says how to fix it.
func LoadKeyFile(path string) (*PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("crypto: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("crypto: %s (mode %04o): %w", path, st.Mode().Perm(), ErrKeyPermissions)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("crypto: %w", err)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != pemType || len(block.Bytes) != ed25519.SeedSize || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("crypto: %s: %w", path, ErrKeyMalformed)
	}
	return KeyFromSeed(block.Bytes)
}
