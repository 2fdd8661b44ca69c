package adversary

import (
	"encoding/binary"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/transport"
	"github.com/paxsync/paxsync/wire"
)

// The resource attacks ("memory and bandwidth a roster peer can take"):
// vote-flood and evidence-bait add messages in outbound (the runtime's
// Outbound hook, signed with the peer's own key), stream-flood runs its own
// goroutine (Start), and bad-sync answers catch-up requests through the
// transport it wraps (syncTransport).

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
// (transport.SignerBudget), less six per tick of room for its own honest
// traffic (about four per tick), so the flood itself is never cut on
// arrival.
func attackRate(cfg paxsync.Config) float64 {
	return transport.SignerBudget(cfg.TickRate, cfg.Unpaced) - float64(6*cfg.TickRate)
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

// outbound is the runtime's Outbound hook: every consensus message this
// node sends passes through it, after the WAL write and before sending.
//
// equivocate-proposal: a proposal (own Verify naming slots, in a view this
// seat leads) goes out as usual, and a conflicting version for the same
// view and slots goes directly to every other seat, so every honest peer
// holds both (honest acceptors also relay each proposal once).
// double-vote: every own Verify or Confirm that is not a proposal is
// followed by a conflicting version sent the same way.
// vote-flood and evidence-bait: every message is followed by the attack
// messages due by then (attackMessages), paced to the rate budget.
func (p *Player) outbound(m bft.Message) []bft.Message {
	out := []bft.Message{m}
	if !p.plays(EquivocateProposal, DoubleVote, VoteFlood, EvidenceBait) {
		return out
	}
	out = append(out, p.attackMessages(time.Now())...)
	if m.Env.Type != wire.TypeVerify && m.Env.Type != wire.TypeConfirm {
		return out
	}
	prop := p.playing(EquivocateProposal, p.clock()) != nil
	vote := p.playing(DoubleVote, p.clock()) != nil
	isProp := isProposal(m.Env, p.n)
	if !(prop && isProp) && !(vote && !isProp) {
		return out
	}
	alt, ok := conflicting(m.Env, p.signer)
	if !ok {
		return out
	}
	if m.To != bft.Broadcast || !isProp {
		return append(out, bft.Message{To: m.To, Env: alt})
	}
	for seat := 0; seat < p.n; seat++ {
		if seat != p.seat {
			out = append(out, bft.Message{To: seat, Env: alt})
		}
	}
	return out
}

// clock is the local clock tick as of the last beat.
func (p *Player) clock() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.clockTick
}

// attackMessages is outbound's part for vote-flood and evidence-bait: the
// extra signed messages due now, none if this peer plays neither.
func (p *Player) attackMessages(now time.Time) []bft.Message {
	clock := p.clock()
	flood := p.playing(VoteFlood, clock) != nil
	bait := p.playing(EvidenceBait, clock) != nil
	if !flood && !bait {
		p.atk.last = time.Time{}
		return nil
	}
	p.mu.Lock()
	view, committed := p.status.View, p.status.Committed
	p.mu.Unlock()
	n := p.atk.due(now, attackRate(p.cfg))
	out := make([]bft.Message, 0, n)
	for i := 0; i < n; i++ {
		var env crypto.Envelope
		if flood {
			env = p.voteFlood(view, committed)
		} else {
			env = p.evidenceBait(view, committed)
		}
		out = append(out, bft.Message{To: bft.Broadcast, Env: env})
		p.atk.seq++
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
func (p *Player) voteFlood(view, committed uint64) crypto.Envelope {
	j := p.atk.seq
	v := view + attackViewFirst + j%attackViews
	back := (j / attackViews) % (attackAhead + attackBelow)
	first := max(committed+attackAhead, back+1) - back
	t := wire.TypeConfirm
	if j%2 == 1 {
		t = wire.TypeVerify
	}
	p.atk.buf = encodeVote(p.atk.buf[:0], v, first, attackPairs, func(slot uint64) crypto.Digest { return forgedDigest(v, slot, 0xF1) })
	return p.signer.Sign(t, append([]byte(nil), p.atk.buf...))
}

// evidenceBait makes the next evidence-bait message. A round is one fat
// Verify naming baitPairs slots from attackBelow under the committed
// slot, then one one-pair Verify for each of the first attackAhead +
// attackBelow of them with another digest: each conflicts with the fat
// one at another slot, so each proves vote-equivocation again. Every round
// is in a new future view (never one this seat leads: the kind stays
// vote-equivocation), so its (view, slot)s are new to every receiver.
func (p *Player) evidenceBait(view, committed uint64) crypto.Envelope {
	const round = 1 + attackAhead + attackBelow
	r, k := p.atk.seq/round, p.atk.seq%round
	if k == 0 {
		v := view + attackViewFirst + r%attackViews
		if v%uint64(p.n) == uint64(p.seat) {
			v++ // never a view this seat leads
		}
		p.atk.baitView, p.atk.baitFirst = v, max(committed, attackBelow)+1-attackBelow
		p.atk.buf = encodeVote(p.atk.buf[:0], v, p.atk.baitFirst, baitPairs, func(slot uint64) crypto.Digest { return forgedDigest(v, slot, 0xA1) })
	} else {
		v := p.atk.baitView
		p.atk.buf = encodeVote(p.atk.buf[:0], v, p.atk.baitFirst+k-1, 1, func(slot uint64) crypto.Digest { return forgedDigest(v, slot, 0xB2) })
	}
	return p.signer.Sign(wire.TypeVerify, append([]byte(nil), p.atk.buf...))
}

// vote is a Verify or Confirm body as the adversary reads it: view |
// count | (slot, digest)* (bft's encoding; encodeVote writes it).
type vote struct {
	view  uint64
	slots []uint64
	dgst  []crypto.Digest
}

func readVote(body []byte) (vote, bool) {
	r := wire.NewReader(body)
	var v vote
	v.view = r.Uvarint("view")
	n := r.Uvarint("count")
	for i := uint64(0); i < n && r.Err() == nil; i++ {
		v.slots = append(v.slots, r.Uvarint("slot"))
		v.dgst = append(v.dgst, r.Bytes32("digest"))
	}
	return v, r.Done() == nil && len(v.slots) > 0
}

// isProposal reports whether env is a leader's proposal: a Verify naming
// at least one slot, signed by the leader of its view among n seats.
func isProposal(env crypto.Envelope, n int) bool {
	if env.Type != wire.TypeVerify || n <= 0 {
		return false
	}
	v, ok := readVote(env.Body)
	return ok && uint64(env.Sender) == v.view%uint64(n)
}

// conflicting re-signs the Verify or Confirm env (this peer's own) with
// the first slot's digest inverted: the same view and slots, another
// value, so the pair proves equivocation.
func conflicting(env crypto.Envelope, s *crypto.Signer) (crypto.Envelope, bool) {
	if env.Type != wire.TypeVerify && env.Type != wire.TypeConfirm {
		return crypto.Envelope{}, false
	}
	v, ok := readVote(env.Body)
	if !ok {
		return crypto.Envelope{}, false
	}
	w := wire.NewWriter(nil)
	w.Uvarint(v.view)
	w.Uvarint(uint64(len(v.slots)))
	for i, slot := range v.slots {
		d := v.dgst[i]
		if i == 0 {
			for j := range d {
				d[j] ^= 0xFF
			}
		}
		w.Uvarint(slot)
		w.Bytes32(d)
	}
	return s.Sign(env.Type, w.Bytes()), true
}
