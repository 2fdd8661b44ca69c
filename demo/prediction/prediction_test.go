package prediction

import (
	"strings"
	"testing"
	"time"

	"github.com/paxsync/paxsync"
)

func TestToggleSwitchesTheDrawnSource(t *testing.T) {
	m := NewMode(true)
	if got := m.Drawn(true); got != Predicted {
		t.Fatalf("a new mode with prediction draws %v, want predicted", got)
	}
	if got := m.Drawn(false); got != Agreed {
		t.Errorf("before the first predicted frame it draws %v, want agreed", got)
	}
	m.Toggle()
	if got := m.Drawn(true); got != Agreed || !strings.Contains(m.Label(), "agreed") {
		t.Errorf("toggled off: draws %v, label %q; want agreed", got, m.Label())
	}
	if !m.Enabled {
		t.Error("toggling must not stop the session's prediction (Enabled)")
	}
	m.Toggle()
	if got := m.Drawn(true); got != Predicted || !strings.Contains(m.Label(), "predicted") {
		t.Errorf("toggled back on: draws %v, label %q; want predicted", got, m.Label())
	}
}

func TestToggleWithoutPrediction(t *testing.T) {
	m := NewMode(false)
	m.Toggle()
	if m.Shown || m.Drawn(true) != Agreed {
		t.Errorf("without prediction the toggle must keep the agreed state: %+v draws %v", m, m.Drawn(true))
	}
	if !strings.Contains(m.Label(), "prediction off") {
		t.Errorf("label %q", m.Label())
	}
}

func TestRate(t *testing.T) {
	var r Rate
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, step := range []struct {
		count uint64
		at    time.Duration
		want  float64
	}{
		{5, 0, 0},                         // first reading: no interval yet
		{11, 2 * time.Second, 3},          // 6 in 2 s
		{11, 3 * time.Second, 0},          // none in the last second
		{16, 3500 * time.Millisecond, 10}, // 5 in half a second
		{2, 4500 * time.Millisecond, 0},   // the counter restarted
		{2, 4500 * time.Millisecond, 0},   // no time passed
		{4, 5500 * time.Millisecond, 2},
	} {
		if got := r.Update(step.count, t0.Add(step.at)); got != step.want {
			t.Errorf("Update(%d, +%v) = %v, want %v", step.count, step.at, got, step.want)
		}
	}
}

func TestPanelItems(t *testing.T) {
	f := Figures{Enabled: true, RollbacksPerSec: 2.5, Rollbacks: 40, MaxRollback: 3, SpeculativeP50: 4200 * time.Microsecond}
	items := strings.Join(Items(f, NewMode(true)), " | ")
	for _, want := range []string{"prediction on", "drawing the predicted state", "rollbacks 2.5/s", "deepest 3 ticks"} {
		if !strings.Contains(items, want) {
			t.Errorf("items %q lack %q", items, want)
		}
	}
	shownOff := NewMode(true)
	shownOff.Toggle()
	if items := strings.Join(Items(f, shownOff), " | "); !strings.Contains(items, "drawing the agreed state") {
		t.Errorf("toggled off: items %q", items)
	}
	lat := LatencyItem(30*time.Millisecond, 55*time.Millisecond, f)
	if want := "commit latency p50 30.0 ms, p99 55.0 ms · speculative p50 4.2 ms"; lat != want {
		t.Errorf("latency item %q, want %q", lat, want)
	}
	off := Figures{}
	if items := Items(off, NewMode(false)); len(items) != 1 || items[0] != "prediction off" {
		t.Errorf("without prediction: %q", items)
	}
	if lat := LatencyItem(30*time.Millisecond, 55*time.Millisecond, off); strings.Contains(lat, "speculative") {
		t.Errorf("without prediction the latency item shows a speculative figure: %q", lat)
	}
}

// TestPanelFromStats: two StatsEvents a second apart whose statistics say
// 7 rollbacks happened in between, the deepest of 4 ticks, give a panel
// that says so.
func TestPanelFromStats(t *testing.T) {
	var r Rate
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := FiguresOf(paxsync.Stats{Rollbacks: 3, MaxRollback: 2}, &r, t0)
	if first.RollbacksPerSec != 0 {
		t.Errorf("first reading: %v rollbacks/s, want 0", first.RollbacksPerSec)
	}
	st := paxsync.Stats{Rollbacks: 10, MaxRollback: 4, PredictedTick: 812, CommitP50: 31 * time.Millisecond,
		CommitP99: 60 * time.Millisecond, SpeculativeP50: 2 * time.Millisecond}
	f := FiguresOf(st, &r, t0.Add(time.Second))
	items := strings.Join(Items(f, NewMode(true)), " | ")
	if !strings.Contains(items, "rollbacks 7.0/s, deepest 4 ticks") {
		t.Errorf("items %q: want 7 rollbacks/s, deepest 4", items)
	}
	if lat := LatencyItem(st.CommitP50, st.CommitP99, f); !strings.Contains(lat, "commit latency p50 31.0 ms") ||
		!strings.Contains(lat, "speculative p50 2.0 ms") {
		t.Errorf("latency item %q", lat)
	}
	if f.PredictedTick != 812 || f.Rollbacks != 10 {
		t.Errorf("figures %+v", f)
	}
}
