// Package transport is the seam between a paxsync session and the network:
// the interface the runtime sends and receives through, and the types it
// reports with. netp2p implements it over libp2p; transport/memnet
// implements it in memory, so a whole match can run in one process without
// sockets (tests, bots, an embedder's own offline mode), the way GGRS lets a
// game inject its own socket.
//
// A Transport delivers only envelopes that verify: it checks every
// envelope's signature against the roster (crypto.Verifier) before it
// reaches Inbound, and reports what it refused on Events. The layers above
// never see an unsigned or forged message.
package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/paxsync/paxsync/crypto"
)

// Transport is one seat's endpoint. Its methods are safe for concurrent
// use. Broadcast and Send never block on a slow peer: a message that does
// not fit a bounded queue is dropped and counted (Traffic), because a
// lockstep match must never stall on one peer's network.
type Transport interface {
	// Broadcast sends env to every other seat of the roster (best
	// effort: the protocol above tolerates loss).
	Broadcast(env crypto.Envelope) error
	// Send sends env to one seat over a direct, ordered path.
	Send(ctx context.Context, seat int, env crypto.Envelope) error
	// SendLast is Send for the last message before Close: it returns
	// only once seat has read env (or ctx ends), so closing right after
	// does not lose it.
	SendLast(ctx context.Context, seat int, env crypto.Envelope) error
	// Inbound delivers every verified envelope from the other seats.
	Inbound() <-chan Inbound
	// Events reports peers coming and going and messages refused.
	Events() <-chan Event
	// HandleSync installs the handler that answers catch-up requests
	// (nil removes it); RequestSync asks one seat's handler.
	HandleSync(fn func(from int, req []byte) ([]byte, error))
	RequestSync(ctx context.Context, seat int, req []byte) ([]byte, error)
	// Reachable lists the seats a Broadcast reaches now; the session
	// waits (bounded) for all of them before its clock starts, so the
	// first ticks are not lost to a peer that is still connecting.
	Reachable() []int
	// Close releases the endpoint; nothing is delivered after it.
	Close() error
}

// Partitioner is implemented by transports that can cut seats off for
// tests and the match runner: a real partition, not filtered delivery.
type Partitioner interface {
	Cut(seats ...int)
	Heal(seats ...int)
}

// Meter is implemented by transports that count what they move; Session
// Stats and the benchmarks read it.
type Meter interface {
	Traffic() Traffic
	// Connected lists the seats with a live connection.
	Connected() []int
	// RTT is the last measured round-trip time per seat (0: unknown).
	RTT() []time.Duration
}

// Addresser is implemented by transports whose peers have addresses to
// hand out (netp2p's multiaddrs and libp2p peer ID).
type Addresser interface {
	Addrs() []string
	PeerID() string
}

// Params is what a Factory needs to open one seat's endpoint; the session
// fills it in from its Config.
type Params struct {
	Seat      int
	Roster    []crypto.PublicKey
	Match     crypto.MatchID // what every envelope's signature covers
	MatchName string
	Verifier  *crypto.Verifier
	Logger    *slog.Logger
}

// Factory opens endpoints. A paxsync Config takes one (Config.Transport);
// nil means libp2p. The endpoint belongs to the caller, which closes it.
type Factory interface {
	Open(ctx context.Context, p Params) (Transport, error)
}

// Inbound is one envelope received from the network.
type Inbound struct {
	From   int // seat of the peer that delivered it (not necessarily the signer)
	Env    crypto.Envelope
	Direct bool // arrived over a direct path (Send), not a broadcast
}

// EventKind classifies an Event.
type EventKind int

// Event kinds.
const (
	EventFound        EventKind = iota + 1 // a roster peer was discovered (mDNS)
	EventConnected                         // first connection to a roster peer
	EventDisconnected                      // last connection to a roster peer closed
	EventInvalid                           // a roster peer delivered an invalid message
	EventNonMember                         // a peer outside the roster tried to connect
)

func (k EventKind) String() string {
	switch k {
	case EventFound:
		return "found"
	case EventConnected:
		return "connected"
	case EventDisconnected:
		return "disconnected"
	case EventInvalid:
		return "invalid"
	case EventNonMember:
		return "non-member"
	}
	return "unknown"
}

// Reasons carried by EventInvalid.
const (
	ReasonBadSignature = "bad-signature"
	ReasonMalformed    = "malformed"
	ReasonNotMember    = "not-member" // signed as a seat outside the roster
	ReasonOversize     = "oversize"
	ReasonFlooding     = "flooding"
	ReasonRejected     = "rejected" // the application's Validate said Reject
)

// Event is one report from a transport.
type Event struct {
	Kind    EventKind
	Seat    int    // the peer's seat, -1 for non-members
	Peer    string // the peer's ID
	Reason  string // for EventInvalid
	Missing []int  // for EventConnected/EventDisconnected: seats still unconnected
}

// String formats the event for logs and test failures.
func (e Event) String() string {
	s := fmt.Sprintf("%s seat=%d peer=%s", e.Kind, e.Seat, e.Peer)
	if e.Reason != "" {
		s += " reason=" + e.Reason
	}
	if e.Kind == EventConnected || e.Kind == EventDisconnected {
		s += fmt.Sprintf(" missing=%v", e.Missing)
	}
	return s
}

// Errors a Transport's Send, SendLast and RequestSync wrap (errors.Is), so
// a caller can tell a bad argument or a partition from a network failure
// whichever transport it runs on.
var (
	ErrBadSeat   = errors.New("transport: no such seat (or own seat)")
	ErrCut       = errors.New("transport: peer is cut")
	ErrNoHandler = errors.New("transport: peer has no sync handler")
	ErrClosed    = errors.New("transport: endpoint closed")
)

// Traffic is what an endpoint has moved since it started. Benchmarks read
// it before and after a run (Sub) to put bytes and messages next to the
// time and CPU they measured; the drop counters say whether a latency came
// from the network losing messages rather than from the protocol.
type Traffic struct {
	// BytesIn and BytesOut are the bytes the transport read and wrote
	// (netp2p: over all libp2p protocols, without transport framing).
	BytesIn, BytesOut uint64
	// MsgsIn counts envelopes delivered to Inbound; MsgsOut envelopes
	// this endpoint broadcast or sent. A relay of someone else's
	// broadcast is not counted in MsgsOut.
	MsgsIn, MsgsOut uint64
	// Flooding counts messages ignored because their delivering peer was
	// over its rate limit.
	Flooding uint64
	// Dropped* count messages lost to a full bounded queue: validation,
	// outbound to a peer, and delivery to a reader that was too slow.
	DroppedValidation, DroppedOutbound, DroppedSubscription uint64
	// DroppedOutboundTo splits DroppedOutbound by destination seat (nil
	// when the transport does not know): drops towards a peer that does not
	// read (a cut or hostile one) are not the sender's problem.
	DroppedOutboundTo []uint64
	// StreamsRefused counts inbound streams reset on arrival because their
	// peer had too many open (netp2p).
	StreamsRefused uint64
}

// Sub returns the traffic between an earlier reading t0 and t.
func (t Traffic) Sub(t0 Traffic) Traffic {
	return Traffic{
		BytesIn: t.BytesIn - t0.BytesIn, BytesOut: t.BytesOut - t0.BytesOut,
		MsgsIn: t.MsgsIn - t0.MsgsIn, MsgsOut: t.MsgsOut - t0.MsgsOut,
		Flooding:            t.Flooding - t0.Flooding,
		DroppedValidation:   t.DroppedValidation - t0.DroppedValidation,
		DroppedOutbound:     t.DroppedOutbound - t0.DroppedOutbound,
		DroppedSubscription: t.DroppedSubscription - t0.DroppedSubscription,
		StreamsRefused:      t.StreamsRefused - t0.StreamsRefused,
		DroppedOutboundTo:   subSeats(t.DroppedOutboundTo, t0.DroppedOutboundTo),
	}
}

// subSeats is a - b per seat (b may be shorter: an earlier reading).
func subSeats(a, b []uint64) []uint64 {
	if a == nil {
		return nil
	}
	out := make([]uint64, len(a))
	for i := range a {
		out[i] = a[i]
		if i < len(b) {
			out[i] -= b[i]
		}
	}
	return out
}

// DefaultSignerBudget is the smallest per-signer message budget a
// transport should give: 500 messages per second.
const DefaultSignerBudget = 500

// SignerBudget is the per-signer message rate (per second) a transport
// lets through before any signature is checked, for a match at tickRate;
// negative means unlimited. An honest player signs about 4 messages per
// tick (input, Verify, Confirm, an occasional state hash; twice that
// sealed), so 16 per tick (at least DefaultSignerBudget) never throttles
// an honest peer while still cutting a flood of 100 per tick to a sixth.
// An unpaced match has no tick rate to bound an honest peer's rate, so it
// runs without the limit (benchmarks only).
func SignerBudget(tickRate int, unpaced bool) float64 {
	if unpaced {
		return -1
	}
	return max(DefaultSignerBudget, float64(16*tickRate))
}
