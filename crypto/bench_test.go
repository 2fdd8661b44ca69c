package crypto

import (
	"fmt"
	"testing"

	"github.com/paxsync/paxsync/wire"
)

func BenchmarkSign(b *testing.B) {
	k := testKey(b, 1)
	s := NewSigner(k, MatchID{}, 0)
	body := make([]byte, 48)
	b.ReportAllocs()
	for b.Loop() {
		s.Sign(wire.TypeVerify, body)
	}
}

func BenchmarkVerify(b *testing.B) {
	k := testKey(b, 1)
	s := NewSigner(k, MatchID{}, 0)
	env := s.Sign(wire.TypeVerify, make([]byte, 48))
	v := NewVerifier(MatchID{}, []PublicKey{k.Public()})
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(&env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyOneShot is one real Ed25519 check (no cache of verified
// envelopes, unlike BenchmarkVerify's repeated envelope): the floor of a
// result certificate's check.
func BenchmarkVerifyOneShot(b *testing.B) {
	k := testKey(b, 1)
	s := NewSigner(k, MatchID{}, 0)
	env := s.Sign(wire.TypeCheckpoint, make([]byte, 48))
	v := NewOneShotVerifier(MatchID{}, []PublicKey{k.Public()})
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(&env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDigest(b *testing.B) {
	for _, n := range []int{64, 256, 4096} {
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			buf := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				Sum(buf)
			}
		})
	}
}

func BenchmarkSealOpen(b *testing.B) {
	plain := make([]byte, 16)
	ad := make([]byte, 48)
	b.ReportAllocs()
	for b.Loop() {
		s, k, err := Seal(plain, ad, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Open(s, k, ad); err != nil {
			b.Fatal(err)
		}
	}
}
