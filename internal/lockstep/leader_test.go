package lockstep

import (
	"testing"
	"time"
)

// TestSuspicionHealthy: a follower whose log keeps moving never suspects,
// however long the match runs, even with long gaps below the bound.
func TestSuspicionHealthy(t *testing.T) {
	u := suspicion{after: 2 * time.Second, graceTicks: 1}
	now := time.Unix(0, 0)
	next := uint64(0)
	for i := 0; i < 10000; i++ {
		now = now.Add(17 * time.Millisecond)
		if i%100 == 0 {
			next++ // a 1.7 s stall every 100 ticks
		}
		if u.check(now, false, false, 0, next, next+5) {
			t.Fatalf("suspected a leader that orders ticks (step %d)", i)
		}
	}
}

// TestSuspicionSilentLeader: with due ticks and no progress a follower
// suspects once after the bound, not again in the same view, not while it
// leads or a view change runs, and again only after a full bound in the
// next view.
func TestSuspicionSilentLeader(t *testing.T) {
	u := suspicion{after: 2 * time.Second, graceTicks: 1}
	t0 := time.Unix(0, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	if u.check(at(0), false, false, 0, 90, 100) {
		t.Fatal("suspected at once")
	}
	if u.check(at(1900*time.Millisecond), false, false, 0, 90, 100) {
		t.Fatal("suspected before the bound")
	}
	if !u.check(at(2100*time.Millisecond), false, false, 0, 90, 100) {
		t.Fatal("did not suspect a leader that ordered nothing for 2.1 s")
	}
	if u.check(at(5*time.Second), false, false, 0, 90, 100) {
		t.Fatal("suspected twice in one view")
	}
	if u.check(at(6*time.Second), false, true, 0, 90, 100) {
		t.Fatal("suspected during a view change")
	}
	// View 1 starts; its leader also orders nothing.
	if u.check(at(7*time.Second), false, false, 1, 90, 100) || u.check(at(8*time.Second), false, false, 1, 90, 100) {
		t.Fatal("suspected the new leader before the bound")
	}
	if !u.check(at(9100*time.Millisecond), false, false, 1, 90, 100) {
		t.Fatal("did not suspect the silent leader of view 1")
	}
	// A leader never suspects itself, and nothing due means nothing late.
	v := suspicion{after: time.Second, graceTicks: 1}
	v.check(at(0), true, false, 2, 90, 100)
	if v.check(at(5*time.Second), true, false, 2, 90, 100) {
		t.Fatal("leader suspected itself")
	}
	w := suspicion{after: time.Second, graceTicks: 1}
	w.check(at(0), false, false, 2, 90, 90)
	if w.check(at(5*time.Second), false, false, 2, 90, 90) {
		t.Fatal("suspected with no tick past its deadline")
	}
}
