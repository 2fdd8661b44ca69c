package cheats

import (
	"slices"
	"testing"

	"github.com/paxsync/paxsync"
)

// TestKindsAreTheSessions: every kind is one the session plays, and every
// session cheat that needs no sealed inputs is offered.
func TestKindsAreTheSessions(t *testing.T) {
	session := []paxsync.CheatKind{
		paxsync.CheatInvalidMove, paxsync.CheatForgeInput, paxsync.CheatEquivocateInput,
		paxsync.CheatStateHashLie, paxsync.CheatReplayInput, paxsync.CheatGarbage, paxsync.CheatFlood,
		paxsync.CheatSilentLeader, paxsync.CheatEquivocateProposal, paxsync.CheatDoubleVote,
		paxsync.CheatTamperRelay,
	}
	var want []string
	for _, k := range session {
		want = append(want, string(k))
	}
	got := Kinds()
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("kinds %v, session's %v", got, want)
	}
}

func TestLookup(t *testing.T) {
	for _, c := range All {
		got, ok := Lookup(c.Kind)
		if !ok || got != c || c.Does == "" || c.Caught == "" {
			t.Errorf("%s: %+v %v", c.Kind, got, ok)
		}
	}
	if _, ok := Lookup("teleport"); ok {
		t.Error("teleport found")
	}
	for k, want := range map[string]bool{"silent-leader": true, "equivocate-proposal": true, "double-vote": false, "forge-input": false, "nonsense": false} {
		if LeaderOnly(k) != want {
			t.Errorf("LeaderOnly(%s) = %v", k, !want)
		}
	}
}
