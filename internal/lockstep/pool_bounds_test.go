package lockstep

import (
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

// A state hash is kept only within the pool's tick window, like an input:
// one for a checkpoint further than poolAhead past the first undecided
// tick is dropped, so a seat that signs hashes for far-future checkpoints
// grows neither the pool's hashes nor its item index (which every Judge
// and every decided batch walks).
func TestPoolDropsStateHashesBeyondTickWindow(t *testing.T) {
	f := newPoolFixture(t) // checkpoints every 30 ticks
	const next = 60
	hash := func(seat int, tick uint64) crypto.Envelope {
		m := gamestate.StateHash{Seat: uint16(seat), Tick: tick, Hash: crypto.Sum([]byte{byte(tick)})}
		return f.signers[seat].Sign(wire.TypeStateHash, m.Encode())
	}
	edge := uint64(next+poolAhead) / 30 * 30 // the last checkpoint in the window
	if got := f.p.add(hash(1, edge), next); got != intakeOK {
		t.Fatalf("hash for checkpoint %d (window ends at %d): intake %d, want ok", edge, next+poolAhead, got)
	}
	for i := uint64(1); i <= 5000; i++ {
		if got := f.p.add(hash(3, edge+30*i), next); got != intakeDropped {
			t.Fatalf("hash for checkpoint %d past the window: intake %d, want dropped", edge+30*i, got)
		}
	}
	if len(f.p.hashes) != 1 || len(f.p.itemSince) != 1 {
		t.Errorf("after a flood of far-future hashes the pool holds %d hashes, %d item times; want 1, 1",
			len(f.p.hashes), len(f.p.itemSince))
	}
	// The window moves with the log: the same checkpoint is taken once
	// the log is within poolAhead of it.
	far := edge + 30
	if got := f.p.add(hash(3, far), far-poolAhead); got != intakeOK {
		t.Errorf("hash for checkpoint %d with the log at %d: intake %d, want ok", far, far-poolAhead, got)
	}
}

// A Byzantine seat flooding a peer with state hashes for far-future
// checkpoints does not make it hold them, and the honest state-hash check
// still works through the flood: a seat that signs a false hash for a
// checkpoint is convicted (StateDivergence) by every honest engine, and no
// honest seat is.
func TestStateDivergenceDetectedDespiteHashFlood(t *testing.T) {
	h := &lnet{}
	h.run(t, "cluster n=4 delay=1 grace=2 hash=10 epoch")
	h.run(t, "submit tick=0..120 data=a,b,c,d")
	const liar, lieAt = 2, 20
	h.cores[liar].hooks.StateHash = func(tick uint64, d crypto.Digest) crypto.Digest {
		if tick == lieAt {
			return crypto.Sum([]byte("not the state"))
		}
		return d
	}
	victim := h.cores[1]
	const flood = 20_000
	for i := 0; i < flood; i++ {
		m := gamestate.StateHash{Seat: 3, Tick: uint64(100_000+i) * 10, Hash: crypto.Sum([]byte{byte(i)})}
		victim.Receive(h.now, 3, h.signers[3].Sign(wire.TypeStateHash, m.Encode()))
	}
	h.settle()
	if held := len(victim.pool.hashes); held > 0 {
		t.Errorf("%d far-future state hashes held after the flood", held)
	}
	playRounds(t, h, 40)
	if victim.Next() <= lieAt+10 {
		t.Fatalf("the match decided only up to tick %d", victim.Next())
	}
	// At most one hash per (seat, checkpoint) in the window around the log.
	if bound := h.n * ((poolAhead+poolReplayAge)/10 + 1); len(victim.pool.hashes) > bound || len(victim.pool.itemSince) > bound+maxPendingEvid {
		t.Errorf("pool holds %d hashes and %d item times (bound %d)", len(victim.pool.hashes), len(victim.pool.itemSince), bound)
	}
	for i, c := range h.cores {
		convicted := false
		for _, v := range c.Verdicts() {
			switch {
			case v.Kind == gamestate.StateDivergence && v.Offender == liar && v.Tick == lieAt:
				convicted = true
			case v.Offender != liar:
				t.Errorf("core %d: verdict %v against honest seat %d", i, v.Kind, v.Offender)
			}
		}
		if i != liar && !convicted {
			t.Errorf("core %d did not convict seat %d of its false state hash at tick %d", i, liar, lieAt)
		}
	}
}
