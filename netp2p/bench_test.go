package netp2p

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// collect reads every host's Inbound and records, per message (sender,
// sequence), the latest arrival time over all receivers.
type collector struct {
	mu   sync.Mutex
	last map[[2]uint64]time.Time
	got  map[[2]uint64]int
	done chan struct{}
	wg   sync.WaitGroup
}

func newCollector(c *cluster) *collector {
	col := &collector{last: map[[2]uint64]time.Time{}, got: map[[2]uint64]int{}, done: make(chan struct{})}
	for _, h := range c.hosts {
		col.wg.Add(1)
		go func() {
			defer col.wg.Done()
			for {
				select {
				case in := <-h.Inbound():
					now := time.Now()
					k := [2]uint64{uint64(in.Env.Sender), binary.BigEndian.Uint64(in.Env.Body)}
					col.mu.Lock()
					col.last[k] = now
					col.got[k]++
					col.mu.Unlock()
				case <-col.done:
					return
				}
			}
		}()
	}
	return col
}

func (col *collector) stop() { close(col.done); col.wg.Wait() }

// count returns how many receivers have message k.
func (col *collector) count(k [2]uint64) int {
	col.mu.Lock()
	defer col.mu.Unlock()
	return col.got[k]
}

func body(seq uint64) []byte {
	b := make([]byte, 200) // a typical consensus message body
	binary.BigEndian.PutUint64(b, seq)
	return b
}

func percentile(d []time.Duration, p float64) time.Duration {
	slices.Sort(d)
	return d[int(float64(len(d)-1)*p)]
}

// BenchmarkPublishDeliver: one publisher at a time (round-robin), time from
// Broadcast until every other host has the message in Inbound, including
// decode, Ed25519 verification and the validator on each receiver.
func BenchmarkPublishDeliver(b *testing.B) {
	for _, n := range []int{4, 8} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			c := newCluster(b, n, func(i int, cfg *Config) { cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"} })
			col := newCollector(c)
			defer col.stop()
			var lat []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s := i % n
				k := [2]uint64{uint64(s), uint64(i)}
				start := time.Now()
				if err := c.hosts[s].Broadcast(c.signers[s].Sign(wire.TypeInput, body(uint64(i)))); err != nil {
					b.Fatal(err)
				}
				deadline := start.Add(5 * time.Second)
				for col.count(k) < n-1 {
					if time.Now().After(deadline) {
						b.Fatalf("message %d reached %d of %d", i, col.count(k), n-1)
					}
					time.Sleep(20 * time.Microsecond)
				}
				col.mu.Lock()
				lat = append(lat, col.last[k].Sub(start))
				col.mu.Unlock()
			}
			b.StopTimer()
			b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkAllToAllBurst: every host publishes `burst` messages at once;
// reports how many deliveries were lost (queues that drop when full) and
// the time until everyone has everything. Run with queue=32 (pubsub's
// default) and queue=1024 (ours) to see why the default is not enough.
func BenchmarkAllToAllBurst(b *testing.B) {
	for _, n := range []int{4, 8} {
		for _, q := range []int{32, DefaultQueueSize} {
			b.Run(fmt.Sprintf("n=%d/queue=%d", n, q), func(b *testing.B) {
				c := newCluster(b, n, func(i int, cfg *Config) {
					cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
					cfg.QueueSize = q
					cfg.RateLimit.PerSecond = -1
				})
				col := newCollector(c)
				defer col.stop()
				const burst = 100
				var lost, total int
				var lat []time.Duration
				signers := make([]*crypto.Signer, n)
				copy(signers, c.signers)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					start := time.Now()
					var wg sync.WaitGroup
					for s := 0; s < n; s++ {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for m := 0; m < burst; m++ {
								_ = c.hosts[s].Broadcast(signers[s].Sign(wire.TypeInput, body(uint64(i*burst+m))))
							}
						}()
					}
					wg.Wait()
					want := n * burst * (n - 1)
					deadline := time.Now().Add(3 * time.Second)
					var have int
					for time.Now().Before(deadline) {
						have = 0
						col.mu.Lock()
						for s := 0; s < n; s++ {
							for m := 0; m < burst; m++ {
								have += col.got[[2]uint64{uint64(s), uint64(i*burst + m)}]
							}
						}
						col.mu.Unlock()
						if have == want {
							break
						}
						time.Sleep(time.Millisecond)
					}
					if have == want {
						lat = append(lat, time.Since(start))
					}
					lost += want - have
					total += want
				}
				b.StopTimer()
				b.ReportMetric(100*float64(lost)/float64(total), "lost-%")
				if len(lat) > 0 {
					b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "complete-p50-ms")
				}
			})
		}
	}
}
