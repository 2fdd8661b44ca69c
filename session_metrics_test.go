package paxsync

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paxsync/paxsync/gamestate"
)

// TestSessionMetrics: a session given a registry exports what it did: at
// least as many ticks decided and commit latencies as the events it
// delivered say, the consensus counters, every verdict kind (at 0), all
// labelled with the match and seat. A second session of the same match
// and seat on the registry is refused; Close unregisters everything.
func TestSessionMetrics(t *testing.T) {
	keys, _ := testRoster(t, 1)
	reg := prometheus.NewRegistry()
	cfg := soloConfig(keys[0], MemoryWAL)
	cfg.Metrics = reg
	s, err := Join(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Count the ticks applied and those that carried this seat's input
	// (each has a commit latency); only then look at the metrics, which
	// must have counted at least as much.
	const want = 20
	var ticks, commits uint64
	deadline := time.After(60 * time.Second)
	for commits < want {
		select {
		case ev := <-s.Events():
			if te, ok := ev.(TickEvent); ok {
				ticks++
				if te.Commit > 0 {
					commits++
				}
				_ = s.SubmitInput([]byte{1})
			}
		case <-deadline:
			t.Fatalf("%d ticks with a commit latency in 60s, want %d", commits, want)
		}
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	var commitCount uint64
	kinds := 0
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["match"] != "wal-test" || labels["seat"] != "0" {
				t.Errorf("%s: labels %v, want match wal-test and seat 0", f.GetName(), labels)
			}
			switch f.GetName() {
			case "paxsync_commit_latency_seconds":
				commitCount = m.GetHistogram().GetSampleCount()
			case "paxsync_verdicts_total":
				kinds++
			default:
				got[f.GetName()] += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	t.Logf("delivered %d ticks, %d with a commit latency; metrics: %v, %d latencies", ticks, commits, got, commitCount)
	if got["paxsync_ticks_decided_total"] < float64(ticks) {
		t.Errorf("paxsync_ticks_decided_total %v, want at least the %d ticks delivered", got["paxsync_ticks_decided_total"], ticks)
	}
	if commitCount < commits {
		t.Errorf("paxsync_commit_latency_seconds count %d, want at least the %d commit latencies delivered", commitCount, commits)
	}
	if got["paxsync_slots_decided_total"] < 1 {
		t.Errorf("paxsync_slots_decided_total %v, want at least 1", got["paxsync_slots_decided_total"])
	}
	for _, name := range []string{"paxsync_view_changes_total", "paxsync_consensus_dropped_total", "paxsync_observations_total",
		"paxsync_network_bytes_total", "paxsync_network_dropped_total", "paxsync_peers_connected"} {
		if _, ok := got[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	if kinds != int(gamestate.LastVerdict) {
		t.Errorf("paxsync_verdicts_total has %d kinds, want all %d", kinds, gamestate.LastVerdict)
	}

	// The same match and seat again on this registry: refused, and the
	// refused session leaves nothing behind.
	if s2, err := Join(context.Background(), cfg); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "Metrics") {
		if s2 != nil {
			s2.Close()
		}
		t.Errorf("second session of the same seat on one registry: %v, want ErrBadConfig naming Metrics", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fams, _ := reg.Gather(); len(fams) != 0 {
		t.Errorf("after Close the registry still holds %d metric families", len(fams))
	}
}
