package tests

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/internal/adversary"
)

// joinArena starts n in-process arena sessions on 127.0.0.1, each with a
// fresh key. With star set, seats 1.. bootstrap only from seat 0 (as
// examples/arenabot is run); otherwise each later seat bootstraps from all
// earlier ones. mod, when not nil, adjusts each seat's Config before Join
// (tick rate, recording). The caller closes the sessions.
func joinArena(t *testing.T, ctx context.Context, name string, n int, seed uint64, star bool,
	mod func(seat int, c *paxsync.Config)) []*paxsync.Session {
	t.Helper()
	sess, _ := joinArenaCheats(t, ctx, name, n, seed, star, mod, nil)
	return sess
}

// joinArenaCheats is joinArena with cheaters: every seat that is a key of
// cheats joins through adversary.Join playing cheats[seat] (nil: honest
// until its Player's SetCheat). The Players are returned by seat, nil for
// the seats that joined with paxsync.Join.
func joinArenaCheats(t *testing.T, ctx context.Context, name string, n int, seed uint64, star bool,
	mod func(seat int, c *paxsync.Config), cheats map[int]*adversary.Cheat) ([]*paxsync.Session, []*adversary.Player) {
	t.Helper()
	keys := make([]*crypto.PrivateKey, n)
	roster := make([]crypto.PublicKey, n)
	for i := range keys {
		k, err := crypto.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys[i], roster[i] = k, k.Public()
	}
	params := arena.Params(n, seed)
	sess := make([]*paxsync.Session, n)
	players := make([]*adversary.Player, n)
	var addrs []string
	for i := range sess {
		cfg := paxsync.Config{
			Key: keys[i], MatchName: name, Roster: roster, GameParams: params,
			NewGame: func() (gamestate.Game, error) { return arena.FromParams(params) },
			Network: paxsync.NetworkConfig{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: addrs},
			// Fresh keys per test: nothing restarts into these seats, and
			// the default WALDir would write under the home directory.
			WALDir: paxsync.MemoryWAL,
		}
		if mod != nil {
			mod(i, &cfg)
		}
		var s *paxsync.Session
		var err error
		if c, ok := cheats[i]; ok {
			s, players[i], err = adversary.Join(ctx, cfg, c)
		} else {
			s, err = paxsync.Join(ctx, cfg)
		}
		if err != nil {
			for _, prev := range sess[:i] {
				prev.Close()
			}
			t.Fatalf("join %d: %v", i, err)
		}
		sess[i] = s
		if !star || i == 0 {
			addrs = append(addrs, s.Addrs()...)
		}
	}
	return sess, players
}
