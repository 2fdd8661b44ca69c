package tests

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/driver"
	"github.com/paxsync/paxsync/netp2p"
	"github.com/paxsync/paxsync/wal"
)

// BenchmarkCommitOverLibp2p measures bft's end-to-end commit latency over
// real libp2p hosts on loopback (TCP, Noise, yamux, GossipSub, direct
// streams), with a file WAL that fsyncs every group write or an in-memory
// one (to separate the cost of fsync): the time from
// Propose at the leader until the leader applies the entry (commit) and
// until every node has applied it (all). One proposal at a time.
func BenchmarkCommitOverLibp2p(b *testing.B) {
	for _, n := range []int{4, 8} {
		for _, w := range []string{"file", "mem"} {
			b.Run(fmt.Sprintf("n=%d/wal=%s", n, w), func(b *testing.B) { benchCommit(b, n, w == "file") })
		}
	}
}

func benchCommit(b *testing.B, n int, fileWAL bool) {
	dir := b.TempDir()
	var keys []*crypto.PrivateKey
	var roster []crypto.PublicKey
	for i := 0; i < n; i++ {
		k, _ := crypto.GenerateKey(nil)
		keys = append(keys, k)
		roster = append(roster, k.Public())
	}
	match := crypto.NewMatchID("bench", roster)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()

	var mu sync.Mutex
	applied := map[string]int{}
	leaderAt := map[string]time.Time{}
	allAt := map[string]time.Time{}
	var drivers []*driver.Driver
	var hosts []*netp2p.Host
	var peers []string
	for i := 0; i < n; i++ {
		h, err := netp2p.New(ctx, netp2p.Config{
			Key: keys[i], Roster: roster, Match: match, MatchName: "bench",
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: peers,
		})
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		peers = append(peers, h.Addrs()...)
		hosts = append(hosts, h)
		var w driver.WAL = &driver.MemWAL{}
		if fileWAL {
			fw, _, err := driver.OpenFileWAL(filepath.Join(dir, fmt.Sprintf("wal%d", i)), wal.SyncPower)
			if err != nil {
				b.Fatal(err)
			}
			defer fw.Close()
			w = fw
		}
		node, err := bft.NewNode(bft.Config{Seat: uint16(i), N: n, F: (n - 1) / 3,
			Signer: crypto.NewSigner(keys[i], match, uint16(i)), Verifier: crypto.NewVerifier(match, roster)}, nil)
		if err != nil {
			b.Fatal(err)
		}
		seat := i
		d, err := driver.New(driver.Config{Node: node, Seat: i, N: n, Transport: h, WAL: w,
			TickInterval: 20 * time.Millisecond,
			Apply: func(e bft.Entry) {
				now := time.Now()
				k := string(e.Payload)
				mu.Lock()
				applied[k]++
				if seat == 0 {
					leaderAt[k] = now
				}
				if applied[k] == n {
					allAt[k] = now
				}
				mu.Unlock()
			}})
		if err != nil {
			b.Fatal(err)
		}
		drivers = append(drivers, d)
		wg.Add(1)
		go func() { defer wg.Done(); _ = d.Run(ctx) }()
	}
	// Publications made before a peer subscribes never reach it: start
	// measuring on a fully formed topic.
	deadline := time.Now().Add(10 * time.Second)
	for _, h := range hosts {
		for len(h.TopicPeers()) < n-1 {
			if time.Now().After(deadline) {
				b.Fatal("topic not formed")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	propose := func(k string) time.Time {
		start := time.Now()
		if err := drivers[0].Propose(ctx, []byte(k)); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			_, done := allAt[k]
			mu.Unlock()
			if done {
				return start
			}
			if time.Now().After(deadline) {
				for i, d := range drivers {
					st, _ := d.Status(ctx)
					b.Logf("seat %d: %+v connected=%v stats=%+v applied=%d", i, st, hosts[i].Connected(), d.Stats(), applied[k])
				}
				b.Fatalf("value %s not decided everywhere", k)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	// Warm up until everyone is connected and a value goes through.
	for w := 0; w < 5; w++ {
		propose(fmt.Sprintf("warm-%d", w))
	}
	var commit, all []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := fmt.Sprintf("v-%d", i)
		start := propose(k)
		mu.Lock()
		commit = append(commit, leaderAt[k].Sub(start))
		all = append(all, allAt[k].Sub(start))
		mu.Unlock()
	}
	b.StopTimer()
	pct := func(d []time.Duration, p float64) float64 {
		slices.Sort(d)
		return float64(d[int(float64(len(d)-1)*p)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(commit, 0.5), "commit-p50-ms")
	b.ReportMetric(pct(commit, 0.99), "commit-p99-ms")
	b.ReportMetric(pct(all, 0.5), "all-p50-ms")
	b.ReportMetric(pct(all, 0.99), "all-p99-ms")
}
