package netp2p

import (
	"context"
	"testing"
	"time"
)

// TestHoldStalledStream: the adversary primitive holds streams the
// receiver admits (they stay open, each with a header and nothing more)
// and reports the ones it refuses as ended; ending its context resets the
// rest. Both protocols, up to twice the receiver's limit.
func TestHoldStalledStream(t *testing.T) {
	c := newCluster(t, 2, nil)
	victim, attacker := c.hosts[0], c.hosts[1]
	if _, err := attacker.HoldStalledStream(context.Background(), 1, false); err != ErrBadSeat {
		t.Fatalf("own seat: %v, want ErrBadSeat", err)
	}
	for _, sync := range []bool{false, true} {
		proto := msgProto
		if sync {
			proto = syncProto
		}
		limit := maxInboundStreams[proto]
		ctx, cancel := context.WithCancel(context.Background())
		var dones []<-chan struct{}
		for range 2 * limit {
			done, err := attacker.HoldStalledStream(ctx, 0, sync)
			if err != nil {
				cancel()
				t.Fatalf("%s: %v", proto, err)
			}
			dones = append(dones, done)
		}
		waitFor(t, waitLong, "the victim to admit its limit and refuse the rest", func() bool {
			return openStreams(victim, proto, 1) == limit && ended(dones) == limit
		})
		// Held: a while later the admitted ones are still open.
		time.Sleep(200 * time.Millisecond)
		if n := openStreams(victim, proto, 1); n != limit || ended(dones) != limit {
			t.Fatalf("%s: %d open at the victim, %d ended; want %d and %d", proto, n, ended(dones), limit, limit)
		}
		cancel()
		waitFor(t, waitLong, "every stream to end with the attacker's context", func() bool {
			return ended(dones) == len(dones) && openStreams(victim, proto, 1) == 0
		})
	}
	if r := victim.Traffic().StreamsRefused; r < uint64(maxInboundStreams[msgProto]+maxInboundStreams[syncProto]) {
		t.Errorf("victim refused %d streams, want at least %d", r, maxInboundStreams[msgProto]+maxInboundStreams[syncProto])
	}
}

func ended(dones []<-chan struct{}) int {
	n := 0
	for _, d := range dones {
		select {
		case <-d:
			n++
		default:
		}
	}
	return n
}
