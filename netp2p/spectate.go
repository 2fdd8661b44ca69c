package netp2p

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	noise "github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// spectateProto is the one protocol a spectator service speaks: the same
// request and answer as /paxsync/sync/1 (the decided log after a slot,
// with its certificates), for peers outside the roster.
const spectateProto = protocol.ID("/paxsync/spectate/1")

// maxSpectatorAnswer bounds an answer: a catch-up answer (at most
// wire.MaxMessageSize, what a spectator decodes) and its signature.
const maxSpectatorAnswer = wire.MaxMessageSize + 4096

// DefaultMaxSpectators bounds how many spectator requests a player answers
// at once when SpectatorConfig.Max is 0.
const DefaultMaxSpectators = 4

// DefaultSpectatorBytesPerSecond is what a spectator service uploads at
// most, to all its spectators together: a live spectator takes a few KB
// per second; a join, one snapshot.
const DefaultSpectatorBytesPerSecond = 1 << 20

// SpectatorConfig configures a player's spectator service.
type SpectatorConfig struct {
	Key         *crypto.PrivateKey // the player's key: a spectator knows whom it asks by it
	ListenAddrs []string           // default: all interfaces, an OS-chosen TCP port
	// Max bounds the spectators served at once (connections and
	// requests in flight; DefaultMaxSpectators when 0). A spectator asks
	// at most once per MinInterval and is made to wait otherwise, and all
	// of them together get at most Max answers per MinInterval.
	Max         int
	MinInterval time.Duration
	// BytesPerSecond bounds what the service uploads to all spectators
	// together (DefaultSpectatorBytesPerSecond when 0): an answer delays
	// the next by its size at this rate.
	BytesPerSecond int
	// Serve answers one request (bounded by MaxSyncRequest) with the
	// decided log after the slot it names: the session's catch-up answer.
	Serve func(ctx context.Context, req []byte) ([]byte, error)
}

// SpectatorService is a player's endpoint for spectators. It is a libp2p
// host of its own, apart from the match's: spectators never reach the
// consensus host, its topic or its streams, so nothing they do can be
// published into the match, and the cost they put on the player is
// bounded here by Max concurrent answers, each at most one sync answer.
type SpectatorService struct {
	cfg      SpectatorConfig
	h        host.Host
	sem      chan struct{}
	waiting  chan struct{} // requests read and waiting for their turn (2×Max at most)
	mu       sync.Mutex    // guards h while it is set, and the maps and times below
	last     map[peer.ID]time.Time
	lastAny  time.Time
	inflight map[peer.ID]bool
	asked    map[peer.ID]time.Time
	done     chan struct{}
	wg       sync.WaitGroup
}

// spectatorGater caps the connections a spectator service holds.
type spectatorGater struct{ svc *SpectatorService }

func (g spectatorGater) InterceptPeerDial(peer.ID) bool               { return false }
func (g spectatorGater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return false }
func (g spectatorGater) InterceptAccept(network.ConnMultiaddrs) bool  { return true }
func (g spectatorGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}
func (g spectatorGater) InterceptSecured(_ network.Direction, _ peer.ID, addrs network.ConnMultiaddrs) bool {
	g.svc.mu.Lock()
	h := g.svc.h
	g.svc.mu.Unlock()
	if h == nil {
		return true
	}
	conns := h.Network().Conns()
	if len(conns) >= 2*cap(g.svc.sem) {
		return false
	}
	ip, err := manet.ToIP(addrs.RemoteMultiaddr())
	if err != nil {
		return false
	}
	same := 0
	for _, c := range conns {
		if cip, err := manet.ToIP(c.RemoteMultiaddr()); err == nil && cip.Equal(ip) {
			same++
		}
	}
	return same < maxConnsPerIP
}

// ServeSpectators starts a spectator service; Close stops it.
func ServeSpectators(cfg SpectatorConfig) (*SpectatorService, error) {
	if cfg.Key == nil || cfg.Serve == nil {
		return nil, errors.New("netp2p: spectator service: Key and Serve are required")
	}
	if cfg.Max <= 0 {
		cfg.Max = DefaultMaxSpectators
	}
	if len(cfg.ListenAddrs) == 0 {
		cfg.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/0"}
	}
	if cfg.BytesPerSecond <= 0 {
		cfg.BytesPerSecond = DefaultSpectatorBytesPerSecond
	}
	svc := &SpectatorService{cfg: cfg, sem: make(chan struct{}, cfg.Max), waiting: make(chan struct{}, 2*cfg.Max), last: map[peer.ID]time.Time{},
		inflight: map[peer.ID]bool{}, asked: map[peer.ID]time.Time{}, done: make(chan struct{})}
	h, err := newPlainHost(cfg.Key, cfg.ListenAddrs, spectatorGater{svc})
	if err != nil {
		return nil, fmt.Errorf("netp2p: spectator service: %w", err)
	}
	svc.mu.Lock()
	svc.h = h
	svc.mu.Unlock()
	h.SetStreamHandler(spectateProto, svc.handle)
	svc.wg.Add(1)
	go svc.reap()
	return svc, nil
}

// Addrs are the service's addresses, each ending in /p2p/<peer ID>.
func (s *SpectatorService) Addrs() []string { return p2pAddrs(s.h) }

// p2pAddrs are h's listen addresses, each ending in /p2p/<peer ID>.
func p2pAddrs(h host.Host) []string {
	var out []string
	for _, a := range h.Addrs() {
		out = append(out, a.String()+"/p2p/"+h.ID().String())
	}
	return out
}

// Close stops the service.
func (s *SpectatorService) Close() error {
	close(s.done)
	s.wg.Wait()
	return s.h.Close()
}

func (s *SpectatorService) handle(st network.Stream) {
	p := st.Conn().RemotePeer()
	// One request in flight per spectator: an identity that opens many
	// streams waits for its own, and cannot hold the answer slots.
	if !s.begin(p) {
		_ = st.Reset()
		return
	}
	defer s.end(p)
	// The request is read before it waits for a turn, and a turn is taken
	// only when it comes, by a spectator still connected: when a turn was
	// booked on arrival, fresh identities that opened a stream and left
	// each pushed every later answer back and left a goroutine asleep (150
	// of them made an honest spectator wait 3 s,
	// TestAbandonedSpectatorRequestsCostNothing).
	_ = st.SetReadDeadline(time.Now().Add(syncReadTimeout))
	req, err := readFrame(bufio.NewReader(st), MaxSyncRequest)
	if err != nil {
		_ = st.Reset()
		return
	}
	select {
	case s.waiting <- struct{}{}:
	default:
		_ = st.Reset() // 2×Max already waiting: come back later
		return
	}
	for {
		wait := s.pace(p)
		if wait == 0 {
			break
		}
		if !s.sleep(st, min(wait, spectatorPoll)) {
			<-s.waiting
			_ = st.Reset()
			return
		}
	}
	<-s.waiting
	select {
	case s.sem <- struct{}{}:
	default:
		_ = st.Reset() // Max answers in flight: come back later
		return
	}
	defer func() { <-s.sem }()
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), syncWriteTimeout)
	defer cancel()
	resp, err := s.cfg.Serve(ctx, req)
	if err == nil && len(resp) > maxSpectatorAnswer {
		err = fmt.Errorf("response of %d bytes: %w", len(resp), errOversize)
	}
	status := byte(0)
	if err != nil {
		status, resp = 1, []byte(err.Error())
	}
	s.charge(len(resp))
	_ = st.SetWriteDeadline(time.Now().Add(syncWriteTimeout))
	w := bufio.NewWriter(st)
	if w.WriteByte(status) != nil || writeFrame(w, resp) != nil || w.Flush() != nil {
		_ = st.Reset()
	}
}

// pace takes p's turn to be answered now and returns 0, or returns how
// long until its turn can come (taking nothing): at most one answer per
// MinInterval per spectator, and Max per MinInterval in all, so
// spectators with fresh identities cost the player's runtime (which
// builds every answer) no more than Max honest ones do. The map is
// cleared when it grows past a bound, so fresh identities cannot grow it.
func (s *SpectatorService) pace(p peer.ID) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if len(s.last) > 4*cap(s.sem) {
		clear(s.last)
	}
	at := maxTime(s.last[p].Add(s.cfg.MinInterval), s.lastAny.Add(s.cfg.MinInterval/time.Duration(cap(s.sem))))
	if at.After(now) {
		return at.Sub(now)
	}
	s.last[p], s.lastAny = now, now
	return 0
}

// sleep waits d; false if the spectator hung up (its connection closed)
// or the service closed meanwhile.
func (s *SpectatorService) sleep(st network.Stream, d time.Duration) bool {
	done := time.After(d)
	poll := time.NewTicker(spectatorPoll)
	defer poll.Stop()
	for {
		select {
		case <-done:
			return !st.Conn().IsClosed()
		case <-poll.C:
			if st.Conn().IsClosed() {
				return false
			}
		case <-s.done:
			return false
		}
	}
}

// spectatorPoll is how often a waiting request checks that its spectator
// is still connected.
const spectatorPoll = 20 * time.Millisecond

// charge pushes the next answer back by what this one weighed at
// BytesPerSecond, so the spectators together make the player upload (and
// its runtime build) at most that much, however they ask: a request after
// slot 0 brings a whole snapshot for a few bytes.
func (s *SpectatorService) charge(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastAny = maxTime(s.lastAny, time.Now()).Add(time.Duration(float64(n) / float64(s.cfg.BytesPerSecond) * float64(time.Second)))
}

// begin marks p's request in flight (false: one is already); end clears
// it. Both note when p last asked, for the idle reaper.
func (s *SpectatorService) begin(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[p] {
		return false
	}
	if len(s.asked) > 4*cap(s.sem) {
		clear(s.asked)
	}
	s.inflight[p], s.asked[p] = true, time.Now()
	return true
}

func (s *SpectatorService) end(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, p)
	s.asked[p] = time.Now()
}

// reap closes, every second, the connections of spectators that asked
// nothing for idleSpectator: a connection held without asking would
// otherwise keep a place of the 2×Max for good.
func (s *SpectatorService) reap() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		now := time.Now()
		for _, c := range s.h.Network().Conns() {
			s.mu.Lock()
			at, ok := s.asked[c.RemotePeer()]
			busy := s.inflight[c.RemotePeer()]
			s.mu.Unlock()
			if !ok {
				at = c.Stat().Opened
			}
			if !busy && now.Sub(at) > idleSpectator {
				_ = c.Close()
			}
		}
	}
}

// idleSpectator is how long a spectator's connection stays without a
// request (an honest one asks every tick).
const idleSpectator = 5 * time.Second

// maxConnsPerIP bounds one address's connections to a spectator service,
// so one machine with many identities cannot take every place.
const maxConnsPerIP = 2

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// SpectatorClient is a spectator's endpoint: it dials players' spectator
// services, and other spectators' relays, and asks them for the decided
// log. The Noise handshake proves which key answered, so an answer that
// does not verify is known to come from that seat (or that relay).
//
// Its sources are numbered as internal/spectator's Follower numbers them:
// the roster's seats first, then the relays in the order given.
type SpectatorClient struct {
	h      host.Host
	seats  []peer.ID
	relays []peer.ID
}

// DialSpectator starts a spectator endpoint with its own key (outside the
// roster) that knows the services at addrs: multiaddrs ending in
// /p2p/<peer ID>, a roster key's (a player's spectator service) or any
// other (a spectator relaying, whose own ServeSpectators service answers
// with the players' answers it keeps).
func DialSpectator(key *crypto.PrivateKey, roster []crypto.PublicKey, addrs []string) (*SpectatorClient, error) {
	c := &SpectatorClient{}
	for _, k := range roster {
		id, err := peerIDOf(k)
		if err != nil {
			return nil, err
		}
		c.seats = append(c.seats, id)
	}
	self, err := peerIDOf(key.Public())
	if err != nil {
		return nil, err
	}
	h, err := newPlainHost(key, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("netp2p: spectator: %w", err)
	}
	c.h = h
	for _, a := range addrs {
		info, err := peer.AddrInfoFromString(a)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("netp2p: spectator: address %q: %w", a, err)
		}
		if info.ID == self {
			h.Close()
			return nil, fmt.Errorf("netp2p: spectator: address %q is this spectator's own", a)
		}
		if c.seatOf(info.ID) < 0 && !slices.Contains(c.relays, info.ID) {
			c.relays = append(c.relays, info.ID)
		}
		h.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.PermanentAddrTTL)
	}
	if len(addrs) == 0 {
		h.Close()
		return nil, errors.New("netp2p: spectator: no address to watch from")
	}
	return c, nil
}

func (c *SpectatorClient) seatOf(id peer.ID) int {
	for i, s := range c.seats {
		if s == id {
			return i
		}
	}
	return -1
}

// Relays is the number of relays known: sources len(roster) and on.
func (c *SpectatorClient) Relays() int { return len(c.relays) }

func (c *SpectatorClient) source(src int) (peer.ID, bool) {
	switch {
	case src >= 0 && src < len(c.seats):
		return c.seats[src], true
	case src >= len(c.seats) && src < len(c.seats)+len(c.relays):
		return c.relays[src-len(c.seats)], true
	}
	return "", false
}

// Known reports whether an address of source src (a seat's spectator
// service, or a relay) is known.
func (c *SpectatorClient) Known(src int) bool {
	id, ok := c.source(src)
	return ok && len(c.h.Peerstore().Addrs(id)) > 0
}

// RequestSync asks source src (a seat's spectator service, or a relay)
// for the decided log after the slot req names (the same exchange as
// Host.RequestSync).
func (c *SpectatorClient) RequestSync(ctx context.Context, src int, req []byte) ([]byte, error) {
	id, ok := c.source(src)
	if !ok {
		return nil, ErrBadSeat
	}
	what := fmt.Sprintf("watch seat %d", src)
	if src >= len(c.seats) {
		what = fmt.Sprintf("watch relay %d", src-len(c.seats))
	}
	return exchange(ctx, c.h, id, spectateProto, req, maxSpectatorAnswer, what)
}

// Close stops the endpoint.
func (c *SpectatorClient) Close() error { return c.h.Close() }

// newPlainHost is a TCP+Noise libp2p host with key's identity and no
// pubsub: the spectator service and the spectator's endpoint.
func newPlainHost(key *crypto.PrivateKey, listen []string, g connmgr.ConnectionGater) (host.Host, error) {
	priv, err := ic.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(key.Seed()))
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(priv),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.Ping(false),
		libp2p.WithDialTimeout(5 * time.Second),
	}
	if len(listen) > 0 {
		opts = append(opts, libp2p.ListenAddrStrings(listen...))
	} else {
		opts = append(opts, libp2p.NoListenAddrs)
	}
	if g != nil {
		opts = append(opts, libp2p.ConnectionGater(g))
	}
	return libp2p.New(opts...)
}
