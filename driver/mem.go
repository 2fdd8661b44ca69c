package driver

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/transport"
)

// MemNetwork is an in-memory Transport for tests and simulations: n
// endpoints, per-link cuts, and optional loss and delay, applied in the
// transport (not by faking the protocol). Like pubsub it drops when a
// receiver's buffer is full and gives no ordering guarantee under delay.
type MemNetwork struct {
	mu    sync.Mutex
	eps   []*MemEndpoint
	cut   map[[2]int]bool
	loss  float64
	delay time.Duration
	rng   *rand.Rand
	wg    sync.WaitGroup
	done  chan struct{}
}

// NewMemNetwork makes n connected endpoints.
func NewMemNetwork(n int) *MemNetwork {
	m := &MemNetwork{cut: map[[2]int]bool{}, rng: rand.New(rand.NewPCG(1, 2)), done: make(chan struct{})}
	for i := 0; i < n; i++ {
		m.eps = append(m.eps, &MemEndpoint{net: m, seat: i, in: make(chan transport.Inbound, 4096)})
	}
	return m
}

// Endpoint is seat's Transport.
func (m *MemNetwork) Endpoint(seat int) *MemEndpoint { return m.eps[seat] }

// SetFaults sets the probability of losing a message and a delay added to
// every delivery.
func (m *MemNetwork) SetFaults(loss float64, delay time.Duration) {
	m.mu.Lock()
	m.loss, m.delay = loss, delay
	m.mu.Unlock()
}

// Isolate cuts (or, with on false, restores) every link of seat.
func (m *MemNetwork) Isolate(seat int, on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.eps {
		if i != seat {
			if on {
				m.cut[[2]int{seat, i}], m.cut[[2]int{i, seat}] = true, true
			} else {
				delete(m.cut, [2]int{seat, i})
				delete(m.cut, [2]int{i, seat})
			}
		}
	}
}

// Close stops pending delayed deliveries.
func (m *MemNetwork) Close() {
	close(m.done)
	m.wg.Wait()
}

// Reset gives seat a fresh inbound queue, as a restarted process would
// have, and drops its sync handler.
func (m *MemNetwork) Reset(seat int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.eps[seat]
	e.mu.Lock()
	e.in = make(chan transport.Inbound, 4096)
	e.sync = nil
	e.mu.Unlock()
}

var (
	errMemCut       = errors.New("memnet: link is cut")
	errMemBadSeat   = errors.New("memnet: no such seat")
	errMemNoHandler = errors.New("memnet: no sync handler")
)

// deliver hands env from seat a to b, applying cuts, loss and delay.
func (m *MemNetwork) deliver(a, b int, env crypto.Envelope, direct bool) error {
	m.mu.Lock()
	if m.cut[[2]int{a, b}] {
		m.mu.Unlock()
		return errMemCut
	}
	lost := m.loss > 0 && m.rng.Float64() < m.loss
	delay := m.delay
	m.mu.Unlock()
	if lost {
		return nil
	}
	env.Body = append([]byte(nil), env.Body...)
	in := transport.Inbound{From: a, Env: env, Direct: direct}
	if delay <= 0 {
		m.eps[b].push(in)
		return nil
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
			m.eps[b].push(in)
		case <-m.done:
		}
	}()
	return nil
}

// MemEndpoint is one seat's view of a MemNetwork; it implements Transport.
type MemEndpoint struct {
	net  *MemNetwork
	seat int

	mu   sync.Mutex
	in   chan transport.Inbound
	sync func(from int, req []byte) ([]byte, error)
}

func (e *MemEndpoint) push(in transport.Inbound) {
	e.mu.Lock()
	ch := e.in
	e.mu.Unlock()
	select {
	case ch <- in:
	default: // full: dropped, as pubsub's queues do
	}
}

// Broadcast delivers to every other seat.
func (e *MemEndpoint) Broadcast(env crypto.Envelope) error {
	for i := range e.net.eps {
		if i != e.seat {
			_ = e.net.deliver(e.seat, i, env, false)
		}
	}
	return nil
}

// Send delivers to one seat.
func (e *MemEndpoint) Send(_ context.Context, seat int, env crypto.Envelope) error {
	if seat < 0 || seat >= len(e.net.eps) || seat == e.seat {
		return errMemBadSeat
	}
	return e.net.deliver(e.seat, seat, env, true)
}

// Inbound is the endpoint's receive queue.
func (e *MemEndpoint) Inbound() <-chan transport.Inbound {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.in
}

// HandleSync sets the sync handler.
func (e *MemEndpoint) HandleSync(fn func(from int, req []byte) ([]byte, error)) {
	e.mu.Lock()
	e.sync = fn
	e.mu.Unlock()
}

// RequestSync calls seat's handler directly, unless the link is cut.
func (e *MemEndpoint) RequestSync(ctx context.Context, seat int, req []byte) ([]byte, error) {
	if seat < 0 || seat >= len(e.net.eps) || seat == e.seat {
		return nil, errMemBadSeat
	}
	e.net.mu.Lock()
	cut := e.net.cut[[2]int{e.seat, seat}]
	e.net.mu.Unlock()
	if cut {
		return nil, errMemCut
	}
	t := e.net.eps[seat]
	t.mu.Lock()
	fn := t.sync
	t.mu.Unlock()
	if fn == nil {
		return nil, errMemNoHandler
	}
	return fn(e.seat, req)
}

// MemWAL keeps records in memory: Records returns what a restarted node
// would read back. Tests use it, and so do sessions asked to keep no file
// (paxsync.MemoryWAL); it survives nothing.
type MemWAL struct {
	mu   sync.Mutex
	recs []bft.Record
}

// Append stores copies of recs.
func (w *MemWAL) Append(recs []bft.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range recs {
		w.recs = append(w.recs, append(bft.Record(nil), r...))
	}
	return nil
}

// Rewrite replaces everything stored with copies of recs (compaction).
func (w *MemWAL) Rewrite(recs []bft.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.recs = nil
	for _, r := range recs {
		w.recs = append(w.recs, append(bft.Record(nil), r...))
	}
	return nil
}

// Records returns everything stored so far.
func (w *MemWAL) Records() []bft.Record {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]bft.Record(nil), w.recs...)
}

// Reachable lists the seats whose link from e is not cut.
func (e *MemEndpoint) Reachable() []int {
	m := e.net
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int
	for i := range m.eps {
		if i != e.seat && !m.cut[[2]int{e.seat, i}] {
			out = append(out, i)
		}
	}
	return out
}
