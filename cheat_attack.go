package paxsync

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/netp2p"
	"github.com/paxsync/paxsync/wire"
)

// The resource attacks of issue 12 ("memory and bandwidth a roster peer
// can take"): vote-flood, evidence-bait, stream-flood and bad-sync. Like
// the other cheats they run on the cheater only, on its honest code path
// with one behaviour changed, behind the session's existing hooks:
// vote-flood and evidence-bait add messages in outbound (the driver's
// Outbound hook, signed with the node's own key), stream-flood is started
// by the clock, and bad-sync answers catch-up requests through the
// transport the driver is given (syncTransport). Honest sessions pass
// through all of these unchanged.

// Figures of honest bft nodes the attacks aim at (bft's defaults, which
// Session does not change: Window 32, MaxViewJump 1024, at most 4096 pairs
// in a vote).
const (
	// attackPairs is the most (slot, digest) pairs a Verify or Confirm may
	// name (bft's decoder bound): the size of vote-flood's votes.
	attackPairs = 4096
	// baitPairs is the size of evidence-bait's fat Verify: as fat as bft
	// still takes (it refuses votes of more than 2·(2·Window + 2·64) = 384
	// pairs at the defaults), so its one-pair Verifies prove equivocation
	// where it is stored.
	baitPairs = 256
	// attackAhead is how far past its committed slot an honest node still
	// stores what a vote names: twice bft's default Window.
	attackAhead = 64
	// attackBelow is how far below its committed slot an honest node may
	// still store what a vote names (slots not yet under a stable
	// checkpoint: up to two checkpoint intervals of 64).
	attackBelow = 64
	// attackViewFirst and attackViews: the flood names views from
	// view+attackViewFirst on, attackViews of them, all within bft's
	// MaxViewJump (1024) of the honest nodes' view and far enough ahead
	// that the match never reaches them (so the forged votes never
	// conflict with a real vote of the cheater's).
	attackViewFirst = 16
	attackViews     = 1000
	// attackMaxBurst bounds how much unsent budget the pacing keeps (as
	// time): the cheater never bursts past its rate budget at the peers.
	attackMaxBurst = 100 * time.Millisecond
)

// attackGen is the driver-goroutine state of vote-flood and
// evidence-bait (outbound only): pacing and a message counter.
type attackGen struct {
	last   time.Time // last time the budget was topped up
	tokens float64   // messages due and not yet sent
	seq    uint64    // messages made since the cheat began
	buf    []byte
	// baitView and baitFirst are the current evidence-bait round's view
	// and first slot (set by its fat Verify).
	baitView, baitFirst uint64
}

// attackRate is how many extra signed messages per second the attacks
// send: the per-signer budget every other peer gives this one
// (floodLimit), less six per tick of room for its own honest traffic
// (about four per tick), so the flood itself is never cut on arrival.
func attackRate(cfg Config) float64 {
	return floodLimit(cfg).PerSecond - float64(6*cfg.TickRate)
}

// due returns how many attack messages are due at now, at rate per second.
func (g *attackGen) due(now time.Time, rate float64) int {
	if g.last.IsZero() {
		g.last = now
	}
	g.tokens = min(g.tokens+now.Sub(g.last).Seconds()*rate, rate*attackMaxBurst.Seconds())
	g.last = now
	n := int(g.tokens)
	g.tokens -= float64(n)
	return n
}

// encodeVote writes a Verify/Confirm body in bft's encoding (view | count
// | (slot, digest)*, slots strictly increasing) naming count consecutive
// slots from first, each with digest(slot), appending to buf.
func encodeVote(buf []byte, view, first uint64, count int, digest func(slot uint64) crypto.Digest) []byte {
	buf = binary.AppendUvarint(buf, view)
	buf = binary.AppendUvarint(buf, uint64(count))
	for i := 0; i < count; i++ {
		d := digest(first + uint64(i))
		buf = binary.AppendUvarint(buf, first+uint64(i))
		buf = append(buf, d[:]...)
	}
	return buf
}

// forgedDigest is the digest a forged vote names for (view, slot): no
// value hashes to it, and it is cheap (the flood makes millions). tag
// tells apart the two sides of an evidence-bait conflict.
func forgedDigest(view, slot uint64, tag byte) crypto.Digest {
	var d crypto.Digest
	binary.BigEndian.PutUint64(d[0:], view)
	binary.BigEndian.PutUint64(d[8:], slot)
	for i := 16; i < len(d); i++ {
		d[i] = tag
	}
	return d
}

// attackMessages is outbound's part for vote-flood and evidence-bait: the
// extra signed messages due now, none if this peer plays neither. It runs
// on the driver goroutine (nodeSigner, atk); mu must not be held.
func (s *Session) attackMessages(now time.Time) []bft.Message {
	s.mu.Lock()
	flood := s.cheating(CheatVoteFlood, s.clock)
	bait := s.cheating(CheatEvidenceBait, s.clock)
	view, committed := s.status.View, s.status.Committed
	s.mu.Unlock()
	if !flood && !bait {
		s.atk.last = time.Time{}
		return nil
	}
	n := s.atk.due(now, attackRate(s.cfg))
	out := make([]bft.Message, 0, n)
	for i := 0; i < n; i++ {
		var env crypto.Envelope
		if flood {
			env = s.voteFlood(view, committed)
		} else {
			env = s.evidenceBait(view, committed)
		}
		out = append(out, bft.Message{To: bft.Broadcast, Env: env})
		s.atk.seq++
	}
	return out
}

// voteFlood makes the next vote-flood message: a Confirm or Verify
// (alternately) naming attackPairs consecutive slots in one of
// attackViews future views. The views turn fastest; after a full turn the
// range starts one slot lower, from attackAhead past the committed slot
// down to attackBelow under it, and the next turn repeats. A node stores a
// (view, slot) once, so the messages of one turn add one stored slot each
// (the others are past the window or already stored with that digest):
// every message a receiver keeps anything of is kept whole, which is the
// most memory per entry an attacker can make a receiver's bounded
// equivocation index hold.
func (s *Session) voteFlood(view, committed uint64) crypto.Envelope {
	j := s.atk.seq
	v := view + attackViewFirst + j%attackViews
	back := (j / attackViews) % (attackAhead + attackBelow)
	first := max(committed+attackAhead, back+1) - back
	t := wire.TypeConfirm
	if j%2 == 1 {
		t = wire.TypeVerify
	}
	s.atk.buf = encodeVote(s.atk.buf[:0], v, first, attackPairs, func(slot uint64) crypto.Digest { return forgedDigest(v, slot, 0xF1) })
	return s.nodeSigner.Sign(t, append([]byte(nil), s.atk.buf...))
}

// evidenceBait makes the next evidence-bait message. A round is one fat
// Verify naming baitPairs slots from attackBelow under the committed
// slot, then one one-pair Verify for each of the first attackAhead +
// attackBelow of them with another digest: each conflicts with the fat
// one at another slot, so each proves vote-equivocation again. Every round
// is in a new future view (never one this seat leads: the kind stays
// vote-equivocation), so its (view, slot)s are new to every receiver.
func (s *Session) evidenceBait(view, committed uint64) crypto.Envelope {
	const round = 1 + attackAhead + attackBelow
	r, k := s.atk.seq/round, s.atk.seq%round
	if k == 0 {
		v := view + attackViewFirst + r%attackViews
		if v%uint64(s.n) == uint64(s.seat) {
			v++ // never a view this seat leads
		}
		s.atk.baitView, s.atk.baitFirst = v, max(committed, attackBelow)+1-attackBelow
		s.atk.buf = encodeVote(s.atk.buf[:0], v, s.atk.baitFirst, baitPairs, func(slot uint64) crypto.Digest { return forgedDigest(v, slot, 0xA1) })
	} else {
		v := s.atk.baitView
		s.atk.buf = encodeVote(s.atk.buf[:0], v, s.atk.baitFirst+k-1, 1, func(slot uint64) crypto.Digest { return forgedDigest(v, slot, 0xB2) })
	}
	return s.nodeSigner.Sign(wire.TypeVerify, append([]byte(nil), s.atk.buf...))
}

// Stream-flood: how many stalled streams the cheater tries to keep open
// to every other peer on each protocol (receivers admit 4 message streams
// and 2 sync streams per peer and reset the rest on arrival), and how
// often it tops them up.
const (
	streamFloodPerPeer = 16
	streamFloodEvery   = 100 * time.Millisecond
)

// streamFloodHook starts the stream-flood goroutine the first time the
// clock finds this peer playing it (mu held).
func (s *Session) streamFloodHook(ctx context.Context) {
	if s.cheat.streamFlood || !s.cheating(CheatStreamFlood, s.clock) {
		return
	}
	s.cheat.streamFlood = true
	s.wg.Add(1)
	go s.runStreamFlood(ctx)
}

// runStreamFlood keeps up to streamFloodPerPeer stalled streams
// (netp2p.Host.HoldStalledStream) per protocol open to every other peer
// while the cheat is on, re-opening those the receiver resets, until the
// session ends. Turning the cheat off closes them.
func (s *Session) runStreamFlood(ctx context.Context) {
	defer s.wg.Done()
	type key struct {
		seat int
		sync bool
	}
	ended := make(chan key, 2*s.n*streamFloodPerPeer)
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
		s.mu.Lock()
		on := s.cheating(CheatStreamFlood, s.clock)
		s.mu.Unlock()
		if !on {
			stop()
			sctx = nil
			continue
		}
		if sctx == nil {
			c, cancel := context.WithCancel(ctx)
			sctx, stop = c, cancel
		}
		for seat := 0; seat < s.n; seat++ {
			for _, sync := range []bool{false, true} {
				k := key{seat, sync}
				for seat != s.seat && open[k] < streamFloodPerPeer && sctx.Err() == nil {
					done, err := s.host.HoldStalledStream(sctx, seat, sync)
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
	*netp2p.Host
	s *Session
}

// HandleSync installs fn behind the bad-sync hook.
func (t syncTransport) HandleSync(fn func(from int, req []byte) ([]byte, error)) {
	if fn == nil {
		t.Host.HandleSync(nil)
		return
	}
	t.Host.HandleSync(func(from int, req []byte) ([]byte, error) {
		if resp, ok := t.s.badSync(req); ok {
			return resp, nil
		}
		return fn(from, req)
	})
}

// syncResponseLimit is the largest catch-up answer this session accepts
// (netp2p.Config.MaxSyncResponse); bad-sync sizes its forged answers to
// it. A SyncState larger than the wire's message limit cannot be decoded
// at all (wire.NewReader refuses it), and an honest answer
// (bft.Node.SyncResponse) is built to fit under it, so nothing larger is
// worth receiving. netp2p's default, 16 MiB, let one bad responder make
// every request cost its asker a 16 MiB download and buffer (measured
// with bad-sync: +31 MiB of live heap at peak on each honest peer).
const syncResponseLimit = wire.MaxMessageSize

// badSync is the bad-sync cheat's answer to a sync request for the slots
// after req's: a SyncState that decodes, so the requester gets as far as
// checking it (bft.Node.ApplySync), as large as the requester accepts, and
// forged: entries from the next slot the requester needs, with values of
// junk certified by Confirms of which only this seat's is really signed.
// ok=false when this peer does not play bad-sync (the request is then
// answered honestly). It runs on the stream's goroutine.
func (s *Session) badSync(req []byte) ([]byte, bool) {
	after, n := binary.Uvarint(req)
	if n <= 0 {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.cheating(CheatBadSync, s.clock) {
		return nil, false
	}
	// Entries of junk filling the requester's limit (less room for the
	// rest), each value no larger than the requester decodes.
	budget := syncResponseLimit - 64<<10
	entries := (budget + wire.MaxMessageSize - 1025) / (wire.MaxMessageSize - 1024)
	if s.cheat.syncPad == nil {
		s.cheat.syncPad = make([]byte, budget/entries)
		for i := range s.cheat.syncPad {
			s.cheat.syncPad[i] = byte(i * 131)
		}
		s.cheat.syncPadDigest = crypto.Sum(s.cheat.syncPad)
	}
	view, slot := s.status.View, after+1
	body := encodeVote(nil, view, slot, 1, func(uint64) crypto.Digest { return s.cheat.syncPadDigest })
	var confirms []crypto.Envelope
	for seat := 0; len(confirms) < s.n; seat++ {
		if seat == s.seat {
			confirms = append(confirms, s.signer.Sign(wire.TypeConfirm, body))
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
		st.Entries = append(st.Entries, bft.SyncEntry{Slot: slot + uint64(i), View: view, Value: s.cheat.syncPad, Cert: cert})
	}
	return bft.EncodeSyncState(st), true
}

// badSyncLure is bad-sync's claim to be ahead (mu held): every
// badSyncLureEvery, a Confirm signed by this seat naming one slot
// badSyncLureAhead past its committed slot, beyond every honest node's
// window, so that they take it for a peer they must catch up from and ask
// it (bft's checkBehind) again and again.
func (s *Session) badSyncLure(now time.Time) []outMsg {
	if !s.cheating(CheatBadSync, s.clock) || now.Sub(s.cheat.lureAt) < badSyncLureEvery {
		return nil
	}
	s.cheat.lureAt = now
	slot := s.status.Committed + badSyncLureAhead
	body := encodeVote(nil, s.status.View, slot, 1, func(slot uint64) crypto.Digest { return forgedDigest(s.status.View, slot, 0x5C) })
	return []outMsg{{env: s.signer.Sign(wire.TypeConfirm, body)}}
}

const (
	badSyncLureEvery = 500 * time.Millisecond
	badSyncLureAhead = 4 * attackAhead
)
