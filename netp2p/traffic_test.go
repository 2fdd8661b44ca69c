package netp2p

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paxsync/paxsync/wire"
)

func TestTrafficCounts(t *testing.T) {
	c := newCluster(t, 2, nil)
	snd, rcv := c.hosts[0], c.hosts[1]
	t0s, t0r := snd.Traffic(), rcv.Traffic()
	const k, bodySize = 40, 300
	for i := range k {
		body := bytes.Repeat([]byte{byte(i)}, bodySize)
		if err := snd.Broadcast(c.signers[0].Sign(wire.TypeInput, body)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range k {
		if _, ok := recv(t, rcv, waitLong); !ok {
			t.Fatalf("received %d of %d", i, k)
		}
	}
	if err := snd.Send(context.Background(), 1, c.signers[0].Sign(wire.TypeInput, []byte("direct"))); err != nil {
		t.Fatal(err)
	}
	if in, ok := recv(t, rcv, waitLong); !ok || !in.Direct {
		t.Fatalf("direct message: %+v, %v", in, ok)
	}
	s, r := snd.Traffic().Sub(t0s), rcv.Traffic().Sub(t0r)
	if s.MsgsOut != k+1 || r.MsgsIn != k+1 {
		t.Errorf("sender MsgsOut %d, receiver MsgsIn %d; want %d each", s.MsgsOut, r.MsgsIn, k+1)
	}
	if s.MsgsIn != 0 || r.MsgsOut != 0 {
		t.Errorf("sender MsgsIn %d, receiver MsgsOut %d; want 0 (nothing sent back, no self-delivery)", s.MsgsIn, r.MsgsOut)
	}
	// Every body crossed the wire once, plus framing, nonce and signature.
	if s.BytesOut <= k*bodySize || r.BytesIn <= k*bodySize {
		t.Errorf("sender BytesOut %d, receiver BytesIn %d; want > %d", s.BytesOut, r.BytesIn, k*bodySize)
	}
	if s.Flooding+r.Flooding+r.DroppedValidation+r.DroppedSubscription+s.DroppedOutbound != 0 {
		t.Errorf("drops in a quiet exchange: sender %+v receiver %+v", s, r)
	}
}

// TestFloodDoesNotCostHonestDelivery: seat 3 publishes far beyond its rate
// limit while seats 1 and 2 broadcast alongside; every host must get every
// honest message, seat 3 must get no more than its budget through, and it
// must be reported as flooding.
//
// The limiter's clock is the test's (Config.now), advanced by one step per
// round, so what is over the limit is fixed by the counts below and not by
// how fast this machine publishes: under the race detector a real-time
// flood never even reached the limit. Each round waits until every host
// has delivered or limited the whole round, which keeps the flood within
// pubsub's queues (a loss there would be a queue, not the limiter, at work)
// and the honest messages interleaved with it.
func TestFloodDoesNotCostHonestDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("floods four hosts with a few thousand messages")
	}
	const (
		rate, burst    = 100, 200 // per signer and delivering peer
		rounds         = 30
		floodPerRound  = 100 // 10× the refill per round, and the burst is gone in 2 rounds
		honestPerRound = 5   // for each of seats 1 and 2: within every budget
		step           = 100 * time.Millisecond
		n              = 4
	)
	// The most a host can let through of seat 3's own messages: the pair
	// bucket (signer 3, delivered by 3) full at the start plus its refill.
	// The arrival bucket (n×) is emptied too: from round 20 on more than
	// half of each round is cut before pubsub even queues it.
	maxFlood := burst + rate*int(rounds*step/time.Second)
	clk := newFakeClock()
	c := newCluster(t, n, func(i int, cfg *Config) {
		cfg.noValidate = i == 3
		cfg.RateLimit = RateLimit{PerSecond: rate, Burst: burst}
		cfg.now = clk.now
	})
	flooder := c.hosts[3]

	var mu sync.Mutex
	got := make([]map[string]bool, 3) // honest bodies delivered to host h
	var flood [3]atomic.Int64         // seat 3's envelopes delivered to host h
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	for h := range 3 {
		got[h] = map[string]bool{}
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for {
				select {
				case in := <-c.hosts[h].Inbound():
					if in.Env.Sender == 3 {
						flood[h].Add(1)
						continue
					}
					mu.Lock()
					got[h][string(in.Env.Body)] = true
					mu.Unlock()
				case <-stop:
					return
				}
			}
		}()
	}
	defer rwg.Wait()
	defer close(stop)

	// One pre-signed envelope, each publication distinct by its nonce, as
	// the flood cheat does.
	env := c.signers[3].Sign(wire.TypeHello, []byte("flood"))
	published := 0
	for r := range rounds {
		for range floodPerRound {
			data := env.Encode(binary.BigEndian.AppendUint64(nil, uint64(published)))
			if err := flooder.topic.Publish(context.Background(), data); err != nil {
				t.Fatal(err)
			}
			published++
		}
		for s := 1; s <= 2; s++ {
			for k := range honestPerRound {
				body := fmt.Sprintf("seat %d msg %d", s, r*honestPerRound+k)
				if err := c.hosts[s].Broadcast(c.signers[s].Sign(wire.TypeInput, []byte(body))); err != nil {
					t.Fatal(err)
				}
			}
		}
		waitFor(t, waitLong, fmt.Sprintf("round %d of the flood delivered or limited", r), func() bool {
			for h := range 3 {
				tr := c.hosts[h].Traffic()
				if flood[h].Load()+int64(tr.Flooding+tr.DroppedValidation+tr.DroppedSubscription) < int64(published) {
					return false
				}
			}
			return true
		})
		clk.advance(step)
	}
	honest := rounds * honestPerRound
	waitFor(t, waitLong, "every honest message at every host", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for h := range 3 {
			if len(got[h]) < 2*honest-wantOwn(h, honest) {
				return false
			}
		}
		return true
	})

	for h := range 3 {
		tr := c.hosts[h].Traffic()
		t.Logf("host %d: seat 3 delivered %d of %d; %+v", h, flood[h].Load(), published, tr)
		mu.Lock()
		for s := 1; s <= 2; s++ {
			for k := 0; k < honest && s != h; k++ {
				if m := fmt.Sprintf("seat %d msg %d", s, k); !got[h][m] {
					t.Errorf("host %d lost honest message %q while seat 3 flooded", h, m)
				}
			}
		}
		mu.Unlock()
		if d := flood[h].Load(); d < burst || d > int64(maxFlood) {
			t.Errorf("host %d delivered %d of seat 3's %d publications; its budget is %d to %d", h, d, published, burst, maxFlood)
		}
		if tr.Flooding < uint64(published-maxFlood) {
			t.Errorf("host %d limited %d of %d flood publications, want at least %d", h, tr.Flooding, published, published-maxFlood)
		}
		if tr.DroppedValidation+tr.DroppedSubscription != 0 {
			t.Errorf("host %d dropped messages in a queue: %+v", h, tr)
		}
	}
	waitEvent(t, c.hosts[0], waitLong, func(ev Event) bool {
		return ev.Kind == EventInvalid && ev.Reason == ReasonFlooding && ev.Seat == 3
	})
	for h := range 3 {
		for range len(c.hosts[h].Events()) {
			if e := <-c.hosts[h].Events(); e.Kind == EventInvalid && e.Seat != 3 {
				t.Errorf("host %d blamed an honest peer: %v", h, e)
			}
		}
	}
}

// wantOwn is how many of the honest messages host h sent itself (never
// delivered back to it).
func wantOwn(h, perSeat int) int {
	if h == 1 || h == 2 {
		return perSeat
	}
	return 0
}

// TestTamperedRelayIsBlamedOnRelayer: a roster peer re-publishes another
// player's validly signed envelope with one body byte altered. Every
// receiver rejects it as a bad signature and blames the relaying peer, not
// the signer.
func TestTamperedRelayIsBlamedOnRelayer(t *testing.T) {
	c := newCluster(t, 3, func(i int, cfg *Config) { cfg.noValidate = i == 0 })
	orig := c.signers[1].Sign(wire.TypeInput, []byte("seat 1 input, tick 42"))
	tampered := orig
	tampered.Body = append([]byte(nil), orig.Body...)
	tampered.Body[len(tampered.Body)-1] ^= 0x01
	if err := c.hosts[0].topic.Publish(context.Background(), tampered.Encode(make([]byte, nonceSize))); err != nil {
		t.Fatal(err)
	}
	for _, h := range c.hosts[1:] {
		ev := waitEvent(t, h, waitLong, func(ev Event) bool { return ev.Kind == EventInvalid })
		if ev.Seat != 0 || ev.Reason != ReasonBadSignature || ev.Peer != c.hosts[0].PeerID() {
			t.Errorf("host %d: event %v; want bad-signature against seat 0 (the relayer)", h.Seat(), ev)
		}
		if in, ok := recv(t, h, waitQuiet); ok {
			t.Errorf("host %d: tampered envelope delivered: %+v", h.Seat(), in)
		}
	}
	// The genuine envelope, relayed by the same peer, is still accepted:
	// the rejection was about the bytes, not a ban.
	if err := c.hosts[0].Broadcast(orig); err != nil {
		t.Fatal(err)
	}
	in, ok := recv(t, c.hosts[2], waitLong)
	if !ok || in.Env.Sender != 1 || !bytes.Equal(in.Env.Body, orig.Body) {
		t.Fatalf("genuine relay: %+v, %v", in, ok)
	}
}
