package netp2p

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
)

// pingProto is libp2p's standard ping protocol (32 random bytes echoed
// back). The host answers it through inboundHandler, not libp2p's own ping
// service (libp2p.Ping(false) in start), so only roster peers that are not
// cut get an answer and each may hold only a few ping streams open.
const pingProto protocol.ID = ping.ID

const (
	// rttInterval is how often every connected roster peer is pinged: often
	// enough for a HUD's ping column to follow a changing network, rare
	// enough to cost nothing (one 32-byte exchange per peer and interval).
	rttInterval = 2 * time.Second
	// rttTimeout bounds one ping; a peer that does not answer keeps the
	// RTT it had (its row shows the last value until it disconnects).
	rttTimeout = 5 * time.Second
)

// runPings pings every connected roster peer every rttInterval until the
// host closes. libp2p's ping records each round trip in the peerstore,
// whose moving average RTT reads.
func (h *Host) runPings() {
	defer h.wg.Done()
	t := time.NewTicker(rttInterval)
	defer t.Stop()
	pinger := &ping.PingService{Host: h.h}
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		}
		var wg sync.WaitGroup
		for seat, id := range h.ids {
			if seat == h.seat || h.gater.isCut(seat) || h.h.Network().Connectedness(id) != network.Connected {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(h.ctx, rttTimeout)
				results := pinger.Ping(ctx, id)
				select {
				case r := <-results:
					if r.Error != nil {
						h.log.Debug("ping", "peer_seat", seat, "err", r.Error)
					}
				case <-ctx.Done():
				}
				cancel()
				for range results { // wait for ping's goroutine to end
				}
			}()
		}
		wg.Wait()
	}
}

// handlePingStream answers one peer's pings (libp2p's ping handler).
func (h *Host) handlePingStream(s network.Stream, _ int) {
	(&ping.PingService{Host: h.h}).PingHandler(s)
}

// RTT returns the round-trip time to every seat's peer, indexed by seat,
// as a moving average of the pings this host sends each connected roster
// peer every 2 s (the peerstore's latency EWMA): what a GGPO-style HUD
// shows as each player's ping. It is 0 for this host's own seat and for
// seats that are not connected (or cut), or not pinged yet.
func (h *Host) RTT() []time.Duration {
	out := make([]time.Duration, len(h.ids))
	for seat, id := range h.ids {
		if seat == h.seat || h.gater.isCut(seat) || h.h.Network().Connectedness(id) != network.Connected {
			continue
		}
		out[seat] = h.h.Peerstore().LatencyEWMA(id)
	}
	return out
}
