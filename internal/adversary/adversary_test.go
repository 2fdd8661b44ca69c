package adversary

import (
	"errors"
	"strings"
	"testing"

	"github.com/paxsync/paxsync"
)

// TestCheck: the cheat validation that used to be part of the session's
// Config check. Each refusal names the field and wraps ErrBadConfig;
// forge-input's Target defaults to the next seat.
func TestCheck(t *testing.T) {
	const seat, n = 1, 4
	for _, tc := range []struct {
		field string
		c     *Cheat
	}{
		{"Cheat.Kind", &Cheat{Kind: Lookahead}}, // needs Sealed
		{"Cheat.Kind", &Cheat{Kind: "teleport"}},
		{"Cheat.Mutate", &Cheat{Kind: InvalidMove}},
	} {
		_, err := check(tc.c, seat, n, false)
		if !errors.Is(err, paxsync.ErrBadConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want ErrBadConfig naming %s", tc.c.Kind, err, tc.field)
		}
	}
	if c, err := check(&Cheat{Kind: Lookahead}, seat, n, true); err != nil || c.Kind != Lookahead {
		t.Errorf("lookahead with Sealed: %v %+v", err, c)
	}
	in := &Cheat{Kind: ForgeInput, Target: seat}
	if c, err := check(in, seat, n, false); err != nil || c.Target != 2 {
		t.Errorf("forge target: %v %+v", err, c)
	}
	if in.Target != seat {
		t.Errorf("check changed its argument: %+v", in)
	}
	if c, err := check(nil, seat, n, false); err != nil || c != nil {
		t.Errorf("nil cheat: %v %+v", err, c)
	}
	for _, k := range Kinds() {
		c := &Cheat{Kind: k, Mutate: func(b []byte) []byte { return b }}
		if _, err := check(c, seat, n, true); err != nil {
			t.Errorf("%s refused: %v", k, err)
		}
	}
	// Player.SetCheat validates the same way and keeps the old cheat.
	p := &Player{seat: seat, n: n}
	if err := p.SetCheat(&Cheat{Kind: Garbage}); err != nil {
		t.Fatal(err)
	}
	if err := p.SetCheat(&Cheat{Kind: "teleport"}); !errors.Is(err, paxsync.ErrBadConfig) {
		t.Errorf("SetCheat(teleport): %v", err)
	}
	if !p.plays(Garbage) || len(p.cheats) != 1 {
		t.Errorf("after a refused SetCheat the cheats are %v, want garbage alone", p.cheats)
	}
}
