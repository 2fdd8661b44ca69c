package netp2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/transport"
)

const (
	// msgProto carries point-to-point envelopes: one long-lived stream per
	// peer and direction, length-prefixed frames (opening a stream per
	// message costs about twice the round trip).
	msgProto protocol.ID = "/paxsync/msg/1"
	// syncProto is request/response for catch-up: one stream per request,
	// because requests are rare and responses large.
	syncProto protocol.ID = "/paxsync/sync/1"

	defaultSendTimeout = 5 * time.Second
	syncReadTimeout    = 10 * time.Second
	syncWriteTimeout   = 30 * time.Second

	// msgIdleTimeout is how long an inbound message stream may go without a
	// complete frame before it is reset. A long-lived stream is idle between
	// messages for as long as consensus has nothing point-to-point to say
	// (between matches, or while a peer waits in the lobby), so this is
	// not a liveness check: it reclaims streams whose sender went away
	// without closing them, and bounds how long a peer can hold a frame
	// half-sent. Send never writes to a stream idle for longer than
	// msgReuseLimit, well inside it, so the reset cannot race a frame.
	// (Config.msgIdle overrides it in tests.)
	msgIdleTimeout = 60 * time.Second
)

// msgReuseLimit is how long an outbound message stream may sit idle and
// still be written to; after that the next Send closes it and opens a new
// one (no extra round trip once identify has told us the peer speaks
// msgProto: the protocol is then negotiated lazily) rather than write
// while the receiver may be resetting it. A third of the idle
// timeout leaves room for a slow machine and the frame's time in flight.
func (h *Host) msgReuseLimit() time.Duration { return h.cfg.msgIdle / 3 }

// maxInboundStreams is how many streams one peer may have open to this
// host on each protocol at once; more are reset on arrival. Each open
// stream holds a goroutine and buffers, so without a bound one roster peer
// can make another spend memory at will. An honest peer keeps one message
// stream (two for a moment when it replaces one), makes one sync request
// at a time (driver.startSync) and sends the address exchange twice per
// connection, one after the other, and has one ping stream open for a
// moment every rttInterval.
var maxInboundStreams = map[protocol.ID]int{msgProto: 4, syncProto: 2, peersProto: 2, pingProto: 2}

// streamSlots counts the open inbound streams per (protocol, seat).
type streamSlots struct {
	mu   sync.Mutex
	open map[protocol.ID][]int
}

func newStreamSlots(n int) *streamSlots {
	sl := &streamSlots{open: map[protocol.ID][]int{}}
	for p := range maxInboundStreams {
		sl.open[p] = make([]int, n)
	}
	return sl
}

func (sl *streamSlots) acquire(p protocol.ID, seat int) bool {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.open[p][seat] >= maxInboundStreams[p] {
		return false
	}
	sl.open[p][seat]++
	return true
}

func (sl *streamSlots) release(p protocol.ID, seat int) {
	sl.mu.Lock()
	sl.open[p][seat]--
	sl.mu.Unlock()
}

// inboundHandler admits a stream on p from a roster peer that is not cut
// and is within its maxInboundStreams, and runs handle on it with the
// peer's seat; any other stream is reset at once. Refusals are counted
// (Traffic.StreamsRefused) but not reported as misbehaviour: a peer whose
// connection flapped may briefly hold one stream too many.
func (h *Host) inboundHandler(p protocol.ID, handle func(s network.Stream, seat int)) network.StreamHandler {
	return func(s network.Stream) {
		seat := h.seatOfPeer(s.Conn().RemotePeer())
		if seat < 0 || h.gater.isCut(seat) {
			_ = s.Reset()
			return
		}
		if !h.slots.acquire(p, seat) {
			h.ctr.streamsRefused.Add(1)
			h.log.Debug("inbound stream refused: too many open", "protocol", string(p), "peer_seat", seat)
			_ = s.Reset()
			return
		}
		defer h.slots.release(p, seat)
		handle(s, seat)
	}
}

// Errors returned by Send and RequestSync. Each wraps transport's error of
// the same name, so errors.Is(err, transport.ErrCut) holds on any
// transport.
var (
	ErrBadSeat   = fmt.Errorf("netp2p: no such seat (or own seat): %w", transport.ErrBadSeat)
	ErrCut       = fmt.Errorf("netp2p: peer is cut: %w", transport.ErrCut)
	ErrNoHandler = fmt.Errorf("netp2p: peer has no sync handler: %w", transport.ErrNoHandler)
)

func writeFrame(w io.Writer, b []byte) error {
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(b)))
	if _, err := w.Write(hdr[:n]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

// frameChunk is the most readFrame allocates ahead of the bytes that have
// arrived: the announced length is only a claim, and a peer that announces
// a megabyte and sends nothing must not cost a megabyte. Measured
// (TestStreamHeaderFloodCostsNoMemory, 30 streams per protocol each
// sending only a header): the victim's heap grew by 33 MiB when frames
// were allocated at their announced size, by 0.5 MiB now.
const frameChunk = 4 << 10

// readFrame reads one frame of at most max bytes; a longer announced length
// fails before anything is allocated. The buffer grows (doubling, from
// frameChunk) as the bytes arrive, so what a frame costs is at most about
// twice what the peer has actually sent.
func readFrame(r *bufio.Reader, max int) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("frame of %d bytes exceeds %d: %w", n, max, errOversize)
	}
	size := int(n)
	b := make([]byte, 0, min(size, frameChunk))
	for len(b) < size {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(size-len(b), len(b)))
		}
		k, err := r.Read(b[len(b):min(cap(b), size)])
		b = b[:len(b)+k]
		if err != nil && len(b) < size {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return b, nil
}

var errOversize = errors.New("oversize")

type outStream struct {
	mu   sync.Mutex
	s    network.Stream
	w    *bufio.Writer
	last time.Time // last frame written
}

// outStreams holds the long-lived outbound message stream to each seat.
type outStreams struct {
	h  *Host
	mu sync.Mutex
	m  map[int]*outStream
}

func newOutStreams(h *Host) *outStreams { return &outStreams{h: h, m: map[int]*outStream{}} }

func (o *outStreams) get(seat int) *outStream {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := o.m[seat]
	if st == nil {
		st = &outStream{}
		o.m[seat] = st
	}
	return st
}

// drop forgets the stream to seat without waiting for a writer: the
// connection is gone (or being cut), so the stream is dead anyway and the
// next Send opens a new one.
func (o *outStreams) drop(seat int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.m, seat)
}

// Send delivers env to seat's Inbound over the direct stream. It returns
// when the frame is written (not when it is processed); on a broken stream
// it reopens once.
func (h *Host) Send(ctx context.Context, seat int, env crypto.Envelope) error {
	st, err := h.sendLocked(ctx, seat, env)
	if st != nil {
		st.mu.Unlock()
	}
	return err
}

// sendLocked is Send, returning with the stream's lock held when it got
// that far (st non-nil), so SendLast can close the very stream it wrote on.
func (h *Host) sendLocked(ctx context.Context, seat int, env crypto.Envelope) (*outStream, error) {
	if seat < 0 || seat >= len(h.ids) || seat == h.seat {
		return nil, ErrBadSeat
	}
	if h.gater.isCut(seat) {
		return nil, ErrCut
	}
	frame := env.Encode(nil)
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultSendTimeout)
	}
	st := h.out.get(seat)
	st.mu.Lock()
	if st.s != nil && time.Since(st.last) > h.msgReuseLimit() {
		_ = st.s.Close() // the receiver reads to the end and lets it go
		st.s, st.w = nil, nil
	}
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if st.s == nil {
			s, oerr := h.h.NewStream(ctx, h.ids[seat], msgProto)
			if oerr != nil {
				return st, fmt.Errorf("netp2p: send to seat %d: %w", seat, oerr)
			}
			st.s, st.w = s, bufio.NewWriter(s)
		}
		_ = st.s.SetWriteDeadline(deadline)
		if err = writeFrame(st.w, frame); err == nil {
			if err = st.w.Flush(); err == nil {
				st.last = time.Now()
				h.ctr.countOut(env.Type, len(frame))
				return st, nil
			}
		}
		_ = st.s.Reset()
		st.s, st.w = nil, nil
	}
	return st, fmt.Errorf("netp2p: send to seat %d: %w", seat, err)
}

// SendLast delivers env to seat as the last message on the direct stream
// and waits until seat has read it: Send returns once the frame is queued
// on the connection, so a host that closes right after (a player leaving)
// can lose it. SendLast half-closes the stream after the frame and waits,
// until ctx ends, for the receiver to reach the end (its reader stops
// there, after it has queued every frame before it for Inbound). The next
// Send to seat opens a new stream.
func (h *Host) SendLast(ctx context.Context, seat int, env crypto.Envelope) error {
	st, err := h.sendLocked(ctx, seat, env)
	if st == nil {
		return err
	}
	s := st.s
	st.s, st.w = nil, nil
	st.mu.Unlock()
	if err != nil {
		return err
	}
	if err := s.CloseWrite(); err != nil {
		_ = s.Reset()
		return fmt.Errorf("netp2p: send to seat %d: %w", seat, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = s.SetReadDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	// The receiver never writes on a message stream: it closes its side
	// once it has read to our end (EOF here); a reset means it refused or
	// dropped the stream, a timeout that it has not got there yet.
	var b [1]byte
	_, err = s.Read(b[:])
	_ = s.Reset()
	if err != io.EOF {
		return fmt.Errorf("netp2p: seat %d did not confirm it read the last message: %w", seat, err)
	}
	return nil
}

// handleMsgStream reads envelopes from one peer's long-lived stream until
// it breaks, ends, stays idle for msgIdleTimeout or the host closes.
func (h *Host) handleMsgStream(s network.Stream, seat int) {
	p := s.Conn().RemotePeer()
	r := bufio.NewReader(s)
	for {
		// Renewed per frame, not per read: a frame must be complete within
		// the timeout, so a trickle of bytes cannot keep a stream alive.
		_ = s.SetReadDeadline(time.Now().Add(h.cfg.msgIdle))
		data, err := readFrame(r, maxEnvelope)
		if err != nil {
			if errors.Is(err, errOversize) {
				h.reportInvalid(seat, p, ReasonOversize)
			}
			if err == io.EOF {
				// The sender half-closed after its last frame and every
				// frame is queued: closing (not resetting) tells a
				// SendLast it was read.
				_ = s.Close()
				return
			}
			_ = s.Reset()
			return
		}
		if h.limits.arrive(seat, 1) == 0 || !h.limits.arriveBytes(seat, len(data)) {
			h.ctr.flooding.Add(1)
			h.reportInvalid(seat, p, ReasonFlooding)
			continue
		}
		env, v := h.checkDelivered(seat, p, data)
		if v != Accept {
			continue
		}
		if !h.inq.push(Inbound{From: seat, Env: *env, Direct: true}, true) {
			_ = s.Reset() // the host is closing
			return
		}
	}
}

// HandleSync sets the function that answers RequestSync from peers. It runs
// on the stream's goroutine; it must be safe for concurrent use.
func (h *Host) HandleSync(fn func(from int, req []byte) ([]byte, error)) {
	h.syncMu.Lock()
	h.syncHandler = fn
	h.syncMu.Unlock()
}

// RequestSync sends req (at most MaxSyncRequest bytes) to seat and returns
// its response (at most Config.MaxSyncResponse bytes). Without a deadline
// on ctx the exchange is bounded by 30 s.
func (h *Host) RequestSync(ctx context.Context, seat int, req []byte) ([]byte, error) {
	if seat < 0 || seat >= len(h.ids) || seat == h.seat {
		return nil, ErrBadSeat
	}
	if h.gater.isCut(seat) {
		return nil, ErrCut
	}
	if len(req) > MaxSyncRequest {
		return nil, fmt.Errorf("netp2p: sync request of %d bytes: %w", len(req), errOversize)
	}
	return exchange(ctx, h.h, h.ids[seat], syncProto, req, h.cfg.MaxSyncResponse, fmt.Sprintf("sync with seat %d", seat))
}

// exchange sends req on a new proto stream to id and reads the status and
// the answer (at most max bytes): the request/answer of /paxsync/sync/1
// and /paxsync/spectate/1. Without a deadline on ctx it is bounded by
// 30 s. what names the exchange in errors.
func exchange(ctx context.Context, h host.Host, id peer.ID, proto protocol.ID, req []byte, max int, what string) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, syncWriteTimeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	s, err := h.NewStream(ctx, id, proto)
	if err != nil {
		return nil, fmt.Errorf("netp2p: %s: %w", what, err)
	}
	defer s.Close()
	_ = s.SetDeadline(deadline)
	// Closing the stream unblocks reads if ctx ends before the deadline.
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	if err := writeFrame(s, req); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("netp2p: %s: %w", what, err)
	}
	_ = s.CloseWrite()
	r := bufio.NewReader(s)
	status, err := r.ReadByte()
	if err == nil {
		var body []byte
		if body, err = readFrame(r, max); err == nil {
			if status != 0 {
				return nil, fmt.Errorf("netp2p: %s: remote error: %s", what, body)
			}
			return body, nil
		}
	}
	_ = s.Reset()
	return nil, fmt.Errorf("netp2p: %s: %w", what, err)
}

func (h *Host) handleSyncStream(s network.Stream, seat int) {
	p := s.Conn().RemotePeer()
	if h.limits.arrive(seat, 1) == 0 {
		_ = s.Reset()
		return
	}
	defer s.Close()
	_ = s.SetReadDeadline(time.Now().Add(syncReadTimeout))
	req, err := readFrame(bufio.NewReader(s), MaxSyncRequest)
	if err != nil {
		if errors.Is(err, errOversize) {
			h.reportInvalid(seat, p, ReasonOversize)
		}
		_ = s.Reset()
		return
	}
	h.syncMu.RLock()
	fn := h.syncHandler
	h.syncMu.RUnlock()
	var resp []byte
	if fn == nil {
		err = ErrNoHandler
	} else if resp, err = fn(seat, req); err == nil && len(resp) > h.cfg.MaxSyncResponse {
		err = fmt.Errorf("response of %d bytes: %w", len(resp), errOversize)
	}
	status := byte(0)
	if err != nil {
		status, resp = 1, []byte(err.Error())
	}
	_ = s.SetWriteDeadline(time.Now().Add(syncWriteTimeout))
	w := bufio.NewWriter(s)
	if w.WriteByte(status) != nil || writeFrame(w, resp) != nil || w.Flush() != nil {
		_ = s.Reset()
	}
}
