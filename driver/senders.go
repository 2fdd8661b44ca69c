package driver

import (
	"context"
	"time"

	"github.com/paxsync/paxsync/crypto"
)

// The loop never waits for the network: broadcasts and direct messages
// leave through senders with bounded queues of their own.

// peerSender delivers direct messages to one peer off the driver goroutine,
// so a slow or dead peer (a dial can take seconds) never stalls consensus.
// When its queue is full it drops: bft re-sends what was not answered.
type peerSender struct {
	d    *Driver
	seat int
	q    chan crypto.Envelope
}

func newPeerSender(d *Driver, seat int) *peerSender {
	return &peerSender{d: d, seat: seat, q: make(chan crypto.Envelope, 256)}
}

func (p *peerSender) enqueue(env crypto.Envelope) {
	select {
	case p.q <- env:
	default:
		p.d.count(func(s *Stats) { s.SendDrops++ })
	}
}

func (p *peerSender) run(ctx context.Context) {
	defer p.d.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case env := <-p.q:
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := p.d.cfg.Transport.Send(sctx, p.seat, env)
			cancel()
			if err != nil {
				p.d.log.Debug("send", "to", p.seat, "err", err)
			}
		}
	}
}

// broadcaster publishes off the driver goroutine. A publication costs the
// caller more than the hand-off (libp2p's pubsub validates its own message
// locally, a signature check, before its event loop takes it): about
// 0.1 ms per message that the loop, which holds the node and the core,
// would otherwise spend before it reads the next vote. One goroutine keeps
// the order; a full queue drops and counts (Stats.SendDrops), as the
// direct senders do: bft re-sends, and a lost input gets "no input".
type broadcaster struct {
	d *Driver
	q chan crypto.Envelope
}

func newBroadcaster(d *Driver) *broadcaster {
	return &broadcaster{d: d, q: make(chan crypto.Envelope, 1024)}
}

func (b *broadcaster) enqueue(env crypto.Envelope) {
	select {
	case b.q <- env:
	default:
		b.d.count(func(s *Stats) { s.SendDrops++ })
	}
}

func (b *broadcaster) run(ctx context.Context) {
	defer b.d.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case env := <-b.q:
			if err := b.d.cfg.Transport.Broadcast(env); err != nil {
				b.d.log.Debug("broadcast", "err", err)
			}
		}
	}
}
