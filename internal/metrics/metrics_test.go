package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paxsync/paxsync/gamestate"
)

func TestListenAddr(t *testing.T) {
	for in, want := range map[string]string{
		":9100": "127.0.0.1:9100", ":0": "127.0.0.1:0",
		"127.0.0.1:9100": "127.0.0.1:9100", "0.0.0.0:9100": "0.0.0.0:9100", "[::1]:9100": "[::1]:9100",
	} {
		if got := ListenAddr(in); got != want {
			t.Errorf("ListenAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSetsShareRegistry: Sets of different seats (or matches) register
// side by side on one registry, each counting its own; a second Set of the
// same match and seat is refused; a nil Set does nothing.
func TestSetsShareRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := New(reg, "m", 0, Sources{Game: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(reg, "m", 1, Sources{Game: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(reg, "m", 1, Sources{Game: true}); err == nil {
		t.Error("a second Set for match m seat 1 was registered")
	}
	a.TicksDecided(3)
	a.Commit(2 * time.Millisecond)
	b.TicksDecided(5)
	b.Verdict(gamestate.InvalidMove)
	b.Observation(gamestate.Flooding)
	var nilSet *Set
	nilSet.TicksDecided(1)
	nilSet.Commit(time.Second)
	nilSet.Verdict(gamestate.ForgedInput)
	nilSet.Observation(gamestate.BadSignature)
	nilSet.Close()

	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	for key, want := range map[string]float64{
		"paxsync_ticks_decided_total match=m seat=0":                   3,
		"paxsync_ticks_decided_total match=m seat=1":                   5,
		"paxsync_commit_latency_seconds match=m seat=0":                1,
		"paxsync_commit_latency_seconds match=m seat=1":                0,
		"paxsync_verdicts_total kind=invalid-move match=m seat=1":      1,
		"paxsync_verdicts_total kind=invalid-move match=m seat=0":      0, // every kind is there from the start
		"paxsync_verdicts_total kind=vote-equivocation match=m seat=1": 0,
		"paxsync_observations_total kind=flooding match=m seat=1":      1,
		"paxsync_observations_total kind=unresponsive match=m seat=0":  0,
		"paxsync_observations_total kind=bad-signature match=m seat=1": 0,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
	a.Close()
	b.Close()
	if fams, _ := reg.Gather(); len(fams) != 0 {
		t.Errorf("%d metric families left after Close", len(fams))
	}
}
