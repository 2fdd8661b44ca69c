package paxsync_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/transport/memnet"
)

// memMatch joins n seats of an arena match over one in-memory network,
// through the public API only.
func memMatch(t *testing.T, n int, name string, opts ...func(*paxsync.Config)) []*paxsync.Session {
	t.Helper()
	net := memnet.New()
	keys := make([]*crypto.PrivateKey, n)
	roster := make([]crypto.PublicKey, n)
	for i := range keys {
		k, err := crypto.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys[i], roster[i] = k, k.Public()
	}
	params := arena.Params(n, 3)
	sessions := make([]*paxsync.Session, n)
	for i := range keys {
		cfg := paxsync.DefaultConfig()
		cfg.Key, cfg.MatchName, cfg.Roster, cfg.GameParams = keys[i], name, roster, params
		cfg.NewGame = func() (gamestate.Game, error) { return arena.FromParams(params) }
		// A long Grace: a tick waits for a slow input instead of ordering
		// "no input" (the leader orders a tick as soon as it holds every
		// input, so this costs nothing while inputs arrive), so what the
		// match agrees on does not depend on this machine's speed.
		cfg.TickRate, cfg.Grace = 60, 500*time.Millisecond
		cfg.Transport, cfg.WALDir = net, paxsync.MemoryWAL
		for _, o := range opts {
			o(&cfg)
		}
		s, err := paxsync.Join(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		sessions[i] = s
	}
	return sessions
}

// TestMemnetMatch runs a 4-seat match in one process with no socket: every
// seat submits an input each tick, and all four agree on every tick's
// inputs and on the state hash at every checkpoint. The match is driven by
// count (ticks decided), not by time.
func TestMemnetMatch(t *testing.T) {
	const seats, ticks = 4, 150
	sessions := memMatch(t, seats, "memnet-match")
	type rec struct {
		inputs  string
		hash    crypto.Digest
		present int // seats with an input
	}
	logs := make([]map[uint64]rec, seats)
	var wg sync.WaitGroup
	for i, s := range sessions {
		logs[i] = map[uint64]rec{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Inputs go in ahead of their ticks (SubmitInputAt, up to the
			// window the peers keep), so none is missed however the
			// events are batched.
			in := arena.EncodeInput(arena.Controls{Thrust: uint8(1 + i), Turn: int8(i - 2)})
			const ahead = 100
			for at := uint64(0); at < ahead; at++ {
				if err := s.SubmitInputAt(at, in); err != nil {
					t.Errorf("seat %d tick %d: %v", i, at, err)
				}
			}
			timeout := time.After(2 * time.Minute)
			for {
				select {
				case ev := <-s.Events():
					te, ok := ev.(paxsync.TickEvent)
					if !ok {
						continue
					}
					r := rec{inputs: fmt.Sprint(te.Inputs), hash: te.Hash}
					for _, in := range te.Inputs {
						if in.Present {
							r.present++
						}
					}
					logs[i][te.Tick] = r
					if te.Tick >= ticks {
						return
					}
					if err := s.SubmitInputAt(te.Tick+ahead, in); err != nil {
						t.Logf("seat %d: %v", i, err)
					}
				case <-timeout:
					t.Errorf("seat %d: only %d ticks decided", i, len(logs[i]))
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	full := 0
	for tick := uint64(0); tick <= ticks; tick++ {
		want, ok := logs[0][tick]
		if !ok {
			t.Fatalf("seat 0 has no tick %d", tick)
		}
		for i := 1; i < seats; i++ {
			if got := logs[i][tick]; got != want {
				t.Fatalf("tick %d: seat %d has %+v, seat 0 %+v", tick, i, got, want)
			}
		}
		if want.present == seats {
			full++
		}
	}
	// The match really played: every tick carries every seat's input (not
	// a log of "no input" ticks that agree trivially).
	if full != ticks+1 {
		t.Fatalf("only %d of %d ticks carried every seat's input", full, ticks)
	}
	var h0 crypto.Digest
	sessions[0].View(func(g gamestate.Game, _ uint64) { h0 = g.Hash() })
	if h0 == (crypto.Digest{}) {
		t.Fatal("View gave no game")
	}
}

// TestViewNeverDeadlocks: a View callback may call any Session method,
// View included, and none of them waits for the callback (the bug: a
// renderer that called Stats inside View hung every session).
func TestViewNeverDeadlocks(t *testing.T) {
	sessions := memMatch(t, 4, "view-reentry")
	s := sessions[1]
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 50; i++ {
			s.View(func(g gamestate.Game, tick uint64) {
				_ = s.Stats()
				_ = s.Verdicts()
				_ = s.Flags()
				_ = s.Observations()
				_ = s.InputTick()
				_ = s.SubmitInput(nil)
				s.View(func(g2 gamestate.Game, tick2 uint64) {
					if tick2 < tick {
						t.Errorf("nested View went back from tick %d to %d", tick, tick2)
					}
				})
				_, _ = s.Snapshot()
			})
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Session methods called inside View hung")
	}
	// The sessions kept running meanwhile: the log moves.
	start := s.Stats().DecidedTicks
	deadline := time.Now().Add(time.Minute)
	for s.Stats().DecidedTicks < start+30 {
		if time.Now().After(deadline) {
			t.Fatalf("no progress after the View calls: %d ticks decided", s.Stats().DecidedTicks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestViewAfterTickEventShowsThatTick: a game that reads View on a
// TickEvent sees at least the state after that tick (the runtime publishes
// before it sends the round's events).
func TestViewAfterTickEventShowsThatTick(t *testing.T) {
	sessions := memMatch(t, 4, "view-after-event")
	s := sessions[2]
	seen := 0
	timeout := time.After(2 * time.Minute)
	for seen < 60 {
		select {
		case ev := <-s.Events():
			te, ok := ev.(paxsync.TickEvent)
			if !ok {
				continue
			}
			seen++
			s.View(func(_ gamestate.Game, next uint64) {
				if next <= te.Tick {
					t.Fatalf("View on the TickEvent of tick %d shows the state before it (next %d)", te.Tick, next)
				}
			})
		case <-timeout:
			t.Fatalf("only %d ticks", seen)
		}
	}
}

// askFunc is a SpectatorSource over a function: the game's own transport.
type askFunc struct {
	seat int
	ask  func(ctx context.Context, req []byte) ([]byte, error)
}

func (a askFunc) Seat() int { return a.seat }
func (a askFunc) Ask(ctx context.Context, req []byte) ([]byte, error) {
	return a.ask(ctx, req)
}

// TestSpectatorOverMemnet: a match on an injected transport has no
// spectator service, and a spectator follows it all the same, over the
// game's own transport (here, function calls): Session.AnswerSpectator on
// the players' side, SpectateFrom on the spectator's. Seat 1's source
// alters every answer after the player signed it (the spectator drops the
// source and names no one: the signature no longer covers the answer, and
// the transport proves nothing of who altered it), seat 2's always fails (the
// spectator asks the next); it follows from seats 0 and 3 to the players'
// state at every checkpoint it shares with them.
func TestSpectatorOverMemnet(t *testing.T) {
	const seats, ticks = 4, 200
	var base paxsync.Config // the match's settings, as the seats have them
	sessions := memMatch(t, seats, "memnet-watched", func(c *paxsync.Config) { base = *c })
	var mu sync.Mutex
	hashes := map[uint64]crypto.Digest{} // seat 0's checkpoint hashes
	defer playMem(sessions, func(seat int, te paxsync.TickEvent) {
		if seat == 0 && te.Checkpoint {
			mu.Lock()
			hashes[te.Tick] = te.Hash
			mu.Unlock()
		}
	})()
	from := []paxsync.SpectatorSource{
		askFunc{0, sessions[0].AnswerSpectator},
		askFunc{1, func(ctx context.Context, req []byte) ([]byte, error) {
			resp, err := sessions[1].AnswerSpectator(ctx, req)
			if len(resp) > 0 {
				resp = append([]byte(nil), resp...)
				resp[len(resp)-1] ^= 1
			}
			return resp, err
		}},
		askFunc{2, func(context.Context, []byte) ([]byte, error) { return nil, fmt.Errorf("link down") }},
		askFunc{3, sessions[3].AnswerSpectator},
	}
	key, err := crypto.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cfg := base
	cfg.Key, cfg.Transport, cfg.WALDir = key, nil, ""
	cfg.Network.SpectatorRelay = true // relays over the same function calls, no listener
	sp, err := paxsync.SpectateFrom(context.Background(), cfg, from)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	// A second spectator asks only the first one, as a relay.
	key2, err := crypto.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cfg2 := base
	cfg2.Key, cfg2.Transport, cfg2.WALDir = key2, nil, ""
	relayed, err := paxsync.SpectateFrom(context.Background(), cfg2, []paxsync.SpectatorSource{askFunc{-1, sp.AnswerSpectator}})
	if err != nil {
		t.Fatal(err)
	}
	defer relayed.Close()
	deadline := time.Now().Add(3 * time.Minute)
	for (sp.Stats().Ticks < ticks || relayed.Stats().Ticks < ticks) && sp.Err() == nil && relayed.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	st := sp.Stats()
	if st.Ticks < ticks {
		t.Fatalf("the spectator applied %d ticks (err %v)", st.Ticks, sp.Err())
	}
	if rs := relayed.Stats(); rs.Ticks < ticks || len(rs.Forgeries) != 0 || len(rs.RelayFaults) != 0 {
		t.Fatalf("the relayed spectator: %d ticks, forgeries %+v, relay faults %+v (err %v)", rs.Ticks, rs.Forgeries, rs.RelayFaults, relayed.Err())
	}
	// The transport altered seat 1's answers: its source sits out turns,
	// twice as many after each fault, and no one is named (the game's
	// transport proves nothing of who sent it; only a signed forgery
	// convicts a player).
	if len(st.Forgeries) != 0 || len(st.RelayFaults) == 0 || len(st.RelayFaults) > 24 {
		t.Fatalf("forgeries %+v, source faults %+v; want seat 1's source faulted a few times, no one named", st.Forgeries, st.RelayFaults)
	}
	for _, f := range st.RelayFaults {
		if f.Seat != 1 || f.Relay != -1 {
			t.Fatalf("source fault %+v: want seat 1's source only", f)
		}
	}
	var compared [2]int
	mu.Lock()
	defer mu.Unlock()
	for tick, h := range hashes {
		for i, s := range []*paxsync.Spectator{sp, relayed} {
			if mine, ok := s.CheckpointHash(tick); ok {
				if mine != h {
					t.Fatalf("tick %d: spectator %d %s, players %s", tick, i, mine, h)
				}
				compared[i]++
			}
		}
	}
	if compared[0] == 0 || compared[1] == 0 {
		t.Fatalf("checkpoint hashes compared: %v; want some for each spectator", compared)
	}
	// Bad sources are refused before anything starts.
	for _, bad := range [][]paxsync.SpectatorSource{nil, {askFunc{7, nil}}, {askFunc{0, nil}, askFunc{0, nil}}, {nil}} {
		if _, err := paxsync.SpectateFrom(context.Background(), cfg, bad); !errors.Is(err, paxsync.ErrBadConfig) {
			t.Fatalf("sources %v: %v", bad, err)
		}
	}
}
