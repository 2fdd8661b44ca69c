package match

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func scenarioWith(faults string) []byte {
	return []byte(fmt.Sprintf(`{"name":"x","peers":4,"tick_hz":60,"ticks":400,"seed":1,"faults":[%s],
		"expect":{"flagged":{},"honest_agree":true,"min_decided_ticks":400}}`, faults))
}

// TestNetFaultValidation: partition and disconnect are accepted when well
// formed, and refused naming the field otherwise.
func TestNetFaultValidation(t *testing.T) {
	for _, ok := range []string{
		`{"kind":"partition","groups":[[0,1],[2,3]],"at_tick":100,"heal_at_tick":130}`,
		`{"kind":"disconnect","peer":2,"at_tick":100}`,
		`{"kind":"disconnect","peer":0,"at_tick":100,"heal_at_tick":200}`,
	} {
		if _, err := Parse(scenarioWith(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, c := range []struct{ fault, field string }{
		{`{"kind":"partition","groups":[[0,1],[2,3]],"at_tick":100}`, "heal_at_tick"},
		{`{"kind":"partition","groups":[[0,1],[2]],"at_tick":100,"heal_at_tick":130}`, "groups"},
		{`{"kind":"partition","groups":[[0,1],[1,2,3]],"at_tick":100,"heal_at_tick":130}`, "groups[1]"},
		{`{"kind":"partition","groups":[[0,1,2,3]],"at_tick":100,"heal_at_tick":130}`, "groups"},
		{`{"kind":"partition","peer":1,"groups":[[0,1],[2,3]],"at_tick":100,"heal_at_tick":130}`, "peer"},
		{`{"kind":"partition","groups":[[0,1],[2,3]],"at_tick":100,"heal_at_tick":90}`, "heal_at_tick"},
		{`{"kind":"disconnect","at_tick":100}`, "peer"},
		{`{"kind":"disconnect","peer":1,"at_tick":0}`, "at_tick"},
		{`{"kind":"disconnect","peer":1,"at_tick":100,"restart_at_tick":150}`, "restart_at_tick"},
		{`{"kind":"disconnect","peer":1,"at_tick":100},{"kind":"crash","peer":2,"at_tick":50}`, "peers"},
	} {
		_, err := Parse(scenarioWith(c.fault))
		if !errors.Is(err, ErrScenario) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: got %v, want a scenario error naming %q", c.fault, err, c.field)
		}
	}
}

// TestNetFaultsOf: each peer gets its own side of the schedule.
func TestNetFaultsOf(t *testing.T) {
	sc, err := Parse(scenarioWith(`{"kind":"partition","groups":[[0,1],[2,3]],"at_tick":100,"heal_at_tick":130},
		{"kind":"disconnect","peer":2,"at_tick":200}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{
		0: "[{100 [2 3] 500} {200 [2] 0}]",
		2: "[{100 [0 1] 500} {200 [0 1 3] 0}]",
		3: "[{100 [0 1] 500} {200 [2] 0}]",
	}
	for peer, w := range want {
		if got := fmt.Sprint(sc.netFaultsOf(peer, 0)); got != w {
			t.Errorf("peer %d: %s, want %s", peer, got, w)
		}
	}
	if got := fmt.Sprint(sc.netFaultsOf(3, 150)); got != "[{200 [2] 0}]" {
		t.Errorf("restart after tick 150: %s", got)
	}
	if !sc.isolated(2) || sc.isolated(3) {
		t.Error("isolated: want only peer 2 (disconnect without heal)")
	}
}

// separated: a disconnect cuts its peer from everyone; a partition cuts
// peers in different groups, and nobody else.
func TestScenarioSeparated(t *testing.T) {
	one := 1
	sc := &Scenario{Faults: []FaultSpec{{Kind: "partition", Groups: [][]int{{1}, {0, 2, 3}}}, {Kind: "disconnect", Peer: &one}}}
	if !sc.separated(0, 1) || !sc.separated(1, 3) {
		t.Error("peer 1 is cut off from the others")
	}
	if sc2 := (&Scenario{Faults: sc.Faults[:1]}); sc2.separated(0, 2) || !sc2.separated(2, 1) {
		t.Error("the partition separates exactly peer 1 from the others")
	}
	if (&Scenario{}).separated(0, 1) {
		t.Error("no fault separates nobody")
	}
}
