// Package netp2p is paxsync's network: the only package that imports libp2p.
//
// A Host is a libp2p host whose identity is the player's Ed25519 key, so a
// peer ID proves a seat. It admits only roster peers (a connection gater),
// broadcasts signed envelopes over one GossipSub topic per match, validates
// every message before pubsub forwards it, carries point-to-point traffic
// over long-lived streams, and answers catch-up requests over a
// request/response protocol. It finds peers through static bootstrap
// addresses and, optionally, mDNS.
//
// Delivery guarantees the layers above must NOT rely on: pubsub gives no
// ordering (not even per sender), may drop under overload (queues are
// bounded), and may deliver one envelope more than once. Pubsub suppresses
// an identical payload for its seen-cache window (seenMessagesTTL); since Ed25519
// signatures are deterministic, a protocol's re-send of the same envelope
// would be silently swallowed. Each Broadcast therefore publishes
// nonce | envelope, with a fresh 8-byte nonce: a re-send is a new
// publication, while one publication relayed along several paths is still
// de-duplicated. Receivers de-duplicate envelopes themselves (bft does, by
// envelope ID). Broadcast does not deliver to the sender itself.
package netp2p

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/transport"
)

// Validation is the application's verdict on a well-formed, correctly
// signed envelope.
type Validation int

const (
	// Accept: deliver and let pubsub forward it.
	Accept Validation = iota
	// Ignore: stale, early or irrelevant; not forwarded, nobody blamed.
	Ignore
	// Reject: objectively invalid; not forwarded, the delivering peer is
	// reported with reason "rejected".
	Reject
)

// RateLimit bounds what one peer can make this host process, before any
// signature is checked (limit.go). PerSecond and Burst are the budget of one
// signer's messages delivered by one peer (pubsub and direct streams
// together): beyond it they are ignored — not delivered, not forwarded —
// and, when the peer delivers its own messages, reported as "flooding".
// Each delivering peer also has n times that budget for everything it
// delivers (its own messages and its relays of the others'), charged on
// arrival, so that a flooding peer's excess is dropped before it reaches
// pubsub's validation queue, which all peers share.
type RateLimit struct {
	PerSecond float64 // refill rate; 0 means the default, negative disables
	Burst     int     // bucket size; 0 means 2×PerSecond
}

// Defaults, chosen from the measurements in docs/BENCHMARKS.md.
const (
	// DefaultRatePerSecond is per signer and delivering peer: a player
	// signs ~60 inputs plus a few consensus messages per 60 Hz tick, well
	// under 500/s; the flood cheat sends 6000/s.
	DefaultRatePerSecond = 500
	// DefaultQueueSize is used for pubsub's per-peer outbound queue, its
	// validation queue and the subscription buffer; each silently drops
	// when full, and 32 (pubsub's default) dropped messages in an
	// all-to-all burst of 8 peers. With rate limiting on, the validation
	// queue is made large enough for every peer's full arrival burst at
	// once (limiter.validateQueue).
	DefaultQueueSize = 1024
	// MaxSyncRequest and DefaultMaxSyncResponse bound /paxsync/sync/1.
	MaxSyncRequest         = 64 << 10
	DefaultMaxSyncResponse = 16 << 20
	// inboundChanBuffer is small on purpose: the backlog waits in inQueue,
	// where it is served fairly, not in the channel, which is FIFO.
	inboundChanBuffer  = 8
	defaultEventBuffer = 1024
)

// Config configures a Host.
type Config struct {
	Key       *crypto.PrivateKey // identity; must be in Roster
	Roster    []crypto.PublicKey // seat i is Roster[i]
	Match     crypto.MatchID
	MatchName string // for logs and the mDNS service name
	// Verifier, if set, checks signatures instead of a verifier of the
	// host's own (it must be for Match and Roster). Sharing the
	// application's verifier means a message verified on arrival is not
	// verified again by consensus or the game (crypto.Verifier remembers
	// what it accepted).
	Verifier *crypto.Verifier

	// ListenAddrs defaults to all interfaces, OS-chosen TCP and QUIC ports.
	ListenAddrs []string
	// Peers are bootstrap multiaddrs ending in /p2p/<peer ID>. Peers outside
	// the roster are skipped.
	Peers []string
	// MDNS enables LAN discovery with a match-specific service name.
	MDNS bool

	// Validate is the application-level check of an envelope that is
	// already known to be well-formed and signed by a roster member. from
	// is the seat of the delivering peer. nil accepts everything.
	Validate func(from int, env *crypto.Envelope) Validation

	RateLimit RateLimit
	// QueueSize overrides DefaultQueueSize (benchmarks use it).
	QueueSize int
	// MaxSyncResponse overrides DefaultMaxSyncResponse.
	MaxSyncResponse int
	Logger          *slog.Logger

	// noValidate turns off this host's own validation of what it sends and
	// receives; only tests use it, to play a faulty member.
	noValidate bool
	// now, if set, is the rate limiter's clock instead of time.Now: tests
	// advance it themselves, so that what a flood is allowed depends on
	// how many messages it sends, not on how fast the machine sends them.
	now func() time.Time
	// msgIdle, if set, replaces msgIdleTimeout (and so msgReuseLimit), so
	// that a test can watch an idle stream being reclaimed.
	msgIdle time.Duration
}

// Inbound is one envelope received from the network (transport.Inbound;
// Direct means it arrived over a direct stream, Send, not pubsub).
type Inbound = transport.Inbound

// Host is one player's network endpoint. Its methods are safe for
// concurrent use.
type Host struct {
	cfg      Config
	log      *slog.Logger
	seat     int
	ids      []peer.ID
	seatOf   map[peer.ID]int
	verifier *crypto.Verifier
	topicStr string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	h     host.Host
	gater *gater
	ps    *pubsub.PubSub
	topic *pubsub.Topic
	sub   *pubsub.Subscription
	mdns  interface{ Close() error }

	inbound chan Inbound
	inq     *inQueue
	events  chan Event
	limits  *limiter
	out     *outStreams
	slots   *streamSlots
	dialer  *dialer

	syncMu      sync.RWMutex
	syncHandler func(from int, req []byte) ([]byte, error)

	pubSeq atomic.Uint64 // publication nonce; starts at a random value
	ctr    counters
	bw     *byteCounter

	closeOnce sync.Once
	closeErr  error
}

// PeerIDOf returns the libp2p peer ID (string form) of a player's key.
func PeerIDOf(k crypto.PublicKey) (string, error) {
	id, err := peerIDOf(k)
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// New starts a host: it listens, joins the match topic, and starts
// discovery. Close it to release everything it started.
func New(ctx context.Context, cfg Config) (*Host, error) {
	if cfg.Key == nil {
		return nil, errors.New("netp2p: Config.Key is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.MaxSyncResponse <= 0 {
		cfg.MaxSyncResponse = DefaultMaxSyncResponse
	}
	if cfg.msgIdle <= 0 {
		cfg.msgIdle = msgIdleTimeout
	}
	if len(cfg.ListenAddrs) == 0 {
		cfg.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}
	}
	hs := &Host{
		cfg:      cfg,
		log:      cfg.Logger.With("match", cfg.MatchName),
		seat:     -1,
		seatOf:   make(map[peer.ID]int, len(cfg.Roster)),
		verifier: cfg.Verifier,
		topicStr: "paxsync/" + crypto.Digest(cfg.Match).Hex(),
		inbound:  make(chan Inbound, inboundChanBuffer),
		events:   make(chan Event, defaultEventBuffer),
		limits:   newLimiter(cfg.RateLimit, len(cfg.Roster), cfg.now),
	}
	if hs.verifier == nil {
		hs.verifier = crypto.NewVerifier(cfg.Match, cfg.Roster)
	} else if hs.verifier.Match() != cfg.Match || hs.verifier.Size() != len(cfg.Roster) {
		return nil, errors.New("netp2p: Config.Verifier is for another match or roster")
	}
	for i, k := range cfg.Roster {
		id, err := peerIDOf(k)
		if err != nil {
			return nil, fmt.Errorf("netp2p: roster seat %d: %w", i, err)
		}
		hs.ids = append(hs.ids, id)
		hs.seatOf[id] = i
		if k == cfg.Key.Public() {
			hs.seat = i
		}
	}
	if hs.seat < 0 {
		return nil, fmt.Errorf("netp2p: key %s is not in the roster", cfg.Key.Public())
	}
	hs.log = hs.log.With("seat", hs.seat)
	hs.inq = newInQueue(len(cfg.Roster), cfg.QueueSize)
	hs.pubSeq.Store(rand.Uint64())
	hs.ctx, hs.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if err := hs.start(); err != nil {
		hs.Close()
		return nil, err
	}
	// The caller's context bounds the host's life too.
	hs.wg.Add(1)
	go func() {
		defer hs.wg.Done()
		select {
		case <-ctx.Done():
			go hs.Close()
		case <-hs.ctx.Done():
		}
	}()
	return hs, nil
}

// Seat is this host's seat in the roster.
func (h *Host) Seat() int { return h.seat }

// Inbound is the stream of received envelopes (pubsub and direct). When the
// reader falls behind, envelopes wait in one queue per (delivering peer,
// signer) pair, of Config.QueueSize each, served round-robin, so one busy
// sender does not delay the others' messages; when a pair's queue is full,
// its direct stream blocks and its pubsub messages are dropped (counted in
// Traffic.DroppedSubscription).
func (h *Host) Inbound() <-chan Inbound { return h.inbound }

// Events reports discovery progress and misbehaviour. Events are also
// logged; when nobody reads the channel and it is full, new events are
// dropped rather than blocking the network.
func (h *Host) Events() <-chan Event { return h.events }

// PeerID is this host's libp2p peer ID.
func (h *Host) PeerID() string { return h.h.ID().String() }

// Addrs are this host's listen addresses, each ending in /p2p/<peer ID>, in
// the form Config.Peers expects.
func (h *Host) Addrs() []string { return p2pAddrs(h.h) }

// Connected lists the seats with a live connection (not counting cut ones).
func (h *Host) Connected() []int {
	var out []int
	for i, id := range h.ids {
		if i != h.seat && !h.gater.isCut(i) && len(h.h.Network().ConnsToPeer(id)) > 0 {
			out = append(out, i)
		}
	}
	return out
}

// TopicPeers lists the seats pubsub knows to be subscribed to the match
// topic: a Broadcast reaches (at least) these directly. Publications made
// before a peer appears here do not reach it, so a caller that needs the
// first messages delivered waits for the peers it expects.
func (h *Host) TopicPeers() []int {
	var out []int
	for _, p := range h.topic.ListPeers() {
		if s := h.seatOfPeer(p); s >= 0 {
			out = append(out, s)
		}
	}
	return out
}

// Reachable is TopicPeers in seat order: the seats a Broadcast reaches
// now (transport.Transport).
func (h *Host) Reachable() []int {
	out := h.TopicPeers()
	slices.Sort(out)
	return out
}

// Missing lists the roster seats this host is not connected to.
func (h *Host) Missing() []int {
	conn := map[int]bool{}
	for _, s := range h.Connected() {
		conn[s] = true
	}
	var out []int
	for i := range h.ids {
		if i != h.seat && !conn[i] {
			out = append(out, i)
		}
	}
	return out
}

// Cut partitions this host from seats: the gater refuses every connection
// to or from them and existing connections are closed. It is a real network
// fault (for tests and the match runner), not a delivery filter.
func (h *Host) Cut(seats ...int) {
	for _, s := range seats {
		if s < 0 || s >= len(h.ids) || s == h.seat {
			continue
		}
		h.gater.setCut(s, true)
		h.out.drop(s)
		_ = h.h.Network().ClosePeer(h.ids[s])
		h.log.Info("cut", "peer_seat", s)
	}
}

// Heal undoes Cut and redials the seats at once.
func (h *Host) Heal(seats ...int) {
	for _, s := range seats {
		if s < 0 || s >= len(h.ids) || s == h.seat {
			continue
		}
		h.gater.setCut(s, false)
		h.clearBackoff(h.ids[s])
		h.log.Info("heal", "peer_seat", s)
	}
	h.dialer.kick()
}

// Close stops discovery, leaves the topic, closes every connection and
// waits for the host's goroutines. It is safe to call more than once.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		if h.cancel != nil {
			h.cancel()
		}
		if h.inq != nil {
			h.inq.close()
		}
		if h.mdns != nil {
			h.mdns.Close()
		}
		if h.sub != nil {
			h.sub.Cancel()
		}
		if h.topic != nil {
			_ = h.topic.Close()
		}
		if h.h != nil {
			h.closeErr = h.h.Close()
		}
		h.wg.Wait()
	})
	return h.closeErr
}

// Broadcast publishes env on the match topic. It is not delivered back to
// this host: the caller handles its own messages.
func (h *Host) Broadcast(env crypto.Envelope) error {
	if err := h.ctx.Err(); err != nil {
		return fmt.Errorf("netp2p: host closed: %w", transport.ErrClosed)
	}
	data := env.Encode(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(env.Body)+80), h.pubSeq.Add(1)))
	if err := h.topic.Publish(h.ctx, data); err != nil {
		return err
	}
	h.ctr.countOut(env.Type, len(data)-nonceSize)
	return nil
}

// nonceSize is the publication nonce in front of every pubsub payload.
const nonceSize = 8

// peerIDOf derives the libp2p ID of an Ed25519 public key.
func peerIDOf(k crypto.PublicKey) (peer.ID, error) {
	pk, err := unmarshalEd25519Public(ed25519.PublicKey(k[:]))
	if err != nil {
		return "", err
	}
	return peer.IDFromPublicKey(pk)
}

func (h *Host) seatOfPeer(p peer.ID) int {
	if s, ok := h.seatOf[p]; ok {
		return s
	}
	return -1
}
