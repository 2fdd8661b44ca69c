package paxsync

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

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
		{"NewGame", func(c *Config) { c.NewGame = nil }},
		{"TickRate", func(c *Config) { c.TickRate = 61 }},
		{"TickRate", func(c *Config) { c.TickRate = -1 }},
		{"InputDelay", func(c *Config) { c.InputDelay = -2 }},
		{"Sealed", func(c *Config) { c.Sealed, c.Consensus = true, ConsensusBroadcast }},
		{"Cheat.Kind", func(c *Config) { c.Cheat = &Cheat{Kind: CheatLookahead} }}, // needs Sealed
		{"Grace", func(c *Config) { c.Grace = -1 }},
		{"Cheat.Kind", func(c *Config) { c.Cheat = &Cheat{Kind: "teleport"} }},
		{"Cheat.Mutate", func(c *Config) { c.Cheat = &Cheat{Kind: CheatInvalidMove} }},
	}
	for _, tc := range cases {
		c := good
		tc.mut(&c)
		_, _, err := c.withDefaults()
		if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
	// forge-input with no valid target picks the next seat.
	c = good
	c.Cheat = &Cheat{Kind: CheatForgeInput, Target: 1}
	if c, _, err = c.withDefaults(); err != nil || c.Cheat.Target != 2 {
		t.Errorf("forge target: %v %+v", err, c.Cheat)
	}
	// Join checks the game against the roster before touching the network.
	c = good
	c.NewGame = func() (gamestate.Game, error) { return arena.New(3, 1) }
	if _, err := Join(context.Background(), c); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "NewGame") {
		t.Errorf("seat mismatch: %v", err)
	}
}
