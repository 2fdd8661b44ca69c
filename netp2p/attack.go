package netp2p

import (
	"context"
	"encoding/binary"

	"github.com/libp2p/go-libp2p/core/protocol"
)

// HoldStalledStream is an adversary primitive for tests and the match
// runner's stream-flood cheat (paxsync.CheatStreamFlood); honest hosts
// never call it. It opens one stream to seat on the direct-message
// protocol (or, with sync, on the catch-up protocol), writes only the
// length header of a frame as large as the receiver accepts there (about
// 1 MB for a message frame, MaxSyncRequest for a sync request) and then
// sends nothing more, as a peer would that wants the receiver to hold
// buffers and a goroutine for a frame that never comes.
//
// It returns once the header is written (opening takes at most
// defaultSendTimeout); the returned channel is closed when the stream has
// ended: the receiver reset it (refused it on arrival, or timed it out)
// or ctx ended, which also resets it. An error means the stream could not
// be opened or the header not written.
func (h *Host) HoldStalledStream(ctx context.Context, seat int, sync bool) (<-chan struct{}, error) {
	if seat < 0 || seat >= len(h.ids) || seat == h.seat {
		return nil, ErrBadSeat
	}
	proto, announce := protocol.ID(msgProto), uint64(maxEnvelope)
	if sync {
		proto, announce = syncProto, MaxSyncRequest
	}
	octx, cancel := context.WithTimeout(ctx, defaultSendTimeout)
	s, err := h.h.NewStream(octx, h.ids[seat], proto)
	cancel()
	if err != nil {
		return nil, err
	}
	if _, err := s.Write(binary.AppendUvarint(nil, announce)); err != nil {
		_ = s.Reset()
		return nil, err
	}
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	go func() {
		defer close(done)
		defer stop()
		// Nothing is ever sent back on either protocol before the frame is
		// complete, so this read returns only when the stream ends.
		var b [1]byte
		for {
			if _, err := s.Read(b[:]); err != nil {
				_ = s.Reset()
				return
			}
		}
	}()
	return done, nil
}
