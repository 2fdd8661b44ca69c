package netp2p

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/transport"
	"github.com/paxsync/paxsync/wire"
)

// Traffic is what a host has moved since it started (transport.Traffic;
// Sub gives the difference between two readings). For a Host:
//
//   - BytesIn and BytesOut are the bytes read from and written to libp2p
//     streams over all protocols (pubsub with its framing and control
//     messages, direct messages, sync, identify), as libp2p's swarm reports
//     them to its bandwidth reporter hook: what the transports carry,
//     without their own framing and encryption overhead (Noise, yamux,
//     QUIC, TCP/IP headers), which adds a few per cent on the wire.
//   - MsgsIn counts envelopes delivered to Inbound (pubsub and direct
//     streams); MsgsOut counts envelopes this host published with
//     Broadcast or wrote with Send. A relay of someone else's publication
//     is not counted in MsgsOut (its bytes are in BytesOut).
//   - Flooding counts messages ignored because their delivering peer was
//     over its rate limit (the events are rate-limited, this is not).
//   - DroppedValidation, DroppedOutbound and DroppedSubscription count
//     messages lost to a full bounded queue: pubsub's validation queue
//     (shared by all peers), pubsub's outbound RPC queue to a peer, and
//     validated messages the Inbound reader was too slow for (pubsub's
//     subscription buffer, or this host's per-pair delivery queue). Zero in
//     a healthy match; see DefaultQueueSize.
//   - StreamsRefused counts inbound streams reset on arrival because their
//     peer already had as many open on that protocol as it may (a peer
//     opening streams to make this host spend memory). Zero in a healthy
//     match.
type Traffic = transport.Traffic

// counters are the host's own parts of Traffic.
type counters struct {
	msgsIn, msgsOut, flooding           atomic.Uint64
	dropValidate, dropOut, dropDelivery atomic.Uint64
	// dropOutTo splits dropOut by destination seat (sized to the roster
	// when pubsub starts), so a match can tell drops to a slow or hostile
	// peer from drops to an honest one.
	dropOutTo      []atomic.Uint64
	streamsRefused atomic.Uint64
	// byType splits MsgsIn and MsgsOut by message type, with the
	// envelopes' encoded bytes: one array slot per wire.Type, so counting
	// is a few atomic adds and never allocates (8 KiB per host).
	byType [256]typeCounter
}

type typeCounter struct{ msgsIn, msgsOut, bytesIn, bytesOut atomic.Uint64 }

// countIn counts one envelope delivered to Inbound.
func (c *counters) countIn(env *crypto.Envelope) {
	c.msgsIn.Add(1)
	t := &c.byType[env.Type]
	t.msgsIn.Add(1)
	t.bytesIn.Add(uint64(envelopeSize(env)))
}

// countOut counts one envelope this host sent, of size encoded bytes.
func (c *counters) countOut(typ wire.Type, size int) {
	c.msgsOut.Add(1)
	t := &c.byType[typ]
	t.msgsOut.Add(1)
	t.bytesOut.Add(uint64(size))
}

// envelopeSize is len(env.Encode(nil)) without encoding it: version, type,
// sender, the body with its length prefix, the signature.
func envelopeSize(env *crypto.Envelope) int {
	var lenBuf [binary.MaxVarintLen64]byte
	return 4 + binary.PutUvarint(lenBuf[:], uint64(len(env.Body))) + len(env.Body) + len(env.Sig)
}

// TypeTraffic is what a host moved of one message type since it started,
// so a dashboard can tell consensus votes from inputs from catch-up (the
// totals in Traffic cannot). Msgs count envelopes as Traffic.MsgsIn and
// MsgsOut do; Bytes are their encoded size (crypto.Envelope.Encode), without
// pubsub's or the streams' framing.
type TypeTraffic struct {
	Type              wire.Type
	MsgsIn, MsgsOut   uint64
	BytesIn, BytesOut uint64
}

// TrafficByType returns the per-type split of MsgsIn and MsgsOut for
// every message type the host has received or sent, in type order.
func (h *Host) TrafficByType() []TypeTraffic {
	var out []TypeTraffic
	for i := range h.ctr.byType {
		c := &h.ctr.byType[i]
		t := TypeTraffic{Type: wire.Type(i), MsgsIn: c.msgsIn.Load(), MsgsOut: c.msgsOut.Load(),
			BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load()}
		if t.MsgsIn != 0 || t.MsgsOut != 0 {
			out = append(out, t)
		}
	}
	return out
}

// Traffic returns the host's counters (see Traffic for what each means).
func (h *Host) Traffic() Traffic {
	t := Traffic{
		MsgsIn: h.ctr.msgsIn.Load(), MsgsOut: h.ctr.msgsOut.Load(),
		Flooding:            h.ctr.flooding.Load(),
		DroppedValidation:   h.ctr.dropValidate.Load(),
		DroppedOutbound:     h.ctr.dropOut.Load(),
		DroppedSubscription: h.ctr.dropDelivery.Load(),
		StreamsRefused:      h.ctr.streamsRefused.Load(),
	}
	if n := len(h.ctr.dropOutTo); n > 0 {
		t.DroppedOutboundTo = make([]uint64, n)
		for i := range t.DroppedOutboundTo {
			t.DroppedOutboundTo[i] = h.ctr.dropOutTo[i].Load()
		}
	}
	if h.bw != nil {
		t.BytesIn, t.BytesOut = h.bw.in.Load(), h.bw.out.Load()
	}
	return t
}

// byteCounter is the host's libp2p bandwidth reporter. It keeps totals
// only, in two atomics: libp2p's own metrics.BandwidthCounter also keeps
// per-peer and per-protocol meters, folds them into its totals once a
// second, and runs a process-wide goroutine to do so that never ends.
type byteCounter struct{ in, out atomic.Uint64 }

var _ metrics.Reporter = (*byteCounter)(nil)

func (c *byteCounter) LogSentMessage(n int64) { c.out.Add(uint64(max(n, 0))) }
func (c *byteCounter) LogRecvMessage(n int64) { c.in.Add(uint64(max(n, 0))) }

// The per-stream calls follow the plain ones for the same bytes (swarm
// stream Read and Write make both), so they must not count again.
func (c *byteCounter) LogSentMessageStream(int64, protocol.ID, peer.ID) {}
func (c *byteCounter) LogRecvMessageStream(int64, protocol.ID, peer.ID) {}

func (c *byteCounter) GetBandwidthTotals() metrics.Stats {
	return metrics.Stats{TotalIn: int64(c.in.Load()), TotalOut: int64(c.out.Load())}
}

// Per-peer and per-protocol figures are not kept.
func (c *byteCounter) GetBandwidthForPeer(peer.ID) metrics.Stats             { return metrics.Stats{} }
func (c *byteCounter) GetBandwidthForProtocol(protocol.ID) metrics.Stats     { return metrics.Stats{} }
func (c *byteCounter) GetBandwidthByPeer() map[peer.ID]metrics.Stats         { return nil }
func (c *byteCounter) GetBandwidthByProtocol() map[protocol.ID]metrics.Stats { return nil }
func (c *byteCounter) Reset()                                                { c.in.Store(0); c.out.Store(0) }
func (c *byteCounter) TrimIdle(time.Time)                                    {}

// dropTracer counts pubsub's queue-full drops. Pubsub calls it from its
// event loop and workers, so it only adds to atomics.
type dropTracer struct {
	c      *counters
	seatOf func(peer.ID) int
}

var _ pubsub.RawTracer = dropTracer{}

func (d dropTracer) RejectMessage(_ *pubsub.Message, reason string) {
	if reason == pubsub.RejectValidationQueueFull || reason == pubsub.RejectValidationThrottled {
		d.c.dropValidate.Add(1)
	}
}
func (d dropTracer) DropRPC(_ *pubsub.RPC, to peer.ID) {
	d.c.dropOut.Add(1)
	if s := d.seatOf(to); s >= 0 && s < len(d.c.dropOutTo) {
		d.c.dropOutTo[s].Add(1)
	}
}
func (d dropTracer) UndeliverableMessage(*pubsub.Message)               { d.c.dropDelivery.Add(1) }
func (dropTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (dropTracer) OnClosedOutboundStream(peer.ID)                       {}
func (dropTracer) Join(string)                                          {}
func (dropTracer) Leave(string)                                         {}
func (dropTracer) Graft(peer.ID, string)                                {}
func (dropTracer) Prune(peer.ID, string)                                {}
func (dropTracer) ValidateMessage(*pubsub.Message)                      {}
func (dropTracer) DeliverMessage(*pubsub.Message)                       {}
func (dropTracer) DuplicateMessage(*pubsub.Message)                     {}
func (dropTracer) ThrottlePeer(peer.ID)                                 {}
func (dropTracer) RecvRPC(*pubsub.RPC)                                  {}
func (dropTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (dropTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
