package bft

import (
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// Conflicting is an adversary primitive for tests and the match runner's
// cheats; honest nodes never call it. Given one of s's own signed Verify or
// Confirm envelopes that names at least one (slot, digest), it returns a
// validly signed envelope of the same type, view and slots whose first
// digest differs (its bits are flipped). The two envelopes together prove
// equivocation: ProposalEquivocation when env is the leader's proposal
// Verify, VoteEquivocation otherwise. It is pure and deterministic apart
// from the signature itself; ok is false for any other envelope (other
// types, another signer, heartbeats, undecodable bodies).
func Conflicting(env crypto.Envelope, s Signer) (crypto.Envelope, bool) {
	if env.Type != wire.TypeVerify && env.Type != wire.TypeConfirm {
		return crypto.Envelope{}, false
	}
	if s == nil || env.Sender != s.Seat() {
		return crypto.Envelope{}, false
	}
	b, err := decodeVote(env.Body)
	if err != nil || len(b.Pairs) == 0 {
		return crypto.Envelope{}, false
	}
	alt := voteBody{View: b.View, Pairs: append([]pair(nil), b.Pairs...)}
	for i := range alt.Pairs[0].Digest {
		alt.Pairs[0].Digest[i] ^= 0xFF
	}
	return s.Sign(env.Type, alt.encode()), true
}

// IsProposal reports whether env is a leader's proposal: a Verify naming at
// least one slot, signed by the leader of its view among n seats. It lets
// an adversarial test tell its proposals from its votes.
func IsProposal(env crypto.Envelope, n int) bool {
	if env.Type != wire.TypeVerify || n <= 0 {
		return false
	}
	b, err := decodeVote(env.Body)
	return err == nil && len(b.Pairs) > 0 && uint64(env.Sender) == b.View%uint64(n)
}
