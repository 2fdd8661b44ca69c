package bft

import "sort"

// Deferred judgement (ErrNotYet): an acceptor's application may be unable
// to judge a proposal before it has applied the slots below it. validValue
// then records the slot in nd.deferred instead of a verdict, and the node
// asks again here after every Advance and Tick.

// retryDeferred asks again about the proposals whose judgement the
// application deferred (ErrNotYet), lowest slot first; a slot decided or
// forgotten meanwhile needs no vote.
func (nd *Node) retryDeferred() {
	if len(nd.deferred) == 0 {
		return
	}
	slots := make([]uint64, 0, len(nd.deferred))
	for s := range nd.deferred {
		slots = append(slots, s)
	}
	sort.Slice(slots, func(i, j int) bool { return slots[i] < slots[j] })
	for _, s := range slots {
		delete(nd.deferred, s)
		if ss := nd.slots[s]; ss != nil && !ss.decided {
			nd.tryVerify(s, ss)
		}
	}
}
