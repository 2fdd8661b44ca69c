package lockstep

import (
	"testing"
	"time"
)

// The throughput floor judges a leader by the share of the follower's own
// beats it decides: a leader that keeps pace passes whatever the beats'
// spacing (a loaded machine), one under 4/5 of them is reported once per
// view, and a view change or leading restarts the window.
func TestThroughputFloor(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	run := func(f *floor, spacing time.Duration, beats int, perBeat float64, view uint64, from time.Time, next uint64) (reports int, at time.Time, n uint64) {
		now, acc := from, 0.0
		for i := 0; i < beats; i++ {
			now = now.Add(spacing)
			acc += perBeat
			for acc >= 1 {
				next++
				acc--
			}
			if slow, _, _ := f.beat(now, false, false, view, next, 0); slow {
				reports++
			}
		}
		return reports, now, next
	}
	var f floor
	if r, _, _ := run(&f, 16*time.Millisecond, 600, 1, 0, start, 0); r != 0 {
		t.Fatalf("a leader deciding a tick per beat was reported %d times", r)
	}
	// A loaded machine: beats 3× late, the leader still one tick a beat.
	f = floor{}
	if r, _, _ := run(&f, 50*time.Millisecond, 600, 1, 0, start, 0); r != 0 {
		t.Fatalf("a leader keeping pace with slow beats was reported %d times", r)
	}
	// 85 % keeps the view; 70 % is reported, once in its view.
	f = floor{}
	if r, _, _ := run(&f, 16*time.Millisecond, 600, 0.85, 0, start, 0); r != 0 {
		t.Fatalf("a leader at 85%% was reported %d times", r)
	}
	f = floor{}
	r, now, next := run(&f, 16*time.Millisecond, 600, 0.7, 0, start, 0)
	if r != 1 {
		t.Fatalf("a leader at 70%% was reported %d times over 9.6 s, want once in its view", r)
	}
	// The next view's leader is measured afresh, and also reported.
	if r, _, _ := run(&f, 16*time.Millisecond, 300, 0.1, 1, now, next); r != 1 {
		t.Fatalf("the slow leader of the next view was reported %d times, want 1", r)
	}
	// Leading, or a view change in progress, measures nobody.
	f = floor{}
	now = start
	for i := 0; i < 600; i++ {
		now = now.Add(16 * time.Millisecond)
		if slow, _, _ := f.beat(now, i%2 == 0, i%2 == 1, 0, 0, 0); slow {
			t.Fatal("reported while leading or in a view change")
		}
	}
	// On a shared grid, followers whose beats are out of phase judge the
	// same windows: a leader at 70 % from tick 30 on is reported by both at
	// the grid's window boundary, tick 120 (the first window, cut short by
	// the start, still holds 1.5 s of beats, over half a window).
	for _, phase := range []time.Duration{0, 9 * time.Millisecond} {
		f = floor{}
		var at uint64
		next, acc := uint64(0), 0.0
		for tick := uint64(30); tick < 600; tick++ {
			now := start.Add(time.Duration(tick)*16667*time.Microsecond + phase)
			acc += 0.7
			for acc >= 1 {
				next++
				acc--
			}
			if slow, _, _ := f.beat(now, false, false, 0, next, 1+tick/120); slow && at == 0 {
				at = tick
			}
		}
		if at != 120 {
			t.Errorf("phase %v: reported at tick %d, want 120 (the grid window's end)", phase, at)
		}
	}
}
