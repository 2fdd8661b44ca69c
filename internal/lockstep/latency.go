package lockstep

import (
	"slices"
	"time"
)

// latencyRing keeps the last latencyRingSize latencies of one kind
// (commit, speculative apply) for the stats' running percentiles: bounded
// memory however long the match.
type latencyRing struct {
	buf []time.Duration
	pos int
}

const latencyRingSize = 1024

func (r *latencyRing) add(d time.Duration) {
	if len(r.buf) < latencyRingSize {
		r.buf = append(r.buf, d)
		return
	}
	r.buf[r.pos] = d
	r.pos = (r.pos + 1) % latencyRingSize
}

// p50p99 are the ring's median and 99th percentile (0, 0 when empty).
func (r *latencyRing) p50p99() (p50, p99 time.Duration) {
	if len(r.buf) == 0 {
		return 0, 0
	}
	l := slices.Clone(r.buf)
	slices.Sort(l)
	return l[len(l)/2], l[min(len(l)-1, len(l)*99/100)]
}
