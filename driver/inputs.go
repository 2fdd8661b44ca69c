package driver

import "sync"

// InputBox holds the local player's submitted inputs until the core
// samples them (lockstep.Inputs). It is the one piece of state the game's
// goroutine and the runtime goroutine share, behind a mutex of its own
// that is held for a map operation only: SubmitInput never waits for
// consensus, and the runtime never waits for the game.
type InputBox struct {
	mu      sync.Mutex
	next    uint64 // first tick that can still take an input
	pending map[uint64][]byte
}

// NewInputBox returns an empty box open from tick 0.
func NewInputBox() *InputBox { return &InputBox{pending: map[uint64][]byte{}} }

// Put stores data (copied) for tick, or for the next open tick when at is
// false. It returns the next open tick and r < 0 if tick is no longer open,
// r > 0 if it is more than ahead ticks past the next open one, 0 if stored.
// A second Put for a tick replaces the first (the latest input wins).
func (b *InputBox) Put(tick uint64, at bool, data []byte, ahead uint64) (next uint64, r int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !at {
		tick = b.next
	}
	switch {
	case tick < b.next:
		return b.next, -1
	case tick > b.next+ahead:
		return b.next, 1
	}
	b.pending[tick] = append([]byte(nil), data...)
	return b.next, 0
}

// Next is the first tick that can still take an input.
func (b *InputBox) Next() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.next
}

// Take removes and returns the input for tick.
func (b *InputBox) Take(tick uint64) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.pending[tick]
	delete(b.pending, tick)
	return d, ok
}

// Open closes every tick before next: their inputs are dropped.
func (b *InputBox) Open(next uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if next <= b.next {
		return
	}
	b.next = next
	for t := range b.pending {
		if t < next {
			delete(b.pending, t)
		}
	}
}
