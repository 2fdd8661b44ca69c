package adversary

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/internal/lockstep"
	"github.com/paxsync/paxsync/transport"
	"github.com/paxsync/paxsync/wire"
)

// Stream-flood: how many stalled streams the cheater tries to keep open
// to every other peer on each protocol (receivers admit 4 message streams
// and 2 sync streams per peer and reset the rest on arrival), and how
// often it tops them up.
const (
	streamFloodPerPeer = 16
	streamFloodEvery   = 100 * time.Millisecond
)

// runStreamFlood keeps up to streamFloodPerPeer stalled streams
// (netp2p.Host.HoldStalledStream) per protocol open to every other peer
// while the cheat is on, re-opening those the receiver resets, until the
// session ends. Turning the cheat off closes them.
func (p *Player) runStreamFlood(ctx context.Context, tr transport.Transport) {
	host, ok := tr.(interface {
		HoldStalledStream(ctx context.Context, seat int, sync bool) (<-chan struct{}, error)
	})
	if !ok {
		return // a transport without streams to stall
	}
	type key struct {
		seat int
		sync bool
	}
	ended := make(chan key, 2*p.n*streamFloodPerPeer)
	open := map[key]int{}
	// sctx holds the streams while the cheat is on; stop resets them all.
	var sctx context.Context
	stop := func() {}
	t := time.NewTicker(streamFloodEvery)
	defer t.Stop()
	defer func() { stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case k := <-ended:
			open[k]--
			continue
		case <-t.C:
		}
		on := p.playing(StreamFlood, p.clock()) != nil
		if !on {
			stop()
			sctx = nil
			continue
		}
		if sctx == nil {
			c, cancel := context.WithCancel(ctx)
			sctx, stop = c, cancel
		}
		for seat := 0; seat < p.n; seat++ {
			for _, sync := range []bool{false, true} {
				k := key{seat, sync}
				for seat != p.seat && open[k] < streamFloodPerPeer && sctx.Err() == nil {
					done, err := host.HoldStalledStream(sctx, seat, sync)
					if err != nil {
						break // refused before it opened, or the peer is unreachable: next round
					}
					open[k]++
					go func() {
						<-done
						select {
						case ended <- k:
						case <-ctx.Done():
						}
					}()
				}
			}
		}
	}
}

// syncTransport is the transport the driver gets: the host, with its
// catch-up handler wrapped so that a bad-sync cheater answers every
// request with badSync's forged state. Honest sessions answer as the
// driver does.
type syncTransport struct {
	transport.Transport
	p *Player
}

// HandleSync installs fn behind the bad-sync hook.
func (t syncTransport) HandleSync(fn func(from int, req []byte) ([]byte, error)) {
	if fn == nil {
		t.Transport.HandleSync(nil)
		return
	}
	t.Transport.HandleSync(func(from int, req []byte) ([]byte, error) {
		if resp, ok := t.p.badSync(req); ok {
			return resp, nil
		}
		return fn(from, req)
	})
}

// syncResponseLimit is the largest catch-up answer a session accepts
// (netp2p.Config.MaxSyncResponse: wire.MaxMessageSize); bad-sync sizes its
// forged answers to it.
const syncResponseLimit = wire.MaxMessageSize

// badSync is the bad-sync cheat's answer to a sync request for the slots
// after req's: a SyncState that decodes, so the requester gets as far as
// checking it (bft.Node.ApplySync), as large as the requester accepts, and
// forged: entries from the next slot the requester needs, with values of
// junk certified by Confirms of which only this seat's is really signed.
// ok=false when this peer does not play bad-sync (the request is then
// answered honestly). It runs on the stream's goroutine.
func (p *Player) badSync(req []byte) ([]byte, bool) {
	after, n := binary.Uvarint(req)
	if n <= 0 {
		return nil, false
	}
	if p.playing(BadSync, p.clock()) == nil {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Entries of junk filling the requester's limit (less room for the
	// rest), each value no larger than the requester decodes.
	budget := syncResponseLimit - 64<<10
	entries := (budget + wire.MaxMessageSize - 1025) / (wire.MaxMessageSize - 1024)
	if p.syncPad == nil {
		p.syncPad = make([]byte, budget/entries)
		for i := range p.syncPad {
			p.syncPad[i] = byte(i * 131)
		}
		p.padDigest = crypto.Sum(p.syncPad)
	}
	view, slot := p.status.View, after+1
	body := encodeVote(nil, view, slot, 1, func(uint64) crypto.Digest { return p.padDigest })
	var confirms []crypto.Envelope
	for seat := 0; len(confirms) < p.n; seat++ {
		if seat == p.seat {
			confirms = append(confirms, p.syncSigner.Sign(wire.TypeConfirm, body))
			continue
		}
		confirms = append(confirms, crypto.Envelope{Type: wire.TypeConfirm, Sender: uint16(seat), Body: body}) // no signature
	}
	cert := make([]uint32, len(confirms))
	for i := range cert {
		cert[i] = uint32(i)
	}
	// A checkpoint at slot 0 (nothing to install): the entries are checked.
	cp := wire.NewWriter(nil)
	cp.Uvarint(0)
	cp.Bytes32(crypto.Digest{})
	cp.Uvarint(0)
	st := &bft.SyncState{Checkpoint: cp.Bytes(), Confirms: confirms}
	for i := 0; i < entries; i++ {
		st.Entries = append(st.Entries, bft.SyncEntry{Slot: slot + uint64(i), View: view, Value: p.syncPad, Cert: cert})
	}
	return bft.EncodeSyncState(st), true
}

// badSyncLure is bad-sync's claim to be ahead: every
// badSyncLureEvery, a Confirm signed by this seat naming one slot
// badSyncLureAhead past its committed slot, beyond every honest node's
// window, so that they take it for a peer they must catch up from and ask
// it (bft's checkBehind) again and again.
func (p *Player) badSyncLure(t *lockstep.Tools, now time.Time) []lockstep.Out {
	if p.playing(BadSync, t.Clock()) == nil || now.Sub(p.lureAt) < badSyncLureEvery {
		return nil
	}
	p.lureAt = now
	st := t.Status()
	slot := st.Committed + badSyncLureAhead
	body := encodeVote(nil, st.View, slot, 1, func(slot uint64) crypto.Digest { return forgedDigest(st.View, slot, 0x5C) })
	return []lockstep.Out{{Env: t.Sign(wire.TypeConfirm, body)}}
}

const (
	badSyncLureEvery = 500 * time.Millisecond
	badSyncLureAhead = 4 * attackAhead
)

// spectate wraps the spectator service's answers: honest until forge-log
// is on, then every answer with something in it is altered.
func (p *Player) spectate(serve func(ctx context.Context, req []byte) ([]byte, error)) func(ctx context.Context, req []byte) ([]byte, error) {
	return func(ctx context.Context, req []byte) ([]byte, error) {
		resp, err := serve(ctx, req)
		if err != nil || len(resp) == 0 || p.playing(ForgeLog, p.clock()) == nil {
			return resp, err
		}
		st, err := bft.DecodeSyncState(resp)
		if err != nil {
			return resp, nil
		}
		switch {
		case len(st.Entries) > 0:
			v := append([]byte(nil), st.Entries[0].Value...)
			v[len(v)/2] ^= 0x01
			st.Entries[0].Value = v
		case len(st.Snapshot) > 0:
			snap := append([]byte(nil), st.Snapshot...)
			snap[len(snap)-1] ^= 0x01
			st.Snapshot = snap
		}
		return bft.EncodeSyncState(st), nil
	}
}
