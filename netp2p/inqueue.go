package netp2p

import (
	"sync"
)

// inQueue sits between the validators and Inbound. It keeps one FIFO per
// (delivering peer, signer) pair and hands messages to Inbound round-robin
// over the pairs, so a reader that falls behind (a session busy with a
// flood it accepted within the rate limit) makes each signer wait for its
// own backlog, not for everyone's: an honest player's consensus messages
// pass the flooder's queued ones. Ordering within a pair is kept. Measured
// in the flood match (4 peers, one at 6000 messages/s): with one shared
// FIFO the reader's backlog reached ~1000 messages and honest consensus
// messages queued behind the flood long enough for view changes.
type inQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond // signalled when a queue shrinks or the host closes
	q      [][]Inbound
	n      int
	cap    int // per pair
	next   int // round-robin position
	queued int
	closed bool
	wake   chan struct{} // 1-buffered: something was queued
}

func newInQueue(n, perPair int) *inQueue {
	iq := &inQueue{q: make([][]Inbound, n*n), n: n, cap: perPair, wake: make(chan struct{}, 1)}
	iq.cond = sync.NewCond(&iq.mu)
	return iq
}

// push queues in. When its pair's queue is full it waits if block is set
// (a direct stream: back-pressure on that peer only) and otherwise drops it
// and returns false (pubsub's single delivery goroutine must never wait for
// one peer).
func (iq *inQueue) push(in Inbound, block bool) bool {
	k := in.From*iq.n + int(in.Env.Sender)
	iq.mu.Lock()
	for len(iq.q[k]) >= iq.cap && !iq.closed {
		if !block {
			iq.mu.Unlock()
			return false
		}
		iq.cond.Wait()
	}
	if iq.closed {
		iq.mu.Unlock()
		return false
	}
	iq.q[k] = append(iq.q[k], in)
	iq.queued++
	iq.mu.Unlock()
	select {
	case iq.wake <- struct{}{}:
	default:
	}
	return true
}

// pop takes the next message round-robin, or returns false if all queues
// are empty.
func (iq *inQueue) pop() (Inbound, bool) {
	iq.mu.Lock()
	defer iq.mu.Unlock()
	if iq.queued == 0 {
		return Inbound{}, false
	}
	for range iq.q {
		k := iq.next
		iq.next = (iq.next + 1) % len(iq.q)
		if len(iq.q[k]) == 0 {
			continue
		}
		in := iq.q[k][0]
		iq.q[k][0] = Inbound{}
		iq.q[k] = iq.q[k][1:]
		if len(iq.q[k]) == 0 {
			iq.q[k] = nil // let the backing array go
		}
		iq.queued--
		iq.cond.Broadcast()
		return in, true
	}
	return Inbound{}, false
}

func (iq *inQueue) close() {
	iq.mu.Lock()
	iq.closed = true
	iq.cond.Broadcast()
	iq.mu.Unlock()
}

// deliverInbound moves queued messages to Inbound until the host closes.
func (h *Host) deliverInbound() {
	defer h.wg.Done()
	for {
		in, ok := h.inq.pop()
		if !ok {
			select {
			case <-h.inq.wake:
				continue
			case <-h.ctx.Done():
				return
			}
		}
		select {
		case h.inbound <- in:
			h.ctr.countIn(&in.Env)
		case <-h.ctx.Done():
			return
		}
	}
}
