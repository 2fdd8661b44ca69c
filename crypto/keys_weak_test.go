package crypto

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"filippo.io/edwards25519"

	"github.com/paxsync/paxsync/wire"
)

// weakKeys are encodings of the eight points of small order (the torsion
// subgroup of Ed25519), canonical and not, for which signatures can be
// forged without a private key, and one encoding of no point.
var weakKeys = map[string]string{
	"identity":                      "0100000000000000000000000000000000000000000000000000000000000000",
	"identity, x sign bit set":      "0100000000000000000000000000000000000000000000000000000000000080",
	"identity, y = p+1":             "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"identity, y = p+1, sign bit":   "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	"order 2 (y = -1)":              "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"order 2, x sign bit set":       "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	"order 4 (y = 0)":               "0000000000000000000000000000000000000000000000000000000000000000",
	"order 4 (y = 0), other x":      "0000000000000000000000000000000000000000000000000000000000000080",
	"order 4, y = p":                "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"order 8":                       "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
	"order 8, other x":              "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
	"order 8, the other y":          "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
	"order 8, the other y, other x": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
	"not on the curve (y = 2)":      "0200000000000000000000000000000000000000000000000000000000000000",
}

// forgedIdentitySig is the signature R = B (the base point), S = 1, which
// Ed25519 verification accepts on every message for an identity key A:
// [S]B = B = R + [k]A whatever the challenge k.
func forgedIdentitySig() Signature {
	var sig Signature
	b, _ := hex.DecodeString("5866666666666666666666666666666666666666666666666666666666666666")
	copy(sig[:], b)
	sig[32] = 1
	return sig
}

func mustKey(t *testing.T, h string) PublicKey {
	t.Helper()
	var k PublicKey
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != len(k) {
		t.Fatalf("bad test key %q", h)
	}
	copy(k[:], b)
	return k
}

// TestPublicKeyCheckRefusesWeakKeys: every small-order point, in every
// encoding, a non-canonical encoding and a non-point are refused, by
// Check and by ParsePublicKey (the way roster files bring keys in), with
// ErrWeakKey; ordinary keys pass (checkOrdinaryKeys).
func TestPublicKeyCheckRefusesWeakKeys(t *testing.T) {
	checkOrdinaryKeys(t)
	for name, h := range weakKeys {
		k := mustKey(t, h)
		if err := k.Check(); !errors.Is(err, ErrWeakKey) {
			t.Errorf("%s (%s): Check = %v, want ErrWeakKey", name, h, err)
		}
		if p, err := ParsePublicKey(h); !errors.Is(err, ErrWeakKey) || p != (PublicKey{}) {
			t.Errorf("%s (%s): ParsePublicKey = %s, %v, want ErrWeakKey", name, h, p.Hex(), err)
		}
	}
	// The hazard is real: the standard library accepts the forged
	// signature for the identity under all its encodings, for any message.
	for _, name := range []string{"identity", "identity, x sign bit set", "identity, y = p+1"} {
		k, sig := mustKey(t, weakKeys[name]), forgedIdentitySig()
		if !ed25519.Verify(k[:], []byte("anything at all"), sig[:]) {
			t.Errorf("%s: ed25519.Verify refused the forgery: the test's premise is wrong", name)
		}
	}
}

// TestPublicKeyCheckRefusesNonCanonicalLargeOrderPoint: a key of large
// order written with y ≥ p (an encoding the decoder accepts, and a second
// name for another key's point) is refused; its canonical form passes,
// and Canonical maps both to the same key.
func TestPublicKeyCheckRefusesNonCanonicalLargeOrderPoint(t *testing.T) {
	found := 0
	for d := byte(0); d < 19; d++ { // y = p + d, p = 2^255 - 19
		var k PublicKey
		for i := range k {
			k[i] = 0xff
		}
		k[0], k[31] = 0xed+d, 0x7f
		p, err := new(edwards25519.Point).SetBytes(k[:])
		if err != nil || new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
			continue // not a point, or small order (listed above)
		}
		found++
		if err := k.Check(); !errors.Is(err, ErrWeakKey) || !strings.Contains(err.Error(), "canonical") {
			t.Errorf("y = p+%d: Check = %v, want a non-canonical ErrWeakKey", d, err)
		}
		c, ok := k.Canonical()
		if !ok || c == k || c.Check() != nil {
			t.Errorf("y = p+%d: Canonical = %s, %v: want another, valid key", d, c.Hex(), ok)
		}
		if cc, _ := c.Canonical(); cc != c {
			t.Errorf("y = p+%d: Canonical is not idempotent", d)
		}
	}
	if found == 0 {
		t.Fatal("no large-order point with y >= p found: the test checks nothing")
	}
	t.Logf("%d non-canonical encodings of large-order points refused", found)

	// On random bytes, Check agrees with the definition: a point whose
	// re-encoding is the key itself.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		var k PublicKey
		for j := range k {
			k[j] = byte(rng.Uint32())
		}
		if i%2 == 0 { // half near p, where encodings are not canonical
			for j := 1; j < 31; j++ {
				k[j] = 0xff
			}
			k[31] |= 0x7f
		}
		p, err := new(edwards25519.Point).SetBytes(k[:])
		want := err == nil && bytes.Equal(p.Bytes(), k[:])
		if got := k.Check() == nil; got != want {
			t.Errorf("%s: Check accepts = %v, canonical point = %v", k.Hex(), got, want)
		}
	}
}

// checkOrdinaryKeys: generated and seeded keys, and the base point itself
// (the key of scalar 1), pass Check, ParsePublicKey and CheckRoster, and
// Canonical leaves them as they are.
func checkOrdinaryKeys(t *testing.T) {
	t.Helper()
	var keys []PublicKey
	for i := 0; i < 64; i++ {
		k, err := KeyFromSeed(bytes.Repeat([]byte{byte(i)}, 32))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.Public())
	}
	for i := 0; i < 16; i++ {
		k, err := GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.Public())
	}
	keys = append(keys, mustKey(t, "5866666666666666666666666666666666666666666666666666666666666666"))
	for _, k := range keys {
		if err := k.Check(); err != nil {
			t.Errorf("%s: %v", k.Hex(), err)
		}
		if p, err := ParsePublicKey(k.Hex()); err != nil || p != k {
			t.Errorf("%s: ParsePublicKey = %s, %v", k.Hex(), p.Hex(), err)
		}
		if c, ok := k.Canonical(); !ok || c != k {
			t.Errorf("%s: Canonical = %s, %v", k.Hex(), c.Hex(), ok)
		}
	}
	if err := CheckRoster(keys); err != nil {
		t.Fatal(err)
	}
}

// TestCheckRosterNamesTheBadSeat: CheckRoster refuses a roster with a
// small-order key or with one key at two seats, and says which seat.
func TestCheckRosterNamesTheBadSeat(t *testing.T) {
	good := []PublicKey{testKey(t, 1).Public(), testKey(t, 2).Public(), testKey(t, 3).Public()}
	weak := append(append([]PublicKey(nil), good...), mustKey(t, weakKeys["identity"]))
	if err := CheckRoster(weak); !errors.Is(err, ErrWeakKey) || !strings.Contains(err.Error(), "seat 3") {
		t.Errorf("small-order seat 3: %v", err)
	}
	dup := append(append([]PublicKey(nil), good...), good[1])
	if err := CheckRoster(dup); err == nil || !strings.Contains(err.Error(), "seats 1 and 3") {
		t.Errorf("seat 1's key at seat 3: %v", err)
	}
}

// TestVerifierRefusesForgeryForSmallOrderSeat: a Verifier built over a
// roster that does hold a small-order key (NewVerifier and
// NewOneShotVerifier cannot return an error) refuses every envelope of
// that seat, the forged R = B, S = 1 signature included, with ErrWeakKey,
// and still verifies the other seats.
func TestVerifierRefusesForgeryForSmallOrderSeat(t *testing.T) {
	honest := testKey(t, 1)
	roster := []PublicKey{mustKey(t, weakKeys["identity"]), mustKey(t, weakKeys["identity, x sign bit set"]), honest.Public()}
	match := NewMatchID("weak", roster)
	for name, v := range map[string]*Verifier{"NewVerifier": NewVerifier(match, roster), "NewOneShotVerifier": NewOneShotVerifier(match, roster)} {
		for _, seat := range []uint16{0, 1} {
			e := Envelope{Type: wire.TypeCheckpoint, Sender: seat, Body: []byte("a fabricated result"), Sig: forgedIdentitySig()}
			if err := v.Verify(&e); !errors.Is(err, ErrWeakKey) {
				t.Errorf("%s: forged envelope of seat %d: %v, want ErrWeakKey", name, seat, err)
			}
		}
		e := NewSigner(honest, match, 2).Sign(wire.TypeCheckpoint, []byte("the real result"))
		if err := v.Verify(&e); err != nil {
			t.Errorf("%s: honest seat 2: %v", name, err)
		}
	}
}
