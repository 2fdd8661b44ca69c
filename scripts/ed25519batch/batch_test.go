// Package ed25519batch measures, for issue 16, whether Ed25519 batch
// verification pays on the batch sizes paxsync verifies: a tick's inputs
// and Confirms at n = 4 and n = 7, and a spectator's 64-slot answer. It
// is a module of its own so that the library measured does not become a
// dependency of paxsync unless the numbers adopt it. Run:
//
//	cd scripts/ed25519batch && go test -bench . -benchtime 2000x
//
// Each benchmark reports ns per signature; compare them within one run.
package ed25519batch

import (
	"crypto/ed25519"
	"fmt"
	"testing"

	"github.com/hdevalence/ed25519consensus"
)

type signed struct {
	pub ed25519.PublicKey
	msg []byte
	sig []byte
}

// batch is k signatures by 7 keys over distinct 80-byte messages (the
// size of a signed vote body with its envelope header).
func batch(k int) []signed {
	out := make([]signed, k)
	for i := range out {
		seed := make([]byte, 32)
		seed[0] = byte(i % 7)
		priv := ed25519.NewKeyFromSeed(seed)
		msg := fmt.Appendf(make([]byte, 0, 80), "%080d", i)
		out[i] = signed{priv.Public().(ed25519.PublicKey), msg, ed25519.Sign(priv, msg)}
	}
	return out
}

// sizes: 4 inputs + 3 Confirms (n = 4), 7 + 5 (n = 7), a 64-slot answer
// at n = 4 (448), and the smallest batches.
var sizes = []int{2, 3, 7, 12, 64, 448}

func BenchmarkStdlib(b *testing.B) {
	for _, k := range sizes {
		sigs := batch(k)
		b.Run(fmt.Sprint(k), func(b *testing.B) {
			for b.Loop() {
				for _, s := range sigs {
					if !ed25519.Verify(s.pub, s.msg, s.sig) {
						b.Fatal("bad")
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*k), "ns/sig")
		})
	}
}

func BenchmarkZIP215Single(b *testing.B) {
	for _, k := range sizes {
		sigs := batch(k)
		b.Run(fmt.Sprint(k), func(b *testing.B) {
			for b.Loop() {
				for _, s := range sigs {
					if !ed25519consensus.Verify(s.pub, s.msg, s.sig) {
						b.Fatal("bad")
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*k), "ns/sig")
		})
	}
}

func BenchmarkZIP215Batch(b *testing.B) {
	for _, k := range sizes {
		sigs := batch(k)
		b.Run(fmt.Sprint(k), func(b *testing.B) {
			for b.Loop() {
				v := ed25519consensus.NewBatchVerifier()
				for _, s := range sigs {
					v.Add(s.pub, s.msg, s.sig)
				}
				if !v.Verify() {
					b.Fatal("bad")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*k), "ns/sig")
		})
	}
}

// BenchmarkZIP215BatchFails is the cost when one signature of the batch
// is bad: the batch fails and every signature is verified one by one to
// find it (the fallback every peer must take).
func BenchmarkZIP215BatchFails(b *testing.B) {
	for _, k := range sizes {
		sigs := batch(k)
		bad := append([]byte(nil), sigs[k-1].sig...)
		bad[0] ^= 1
		sigs[k-1].sig = bad
		b.Run(fmt.Sprint(k), func(b *testing.B) {
			for b.Loop() {
				v := ed25519consensus.NewBatchVerifier()
				for _, s := range sigs {
					v.Add(s.pub, s.msg, s.sig)
				}
				if v.Verify() {
					b.Fatal("a bad batch verified")
				}
				for _, s := range sigs {
					_ = ed25519consensus.Verify(s.pub, s.msg, s.sig)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*k), "ns/sig")
		})
	}
}
