package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/crypto/curve25519"
)

func shareRoster(t *testing.T, n int) ([]*Signer, *Verifier) {
	t.Helper()
	keys := make([]*PrivateKey, n)
	pubs := make([]PublicKey, n)
	for i := range keys {
		k, err := KeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, 32))
		if err != nil {
			t.Fatal(err)
		}
		keys[i], pubs[i] = k, k.Public()
	}
	m := NewMatchID("shares", pubs)
	ss := make([]*Signer, n)
	for i := range ss {
		ss[i] = NewSigner(keys[i], m, uint16(i))
	}
	return ss, NewVerifier(m, pubs)
}

// The Ed25519→X25519 conversion of a public key is the X25519 public key
// of the converted private key: both sides derive the same secret.
func TestEdToMontgomeryMatchesPrivate(t *testing.T) {
	ss, v := shareRoster(t, 4)
	for i, s := range ss {
		want, err := curve25519.X25519(s.key.x25519(), curve25519.Basepoint)
		if err != nil {
			t.Fatal(err)
		}
		got, err := edToMontgomery(v.Key(i))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("seat %d: converted public key %x, want %x (%v)", i, got, want, err)
		}
	}
}

func TestGF256Inverse(t *testing.T) {
	for a := 1; a < 256; a++ {
		if p := gfMul(byte(a), gfInv(byte(a))); p != 1 {
			t.Fatalf("%d * inv(%d) = %d", a, a, p)
		}
	}
}

// Any threshold of the seats' opened shares gives the key back; each seat
// opens only its own share.
func TestDealOpenCombine(t *testing.T) {
	for _, n := range []int{1, 4, 7, 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ss, v := shareRoster(t, n)
			key := SealKey{1, 2, 3, 250}
			ad := []byte("ad")
			dealt, err := ss[0].DealShares(key, v, ad, nil)
			if err != nil || len(dealt) != n {
				t.Fatalf("deal: %d shares, %v", len(dealt), err)
			}
			opened := make([]KeyShare, n)
			for i := range ss {
				if opened[i], err = ss[i].OpenShare(v, 0, dealt[i], ad); err != nil {
					t.Fatalf("seat %d opens its share: %v", i, err)
				}
				if i > 0 {
					if _, err := ss[i].OpenShare(v, 0, dealt[i-1], ad); !errors.Is(err, ErrShareMismatch) {
						t.Fatalf("seat %d opened seat %d's share: %v", i, i-1, err)
					}
				}
			}
			th := ShareThreshold(n)
			for start := 0; start+th <= n; start++ {
				seats := make([]int, th)
				for j := range seats {
					seats[j] = (start + j*2) % n
				}
				if !distinct(seats) {
					continue
				}
				sh := make([]KeyShare, th)
				for j, s := range seats {
					sh[j] = opened[s]
				}
				got, err := CombineShares(seats, sh, th)
				if err != nil || got != key {
					t.Fatalf("seats %v combine to %x, want %x (%v)", seats, got[:4], key[:4], err)
				}
			}
		})
	}
}

func distinct(xs []int) bool {
	seen := map[int]bool{}
	for _, x := range xs {
		if seen[x] {
			return false
		}
		seen[x] = true
	}
	return true
}

// f = threshold-1 shares are refused, and interpolating them as if they
// were enough does not give the key.
func TestFewerThanThresholdRevealNothing(t *testing.T) {
	ss, v := shareRoster(t, 7) // f = 2, threshold 3
	ad := []byte("ad")
	key := SealKey{42}
	dealt, _ := ss[0].DealShares(key, v, ad, nil)
	var f []KeyShare
	for i := 1; i <= 2; i++ {
		s, err := ss[i].OpenShare(v, 0, dealt[i], ad)
		if err != nil {
			t.Fatal(err)
		}
		f = append(f, s)
	}
	if _, err := CombineShares([]int{1, 2}, f, 3); !errors.Is(err, ErrShares) {
		t.Fatalf("combined below threshold: %v", err)
	}
	// Two shares reconstruct with threshold 2 to something that is not the
	// key (a degree-2 polynomial is not determined by two points).
	if got, _ := CombineShares([]int{1, 2}, f, 2); got == key {
		t.Fatal("two of seven shares gave the key")
	}
}

// A share altered after opening (a lying seat) does not match its hash,
// and a set containing one gives a wrong key.
func TestWrongShareDetected(t *testing.T) {
	ss, v := shareRoster(t, 4)
	ad := []byte("ad")
	key := SealKey{9, 9}
	dealt, _ := ss[3].DealShares(key, v, ad, nil)
	s1, _ := ss[1].OpenShare(v, 3, dealt[1], ad)
	s2, _ := ss[2].OpenShare(v, 3, dealt[2], ad)
	bad := s1
	bad[5] ^= 1
	if ShareHash(ad, 1, bad) == dealt[1].Hash {
		t.Fatal("altered share matches its hash")
	}
	if ShareHash(ad, 1, s1) != dealt[1].Hash || ShareHash(ad, 2, s2) != dealt[2].Hash {
		t.Fatal("honest shares do not match their hashes")
	}
	if got, _ := CombineShares([]int{1, 2}, []KeyShare{bad, s2}, 2); got == key {
		t.Fatal("a wrong share still gave the key")
	}
	if got, _ := CombineShares([]int{1, 2}, []KeyShare{s1, s2}, 2); got != key {
		t.Fatal("honest shares did not give the key")
	}
	if _, err := CombineShares([]int{1, 1}, []KeyShare{s1, s1}, 2); !errors.Is(err, ErrShares) {
		t.Fatalf("duplicate seat accepted: %v", err)
	}
}
