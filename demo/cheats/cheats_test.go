package cheats

import (
	"slices"
	"testing"

	"github.com/paxsync/paxsync/internal/adversary"
)

// TestKindsAreTheSessions: every kind is one the session plays, and every
// session cheat that needs no sealed inputs is offered.
func TestKindsAreTheSessions(t *testing.T) {
	session := []adversary.Kind{
		adversary.InvalidMove, adversary.ForgeInput, adversary.EquivocateInput,
		adversary.StateHashLie, adversary.ReplayInput, adversary.Garbage, adversary.Flood,
		adversary.SilentLeader, adversary.EquivocateProposal, adversary.DoubleVote,
		adversary.TamperRelay,
	}
	for _, k := range session {
		if !slices.Contains(adversary.Kinds(), k) {
			t.Errorf("%s is not an adversary kind", k)
		}
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
