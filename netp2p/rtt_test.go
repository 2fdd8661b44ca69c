package netp2p

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/paxsync/paxsync/wire"
)

// TestRTTPerSeat: four hosts on loopback ping each other and each reports
// a round-trip time for every other seat, none for its own; a cut seat
// reports none. Only that an RTT is known is asserted, not its value.
func TestRTTPerSeat(t *testing.T) {
	const n = 4
	c := newCluster(t, n, nil)
	for i, h := range c.hosts {
		waitFor(t, waitLong, fmt.Sprintf("host %d knows every peer's RTT", i), func() bool {
			rtt := h.RTT()
			for s, d := range rtt {
				if s != i && d <= 0 {
					return false
				}
			}
			return len(rtt) == n
		})
		if d := h.RTT()[i]; d != 0 {
			t.Errorf("host %d: own seat RTT %v, want 0", i, d)
		}
	}
	c.hosts[0].Cut(2)
	if d := c.hosts[0].RTT()[2]; d != 0 {
		t.Errorf("RTT of a cut seat: %v, want 0", d)
	}
}

// TestTrafficByType: the per-type split counts every envelope sent and
// received once under its type, with its encoded size, for broadcasts and
// direct sends alike, and lists no type that was not moved.
func TestTrafficByType(t *testing.T) {
	c := newCluster(t, 2, nil)
	snd, rcv := c.hosts[0], c.hosts[1]
	want := map[wire.Type]uint64{} // encoded bytes by type
	count := map[wire.Type]uint64{}
	for i, typ := range []wire.Type{wire.TypeInput, wire.TypeInput, wire.TypeVerify, wire.TypeStateHash} {
		env := c.signers[0].Sign(typ, bytes.Repeat([]byte{byte(i)}, 100+i))
		if err := snd.Broadcast(env); err != nil {
			t.Fatal(err)
		}
		want[typ] += uint64(len(env.Encode(nil)))
		count[typ]++
	}
	direct := c.signers[0].Sign(wire.TypeConfirm, []byte("direct"))
	if err := snd.Send(context.Background(), 1, direct); err != nil {
		t.Fatal(err)
	}
	want[wire.TypeConfirm] += uint64(len(direct.Encode(nil)))
	count[wire.TypeConfirm]++
	for i := 0; i < 5; i++ {
		if _, ok := recv(t, rcv, waitLong); !ok {
			t.Fatalf("received %d of 5", i)
		}
	}
	out, in := snd.TrafficByType(), rcv.TrafficByType()
	if len(out) != len(want) || len(in) != len(want) {
		t.Fatalf("types listed: sender %+v, receiver %+v; want %d types", out, in, len(want))
	}
	for i := range out {
		s, r := out[i], in[i]
		if s.Type != r.Type || s.MsgsOut != count[s.Type] || r.MsgsIn != count[s.Type] ||
			s.BytesOut != want[s.Type] || r.BytesIn != want[s.Type] || s.MsgsIn != 0 || r.MsgsOut != 0 {
			t.Errorf("%s: sender %+v, receiver %+v; want %d messages of %d bytes out and in", s.Type, s, r, count[s.Type], want[s.Type])
		}
	}
}
