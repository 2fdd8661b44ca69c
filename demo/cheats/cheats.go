// Package cheats describes the cheats a demo bot can play (the session's
// internal/adversary kinds, without sealed inputs) and what an honest peer
// gets to see of each: a proof-class verdict, agreed through the log and
// flagged on every honest peer, or a local observation, which only the
// peers that saw it report and which flags nobody. It imports only the
// standard library, so paxsync-demo's flag checking can use it before
// Ebiten's package init (see cmd/paxsync-demo/internal/preflight).
package cheats

// Info is one cheat kind.
type Info struct {
	Kind string // the adversary.Kind, e.g. "forge-input"
	// Does says what the cheater does.
	Does string
	// Caught is what honest peers get: the verdict or observation kind.
	Caught string
	// Proof is true for a proof-class verdict (CHEATER flag on every honest
	// peer, the cheater's later inputs ignored), false for a local
	// observation (a dim note, no flag).
	Proof bool
	// LeaderOnly cheats act only while their player leads the consensus
	// view; as a follower they do nothing.
	LeaderOnly bool
}

// All lists the kinds in the order --help shows them.
var All = []Info{
	{Kind: "invalid-move", Does: "speed hack: thrust beyond the rules", Caught: "invalid-move", Proof: true},
	{Kind: "forge-input", Does: "signs an input for another seat", Caught: "forged-input", Proof: true},
	{Kind: "equivocate-input", Does: "signs two different inputs per tick", Caught: "input-equivocation", Proof: true},
	{Kind: "state-hash-lie", Does: "signs a wrong state hash at checkpoints", Caught: "state-divergence", Proof: true},
	{Kind: "replay-input", Does: "re-broadcasts old signed inputs", Caught: "replayed-message", Proof: false},
	{Kind: "garbage", Does: "sends undecodable bytes", Caught: "malformed-message", Proof: false},
	{Kind: "flood", Does: "sends 100× the normal message rate", Caught: "flooding", Proof: false},
	{Kind: "silent-leader", Does: "stops proposing while it leads", Caught: "unresponsive", Proof: false, LeaderOnly: true},
	{Kind: "tamper-relay", Does: "relays others' inputs with a byte altered", Caught: "bad-signature", Proof: false},
	{Kind: "equivocate-proposal", Does: "as leader, sends two conflicting proposals", Caught: "proposal-equivocation", Proof: true, LeaderOnly: true},
	{Kind: "double-vote", Does: "sends two conflicting votes", Caught: "vote-equivocation", Proof: true},
}

// Kinds returns the kind names of All.
func Kinds() []string {
	out := make([]string, len(All))
	for i, c := range All {
		out[i] = c.Kind
	}
	return out
}

// Lookup returns kind's Info.
func Lookup(kind string) (Info, bool) {
	for _, c := range All {
		if c.Kind == kind {
			return c, true
		}
	}
	return Info{}, false
}

// LeaderOnly reports whether kind acts only while its player leads.
func LeaderOnly(kind string) bool {
	c, _ := Lookup(kind)
	return c.LeaderOnly
}
