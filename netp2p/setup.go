package netp2p

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	noise "github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// maxPubsubMessage leaves room for pubsub's own framing around the largest
// envelope.
const maxPubsubMessage = wire.MaxMessageSize + 4096

// quicFallback is how long a dial waits for TCP before it tries QUIC.
const quicFallback = 250 * time.Millisecond

// tcpBurst TCP addresses of a peer are dialled at once; each further
// group of tcpBurst waits tcpStagger more. libp2p's swarm allows a peer
// only a few dials in flight (8), so a peer that advertises many addresses
// must not take all of them with its first, often unreachable, ones.
const (
	tcpBurst   = 4
	tcpStagger = 100 * time.Millisecond
)

// tcpFirst ranks a peer's addresses TCP first, QUIC quicFallback later
// (at once when the peer has no TCP address). libp2p's default ranker
// prefers QUIC, which costs bft 9-13% more CPU per tick and 10% more
// latency on the same machine (docs/BENCHMARKS.md, "TCP (Noise, yamux)
// against QUIC"); a network that blocks TCP still gets its QUIC dial,
// and the swarm dials the next address at once when every earlier one
// has failed, so the delays only order dials, never hold a working one.
func tcpFirst(addrs []ma.Multiaddr) []network.AddrDelay {
	hasTCP := false
	for _, a := range addrs {
		if isTCP(a) {
			hasTCP = true
			break
		}
	}
	out := make([]network.AddrDelay, 0, len(addrs))
	tcps := 0
	for _, a := range addrs {
		d := time.Duration(0)
		switch {
		case isTCP(a):
			d = time.Duration(tcps/tcpBurst) * tcpStagger
			tcps++
		case hasTCP:
			d = quicFallback
		}
		out = append(out, network.AddrDelay{Addr: a, Delay: d})
	}
	return out
}

func isTCP(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_TCP)
	return err == nil
}

func unmarshalEd25519Public(k ed25519.PublicKey) (ic.PubKey, error) {
	return ic.UnmarshalEd25519PublicKey(k)
}

// start builds the libp2p host and everything on top of it.
func (h *Host) start() error {
	// The libp2p identity is the player's own Ed25519 key, so the Noise
	// handshake proves the seat and the gater can admit by peer ID.
	priv, err := ic.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(h.cfg.Key.Seed()))
	if err != nil {
		return fmt.Errorf("netp2p: identity: %w", err)
	}
	h.gater = newGater(h)
	h.out = newOutStreams(h)
	h.slots = newStreamSlots(len(h.ids))
	h.dialer = newDialer(h) // connection callbacks kick it as soon as we listen
	h.bw = &byteCounter{}
	lh, err := libp2p.New(
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings(h.cfg.ListenAddrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.ConnectionGater(h.gater),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(), // Prometheus; the bandwidth reporter below is separate
		libp2p.BandwidthReporter(h.bw),
		libp2p.Ping(false), // answered by handlePingStream, for roster peers only (rtt.go)
		libp2p.WithDialTimeout(5*time.Second),
		libp2p.SwarmOpts(swarm.WithDialRanker(tcpFirst)),
	)
	if err != nil {
		return fmt.Errorf("netp2p: libp2p: %w", err)
	}
	h.h = lh
	h.h.Network().Notify(&network.NotifyBundle{
		ConnectedF:    h.onConnected,
		DisconnectedF: h.onDisconnected,
	})
	if err := h.startPubsub(); err != nil {
		return err
	}
	h.h.SetStreamHandler(msgProto, h.inboundHandler(msgProto, h.handleMsgStream))
	h.h.SetStreamHandler(syncProto, h.inboundHandler(syncProto, h.handleSyncStream))
	h.h.SetStreamHandler(peersProto, h.inboundHandler(peersProto, h.handlePeersStream))
	h.h.SetStreamHandler(pingProto, h.inboundHandler(pingProto, h.handlePingStream))
	if err := h.addBootstrap(); err != nil {
		return err
	}
	h.wg.Add(2)
	go h.dialer.run()
	go h.runPings()
	if h.cfg.MDNS {
		if err := h.startMDNS(); err != nil {
			return err
		}
	}
	h.log.Info("host started", "peer", h.h.ID().String(), "addrs", h.Addrs())
	return nil
}

// pubsubParams are GossipSub's defaults with a 100 ms heartbeat and no
// mesh and no gossip: with flood publish every envelope goes straight to
// each topic peer, and the roster address exchange (peerx.go) connects every
// player to every other, so relays and IHAVE gossip only add duplicates
// that every receiver pays for. Measured at n = 7 (bench, one 2-core
// machine): 34 KB per peer per tick and p50 104–140 ms with the default
// mesh, 5 KB and 11–27 ms without (docs/BENCHMARKS.md). Lost messages are
// bft's to resend (it does, and catches up by sync); a lost input costs
// only that tick's input.
func pubsubParams() pubsub.GossipSubParams {
	p := pubsub.DefaultGossipSubParams()
	p.HeartbeatInterval = 100 * time.Millisecond
	p.HeartbeatInitialDelay = 10 * time.Millisecond
	p.D, p.Dlo, p.Dhi, p.Dout, p.Dscore = 0, 0, 0, 0, 0
	p.Dlazy, p.GossipFactor = 0, 0
	return p
}

// seenMessagesTTL is how long pubsub remembers a message ID to drop a
// second copy of one publication. Its default, 120 s, held every message
// ID of the last 2-3 minutes (pubsub sweeps once a minute) in two maps:
// about 25 MB per peer at n = 4 and 60 Hz, the largest part of its heap.
// Nothing needs that long here: with no mesh and no gossip (pubsubParams)
// pubsub relays nothing, so a copy can only come from a peer replaying it,
// which can as well re-wrap it in a fresh nonce; every receiver
// de-duplicates envelopes itself (bft by envelope ID, the session's pool
// per signed input). 5 s still absorbs a copy that raced the original.
const seenMessagesTTL = 5 * time.Second

func (h *Host) startPubsub() error {
	h.ctr.dropOutTo = make([]atomic.Uint64, len(h.ids))
	q := h.cfg.QueueSize
	ps, err := pubsub.NewGossipSub(h.ctx, h.h,
		pubsub.WithGossipSubParams(pubsubParams()),
		// Flood publishing reaches every topic peer in one hop instead of
		// waiting for the mesh, which matters most for the first messages
		// after (re)connecting.
		pubsub.WithFloodPublish(true),
		// Envelopes are signed by the application; pubsub's own signatures
		// would only add cost. Message IDs are then content digests.
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(func(m *pb.Message) string {
			d := sha256.Sum256(m.Data)
			return string(d[:])
		}),
		pubsub.WithSeenMessagesTTL(seenMessagesTTL),
		pubsub.WithPeerOutboundQueueSize(q),
		pubsub.WithValidateQueueSize(h.limits.validateQueue(q)),
		pubsub.WithMaxMessageSize(maxPubsubMessage),
		// Defence in depth behind the gater: never exchange topic state
		// with a non-member.
		pubsub.WithPeerFilter(func(p peer.ID, _ string) bool { return h.seatOfPeer(p) >= 0 }),
		// Only the match topic, and an RPC announcing more than a few
		// subscriptions is ignored whole: pubsub keeps a map entry per
		// topic a peer announces, for as long as its stream lives, and no
		// byte budget counts announcements, so one roster peer announcing
		// made-up topics grew an honest host by 46 MB in 0.14 s
		// (TestSubscriptionFloodIsIgnored).
		pubsub.WithSubscriptionFilter(pubsub.WrapLimitSubscriptionFilter(pubsub.NewAllowlistSubscriptionFilter(h.topicStr), 4)),
		pubsub.WithRawTracer(dropTracer{c: &h.ctr, seatOf: h.seatOfPeer}),
		// Per-peer rate limit on arrival, before pubsub hashes, de-duplicates
		// or queues a message for validation (limit.go).
		pubsub.WithAppSpecificRpcInspector(h.inspectRPC),
	)
	if err != nil {
		return fmt.Errorf("netp2p: pubsub: %w", err)
	}
	h.ps = ps
	// Inline: the check is cheap (one Ed25519 verify) and running it in
	// pubsub's worker avoids a goroutine per message and the throttle that
	// drops messages when too many async validators are running.
	if err := ps.RegisterTopicValidator(h.topicStr, h.validatePubsub, pubsub.WithValidatorInline(true)); err != nil {
		return fmt.Errorf("netp2p: validator: %w", err)
	}
	if h.topic, err = ps.Join(h.topicStr); err != nil {
		return fmt.Errorf("netp2p: join: %w", err)
	}
	if h.sub, err = h.topic.Subscribe(pubsub.WithBufferSize(q)); err != nil {
		return fmt.Errorf("netp2p: subscribe: %w", err)
	}
	h.wg.Add(2)
	go h.pumpSubscription()
	go h.deliverInbound()
	return nil
}

// validatePubsub runs before pubsub delivers or forwards a message.
func (h *Host) validatePubsub(_ context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	if from == h.h.ID() {
		// Our own publish: decoded so a bug here cannot spread bytes that
		// are not an envelope, but its signature is not checked again (it
		// costs one Ed25519 verification per message sent, on the critical
		// path). A relay that re-publishes others' envelopes is judged by
		// the receivers, which verify every signature and blame it.
		if h.cfg.noValidate {
			return pubsub.ValidationAccept
		}
		if len(m.Data) < nonceSize || len(m.Data)-nonceSize > maxEnvelope {
			return pubsub.ValidationReject
		}
		if _, err := crypto.DecodeEnvelope(m.Data[nonceSize:]); err != nil {
			return pubsub.ValidationReject
		}
		return pubsub.ValidationAccept
	}
	seat := h.seatOfPeer(from)
	if len(m.Data) < nonceSize {
		h.reportInvalid(seat, from, ReasonMalformed)
		return pubsub.ValidationReject
	}
	env, v := h.checkDelivered(seat, from, m.Data[nonceSize:])
	switch v {
	case Accept:
		m.ValidatorData = env
		return pubsub.ValidationAccept
	case Ignore:
		return pubsub.ValidationIgnore
	default:
		return pubsub.ValidationReject
	}
}

// pumpSubscription moves validated pubsub messages to Inbound.
func (h *Host) pumpSubscription() {
	defer h.wg.Done()
	for {
		m, err := h.sub.Next(h.ctx)
		if err != nil {
			return
		}
		if m.ReceivedFrom == h.h.ID() {
			continue // Broadcast does not deliver to self
		}
		env, ok := m.ValidatorData.(*crypto.Envelope)
		if !ok {
			continue
		}
		if !h.inq.push(Inbound{From: h.seatOfPeer(m.ReceivedFrom), Env: *env}, false) {
			h.ctr.dropDelivery.Add(1)
		}
	}
}

func (h *Host) clearBackoff(p peer.ID) {
	if sw, ok := h.h.Network().(*swarm.Swarm); ok {
		sw.Backoff().Clear(p)
	}
}
