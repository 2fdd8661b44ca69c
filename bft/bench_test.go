package bft

import (
	"crypto/sha256"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/paxsync/paxsync/crypto"
)

// benchCluster is n in-memory nodes with real Ed25519 keys: every
// signature is really made and checked; messages are handed over directly.
type benchCluster struct {
	nodes []*Node
	inbox [][]crypto.Envelope
}

func newBenchCluster(tb testing.TB, n int, window int) *benchCluster {
	return newBenchClusterMode(tb, n, window, ModeByzantine)
}

// newBenchClusterMode is newBenchCluster running the given Mode.
func newBenchClusterMode(tb testing.TB, n int, window int, mode Mode) *benchCluster {
	keys, roster, m := seededRoster(n, "bench")
	c := &benchCluster{inbox: make([][]crypto.Envelope, n)}
	for i := 0; i < n; i++ {
		nd, err := NewNode(Config{Seat: uint16(i), N: n, F: (n - 1) / 3, Mode: mode, Signer: crypto.NewSigner(keys[i], m, uint16(i)),
			Verifier: crypto.NewVerifier(m, roster), Window: window, CheckpointInterval: 1 << 40}, nil)
		if err != nil {
			tb.Fatal(err)
		}
		c.nodes = append(c.nodes, nd)
	}
	return c
}

// pump runs Ready/Step rounds until nothing is left to do.
func (c *benchCluster) pump() {
	for busy := true; busy; {
		busy = false
		for i, nd := range c.nodes {
			if !nd.HasReady() {
				continue
			}
			busy = true
			rd := nd.Ready()
			for _, m := range rd.Messages {
				if m.To == Broadcast {
					for j := range c.nodes {
						if j != i {
							c.inbox[j] = append(c.inbox[j], m.Env)
						}
					}
				} else {
					c.inbox[m.To] = append(c.inbox[m.To], m.Env)
				}
			}
			nd.Advance()
		}
		for j, nd := range c.nodes {
			if len(c.inbox[j]) > 0 {
				busy = true
			}
			for _, e := range c.inbox[j] {
				_ = nd.Step(e)
			}
			c.inbox[j] = c.inbox[j][:0]
		}
	}
}

const benchInputs, benchInputSize = 8, 16

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sigCosts measures this machine's Ed25519 sign and verify cost, the
// floor's unit prices.
func sigCosts() (sign, verify time.Duration) {
	k, _ := crypto.KeyFromSeed(make([]byte, 32))
	s := crypto.NewSigner(k, crypto.MatchID{}, 0)
	v := crypto.NewVerifier(crypto.MatchID{}, []crypto.PublicKey{k.Public()})
	const n = 300
	body := make([]byte, 80)
	t0 := time.Now()
	var env crypto.Envelope
	for i := 0; i < n; i++ {
		env = s.Sign(2, body)
	}
	sign = time.Since(t0) / n
	t0 = time.Now()
	for i := 0; i < n; i++ {
		_ = v.Verify(&env)
	}
	return sign, time.Since(t0) / n
}

// BenchmarkCluster decides b.N slots on n in-memory nodes. The leader keeps
// `batch` proposals in flight per round (the app's batching of ticks);
// each slot carries 8 player inputs of 16 bytes. mode=byzantine is the
// product; mode=crash is the crash-tolerant baseline (2F+1 acceptors, no
// Verify broadcast, same signatures per message), so the ratio of the two
// is what Byzantine tolerance costs.
func BenchmarkCluster(b *testing.B) {
	signCost, verifyCost := sigCosts()
	for _, mode := range []Mode{ModeByzantine, ModeCrash} {
		for _, n := range []int{4, 7} {
			for _, batch := range []int{1, 4, 16} {
				benchCluster1(b, mode, n, batch, signCost, verifyCost)
			}
		}
	}
}

// benchCluster1 runs one BenchmarkCluster case.
func benchCluster1(b *testing.B, mode Mode, n, batch int, signCost, verifyCost time.Duration) {
	b.Run(fmt.Sprintf("mode=%s/n=%d/batch=%d", mode, n, batch), func(b *testing.B) {
		c := newBenchClusterMode(b, n, 64, mode)
		payload := make([]byte, 0, benchInputs*benchInputSize)
		for i := 0; i < benchInputs; i++ {
			h := sha256.Sum256([]byte{byte(i)})
			payload = append(payload, h[:benchInputSize]...)
		}
		leader := c.nodes[0]
		b.ReportAllocs()
		b.ResetTimer()
		cpu0, t0 := cpuTime(), time.Now()
		proposed := 0
		for proposed < b.N {
			for k := 0; k < batch && proposed < b.N; k++ {
				if err := leader.Propose(payload); err != nil {
					b.Fatal(err)
				}
				proposed++
			}
			c.pump()
		}
		wall, cpu := time.Since(t0), cpuTime()-cpu0
		b.StopTimer()
		for _, nd := range c.nodes {
			if nd.committed != uint64(b.N) {
				b.Fatalf("seat %d decided %d of %d", nd.seat, nd.committed, b.N)
			}
		}
		var signs, verifies uint64
		for _, nd := range c.nodes {
			signs += nd.met.Signed
			verifies += nd.met.Verified
		}
		slots := float64(b.N)
		floor := (float64(signs)*float64(signCost) + float64(verifies)*float64(verifyCost)) / slots / float64(n) / 1e3
		cpuPer := float64(cpu) / slots / float64(n) / 1e3
		b.ReportMetric(slots/wall.Seconds(), "slots/s")
		b.ReportMetric(slots*benchInputs/wall.Seconds(), "inputs/s")
		b.ReportMetric(float64(signs)/slots, "signs/slot")
		b.ReportMetric(float64(verifies)/slots, "verifies/slot")
		b.ReportMetric(cpuPer, "cpu-µs/slot/node")
		b.ReportMetric(floor, "floor-µs/slot/node")
		b.ReportMetric(cpuPer/floor, "cpu/floor")
	})
}
