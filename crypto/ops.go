package crypto

import (
	"crypto/ed25519"
	"sync/atomic"
	"time"

	"github.com/paxsync/paxsync/wire"
)

// OpCounts are the signature operations this process has performed since it
// started.
type OpCounts struct {
	Signs    uint64 // Ed25519 signatures made by Signer.Sign
	Verifies uint64 // Ed25519 verifications by Verifier.Verify, failed ones included
	// VerifyHits are Verifier.Verify calls answered from the set of
	// envelopes that verifier already accepted (no curve work).
	VerifyHits uint64
}

// Sub returns the operations done between an earlier reading o0 and o.
func (o OpCounts) Sub(o0 OpCounts) OpCounts {
	return OpCounts{Signs: o.Signs - o0.Signs, Verifies: o.Verifies - o0.Verifies, VerifyHits: o.VerifyHits - o0.VerifyHits}
}

var signs, verifies, verifyHits atomic.Uint64

// Ops returns process-wide counts of the Ed25519 signatures made
// (Signer.Sign) and checked (Verifier.Verify, including verifications that
// fail). A verification refused before any curve work, because the sender
// is not in the roster, is not counted.
//
// They exist for the "signature floor" of a benchmark: signatures are the
// dominant fixed cost of the protocol, so Signs × sign cost + Verifies ×
// verify cost (see MeasureCost) over a run is the CPU time no
// implementation of the same protocol could go below, and the measured CPU
// divided by it says how much the rest costs. Take a reading before and
// after the measured work and use OpCounts.Sub: the counters are shared by
// every Signer and Verifier in the process. Each counted operation costs
// one atomic add.
func Ops() OpCounts {
	return OpCounts{Signs: signs.Load(), Verifies: verifies.Load(), VerifyHits: verifyHits.Load()}
}

// MeasureCost measures, on this machine and for about d in total, what one
// Ed25519 sign and one verify of a representative envelope (a 100-byte
// body, as signed by Signer.Sign) cost. It runs at least one of each, so d
// may be 0 for a quick (and noisy) reading. Its own operations are not
// counted in Ops, so it can run between two readings of Ops. A benchmark
// multiplies Ops by these costs to get its signature floor.
func MeasureCost(d time.Duration) (sign, verify time.Duration) {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i + 1)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	body := make([]byte, 100)
	for i := range body {
		body[i] = byte(i * 7)
	}
	msg := appendSigningBytes(nil, MatchID{1}, wire.TypeVerify, 3, body)
	var sig []byte

	// Half of the time for each; a verify costs about twice a sign, so the
	// two readings end up with similar sample counts.
	half := d / 2
	var n int
	start := time.Now()
	for n == 0 || time.Since(start) < half {
		for range 16 {
			sig = ed25519.Sign(priv, msg)
		}
		n += 16
	}
	sign = time.Since(start) / time.Duration(n)

	n = 0
	start = time.Now()
	for n == 0 || time.Since(start) < half {
		for range 16 {
			if !ed25519.Verify(pub, msg, sig) {
				panic("crypto: MeasureCost: own signature does not verify")
			}
		}
		n += 16
	}
	verify = time.Since(start) / time.Duration(n)
	return sign, verify
}
