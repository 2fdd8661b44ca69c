package paxsync

import (
	"bytes"
	"sort"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

// Limits of the pool, so a flooding or forging peer cannot make it grow
// without bound.
const (
	poolAhead       = 256 // inputs for ticks further ahead than this are dropped
	poolReplayAge   = 256 // an input this far behind the decided tick is a replay
	maxPendingEvid  = 256
	batchTickLimit  = 16 // ticks per proposed batch (bounded by bft's value size)
	maxEvidPerBatch = 16
)

type stKey struct {
	tick uint64
	seat uint16
}

type evKey struct {
	kind gamestate.VerdictKind
	seat int
	tick uint64
}

// intake is what adding one game message to the pool found.
type intake int

const (
	intakeOK       intake = iota
	intakeDup             // the very same envelope again: a replayed message
	intakeOld             // far behind the decided log: a replayed message
	intakeEvidence        // proof of a cheat queued for the log
	intakeDropped         // undecodable, misbound or out of range
)

// pool collects the signed game messages a peer has seen, so that whoever
// leads can build the next batch: one input per (seat, tick) (the first
// validly signed one), the state hashes to order, and game-level evidence
// found on the way (input equivocation, forged inputs). Every peer keeps
// one, which is what lets a new leader continue after a view change. It is
// not safe for concurrent use; the session guards it with its mutex.
type pool struct {
	v        *crypto.Verifier
	n        int
	interval uint64
	inputs   map[stKey]crypto.Envelope
	seen     map[crypto.Digest]uint64 // envelope ID → tick, for replay detection
	hashes   map[stKey]crypto.Envelope
	evidence []gamestate.Evidence
	evKeys   map[evKey]bool // queued or already ordered
}

func newPool(v *crypto.Verifier, hashInterval uint64) *pool {
	return &pool{v: v, n: v.Size(), interval: hashInterval, inputs: map[stKey]crypto.Envelope{},
		seen: map[crypto.Digest]uint64{}, hashes: map[stKey]crypto.Envelope{}, evKeys: map[evKey]bool{}}
}

// add takes one signed game message; next is the first undecided tick.
func (p *pool) add(env crypto.Envelope, next uint64) intake {
	if p.v.Verify(&env) != nil {
		return intakeDropped
	}
	switch env.Type {
	case wire.TypeInput:
		return p.addInput(env, next)
	case wire.TypeStateHash:
		m, err := gamestate.DecodeStateHash(env.Body)
		if err != nil || m.Seat != env.Sender || int(m.Seat) >= p.n || m.Tick%p.interval != 0 || m.Tick+poolReplayAge < next {
			return intakeDropped
		}
		k := stKey{m.Tick, m.Seat}
		if _, ok := p.hashes[k]; !ok {
			p.hashes[k] = env
		}
		return intakeOK
	}
	return intakeDropped
}

func (p *pool) addInput(env crypto.Envelope, next uint64) intake {
	m, err := gamestate.DecodeInput(env.Body)
	if err != nil || int(m.Seat) >= p.n || m.Tick > next+poolAhead {
		return intakeDropped
	}
	id := env.ID()
	if _, dup := p.seen[id]; dup {
		return intakeDup
	}
	if m.Tick+poolReplayAge < next {
		return intakeOld
	}
	p.seen[id] = m.Tick
	if m.Seat != env.Sender {
		// Signed by one seat for another: the victim keeps its own input.
		if p.queue(gamestate.Evidence{Kind: gamestate.ForgedInput, Envelopes: []crypto.Envelope{env}}, int(env.Sender), m.Tick) {
			return intakeEvidence
		}
		return intakeDropped
	}
	k := stKey{m.Tick, m.Seat}
	if old, ok := p.inputs[k]; ok {
		if !bytes.Equal(old.Body, env.Body) &&
			p.queue(gamestate.Evidence{Kind: gamestate.InputEquivocation, Envelopes: []crypto.Envelope{old, env}}, int(m.Seat), m.Tick) {
			return intakeEvidence
		}
		return intakeOK
	}
	if m.Tick < next {
		return intakeOK // too late to matter; remembered only for replay detection
	}
	p.inputs[k] = env
	return intakeOK
}

// queue adds evidence once per (kind, seat, tick).
func (p *pool) queue(ev gamestate.Evidence, seat int, tick uint64) bool {
	k := evKey{ev.Kind, seat, tick}
	if p.evKeys[k] || len(p.evidence) >= maxPendingEvid {
		return false
	}
	p.evKeys[k] = true
	p.evidence = append(p.evidence, ev)
	return true
}

// completeUpto returns the first tick in [from, from+limit) for which some
// seat's input is missing (from+limit if none is).
func (p *pool) completeUpto(from, limit uint64) uint64 {
	for t := from; t < from+limit; t++ {
		for s := 0; s < p.n; s++ {
			if _, ok := p.inputs[stKey{t, uint16(s)}]; !ok {
				return t
			}
		}
	}
	return from + limit
}

// build makes the batch for ticks [first, upto): the collected input of
// each seat or nil (the explicit NoInput), every pending state hash for a
// checkpoint before upto, and pending evidence. Items are sorted so the
// same pool always gives the same batch.
func (p *pool) build(first, upto uint64) *gamestate.Batch {
	if upto > first+batchTickLimit {
		upto = first + batchTickLimit
	}
	b := &gamestate.Batch{First: first}
	for t := first; t < upto; t++ {
		ti := gamestate.TickInputs{Seats: make([]*crypto.Envelope, p.n)}
		for s := 0; s < p.n; s++ {
			if env, ok := p.inputs[stKey{t, uint16(s)}]; ok {
				e := env
				ti.Seats[s] = &e
			}
		}
		b.Ticks = append(b.Ticks, ti)
	}
	var hk []stKey
	for k := range p.hashes {
		if k.tick < upto {
			hk = append(hk, k)
		}
	}
	sort.Slice(hk, func(i, j int) bool {
		if hk[i].tick != hk[j].tick {
			return hk[i].tick < hk[j].tick
		}
		return hk[i].seat < hk[j].seat
	})
	for _, k := range hk {
		if len(b.Hashes) == gamestate.MaxBatchHashes {
			break
		}
		b.Hashes = append(b.Hashes, p.hashes[k])
	}
	b.Evidence = append(b.Evidence, p.evidence[:min(len(p.evidence), maxEvidPerBatch)]...)
	return b
}

// decided removes what a decided batch ordered and forgets inputs for
// ticks before next.
func (p *pool) decided(b *gamestate.Batch, next uint64) {
	for i := range b.Hashes {
		if m, err := gamestate.DecodeStateHash(b.Hashes[i].Body); err == nil {
			delete(p.hashes, stKey{m.Tick, m.Seat})
		}
	}
	if len(b.Evidence) > 0 {
		done := map[crypto.Digest]bool{}
		for _, ev := range b.Evidence {
			done[evidenceID(ev)] = true
		}
		keep := p.evidence[:0]
		for _, ev := range p.evidence {
			if !done[evidenceID(ev)] {
				keep = append(keep, ev)
			}
		}
		p.evidence = keep
	}
	for k := range p.inputs {
		if k.tick < next {
			delete(p.inputs, k)
		}
	}
	for k := range p.hashes {
		if k.tick+poolReplayAge < next {
			delete(p.hashes, k)
		}
	}
	for id, t := range p.seen {
		if t+poolReplayAge < next {
			delete(p.seen, id)
		}
	}
}

func evidenceID(ev gamestate.Evidence) crypto.Digest {
	w := wire.NewWriter(nil)
	w.U8(uint8(ev.Kind))
	for i := range ev.Envelopes {
		w.Blob(ev.Envelopes[i].Encode(nil))
	}
	return crypto.Sum(w.Bytes())
}
