package netp2p

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
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
		if _, ok := recv(t, rcv, 5*time.Second); !ok {
			t.Fatalf("received %d of %d", i, k)
		}
	}
	if err := snd.Send(context.Background(), 1, c.signers[0].Sign(wire.TypeInput, []byte("direct"))); err != nil {
		t.Fatal(err)
	}
	if in, ok := recv(t, rcv, 5*time.Second); !ok || !in.Direct {
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
// limit while seats 1 and 2 broadcast at a game's pace; every host must get
// every honest message, and seat 3 must be reported as flooding.
func TestFloodDoesNotCostHonestDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("floods four hosts for a few seconds")
	}
	c := newCluster(t, 4, func(i int, cfg *Config) { cfg.noValidate = i == 3 })
	flooder := c.hosts[3]
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	published := 0
	go func() {
		defer wg.Done()
		// One pre-signed envelope, each publication distinct by its nonce,
		// as the flood cheat does.
		env := c.signers[3].Sign(wire.TypeHello, []byte("flood"))
		for n := uint64(0); ctx.Err() == nil; n++ {
			data := env.Encode(binary.BigEndian.AppendUint64(nil, n))
			if flooder.topic.Publish(ctx, data) == nil {
				published++
			}
		}
	}()

	// Honest seats 1 and 2: 150 messages each, 5 ms apart (~200/s).
	const perSeat = 150
	want := map[string]bool{}
	for s := 1; s <= 2; s++ {
		for i := range perSeat {
			want[fmt.Sprintf("seat %d msg %d", s, i)] = true
		}
	}
	got := make([]map[string]bool, 3)
	var rwg sync.WaitGroup
	for h := range 3 {
		got[h] = map[string]bool{}
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			deadline := time.After(30 * time.Second)
			for {
				select {
				case in := <-c.hosts[h].Inbound():
					if in.Env.Sender != 3 {
						got[h][string(in.Env.Body)] = true
					}
				case <-deadline:
					return
				}
				n := 0
				for m := range want {
					if got[h][m] && int(m[5]-'0') != h {
						n++
					}
				}
				if n == len(want)-wantOwn(h, perSeat) {
					return
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond) // the flood is on
	var swg sync.WaitGroup
	for s := 1; s <= 2; s++ {
		swg.Add(1)
		go func() {
			defer swg.Done()
			for i := range perSeat {
				env := c.signers[s].Sign(wire.TypeInput, []byte(fmt.Sprintf("seat %d msg %d", s, i)))
				if err := c.hosts[s].Broadcast(env); err != nil {
					t.Error(err)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	swg.Wait()
	rwg.Wait()
	stop()
	wg.Wait()

	for h := range 3 {
		var missing []string
		for m := range want {
			if int(m[5]-'0') != h && !got[h][m] {
				missing = append(missing, m)
			}
		}
		tr := c.hosts[h].Traffic()
		t.Logf("host %d: %+v", h, tr)
		if len(missing) > 0 {
			t.Errorf("host %d lost %d honest messages (e.g. %q) while seat 3 flooded", h, len(missing), missing[0])
		}
	}
	t.Logf("flooder published %d", published)
	tr := c.hosts[0].Traffic()
	if tr.Flooding == 0 {
		t.Errorf("host 0 limited none of %d flood publications", published)
	}
	waitEvent(t, c.hosts[0], 5*time.Second, func(ev Event) bool {
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
		ev := waitEvent(t, h, 5*time.Second, func(ev Event) bool { return ev.Kind == EventInvalid })
		if ev.Seat != 0 || ev.Reason != ReasonBadSignature || ev.Peer != c.hosts[0].PeerID() {
			t.Errorf("host %d: event %v; want bad-signature against seat 0 (the relayer)", h.Seat(), ev)
		}
		if in, ok := recv(t, h, 300*time.Millisecond); ok {
			t.Errorf("host %d: tampered envelope delivered: %+v", h.Seat(), in)
		}
	}
	// The genuine envelope, relayed by the same peer, is still accepted:
	// the rejection was about the bytes, not a ban.
	if err := c.hosts[0].Broadcast(orig); err != nil {
		t.Fatal(err)
	}
	in, ok := recv(t, c.hosts[2], 5*time.Second)
	if !ok || in.Env.Sender != 1 || !bytes.Equal(in.Env.Body, orig.Body) {
		t.Fatalf("genuine relay: %+v, %v", in, ok)
	}
}
