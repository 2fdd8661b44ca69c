// Package memnet is an in-memory transport.Transport: every seat of a match
// opens its endpoint from one Network, and envelopes move between them
// through bounded queues instead of sockets. A whole match then runs in one
// process (tests, bots, an embedder's offline mode) with the same session
// code, and the same guarantees the session relies on, as over libp2p:
//
//   - every envelope is verified by the receiving endpoint against its
//     roster (Params.Verifier) before it reaches Inbound, and a refused one
//     is reported on Events (EventInvalid), as netp2p's validators do;
//   - Broadcast and Send never block on a slow receiver: a message that does
//     not fit the receiver's queue is dropped and counted in the sender's
//     Traffic.DroppedOutbound, as pubsub drops;
//   - order is kept per (sender, receiver) pair, broadcast and direct
//     together (netp2p keeps it only on the direct stream; code above must
//     not rely on more than that);
//   - Cut is a real partition in both directions, not a filter;
//   - sender and receiver never share memory: every delivery carries its
//     own copy of the body, as if it had been encoded and decoded.
//
// What memnet does not model: latency, loss other than full queues, and
// relays (every open seat reaches every other directly).
package memnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/transport"
)

const (
	// DefaultQueueSize is each endpoint's receive queue, in envelopes:
	// several seconds of a full match's traffic at 60 Hz, so that only a
	// reader that stopped reading loses messages.
	DefaultQueueSize = 4096
	// eventBuffer is the capacity of Events; when nobody reads it, new
	// events are dropped rather than blocking the senders (netp2p's too).
	eventBuffer = 1024
	// MaxSyncRequest and MaxSyncResponse bound RequestSync as netp2p's
	// /paxsync/sync/1 does, so that code which works over memnet does not
	// fail over libp2p for a size memnet let through.
	MaxSyncRequest  = 64 << 10
	MaxSyncResponse = 16 << 20
)

// Errors of Open and of sending to a seat that is not open.
var (
	ErrSeatOpen = errors.New("memnet: seat is already open")
	ErrNotOpen  = errors.New("memnet: seat is not open")
	// ErrQueueFull is returned by Send when the receiver's queue is full;
	// the message is dropped and counted (Traffic.DroppedOutbound).
	ErrQueueFull = errors.New("memnet: receiver's queue is full")
)

// Option configures a Network.
type Option func(*Network)

// QueueSize sets the receive queue of every endpoint opened afterwards
// (DefaultQueueSize when n <= 0). Tests use a small one to reach a full
// queue with a few messages.
func QueueSize(n int) Option {
	return func(nw *Network) {
		if n <= 0 {
			n = DefaultQueueSize
		}
		nw.queue = n
	}
}

// Network is the shared medium of in-memory endpoints: the seats of a match
// find each other through it. It is a transport.Factory, so a session takes
// it as its transport (Config.Transport); give every seat of a match the
// same Network. One Network can carry several matches at once: endpoints
// meet only those of the same match ID. Its methods are safe for
// concurrent use.
type Network struct {
	// mu guards the matches, every endpoint's cuts and closed flag: they
	// decide together whether a link is up, and reading them under one
	// lock makes a delivery and a Cut or Close strictly ordered.
	mu      sync.RWMutex
	matches map[crypto.MatchID]*match
	queue   int
}

// match is the open endpoints of one match ID, by seat (nil: not open).
type match struct {
	id     crypto.MatchID
	roster []crypto.PublicKey
	seats  []*Endpoint
}

var _ transport.Factory = (*Network)(nil)

// New returns an empty Network.
func New(opts ...Option) *Network {
	nw := &Network{matches: map[crypto.MatchID]*match{}, queue: DefaultQueueSize}
	for _, o := range opts {
		o(nw)
	}
	return nw
}

// Open opens seat p.Seat of match p.Match and connects it to every seat of
// the match already open (both sides get EventConnected). A seat open
// twice at once is an error (ErrSeatOpen); once closed it can be opened
// again, as a restarted peer would, with an empty queue and no sync
// handler. As with netp2p.New, ctx bounds the endpoint's life: when it
// ends, the endpoint closes.
func (nw *Network) Open(ctx context.Context, p transport.Params) (transport.Transport, error) {
	return nw.OpenEndpoint(ctx, p)
}

// OpenEndpoint is Open returning the concrete type, for callers that want
// Seat or the Partitioner and Meter methods without a type assertion.
func (nw *Network) OpenEndpoint(ctx context.Context, p transport.Params) (*Endpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := len(p.Roster)
	if n == 0 || p.Seat < 0 || p.Seat >= n {
		return nil, fmt.Errorf("memnet: seat %d of a roster of %d: %w", p.Seat, n, transport.ErrBadSeat)
	}
	v := p.Verifier
	if v == nil {
		v = crypto.NewVerifier(p.Match, p.Roster)
	} else if v.Match() != p.Match || v.Size() != n {
		return nil, errors.New("memnet: Params.Verifier is for another match or roster")
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Endpoint{
		nw: nw, seat: p.Seat, n: n, verifier: v,
		log:     log.With("transport", "memnet", "match", p.MatchName, "seat", p.Seat),
		q:       make(chan item, nw.queue),
		inbound: make(chan transport.Inbound),
		events:  make(chan transport.Event, eventBuffer),
		done:    make(chan struct{}),
		cuts:    make([]bool, n),
	}
	nw.mu.Lock()
	m := nw.matches[p.Match]
	if m == nil {
		m = &match{id: p.Match, roster: slices.Clone(p.Roster), seats: make([]*Endpoint, n)}
		nw.matches[p.Match] = m
	} else if !slices.Equal(m.roster, p.Roster) {
		nw.mu.Unlock()
		return nil, fmt.Errorf("memnet: match %s is open with another roster", p.Match)
	}
	if m.seats[p.Seat] != nil {
		nw.mu.Unlock()
		return nil, fmt.Errorf("memnet: match %s seat %d: %w", p.Match, p.Seat, ErrSeatOpen)
	}
	e.m = m
	m.seats[p.Seat] = e
	// The new endpoint hears of its peers one at a time, as a real one
	// connects to them, so Missing shrinks event by event.
	reported := make([]bool, n)
	reported[e.seat] = true
	for s, o := range m.seats {
		if !e.linkUpLocked(s) {
			continue
		}
		reported[s] = true
		e.emit(transport.Event{Kind: transport.EventConnected, Seat: s, Peer: peerID(s), Missing: unreported(reported)})
		o.emit(transport.Event{Kind: transport.EventConnected, Seat: e.seat, Peer: peerID(e.seat), Missing: o.missingLocked()})
	}
	nw.mu.Unlock()
	e.wg.Add(1)
	go e.pump()
	stop := context.AfterFunc(ctx, func() { _ = e.Close() })
	e.stopMu.Lock()
	e.stopCtx = stop
	e.stopMu.Unlock()
	return e, nil
}

func unreported(reported []bool) []int {
	var out []int
	for s, r := range reported {
		if !r {
			out = append(out, s)
		}
	}
	return out
}

// linkUpLocked reports whether e and seat s reach each other now: both
// open and neither has cut the other (each side's Cut is its own, as each
// netp2p host's gater is). nw.mu must be held.
func (e *Endpoint) linkUpLocked(s int) bool {
	if e.closed || s < 0 || s >= e.n || s == e.seat || e.cuts[s] {
		return false
	}
	o := e.m.seats[s]
	return o != nil && !o.cuts[e.seat]
}

// missingLocked lists the other seats e has no link to. nw.mu must be held.
func (e *Endpoint) missingLocked() []int {
	var out []int
	for s := range e.n {
		if s != e.seat && !e.linkUpLocked(s) {
			out = append(out, s)
		}
	}
	return out
}

// reachableLocked lists the other seats e has a link to. nw.mu must be
// held.
func (e *Endpoint) reachableLocked() []int {
	var out []int
	for s := range e.n {
		if e.linkUpLocked(s) {
			out = append(out, s)
		}
	}
	return out
}

// Cut partitions e from seats in both directions: nothing is delivered
// between them, Send, SendLast and RequestSync fail with transport.ErrCut,
// and envelopes already queued across the cut are dropped when they come
// up for delivery. Both sides get EventDisconnected. Invalid seats and
// e's own are ignored.
func (e *Endpoint) Cut(seats ...int) { e.setCut(seats, true) }

// Heal undoes e's Cut of seats; both sides get EventConnected if the link
// is up again (the other side may have cut e itself).
func (e *Endpoint) Heal(seats ...int) { e.setCut(seats, false) }

func (e *Endpoint) setCut(seats []int, cut bool) {
	e.nw.mu.Lock()
	defer e.nw.mu.Unlock()
	if e.closed {
		return
	}
	kind := transport.EventConnected
	if cut {
		kind = transport.EventDisconnected
	}
	for _, s := range seats {
		if s < 0 || s >= e.n || s == e.seat || e.cuts[s] == cut {
			continue
		}
		was := e.linkUpLocked(s)
		e.cuts[s] = cut
		if e.linkUpLocked(s) == was {
			continue
		}
		e.log.Info("memnet cut", "peer_seat", s, "cut", cut)
		e.emit(transport.Event{Kind: kind, Seat: s, Peer: peerID(s), Missing: e.missingLocked()})
		if o := e.m.seats[s]; o != nil {
			o.emit(transport.Event{Kind: kind, Seat: e.seat, Peer: peerID(e.seat), Missing: o.missingLocked()})
		}
	}
}

// Close disconnects e from its peers (they get EventDisconnected), stops
// delivery to it and waits for its goroutines and for sync handlers it is
// running. Inbound is not closed: readers select on their own context.
// Close is idempotent and always returns nil.
func (e *Endpoint) Close() error {
	e.closeOnce.Do(func() {
		e.stopMu.Lock()
		if e.stopCtx != nil {
			e.stopCtx()
		}
		e.stopMu.Unlock()
		nw := e.nw
		nw.mu.Lock()
		peers := e.reachableLocked()
		e.closed = true
		e.m.seats[e.seat] = nil
		if !slices.ContainsFunc(e.m.seats, func(o *Endpoint) bool { return o != nil }) {
			delete(nw.matches, e.m.id)
		}
		for _, s := range peers {
			o := e.m.seats[s]
			o.emit(transport.Event{Kind: transport.EventDisconnected, Seat: e.seat, Peer: peerID(e.seat), Missing: o.missingLocked()})
		}
		nw.mu.Unlock()
		close(e.done)
		e.wg.Wait()
	})
	return nil
}

// peerID is seat's peer ID on a memnet (PeerID, Event.Peer).
func peerID(seat int) string { return fmt.Sprintf("mem-%d", seat) }
