package arena

import (
	"bytes"
	"testing"

	"github.com/paxsync/paxsync/gamestate"
)

// botMatch plays ticks of a 4-seat, seed-7 arena with the seed-7 bots,
// dropping inputs the rules reject as the engine does.
func botMatch(t *testing.T, ticks uint64) *Arena {
	t.Helper()
	a, err := New(4, 7)
	if err != nil {
		t.Fatal(err)
	}
	bots := []*Bot{NewBot(0, 7), NewBot(1, 7), NewBot(2, 7), NewBot(3, 7)}
	for tick := uint64(0); tick < ticks; tick++ {
		in := make([]gamestate.SeatInput, 4)
		for s := range in {
			if d := bots[s].Input(a, tick); a.Validate(s, d) == nil {
				in[s] = gamestate.SeatInput{Present: true, Data: d}
			}
		}
		a.Advance(tick, in)
	}
	return a
}

// TestSnapshotEncodingUnchanged pins the hash of a bot match: replays and
// recorded state hashes depend on the snapshot encoding, which splitting
// it into sections must not have changed (the value was computed before
// Sections existed).
func TestSnapshotEncodingUnchanged(t *testing.T) {
	const want = "ab11a7fb312e775f308c457797a708a6c258520e6f41fdf7d6cdfc0a918101fb"
	if got := botMatch(t, 300).Hash().Hex(); got != want {
		t.Fatalf("hash after 300 bot ticks = %s, want %s: the snapshot encoding changed", got, want)
	}
}

// TestSectionsConcatenateToSnapshot: the sections are the snapshot cut
// into named parts, in order, each non-empty and each a copy that later
// ticks do not overwrite; and Hash still allocates nothing.
func TestSectionsConcatenateToSnapshot(t *testing.T) {
	a := botMatch(t, 300)
	if a.NumBullets() == 0 {
		t.Fatal("no bullets in flight: the test would not cover the bullets section")
	}
	secs := a.Sections()
	wantNames := []string{"tick", "rng", "ship/0", "ship/1", "ship/2", "ship/3", "bullets"}
	if len(secs) != len(wantNames) {
		t.Fatalf("%d sections, want %d", len(secs), len(wantNames))
	}
	var cat []byte
	for i, s := range secs {
		if s.Name != wantNames[i] || len(s.Data) == 0 {
			t.Errorf("section %d = %q (%d bytes), want %q, non-empty", i, s.Name, len(s.Data), wantNames[i])
		}
		cat = append(cat, s.Data...)
	}
	snap := a.Snapshot()
	if !bytes.Equal(cat, snap) {
		t.Fatalf("sections concatenate to %x, snapshot is %x", cat, snap)
	}
	again := a.Sections()
	for i := range secs {
		if !bytes.Equal(secs[i].Data, again[i].Data) {
			t.Errorf("section %s not deterministic", secs[i].Name)
		}
	}
	for range 5 {
		a.Advance(a.Next(), make([]gamestate.SeatInput, 4))
	}
	var after []byte
	for _, s := range secs {
		after = append(after, s.Data...)
	}
	if !bytes.Equal(after, snap) {
		t.Fatal("the sections alias the arena's state: advancing changed them")
	}
	if n := testing.AllocsPerRun(20, func() { a.Hash() }); n != 0 {
		t.Errorf("Hash allocates %v times per call, want 0", n)
	}
}
