package transporttest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/paxsync/paxsync/transport"
	"github.com/paxsync/paxsync/wire"
)

// checkPartition: a cut stops direct and broadcast delivery between the
// two seats in both directions, but not to the others; a heal restores it.
func checkPartition(t *testing.T, m *Match, eps []transport.Transport) {
	p, ok := eps[0].(transport.Partitioner)
	if !ok {
		t.Skip("not a transport.Partitioner")
	}
	ctx := ctxWait(t)
	s0 := m.Signer(0)
	p.Cut(1)
	Eventually(t, "the cut seen on both sides", func() bool {
		return !slices.Contains(eps[0].Reachable(), 1) && !slices.Contains(eps[1].Reachable(), 0)
	})
	if err := eps[0].Send(ctx, 1, s0.Sign(wire.TypeInput, []byte("across"))); !errors.Is(err, transport.ErrCut) {
		t.Fatalf("send across a cut: %v, want ErrCut", err)
	}
	if _, err := eps[0].RequestSync(ctx, 1, []byte("x")); err == nil {
		t.Fatal("sync across a cut succeeded")
	}
	if err := eps[0].Broadcast(s0.Sign(wire.TypeInput, []byte("around"))); err != nil {
		t.Fatal(err)
	}
	if in := Recv(t, eps[2], "the broadcast on the uncut side"); string(in.Env.Body) != "around" {
		t.Fatalf("seat 2 got %q", in.Env.Body)
	}
	p.Heal(1)
	Eventually(t, "the heal seen on both sides", func() bool {
		return slices.Contains(eps[0].Reachable(), 1) && slices.Contains(eps[1].Reachable(), 0)
	})
	if err := eps[0].Send(ctx, 1, s0.Sign(wire.TypeInput, []byte("back"))); err != nil {
		t.Fatal(err)
	}
	// Nothing was sent to seat 1 but the broadcast it must not have got
	// and this, so this comes first.
	if in := Recv(t, eps[1], "the message after the heal"); string(in.Env.Body) != "back" || in.From != 0 {
		t.Fatalf("after the heal seat 1 got %q from %d", in.Env.Body, in.From)
	}
}

// checkMeter: what one Send moves shows in both sides' Traffic, and every
// other seat is Connected.
func checkMeter(t *testing.T, m *Match, eps []transport.Transport) {
	ms := make([]transport.Meter, len(eps))
	for i, ep := range eps {
		var ok bool
		if ms[i], ok = ep.(transport.Meter); !ok {
			t.Skip("not a transport.Meter")
		}
	}
	for i, mt := range ms {
		if c := sorted(mt.Connected()); !slices.Equal(c, Others(Seats, i)) {
			t.Fatalf("seat %d: Connected %v", i, c)
		}
		if rtt := mt.RTT(); len(rtt) != Seats || rtt[i] != 0 {
			t.Fatalf("seat %d: RTT %v", i, rtt)
		}
	}
	out0, in1 := ms[0].Traffic(), ms[1].Traffic()
	if err := eps[0].Send(context.Background(), 1, m.Signer(0).Sign(wire.TypeInput, make([]byte, 100))); err != nil {
		t.Fatal(err)
	}
	Recv(t, eps[1], "the metered message")
	Eventually(t, "the message counted", func() bool {
		d0, d1 := ms[0].Traffic().Sub(out0), ms[1].Traffic().Sub(in1)
		return d0.MsgsOut >= 1 && d0.BytesOut >= 100 && d1.MsgsIn >= 1 && d1.BytesIn >= 100
	})
}

// checkAddresser: every seat has a distinct peer ID and some address.
func checkAddresser(t *testing.T, _ *Match, eps []transport.Transport) {
	ids := map[string]int{}
	for i, ep := range eps {
		a, ok := ep.(transport.Addresser)
		if !ok {
			t.Skip("not a transport.Addresser")
		}
		id := a.PeerID()
		if id == "" || len(a.Addrs()) == 0 {
			t.Fatalf("seat %d: peer ID %q, addrs %v", i, id, a.Addrs())
		}
		if j, dup := ids[id]; dup {
			t.Fatalf("seats %d and %d share peer ID %s", j, i, id)
		}
		ids[id] = i
	}
}
