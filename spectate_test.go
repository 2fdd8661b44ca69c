package paxsync

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/internal/spectator"
	"github.com/paxsync/paxsync/netp2p"
	"github.com/paxsync/paxsync/wire"
)

// hashBook keeps the checkpoint hashes a player's TickEvents carry.
type hashBook struct {
	mu     sync.Mutex
	hashes map[uint64]crypto.Digest
	last   uint64
}

func (b *hashBook) get(tick uint64) (crypto.Digest, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h, ok := b.hashes[tick]
	return h, ok
}

func (b *hashBook) lastTick() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// playWatched starts a clean n-seat arena match over loopback libp2p,
// every player running a spectator service and played by a bot; the
// first seat's checkpoint hashes are kept. Cleanup closes everything.
func playWatched(t *testing.T, n int) (Config, []*Session, *hashBook) {
	t.Helper()
	keys, roster := testRoster(t, n)
	params := arena.Params(n, 5)
	base := Config{MatchName: "watched", Roster: roster, GameParams: params, TickRate: 30, Epoch: time.Now(),
		NewGame: func() (gamestate.Game, error) { return arena.FromParams(params) }}
	sess := joinLoopback(t, n, func(i int) Config {
		cfg := base
		cfg.Key, cfg.WALDir = keys[i], MemoryWAL
		cfg.Network.SpectatorAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
		return cfg
	})
	book := &hashBook{hashes: map[uint64]crypto.Digest{}}
	playBots(t, sess, 5, func(seat int, te TickEvent) {
		if seat != 0 {
			return
		}
		book.mu.Lock()
		if te.Checkpoint {
			book.hashes[te.Tick] = te.Hash
		}
		book.last = te.Tick
		book.mu.Unlock()
	})
	return base, sess, book
}

// waitFor polls cond every 50 ms for up to limit (generous: the test
// asserts what happens, not how fast).
func waitFor(limit time.Duration, cond func() bool) bool {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestSpectatorJoinsMidMatchAndDropsAForger: a spectator joins a running
// 4-player match (well past its first stable checkpoint, so it starts from
// a certified snapshot) through three spectator services, one of which —
// seat 0's, run by a forger holding seat 0's key — alters the first entry
// of every answer. The spectator drops seat 0 on its first answer, names
// it, follows the match from the honest services, and holds exactly the
// honest players' state at every checkpoint tick it reaches. It relays:
// a second spectator, given only its relay's address, follows the match
// too, to the same state, and never sees the forger's answers.
func TestSpectatorJoinsMidMatchAndDropsAForger(t *testing.T) {
	if testing.Short() {
		t.Skip("plays a match over loopback libp2p")
	}
	base, sess, book := playWatched(t, 4)
	// Past the match's first stable checkpoint at every service, so the
	// spectator starts from a certified snapshot.
	stable := func() bool {
		for _, s := range sess[:3] {
			if _, err := s.ResultCertificate(); err != nil {
				return false
			}
		}
		return true
	}
	if !waitFor(3*time.Minute, stable) {
		t.Fatalf("no stable checkpoint by tick %d", book.lastTick())
	}
	keys, _ := testRoster(t, 2)
	var signMu sync.Mutex
	signer := crypto.NewSigner(sess[0].cfg.Key, sess[0].match, 0)
	forger, err := netp2p.ServeSpectators(netp2p.SpectatorConfig{Key: sess[0].cfg.Key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		Serve: func(ctx context.Context, req []byte) ([]byte, error) {
			resp, err := sess[0].drv.ServeSync(ctx, req)
			if err != nil || len(resp) == 0 {
				return resp, err
			}
			st, err := bft.DecodeSyncState(resp)
			if err != nil {
				return nil, err
			}
			if len(st.Entries) > 0 {
				v := append([]byte(nil), st.Entries[0].Value...)
				v[len(v)/2] ^= 1
				st.Entries[0].Value = v
			} else if st.Snapshot != nil {
				st.Snapshot = append([]byte(nil), st.Snapshot...)
				st.Snapshot[0] ^= 1
			}
			// The forger signs what it serves, as every player does.
			forged := bft.EncodeSyncState(st)
			after, _ := binary.Uvarint(req)
			signMu.Lock()
			env := signer.Sign(wire.TypeSyncResponse, spectator.AnswerBody(after, forged))
			signMu.Unlock()
			return spectator.EncodeAnswer(env, forged), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	cfg := base
	cfg.Key = keys[0]
	cfg.Network.SpectatorAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	from := append(append(forger.Addrs(), sess[1].SpectatorAddrs()...), sess[2].SpectatorAddrs()...)
	sp, err := Spectate(context.Background(), cfg, from)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	joinedAt := book.lastTick()
	if len(sp.RelayAddrs()) == 0 {
		t.Fatal("a spectator given Network.SpectatorAddrs does not relay")
	}
	cfg2 := base
	cfg2.Key = keys[1]
	sp2, err := Spectate(context.Background(), cfg2, sp.RelayAddrs())
	if err != nil {
		t.Fatal(err)
	}
	defer sp2.Close()
	if sp2.RelayAddrs() != nil {
		t.Fatal("a spectator relays without Network.SpectatorAddrs")
	}
	if !waitFor(2*time.Minute, func() bool { return sp.Stats().Ticks > joinedAt+150 && sp2.Stats().Ticks > joinedAt+150 }) {
		t.Fatalf("the spectators reached ticks %d and %d (err %v, %v); players at %d",
			sp.Stats().Ticks, sp2.Stats().Ticks, sp.Err(), sp2.Err(), book.lastTick())
	}
	if st2 := sp2.Stats(); len(st2.Forgeries)+len(st2.RelayFaults) != 0 || st2.Checkpoints == 0 {
		t.Fatalf("through the relay: forgeries %+v, relay faults %+v, %d checkpoints", st2.Forgeries, st2.RelayFaults, st2.Checkpoints)
	}
	st := sp.Stats()
	if len(st.Forgeries) != 1 || st.Forgeries[0].Seat != 0 {
		t.Fatalf("forgeries %+v, want exactly one, by seat 0", st.Forgeries)
	}
	t.Logf("forgery caught: %s", st.Forgeries[0].Reason)
	if seat, why, err := VerifyForgedLog(base, st.Forgeries[0].Proof); err != nil || seat != 0 {
		t.Fatalf("the forgery's proof: seat %d, %q, %v", seat, why, err)
	}
	if st.Checkpoints == 0 {
		t.Fatalf("joined after a stable checkpoint but installed none: %+v", st)
	}
	if len(st.Verdicts) != 0 {
		t.Fatalf("a clean match gave the spectator verdicts: %v", st.Verdicts)
	}
	for i, s := range []*Spectator{sp, sp2} {
		st := s.Stats()
		compared := 0
		for tick := (st.Ticks - 1) / base.withHash() * base.withHash(); tick > joinedAt && compared < 3; tick -= base.withHash() {
			mine, ok := s.CheckpointHash(tick)
			theirs, ok2 := book.get(tick)
			if !ok || !ok2 {
				continue
			}
			if mine != theirs {
				t.Fatalf("spectator %d, tick %d: spectator %s, player %s", i, tick, mine, theirs)
			}
			compared++
		}
		if compared == 0 {
			t.Fatalf("spectator %d: no checkpoint tick to compare below %d", i, st.Ticks)
		}
	}
}

// withHash is the match's hash interval with its default.
func (c Config) withHash() uint64 {
	if c.HashInterval == 0 {
		return gamestate.DefaultHashInterval
	}
	return c.HashInterval
}

// TestSpectateConfig: a spectator's key must be its own, and it needs a
// service to ask.
func TestSpectateConfig(t *testing.T) {
	keys, roster := testRoster(t, 4)
	params := arena.Params(4, 5)
	cfg := Config{MatchName: "m", Roster: roster, GameParams: params, Key: keys[1],
		NewGame: func() (gamestate.Game, error) { return arena.FromParams(params) }}
	if _, err := Spectate(context.Background(), cfg, []string{"/ip4/127.0.0.1/tcp/1/p2p/x"}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("a player's key as a spectator's: %v", err)
	}
	own, _ := testRoster(t, 1)
	cfg.Key = own[0]
	if _, err := Spectate(context.Background(), cfg, nil); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("no service address: %v", err)
	}
	if _, err := Spectate(context.Background(), cfg, []string{"/ip4/127.0.0.1/tcp/1"}); err == nil {
		t.Fatal("an address without a peer ID was accepted")
	}
}
