package bft

import (
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// Mode selects the fault model the protocol is run under. It exists so the
// cost of Byzantine tolerance can be measured against the same code with
// the Byzantine-only machinery removed: ModeCrash is a benchmark baseline,
// ModeByzantine (the zero value) is the product.
type Mode uint8

const (
	// ModeByzantine tolerates F Byzantine seats among N ≥ 3F+1: every seat
	// is an acceptor and a learner, quorums are ⌈(N+F+1)/2⌉, and a proposal
	// is decided only after a Verify broadcast among the acceptors (BPCon).
	// It is the default and the only mode fit for untrusted players.
	ModeByzantine Mode = iota
	// ModeCrash is crash-tolerant Multi-Paxos over the same messages and
	// signatures: seats 0..2F are the acceptors (the only possible leaders),
	// the other seats are learners, quorums are F+1 acceptors, and an
	// acceptor answers the leader's proposal with a Confirm at once (no
	// Verify broadcast). It survives F crashed acceptors but no liar; it
	// exists only so benchmarks can show what Byzantine tolerance costs.
	// Every seat of a cluster must run the same mode (it is not on the wire).
	ModeCrash
)

// String names the mode for benchmark and log output.
func (m Mode) String() string {
	switch m {
	case ModeByzantine:
		return "byzantine"
	case ModeCrash:
		return "crash"
	}
	return "unknown"
}

// Acceptors is how many seats vote: all N in ModeByzantine, 2F+1 (seats
// 0..2F) in ModeCrash. Drivers use it to know which seats can lead.
func (c *Config) Acceptors() int {
	if c.Mode == ModeCrash {
		return 2*c.F + 1
	}
	return c.N
}

func (nd *Node) crashMode() bool { return nd.cfg.Mode == ModeCrash }

// isAcceptor reports whether seat votes (Confirm, ViewChange, Promise,
// Checkpoint). Every seat does in ModeByzantine.
func (nd *Node) isAcceptor(seat uint16) bool { return int(seat) < nd.acc }

// crashVoteAllowed rejects, in ModeCrash, the votes no correct seat sends
// there: a Verify that is not the leader's proposal or heartbeat (the Verify
// broadcast does not exist in this mode) and a Confirm from a learner.
func (nd *Node) crashVoteAllowed(env *crypto.Envelope, fromLeader bool) bool {
	if !nd.crashMode() {
		return true
	}
	if env.Type == wire.TypeVerify {
		return fromLeader
	}
	return nd.isAcceptor(env.Sender)
}

// crashAccept is ModeCrash's tryVerify for a follower: an acceptor that
// holds the leader's signed proposal for (view, s), the proposed value, and
// finds the value valid accepts it at once: it records the proposal as its
// certificate (persisted before the Confirm leaves, so its Promise reports
// it after a crash) and queues a Confirm. The leader goes through the
// ordinary path (its proposal Verify) and accepts in crashLeaderAccepted.
func (nd *Node) crashAccept(s uint64, ss *slotState) {
	if nd.isLeader() || !nd.isAcceptor(nd.seat) {
		return
	}
	if _, ok := nd.ownVotes[ownKey{wire.TypeConfirm, nd.view, s}]; ok {
		return
	}
	prop, ok := nd.eqIdx[eqKey{wire.TypeVerify, nd.view, s, nd.leaderOf(nd.view)}]
	if !ok || prop.digest != ss.propDigest || prop.ref.state != 1 {
		return // the proposal itself has not arrived (a NewView fixed the digest)
	}
	v, ok := ss.values[ss.propDigest]
	if !ok || !nd.validValue(s, ss, ss.propDigest, v) {
		return
	}
	ss.prep = &prepared{view: nd.view, digest: ss.propDigest, value: v, cert: []*envRef{prop.ref}}
	nd.ownVotes[ownKey{wire.TypeConfirm, nd.view, s}] = ss.propDigest
	nd.confirmQ = append(nd.confirmQ, pair{s, ss.propDigest})
}

// crashLeaderAccepted: in ModeCrash the leader accepts its own proposal as
// soon as it is signed (ref), and queues its Confirm in the same Ready.
func (nd *Node) crashLeaderAccepted(p pair, ss *slotState, ref *envRef) {
	if ss.decided {
		return
	}
	if _, ok := nd.ownVotes[ownKey{wire.TypeConfirm, nd.view, p.Slot}]; ok {
		return
	}
	ss.prep = &prepared{view: nd.view, digest: p.Digest, value: ss.values[p.Digest], cert: []*envRef{ref}}
	nd.ownVotes[ownKey{wire.TypeConfirm, nd.view, p.Slot}] = p.Digest
	nd.confirmQ = append(nd.confirmQ, pair{p.Slot, p.Digest})
}

// certNeed is how many distinct valid Verifies must back a Promise's
// prepared item of view v: a quorum in ModeByzantine; in ModeCrash the
// leader of v's signed proposal alone (nobody lies, so it proves what was
// proposed and the promiser's signature vouches that it accepted it).
func (nd *Node) certNeed() int {
	if nd.crashMode() {
		return 1
	}
	return nd.q
}

// certSigner reports whether a Verify from sender may back a prepared item
// of view v.
func (nd *Node) certSigner(sender uint16, v uint64) bool {
	if nd.crashMode() {
		return sender == nd.leaderOf(v)
	}
	return true
}
