package lockstep

// The pool's side of sealed (commit-reveal) inputs: commitments waiting to
// be ordered, reveals checked against the ordered commitment, and this
// peer's own one-time keys until they are revealed (sealed.go has the flow).

import (
	"bytes"
	"sort"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
)

// pendingCommits returns, sorted by (tick, seat), the sealed inputs to
// order in a batch that ends at tick end: those for ticks at or after end
// (and within gamestate.MaxCommitAhead of it) that no decided batch has
// ordered and that this leader has not proposed in this view within
// resend (a proposal lost to a view change or a stall goes out again).
func (p *pool) pendingCommits(end, view uint64, now time.Time, resend time.Duration) []crypto.Envelope {
	var ks []stKey
	for k := range p.commits {
		if k.tick < end || k.tick-end >= gamestate.MaxCommitAhead {
			continue
		}
		if _, ok := p.ordered[k]; ok {
			continue
		}
		if m, ok := p.sent[k]; ok && m.view == view && now.Sub(m.at) < resend {
			continue
		}
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].tick != ks[j].tick {
			return ks[i].tick < ks[j].tick
		}
		return ks[i].seat < ks[j].seat
	})
	ks = ks[:min(len(ks), maxCommitsPerBatch, gamestate.MaxBatchCommits)]
	out := make([]crypto.Envelope, 0, len(ks))
	for _, k := range ks {
		out = append(out, p.commits[k])
	}
	return out
}

// commitsProposed marks commits as proposed in view at now (see
// pendingCommits).
func (p *pool) commitsProposed(commits []crypto.Envelope, view uint64, now time.Time) {
	for i := range commits {
		if seat, tick, ok := gameSeatTick(&commits[i]); ok {
			p.sent[stKey{tick, seat}] = sentMark{view, now}
		}
	}
}

// commitsComplete reports whether the pool holds a sealed input of every
// seat for tick (ordered already or not): once the last one is in, the
// leader orders the pending ones at once.
func (p *pool) commitsComplete(tick uint64) bool {
	for s := 0; s < p.n; s++ {
		if _, ok := p.commits[stKey{tick, uint16(s)}]; !ok && !p.gone(s, tick) {
			return false
		}
	}
	return true
}

// revealsFrom reports whether the pool holds, for tick, the reveal of
// every seat other than except.
func (p *pool) revealsFrom(tick uint64, except int) bool {
	for s := 0; s < p.n; s++ {
		if s == except {
			continue
		}
		if _, ok := p.inputs[stKey{tick, uint16(s)}]; !ok {
			return false
		}
	}
	return true
}

// keepOwn remembers one of this peer's own sealed inputs until its commit
// is ordered.
func (p *pool) keepOwn(tick uint64, o ownSeal) { p.own[tick] = append(p.own[tick], o) }

// takeOwn returns and forgets this peer's sealed input for tick whose
// envelope body is body (the one the log ordered), if it is still held.
func (p *pool) takeOwn(tick uint64, body []byte) (ownSeal, bool) {
	for i, o := range p.own[tick] {
		if bytes.Equal(o.body, body) {
			p.own[tick] = append(p.own[tick][:i], p.own[tick][i+1:]...)
			if len(p.own[tick]) == 0 {
				delete(p.own, tick)
			}
			return o, true
		}
	}
	return ownSeal{}, false
}

// addReveal keeps the first reveal per (seat, tick) as the seat's entry.
// If the log already ordered the seat's sealed input for the tick, a reveal
// that does not open it is queued as reveal-mismatch evidence right away
// (the engine also judges the reveal the leader puts in the tick, so the
// verdict stands even if this evidence is never ordered).
func (p *pool) addReveal(k stKey, env crypto.Envelope, next uint64) intake {
	p.checkReveal(k, env)
	if _, ok := p.inputs[k]; ok || k.tick < next {
		return intakeOK
	}
	p.inputs[k] = env
	return intakeOK
}

// checkReveal queues reveal-mismatch evidence if rv does not open the
// sealed input ordered for k (nothing if none is ordered yet).
func (p *pool) checkReveal(k stKey, rv crypto.Envelope) {
	c, ok := p.ordered[k]
	if !ok {
		return
	}
	ev := gamestate.Evidence{Kind: gamestate.RevealMismatch, Envelopes: []crypto.Envelope{c, rv}}
	if _, _, err := gamestate.CheckEvidence(p.v, ev.Kind, ev.Envelopes); err == nil {
		p.queue(ev, int(k.seat), k.tick)
	}
}
