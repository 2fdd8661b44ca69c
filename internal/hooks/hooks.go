// Package hooks is how an adversary plugs into a session without any
// cheat in the public API: the paxsync package registers JoinWith, which
// joins a match like paxsync.Join with a Set installed, and only packages
// inside this module (internal/adversary: the match runner, the demo's
// cheat keys, tests) can reach it. Every hook is nil on an honest peer.
package hooks

import (
	"context"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/internal/lockstep"
	"github.com/paxsync/paxsync/transport"
)

// Set is one session's hooks.
type Set struct {
	// Bind is called once, before anything runs, with who the session is.
	Bind func(b Binding)
	// Core are the lockstep core's hooks (inputs, hashes, reveals).
	Core *lockstep.Hooks
	// Outbound rewrites every consensus message the node sends, after the
	// WAL write and before sending (equivocate-proposal, double-vote,
	// vote-flood, evidence-bait). On the runtime goroutine.
	Outbound func(m bft.Message) []bft.Message
	// Transport wraps the session's transport (bad-sync answers catch-up
	// requests through it).
	Transport func(t transport.Transport) transport.Transport
	// Spectate wraps what the session's spectator service answers with
	// (forge-log serves spectators an altered log). On the service's
	// stream goroutines.
	Spectate func(serve func(ctx context.Context, req []byte) ([]byte, error)) func(ctx context.Context, req []byte) ([]byte, error)
	// Start runs the adversary's own goroutines (stream-flood); it must
	// return once ctx ends.
	Start func(ctx context.Context, t transport.Transport)
}

// Binding is the session's identity, for signing as it.
type Binding struct {
	Seat, N int
	Match   crypto.MatchID
}

// JoinWith is set by package paxsync (its init): it joins with cfg (a
// paxsync.Config) and the hooks, and returns the *paxsync.Session.
var JoinWith func(ctx context.Context, cfg any, set *Set) (any, error)
