package netp2p

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/paxsync/paxsync/crypto"
)

// gater admits only roster peers that are not cut. It decides after the
// security handshake (InterceptSecured), when the remote peer ID — and so
// its key — is authenticated; dials to non-members are refused up front.
type gater struct {
	h *Host

	mu       sync.Mutex
	cut      map[int]bool
	reported map[peer.ID]time.Time
	// cutRefused counts connections refused because their peer is cut, so
	// a test can wait for the refusals themselves rather than for a time.
	cutRefused atomic.Uint64
}

func newGater(h *Host) *gater {
	return &gater{h: h, cut: map[int]bool{}, reported: map[peer.ID]time.Time{}}
}

func (g *gater) setCut(seat int, cut bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if cut {
		g.cut[seat] = true
	} else {
		delete(g.cut, seat)
	}
}

func (g *gater) isCut(seat int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cut[seat]
}

func (g *gater) admit(p peer.ID) bool {
	seat := g.h.seatOfPeer(p)
	return seat >= 0 && seat != g.h.seat && !g.isCut(seat)
}

func (g *gater) InterceptPeerDial(p peer.ID) bool { return g.admit(p) }

func (g *gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return g.admit(p) }

func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, addrs network.ConnMultiaddrs) bool {
	if g.h.seatOfPeer(p) < 0 {
		g.reportNonMember(p, addrs)
		return false
	}
	if !g.admit(p) {
		g.cutRefused.Add(1)
		return false
	}
	return true
}

func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// reportNonMember reports a non-member at most once per 5 s, and forgets
// old entries so that a stream of fresh identities cannot grow the map.
func (g *gater) reportNonMember(p peer.ID, addrs network.ConnMultiaddrs) {
	g.mu.Lock()
	now := time.Now()
	last, seen := g.reported[p]
	if seen && now.Sub(last) < 5*time.Second {
		g.mu.Unlock()
		return
	}
	if len(g.reported) > 1024 {
		clear(g.reported)
	}
	g.reported[p] = now
	g.mu.Unlock()
	g.h.log.Warn("non-member connection refused", "peer", p.String(), "remote", addrs.RemoteMultiaddr().String())
	g.h.emit(Event{Kind: EventNonMember, Seat: -1, Peer: p.String()})
}

// addBootstrap records the static peers' addresses; the dialer connects.
func (h *Host) addBootstrap() error {
	for _, s := range h.cfg.Peers {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			return fmt.Errorf("netp2p: peer %q: %w", s, err)
		}
		if ai.ID == h.h.ID() {
			continue
		}
		if h.seatOfPeer(ai.ID) < 0 {
			h.log.Warn("bootstrap peer is not in the roster; skipped", "peer", ai.ID.String())
			continue
		}
		h.h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
	}
	return nil
}

// dialer keeps trying to connect to every roster peer that has known
// addresses, is not connected and is not cut.
type dialer struct {
	h     *Host
	kickc chan struct{}

	mu      sync.Mutex
	dialing map[int]bool
}

func newDialer(h *Host) *dialer {
	return &dialer{h: h, kickc: make(chan struct{}, 1), dialing: map[int]bool{}}
}

// kick asks for a dial round now (after a disconnect, heal or discovery).
func (d *dialer) kick() {
	select {
	case d.kickc <- struct{}{}:
	default:
	}
}

func (d *dialer) run() {
	defer d.h.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		d.round()
		select {
		case <-d.h.ctx.Done():
			return
		case <-t.C:
		case <-d.kickc:
		}
	}
}

func (d *dialer) round() {
	h := d.h
	for seat, id := range h.ids {
		if seat == h.seat || h.gater.isCut(seat) || h.h.Network().Connectedness(id) == network.Connected {
			continue
		}
		if len(h.h.Peerstore().Addrs(id)) == 0 {
			continue
		}
		d.mu.Lock()
		busy := d.dialing[seat]
		d.dialing[seat] = true
		d.mu.Unlock()
		if busy {
			continue
		}
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			defer func() { d.mu.Lock(); delete(d.dialing, seat); d.mu.Unlock() }()
			ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
			defer cancel()
			// A peer that restarts comes back at the same address: don't
			// let an earlier failure's backoff delay the reconnect.
			h.clearBackoff(id)
			if err := h.h.Connect(ctx, peer.AddrInfo{ID: id}); err != nil && h.ctx.Err() == nil {
				h.log.Debug("dial failed", "peer_seat", seat, "err", err)
			}
		}()
	}
}

// mdnsServiceName is match-specific so that two matches on one LAN never
// see each other (a DNS-SD label: at most 15 characters after "_").
func mdnsServiceName(m crypto.MatchID) string {
	return "_px" + crypto.Digest(m).Hex()[:12] + "._udp"
}

func (h *Host) startMDNS() error {
	svc := mdns.NewMdnsService(h.h, mdnsServiceName(h.cfg.Match), mdnsNotifee{h})
	if err := svc.Start(); err != nil {
		return fmt.Errorf("netp2p: mdns: %w", err)
	}
	h.mdns = svc
	return nil
}

type mdnsNotifee struct{ h *Host }

// HandlePeerFound may fire many times per peer and for anyone who announces
// on the service name: record addresses of roster peers only, idempotently.
func (n mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	h := n.h
	seat := h.seatOfPeer(ai.ID)
	if seat < 0 || seat == h.seat || h.ctx.Err() != nil {
		return
	}
	h.h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL*10)
	if h.h.Network().Connectedness(ai.ID) != network.Connected {
		h.emit(Event{Kind: EventFound, Seat: seat, Peer: ai.ID.String()})
		h.dialer.kick()
	}
}
