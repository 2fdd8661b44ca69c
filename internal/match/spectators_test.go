package match

import "testing"

func TestJoinNoteCountsRelayedSpectators(t *testing.T) {
	direct, relayed := &spectatorRun{}, &spectatorRun{viaRelays: true}
	cases := []struct {
		runs []*spectatorRun
		want string
	}{
		{[]*spectatorRun{direct, direct}, "2 spectators joined at tick 120"},
		{[]*spectatorRun{direct, relayed, relayed}, "3 spectators joined at tick 120 (2 through the others' relays)"},
		{nil, "0 spectators joined at tick 120"},
	}
	for _, c := range cases {
		if got := joinNote(c.runs, 120); got != c.want {
			t.Errorf("joinNote = %q, want %q", got, c.want)
		}
	}
}
