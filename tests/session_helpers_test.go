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
	"github.com/paxsync/paxsync/transport/memnet"
)

// netKind is the network a helper's match runs on.
type netKind int

const (
	// overLoopback: libp2p (netp2p) on 127.0.0.1, each later seat
	// bootstrapping from all earlier ones. The zero value, for the tests
	// whose subject is the network or that rely on netp2p's behaviour
	// (pubsub validation, rate limits, streams, partitions, RTT).
	overLoopback netKind = iota
	// overLoopbackStar: libp2p on 127.0.0.1, seats 1.. bootstrapping only
	// from seat 0 (as examples/arenabot is run).
	overLoopbackStar
	// overMemnet: one transport/memnet.Network shared by the match's seats,
	// no socket. For the tests whose subject is the game, the agreement or
	// the session's logic rather than the network: faster and steadier.
	overMemnet
)

func (k netKind) String() string {
	switch k {
	case overLoopback:
		return "libp2p"
	case overLoopbackStar:
		return "libp2p-star"
	case overMemnet:
		return "memnet"
	}
	return "netKind(?)"
}

// joinArena starts n in-process arena sessions over the network net (see
// netKind), each with a fresh key. mod, when not nil, adjusts each seat's
// Config before Join (tick rate, recording). The caller closes the
// sessions.
func joinArena(t *testing.T, ctx context.Context, name string, n int, seed uint64, net netKind,
	mod func(seat int, c *paxsync.Config)) []*paxsync.Session {
	t.Helper()
	sess, _ := joinArenaCheats(t, ctx, name, n, seed, net, mod, nil)
	return sess
}

// joinArenaCheats is joinArena with cheaters: every seat that is a key of
// cheats joins through adversary.Join playing cheats[seat] (nil: honest
// until its Player's SetCheat). The Players are returned by seat, nil for
// the seats that joined with paxsync.Join.
func joinArenaCheats(t *testing.T, ctx context.Context, name string, n int, seed uint64, net netKind,
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
	var mem *memnet.Network // one per match: every seat meets the others on it
	if net == overMemnet {
		mem = memnet.New()
	}
	for i := range sess {
		cfg := paxsync.Config{
			Key: keys[i], MatchName: name, Roster: roster, GameParams: params,
			NewGame: func() (gamestate.Game, error) { return arena.FromParams(params) },
			// Fresh keys per test: nothing restarts into these seats, and
			// the default WALDir would write under the home directory.
			WALDir: paxsync.MemoryWAL,
		}
		if mem != nil {
			cfg.Transport = mem
		} else {
			cfg.Network = paxsync.NetworkConfig{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: addrs}
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
		if net == overLoopback || net == overLoopbackStar && i == 0 {
			addrs = append(addrs, s.Addrs()...)
		}
	}
	return sess, players
}
