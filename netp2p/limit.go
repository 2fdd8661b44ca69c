package netp2p

import (
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// bucket is a token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

// take removes up to want tokens and returns how many it removed.
func (b *bucket) take(now time.Time, rate, burst float64, want int) int {
	if b.last.IsZero() {
		b.tokens = burst
	} else {
		b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	got := min(want, int(b.tokens))
	b.tokens -= float64(got)
	return got
}

// takeAll takes want tokens if the bucket holds them, else none.
func (b *bucket) takeAll(now time.Time, rate, burst float64, want int) bool {
	if b.last.IsZero() {
		b.tokens = burst
	} else {
		b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens < float64(want) {
		return false
	}
	b.tokens -= float64(want)
	return true
}

// limiter enforces RateLimit at two points, both before any signature is
// checked:
//
//   - on arrival, per delivering peer, with n times the per-signer budget
//     (an honest peer relays every other seat's messages, each within its
//     own budget). For pubsub this runs in pubsub's event loop (see
//     inspectRPC), before message-ID hashing, the seen-cache and the shared
//     validation queue, so a flood cannot crowd honest messages out of
//     that queue;
//   - after decoding, per (delivering peer, signer) pair, with the
//     per-signer budget. An accepted message is forwarded by pubsub, so
//     this caps how much of one signer's traffic every honest host relays
//     (the flood does not multiply through the honest peers), and keying by
//     the delivering peer too means nobody can use up an honest signer's
//     budget by replaying its envelopes.
type limiter struct {
	mu       sync.Mutex
	now      func() time.Time // time.Now; tests set a clock they advance
	n        int
	rate     float64 // per signer; negative disables
	burst    float64
	peer     []bucket // arrivals per delivering seat
	bytes    []bucket // arriving bytes per delivering seat
	pair     []bucket // [deliverer*n+signer]
	reported []time.Time
}

func newLimiter(rl RateLimit, n int, now func() time.Time) *limiter {
	if now == nil {
		now = time.Now
	}
	l := &limiter{now: now, n: n, rate: rl.PerSecond, burst: float64(rl.Burst),
		peer: make([]bucket, n), bytes: make([]bucket, n), pair: make([]bucket, n*n), reported: make([]time.Time, n)}
	if l.rate == 0 {
		l.rate = DefaultRatePerSecond
	}
	if l.burst <= 0 {
		l.burst = 2 * l.rate
	}
	return l
}

// arrive charges k arriving messages to the delivering seat and returns
// how many of them are within its budget.
func (l *limiter) arrive(seat, k int) int {
	if l.rate < 0 {
		return k
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := float64(l.n)
	return l.peer[seat].take(l.now(), n*l.rate, n*l.burst, k)
}

// Byte budget per delivering peer. Message counts alone let a roster peer
// send its whole count budget as 143 KB votes (86 MB/s measured): bounded
// queues then held tens of MB. An honest peer sends a few KB per tick (150
// KB/s at 60 Hz, n = 4), with the odd view-change message of up to 1 MiB;
// 4 MiB/s with an 8 MiB burst leaves it 25 times that.
const (
	bytesPerSecond = 4 << 20
	bytesBurst     = 8 << 20
)

// arriveBytes charges size arriving bytes to the delivering seat and
// reports whether they are within its budget.
func (l *limiter) arriveBytes(seat, size int) bool {
	if l.rate < 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bytes[seat].takeAll(l.now(), bytesPerSecond, bytesBurst, size)
}

// allowSigned charges one decoded message signed by signer and delivered
// by seat.
func (l *limiter) allowSigned(seat, signer int) bool {
	if l.rate < 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pair[seat*l.n+signer].take(l.now(), l.rate, l.burst, 1) == 1
}

// validateQueue sizes pubsub's validation queue, which all peers share and
// which drops whatever does not fit: at least q, and room for every other
// peer's whole arrival burst at once, so that what the arrival limit lets
// through is never lost there. Measured: with 4 peers, a flooder's first
// burst alone (4000 messages) overflowed a queue of 1024 and took honest
// consensus messages with it. The queue holds pointers, and a queued flood
// message costs the validator a decode, not a signature check.
func (l *limiter) validateQueue(q int) int {
	if l.rate < 0 {
		return q
	}
	return max(q, (l.n-1)*l.n*int(l.burst))
}

// shouldReport limits flooding reports to one per second per seat, so a
// flood does not become a flood of events.
func (l *limiter) shouldReport(seat int) bool {
	if seat < 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.reported[seat].IsZero() && now.Sub(l.reported[seat]) < time.Second {
		return false
	}
	l.reported[seat] = now
	return true
}

// inspectRPC is pubsub's first look at an RPC from a peer, in its event
// loop: the messages beyond the peer's arrival budget are cut from it,
// while its subscriptions and control messages are kept. A cut message is
// not marked seen, so a copy relayed by an honest peer is still accepted.
func (h *Host) inspectRPC(from peer.ID, rpc *pubsub.RPC) error {
	msgs := rpc.GetPublish()
	seat := h.seatOfPeer(from)
	if len(msgs) == 0 || seat < 0 {
		return nil // non-members never get this far (gater, peer filter)
	}
	keep := h.limits.arrive(seat, len(msgs))
	for i := 0; i < keep; i++ {
		if !h.limits.arriveBytes(seat, len(msgs[i].GetData())) {
			keep = i
		}
	}
	if keep < len(msgs) {
		h.ctr.flooding.Add(uint64(len(msgs) - keep))
		rpc.Publish = msgs[:keep]
		h.reportInvalid(seat, from, ReasonFlooding)
	}
	return nil
}
