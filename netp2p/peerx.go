package netp2p

import (
	"bufio"
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/paxsync/paxsync/wire"
)

// peersProto is the roster address exchange. Whenever a host connects to
// a roster peer, it tells it the addresses it knows for the other roster
// peers, so a player given one bootstrap address (or who found only some
// peers by mDNS) ends up connected to every other player directly. The
// match topic depends on that: every envelope is published straight to
// each topic peer and not relayed (pubsubParams), because with flood
// publish every relay of a fully connected group is a duplicate that each
// receiver pays for (decrypt, demultiplex, decode, de-duplicate): measured
// at n = 7 on one 2-core machine, relaying and gossip cost 34 KB per peer
// per tick and a p50 commit latency of 104–140 ms; without them 5 KB and
// 11–27 ms (docs/BENCHMARKS.md).
//
// A lying peer can only hand out wrong addresses for roster peers: a dial
// to them fails the Noise handshake (the peer ID is the key) or reaches
// the right peer; addresses of non-members are ignored.
const peersProto protocol.ID = "/paxsync/peers/1"

const (
	maxPeerAddrs     = 16  // addresses per peer in one exchange
	maxPeerAddrBytes = 256 // bytes of one binary multiaddr
	peersTimeout     = 5 * time.Second
	// peersResend: the exchange runs at connect and once more this much
	// later, when identify has filled in the listen addresses of peers that
	// connected to us (at connect time we may only know their ephemeral
	// source ports).
	peersResend = 2 * time.Second
	peerAddrTTL = 10 * time.Minute
)

// encodePeers lists every roster peer (but self and to) with the addresses
// this host knows for it: seat | count | addrs (binary multiaddrs).
func (h *Host) encodePeers(to peer.ID) []byte {
	w := wire.NewWriter(nil)
	type entry struct {
		seat  int
		addrs []ma.Multiaddr
	}
	var list []entry
	for seat, id := range h.ids {
		if seat == h.seat || id == to {
			continue
		}
		addrs := h.h.Peerstore().Addrs(id)
		if len(addrs) == 0 {
			continue
		}
		list = append(list, entry{seat, addrs[:min(len(addrs), maxPeerAddrs)]})
	}
	w.Uvarint(uint64(len(list)))
	for _, e := range list {
		w.U16(uint16(e.seat))
		w.Uvarint(uint64(len(e.addrs)))
		for _, a := range e.addrs {
			w.Blob(a.Bytes())
		}
	}
	return w.Bytes()
}

// sharePeers sends encodePeers to p now and once more after peersResend.
// It runs on its own goroutine (libp2p's connection notifications must not
// block).
func (h *Host) sharePeers(p peer.ID) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for i := 0; i < 2; i++ {
			if i > 0 {
				select {
				case <-h.ctx.Done():
					return
				case <-time.After(peersResend):
				}
			}
			if h.h.Network().Connectedness(p) != network.Connected {
				return
			}
			ctx, cancel := context.WithTimeout(h.ctx, peersTimeout)
			s, err := h.h.NewStream(ctx, p, peersProto)
			cancel()
			if err != nil {
				h.log.Debug("peer exchange", "peer", p.String(), "err", err)
				continue
			}
			_ = s.SetWriteDeadline(time.Now().Add(peersTimeout))
			if err := writeFrame(s, h.encodePeers(p)); err != nil {
				_ = s.Reset()
				continue
			}
			_ = s.Close()
		}
	}()
}

// handlePeersStream reads one exchange and adds the roster addresses it
// names to the peerstore; the dialer then connects to them.
func (h *Host) handlePeersStream(s network.Stream, _ int) {
	defer s.Close()
	_ = s.SetReadDeadline(time.Now().Add(peersTimeout))
	n := len(h.ids)
	data, err := readFrame(bufio.NewReader(s), 16+n*(8+maxPeerAddrs*(maxPeerAddrBytes+4)))
	if err != nil {
		_ = s.Reset()
		return
	}
	if h.learnPeers(data) > 0 {
		h.dialer.kick()
	}
}

// learnPeers decodes an exchange and stores the addresses of roster peers
// (never our own seat); it returns how many peers it learned addresses for.
// A malformed exchange is dropped whole.
func (h *Host) learnPeers(data []byte) int {
	r := wire.NewReader(data)
	count := r.Len("peers", len(h.ids), 3)
	type learned struct {
		id    peer.ID
		addrs []ma.Multiaddr
	}
	var out []learned
	for i := 0; i < count && r.Err() == nil; i++ {
		seat := int(r.U16("peers.seat"))
		k := r.Len("peers.addrs", maxPeerAddrs, 1)
		var addrs []ma.Multiaddr
		for j := 0; j < k && r.Err() == nil; j++ {
			b := r.Blob("peers.addr", maxPeerAddrBytes)
			if a, err := ma.NewMultiaddrBytes(b); err == nil {
				addrs = append(addrs, a)
			}
		}
		if seat < len(h.ids) && seat != h.seat && len(addrs) > 0 {
			out = append(out, learned{h.ids[seat], addrs})
		}
	}
	if r.Done() != nil {
		return 0
	}
	for _, l := range out {
		h.h.Peerstore().AddAddrs(l.id, l.addrs, peerAddrTTL)
	}
	return len(out)
}
