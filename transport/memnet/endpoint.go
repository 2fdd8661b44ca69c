package memnet

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/transport"
)

// Endpoint is one seat's transport on a Network. It implements
// transport.Transport, Partitioner, Meter and Addresser; its methods are
// safe for concurrent use.
type Endpoint struct {
	nw       *Network
	m        *match
	seat, n  int
	verifier *crypto.Verifier
	log      *slog.Logger

	// q is the bounded receive queue that senders push to without
	// blocking; pump verifies what comes out and hands it to inbound,
	// which is unbuffered so that nothing is left to read after Close.
	q       chan item
	inbound chan transport.Inbound
	events  chan transport.Event
	done    chan struct{}
	wg      sync.WaitGroup

	// Guarded by nw.mu.
	cuts   []bool
	closed bool

	syncMu sync.RWMutex
	syncFn func(from int, req []byte) ([]byte, error)

	ctr       counters
	stopMu    sync.Mutex
	stopCtx   func() bool // stops Open's context.AfterFunc
	closeOnce sync.Once
}

var (
	_ transport.Transport   = (*Endpoint)(nil)
	_ transport.Partitioner = (*Endpoint)(nil)
	_ transport.Meter       = (*Endpoint)(nil)
	_ transport.Addresser   = (*Endpoint)(nil)
)

// item is one envelope in a receive queue, with its own copy of the body.
type item struct {
	src    *Endpoint
	env    crypto.Envelope
	direct bool
	size   int
}

// counters are what Traffic reports.
type counters struct {
	msgsIn, msgsOut, bytesIn, bytesOut, dropOut atomic.Uint64
}

// Seat is e's seat in the roster.
func (e *Endpoint) Seat() int { return e.seat }

// Inbound delivers every verified envelope from the other seats, in order
// per sender. It is never closed.
func (e *Endpoint) Inbound() <-chan transport.Inbound { return e.inbound }

// Events reports peers connecting and disconnecting (Open, Close, Cut,
// Heal) and refused envelopes. It is never closed; when it is full, new
// events are dropped.
func (e *Endpoint) Events() <-chan transport.Event { return e.events }

// emit offers ev to Events without blocking: a sender must never stall
// because nobody reads the reports.
func (e *Endpoint) emit(ev transport.Event) {
	e.log.Debug("memnet event", "kind", ev.Kind.String(), "peer_seat", ev.Seat, "reason", ev.Reason, "missing", ev.Missing)
	select {
	case e.events <- ev:
	default:
	}
}

// Broadcast queues env for every other seat e has a link to; a receiver
// whose queue is full misses it (counted in DroppedOutbound). It never
// blocks and does not deliver to e itself.
func (e *Endpoint) Broadcast(env crypto.Envelope) error {
	size := envelopeSize(&env)
	e.nw.mu.RLock()
	defer e.nw.mu.RUnlock()
	if e.closed {
		return transport.ErrClosed
	}
	for s, o := range e.m.seats {
		if e.linkUpLocked(s) {
			e.enqueue(o, env, false, size)
		}
	}
	e.ctr.msgsOut.Add(1)
	return nil
}

// Send queues env for seat. It never blocks: when seat's queue is full the
// message is dropped, counted and ErrQueueFull returned. An error also when
// seat is e's own or out of the roster (transport.ErrBadSeat), not open
// (ErrNotOpen) or cut (transport.ErrCut).
func (e *Endpoint) Send(ctx context.Context, seat int, env crypto.Envelope) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.nw.mu.RLock()
	defer e.nw.mu.RUnlock()
	dst, err := e.targetLocked(seat)
	if err != nil {
		return err
	}
	if !e.enqueue(dst, env, true, envelopeSize(&env)) {
		return fmt.Errorf("memnet: send to seat %d: %w", seat, ErrQueueFull)
	}
	e.ctr.msgsOut.Add(1)
	return nil
}

// SendLast is Send that waits, until ctx ends, for room in seat's queue
// instead of dropping: it returns once env is queued behind everything e
// sent seat before, so e can close at once without losing it.
func (e *Endpoint) SendLast(ctx context.Context, seat int, env crypto.Envelope) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.nw.mu.RLock()
	dst, err := e.targetLocked(seat)
	e.nw.mu.RUnlock()
	if err != nil {
		return err
	}
	it := item{src: e, env: copyEnvelope(env), direct: true, size: envelopeSize(&env)}
	select {
	case dst.q <- it:
		e.ctr.msgsOut.Add(1)
		e.ctr.bytesOut.Add(uint64(it.size))
		return nil
	case <-ctx.Done():
		return fmt.Errorf("memnet: send to seat %d: %w", seat, ctx.Err())
	case <-dst.done:
		return fmt.Errorf("memnet: send to seat %d: %w", seat, ErrNotOpen)
	case <-e.done:
		return transport.ErrClosed
	}
}

// targetLocked is the open endpoint of seat, if e may send to it.
func (e *Endpoint) targetLocked(seat int) (*Endpoint, error) {
	switch {
	case e.closed:
		return nil, transport.ErrClosed
	case seat < 0 || seat >= e.n || seat == e.seat:
		return nil, fmt.Errorf("memnet: seat %d: %w", seat, transport.ErrBadSeat)
	case e.cuts[seat]:
		return nil, fmt.Errorf("memnet: seat %d: %w", seat, transport.ErrCut)
	}
	dst := e.m.seats[seat]
	if dst == nil {
		return nil, fmt.Errorf("memnet: seat %d: %w", seat, ErrNotOpen)
	}
	if dst.cuts[e.seat] {
		return nil, fmt.Errorf("memnet: seat %d: %w", seat, transport.ErrCut)
	}
	return dst, nil
}

// enqueue offers a copy of env to dst's queue without blocking and counts
// what happened.
func (e *Endpoint) enqueue(dst *Endpoint, env crypto.Envelope, direct bool, size int) bool {
	select {
	case dst.q <- item{src: e, env: copyEnvelope(env), direct: direct, size: size}:
		e.ctr.bytesOut.Add(uint64(size))
		return true
	default:
		e.ctr.dropOut.Add(1)
		return false
	}
}

// copyEnvelope gives the receiver a body of its own (the signature is an
// array, copied with the struct): what an encode and decode would do.
func copyEnvelope(env crypto.Envelope) crypto.Envelope {
	env.Body = bytes.Clone(env.Body)
	return env
}

// envelopeSize is len(env.Encode(nil)) without encoding: version, type,
// sender, the body with its length prefix, the signature.
func envelopeSize(env *crypto.Envelope) int {
	var lenBuf [binary.MaxVarintLen64]byte
	return 4 + binary.PutUvarint(lenBuf[:], uint64(len(env.Body))) + len(env.Body) + len(env.Sig)
}

// pump moves e's queue to Inbound: it drops what crossed a cut made since
// it was queued, verifies the rest, and waits for the reader.
func (e *Endpoint) pump() {
	defer e.wg.Done()
	for {
		var it item
		select {
		case <-e.done:
			return
		case it = <-e.q:
		}
		e.ctr.bytesIn.Add(uint64(it.size))
		if e.cutFrom(it.src) {
			continue
		}
		if reason := e.check(&it.env); reason != "" {
			e.emit(transport.Event{Kind: transport.EventInvalid, Seat: it.src.seat, Peer: peerID(it.src.seat), Reason: reason})
			continue
		}
		select {
		case e.inbound <- transport.Inbound{From: it.src.seat, Env: it.env, Direct: it.direct}:
			e.ctr.msgsIn.Add(1)
		case <-e.done:
			return
		}
	}
}

// cutFrom reports whether either side has cut the link to src's seat.
// src may have closed since (its last messages are still delivered).
func (e *Endpoint) cutFrom(src *Endpoint) bool {
	e.nw.mu.RLock()
	defer e.nw.mu.RUnlock()
	return e.cuts[src.seat] || src.cuts[e.seat]
}

// check is netp2p's validation of a delivered envelope, without the
// decoding: the reason it is refused, or "".
func (e *Endpoint) check(env *crypto.Envelope) string {
	if len(env.Body) > crypto.MaxBodySize {
		return transport.ReasonOversize
	}
	if !env.Type.Known() {
		return transport.ReasonMalformed
	}
	if int(env.Sender) >= e.n {
		return transport.ReasonNotMember
	}
	if err := e.verifier.Verify(env); err != nil {
		if errors.Is(err, crypto.ErrUnknownSender) {
			return transport.ReasonNotMember
		}
		return transport.ReasonBadSignature
	}
	return ""
}

// HandleSync sets the function that answers other seats' RequestSync (nil
// removes it). It runs on a goroutine of its own per request and must be
// safe for concurrent use; Close waits for the running ones.
func (e *Endpoint) HandleSync(fn func(from int, req []byte) ([]byte, error)) {
	e.syncMu.Lock()
	e.syncFn = fn
	e.syncMu.Unlock()
}

// RequestSync asks seat's sync handler with a copy of req (at most
// MaxSyncRequest bytes) and returns a copy of its answer (at most
// MaxSyncResponse), or the handler's error. It gives up when ctx ends,
// even if the handler is still running.
func (e *Endpoint) RequestSync(ctx context.Context, seat int, req []byte) ([]byte, error) {
	if len(req) > MaxSyncRequest {
		return nil, fmt.Errorf("memnet: sync request of %d bytes exceeds %d", len(req), MaxSyncRequest)
	}
	e.nw.mu.RLock()
	dst, err := e.targetLocked(seat)
	if err == nil {
		// Counted under the lock that Close takes to set closed, so the
		// Add can never race Close's Wait.
		dst.wg.Add(1)
	}
	e.nw.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	dst.syncMu.RLock()
	fn := dst.syncFn
	dst.syncMu.RUnlock()
	if fn == nil {
		dst.wg.Done()
		return nil, fmt.Errorf("memnet: sync with seat %d: %w", seat, transport.ErrNoHandler)
	}
	type result struct {
		resp []byte
		err  error
	}
	done := make(chan result, 1)
	from, reqCopy := e.seat, bytes.Clone(req)
	go func() {
		defer dst.wg.Done()
		resp, err := fn(from, reqCopy)
		if err == nil && len(resp) > MaxSyncResponse {
			err = fmt.Errorf("response of %d bytes exceeds %d", len(resp), MaxSyncResponse)
		}
		done <- result{bytes.Clone(resp), err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("memnet: sync with seat %d: remote error: %s", seat, r.err)
		}
		return r.resp, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("memnet: sync with seat %d: %w", seat, ctx.Err())
	}
}

// Reachable lists the other seats that are open and not cut from e: a
// Broadcast reaches exactly these.
func (e *Endpoint) Reachable() []int {
	e.nw.mu.RLock()
	defer e.nw.mu.RUnlock()
	return e.reachableLocked()
}

// Connected is Reachable: every link is direct.
func (e *Endpoint) Connected() []int { return e.Reachable() }

// RTT is 0 (unknown) for every seat: memnet has no latency to measure.
func (e *Endpoint) RTT() []time.Duration { return make([]time.Duration, e.n) }

// Traffic reports what e moved since it opened. Bytes are encoded envelope
// sizes (len(Encode)), BytesOut once per receiver queued, BytesIn for
// every envelope dequeued, valid or not; MsgsOut counts Broadcast calls
// and Sends once each, MsgsIn envelopes delivered to Inbound;
// DroppedOutbound counts receivers whose queue was full.
func (e *Endpoint) Traffic() transport.Traffic {
	return transport.Traffic{
		MsgsIn: e.ctr.msgsIn.Load(), MsgsOut: e.ctr.msgsOut.Load(),
		BytesIn: e.ctr.bytesIn.Load(), BytesOut: e.ctr.bytesOut.Load(),
		DroppedOutbound: e.ctr.dropOut.Load(),
	}
}

// Addrs is e's one address, "mem:<seat>": there is nothing to dial, but a
// lobby that shows or exchanges addresses has something to show.
func (e *Endpoint) Addrs() []string { return []string{"mem:" + strconv.Itoa(e.seat)} }

// PeerID is "mem-<seat>", the Peer of the events about e.
func (e *Endpoint) PeerID() string { return peerID(e.seat) }
