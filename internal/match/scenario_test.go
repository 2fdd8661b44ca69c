package match

import (
	"strings"
	"testing"
)

// TestParseRefusesWhatCannotRun: a scenario that no peer could start is
// refused before any process is spawned, naming the field.
func TestParseRefusesWhatCannotRun(t *testing.T) {
	ok := `{"name":"x","peers":4,"tick_hz":60,"ticks":600,"seed":1,"expect":{"honest_agree":true}}`
	if _, err := Parse([]byte(ok)); err != nil {
		t.Fatalf("a valid scenario: %v", err)
	}
	for _, c := range []struct{ json, want string }{
		// The arena seats at most 8: a 9-peer match would fail at every
		// peer's start, after the runner had spawned them all.
		{strings.Replace(ok, `"peers":4`, `"peers":9`, 1), "peers"},
		{strings.Replace(ok, `"peers":4`, `"peers":3`, 1), "peers"},
		{strings.Replace(ok, `"tick_hz":60`, `"tick_hz":0`, 1), "tick_hz"},
		// forge-log only forges for spectators; a join tick needs them
		// and must come before the end; spectators_agree needs some.
		{strings.Replace(ok, `"expect"`, `"cheats":[{"peer":1,"kind":"forge-log"}],"expect"`, 1), "forge-log"},
		{strings.Replace(ok, `"expect"`, `"spectators_join_tick":60,"expect"`, 1), "spectators_join_tick"},
		{strings.Replace(ok, `"expect"`, `"spectators":2,"spectators_join_tick":600,"expect"`, 1), "spectators_join_tick"},
		{strings.Replace(ok, `"expect"`, `"spectators":9,"expect"`, 1), "spectators"},
		{strings.Replace(ok, `"expect"`, `"relay_spectators":1,"expect"`, 1), "relay_spectators"},
		{strings.Replace(ok, `"expect"`, `"spectators":1,"relay_spectators":9,"expect"`, 1), "relay_spectators"},
		{strings.Replace(ok, `"honest_agree":true`, `"spectators_agree":true`, 1), "spectators_agree"},
	} {
		_, err := Parse([]byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one about %q", c.json, err, c.want)
		}
	}
}

// TestFlaggedAlternatives: an expected kind "a|b" parses only if both are
// kinds, and a peer meets it with either one about the target, not with a
// report about another peer or of a third kind.
func TestFlaggedAlternatives(t *testing.T) {
	base := `{"name":"x","peers":4,"tick_hz":60,"ticks":600,"seed":1,"cheats":[{"peer":0,"kind":"slow-leader","from_tick":60}],"expect":{"flagged":{"0":["KINDS"]}}}`
	if _, err := Parse([]byte(strings.Replace(base, "KINDS", "slow-leader|unresponsive", 1))); err != nil {
		t.Fatalf("alternatives of two kinds: %v", err)
	}
	if _, err := Parse([]byte(strings.Replace(base, "KINDS", "slow-leader|bogus", 1))); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("an unknown alternative must be refused, got %v", err)
	}
	pr := &PeerResult{Observations: []ObsInfo{{Kind: "unresponsive", About: 0}, {Kind: "censorship", About: 1}}}
	if !reached(pr, "slow-leader|unresponsive", 0) {
		t.Error("unresponsive about peer 0 must meet slow-leader|unresponsive")
	}
	if reached(pr, "slow-leader", 0) || reached(pr, "slow-leader|unresponsive", 1) || reached(pr, "slow-leader|censorship", 0) {
		t.Error("an alternative was met by a report of another kind or about another peer")
	}
}
