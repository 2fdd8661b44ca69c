package paxsync

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
)

func testRoster(t *testing.T, n int) ([]*crypto.PrivateKey, []crypto.PublicKey) {
	t.Helper()
	var keys []*crypto.PrivateKey
	var roster []crypto.PublicKey
	for i := 0; i < n; i++ {
		k, err := crypto.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys, roster = append(keys, k), append(roster, k.Public())
	}
	return keys, roster
}

func TestConfigValidation(t *testing.T) {
	keys, roster := testRoster(t, 4)
	stranger, _ := testRoster(t, 1)
	good := Config{Key: keys[1], MatchName: "m", Roster: roster,
		NewGame: func() (gamestate.Game, error) { return arena.New(4, 1) }}
	c, seat, err := good.withDefaults()
	if err != nil || seat != 1 || c.TickRate != 30 || c.InputDelay != 2 || c.HashInterval != 30 || c.Grace == 0 {
		t.Fatalf("good config: %+v seat %d err %v", c, seat, err)
	}
	cases := []struct {
		field string
		mut   func(c *Config)
	}{
		{"Key", func(c *Config) { c.Key = nil }},
		{"Key", func(c *Config) { c.Key = stranger[0] }},
		{"MatchName", func(c *Config) { c.MatchName = "" }},
		{"Roster", func(c *Config) { c.Roster = nil }},
		{"Roster", func(c *Config) { c.Roster = append([]crypto.PublicKey{roster[0]}, roster...) }},
		// The identity point: anyone can forge its signatures (ErrWeakKey).
		{"Roster", func(c *Config) { c.Roster = append([]crypto.PublicKey{{1}}, roster...) }},
		{"NewGame", func(c *Config) { c.NewGame = nil }},
		{"TickRate", func(c *Config) { c.TickRate = 61 }},
		{"TickRate", func(c *Config) { c.TickRate = -1 }},
		{"InputDelay", func(c *Config) { c.InputDelay = -2 }},
		{"Sealed", func(c *Config) { c.Sealed, c.Consensus = true, ConsensusBroadcast }},
		{"Grace", func(c *Config) { c.Grace = -1 }},
	}
	for _, tc := range cases {
		c := good
		tc.mut(&c)
		_, _, err := c.withDefaults()
		if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
	for _, tc := range cases {
		c := good
		tc.mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Validate %s: got %v", tc.field, err)
		}
	}
	if err := good.Validate(); err != nil {
		t.Errorf("Validate of a good config: %v", err)
	}
	// Join checks the game against the roster before touching the network.
	c = good
	c.NewGame = func() (gamestate.Game, error) { return arena.New(3, 1) }
	if _, err := Join(context.Background(), c); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "NewGame") {
		t.Errorf("seat mismatch: %v", err)
	}
}

// TestDefaultConfigIsWhatJoinFills: every default DefaultConfig shows is
// the one Join fills into a zero field, so a launcher shows the truth.
func TestDefaultConfigIsWhatJoinFills(t *testing.T) {
	keys, roster := testRoster(t, 4)
	bare := Config{Key: keys[0], MatchName: "m", Roster: roster,
		NewGame: func() (gamestate.Game, error) { return arena.New(4, 1) }}
	filled, _, err := bare.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultConfig()
	if d.TickRate != filled.TickRate || d.InputDelay != filled.InputDelay || d.HashInterval != filled.HashInterval ||
		d.Consensus != filled.Consensus || d.WALSync != filled.WALSync || d.Grace != filled.Grace ||
		d.ConsensusTick != filled.ConsensusTick || d.EventBuffer != filled.EventBuffer {
		t.Fatalf("DefaultConfig %+v differs from what Join fills %+v", d, filled)
	}
	// And a DefaultConfig with the identity filled in validates as is.
	d.Key, d.MatchName, d.Roster, d.NewGame = bare.Key, bare.MatchName, bare.Roster, bare.NewGame
	if err := d.Validate(); err != nil {
		t.Fatalf("DefaultConfig plus identity: %v", err)
	}
}

// TestDefaultGraceKeepsFairPlayWindow: Join's default Grace keeps at least
// three ticks from sampling an input to its tick's deadline, so fair play's
// two-tick input margin still protects a player at a short input delay;
// with the default delay it stays one tick, with or without prediction.
func TestDefaultGraceKeepsFairPlayWindow(t *testing.T) {
	keys, roster := testRoster(t, 4)
	for _, tc := range []struct {
		delay      int
		prediction bool
		wantDelay  int
		wantTicks  int
	}{{0, false, 2, 1}, {0, true, 2, 1}, {1, false, 1, 2}, {1, true, 1, 2}, {4, true, 4, 1}} {
		c := Config{Key: keys[0], MatchName: "m", Roster: roster, InputDelay: tc.delay, Prediction: Prediction{Enabled: tc.prediction},
			NewGame: func() (gamestate.Game, error) { return arena.New(4, 1) }}
		f, _, err := c.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		if f.InputDelay != tc.wantDelay || f.Grace != time.Duration(tc.wantTicks)*f.interval() {
			t.Errorf("InputDelay %d prediction %v: got delay %d grace %v, want delay %d grace %d ticks",
				tc.delay, tc.prediction, f.InputDelay, f.Grace, tc.wantDelay, tc.wantTicks)
		}
	}
}
