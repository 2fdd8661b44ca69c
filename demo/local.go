package demo

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/demo/cheats"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/internal/adversary"
)

// recorder is the replay file a session writes through Config.Record.
type recorder struct {
	f  *os.File
	mu sync.Mutex
}

func (r *recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.Write(b)
}

func (r *recorder) Close() error { return r.f.Close() }

func openRecorder(path string) (*recorder, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--record: %w", err)
	}
	return &recorder{f: f}, nil
}

// StartLocal starts "one machine, one command": seat 0 is the local
// player, seats 1..Bots are bots. Every seat is a real paxsync session with
// a fresh key and its own libp2p host on 127.0.0.1, and the bots are dialled
// to seat 0's address, so everything on screen went through the real
// protocol.
//
// A cheat that acts only while its player leads (cheats.LeaderOnly) would
// do nothing as a follower, and seat 0 leads the first view: so such a
// cheating bot plays seat 0 and the local player takes the bot's seat
// (Live.Notice says so). The HUD shows whether it leads at any moment.
// Cheater 0 is the local player: the cheat keys' way of being caught, with
// any kind and from a chosen tick, for headless runs.
func StartLocal(ctx context.Context, lc LiveConfig) (*Live, error) {
	n := lc.Bots + 1
	seed := lc.Seed
	if seed == 0 {
		var b [8]byte
		if _, err := crand.Read(b[:]); err != nil {
			return nil, err
		}
		seed = binary.LittleEndian.Uint64(b[:])
	}
	keys := make([]*crypto.PrivateKey, n)
	roster := make([]crypto.PublicKey, n)
	for i := range keys {
		k, err := crypto.GenerateKey(crand.Reader)
		if err != nil {
			return nil, err
		}
		keys[i], roster[i] = k, k.Public()
	}
	name := fmt.Sprintf("local-%x", seed&0xffffff)
	you, cheater := 0, lc.Cheater
	var notice string
	if cheater > 0 && cheats.LeaderOnly(lc.Cheat) {
		you, cheater = lc.Cheater, 0
		notice = fmt.Sprintf("%s acts only while its player leads, and seat 0 leads first: the cheating bot plays P0 and you play P%d", lc.Cheat, you)
	}
	players := make([]Player, n)
	for i := range players {
		players[i] = Player{Name: "P" + itoa(i), Note: "bot"}
	}
	players[you] = Player{Name: "P" + itoa(you), Note: "you", Connected: true}
	fromTick := lc.CheatAfterTicks
	if lc.CheatAfter > 0 {
		fromTick = uint64(lc.CheatAfter.Seconds() * float64(max(lc.TickRate, 1)))
	}
	if cheater >= 0 && cheater < n {
		players[cheater].Cheat, players[cheater].CheatFrom = lc.Cheat, fromTick
	}
	base := newMatchConfig(lc, name, roster, seed)
	// Fresh keys every run: no process can restart into these seats, so
	// their votes need no file (Config.WALDir).
	base.WALDir = paxsync.MemoryWAL
	// Every seat runs in this process: give them one tick grid, so each
	// tick's inputs are signed together and agreed one consensus round
	// later (Config.Epoch).
	if base.Epoch.IsZero() {
		base.Epoch = time.Now().Add(time.Second)
	}
	w := NewWorld(fmt.Sprintf("paxsync arena — you + %d bot peers", lc.Bots), players, you, lc.TickRate,
		crypto.NewVerifier(crypto.NewMatchInstanceID(name, roster, base.Epoch), roster))
	rec, err := openRecorder(lc.Record)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(ctx)
	l := &Live{World: w, title: "paxsync arena", rec: rec, stop: stop, debug: lc.Debug, onObs: lc.OnObservation, notice: notice,
		prediction: lc.Prediction}
	fail := func(err error) (*Live, error) {
		l.Close()
		return nil, err
	}
	var first *paxsync.Session // seat 0, which every other seat dials
	for i := 0; i < n; i++ {
		cfg := base
		cfg.Key = keys[i]
		cfg.Network.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
		if i == you {
			if rec != nil {
				cfg.Record = rec
			}
			cfg.Prediction.Enabled = lc.Prediction
		}
		if i > 0 {
			cfg.Network.Peers = first.Addrs()
		}
		var ch *adversary.Cheat
		if i == cheater {
			var err error
			if ch, err = botCheat(lc.Cheat, fromTick); err != nil {
				return fail(err)
			}
			if i == you {
				l.ownCheat = ch
			}
		}
		// The local player joins through the adversary even when honest, so
		// its cheat keys (F2, F3) can switch a cheat on mid-match.
		var s *paxsync.Session
		var player *adversary.Player
		var err error
		if ch != nil || i == you {
			s, player, err = adversary.Join(ctx, cfg, ch)
		} else {
			s, err = paxsync.Join(ctx, cfg)
		}
		if err != nil {
			return fail(fmt.Errorf("seat %d: %w", i, err))
		}
		if i == 0 {
			first = s
		}
		g, _ := arena.New(n, seed)
		p := &peer{seat: i, sess: s, player: player, mirror: g, delay: uint64(delayOf(cfg))}
		if i == you {
			l.local = p
		} else {
			p.bot = arena.NewBot(i, seed)
			l.bots = append(l.bots, p)
		}
	}
	for _, p := range append([]*peer{l.local}, l.bots...) {
		l.wg.Add(1)
		go l.run(ctx, p, p == l.local)
		l.submitNow(p, p == l.local) // inputs for the first ticks
	}
	l.startPrediction(ctx)
	return l, nil
}

// delayOf is the input delay the session will use (its default when 0;
// see Config.InputDelay).
func delayOf(cfg paxsync.Config) int {
	switch {
	case cfg.InputDelay > 0:
		return cfg.InputDelay
	case cfg.Sealed:
		return paxsync.DefaultSealedInputDelay
	}
	return gamestate.DefaultInputDelay
}

// botCheat turns --cheat into the adversary's Cheat. invalid-move
// rewrites every input into arena.SpeedHackInput, which the arena's rules
// reject as a speed violation.
func botCheat(kind string, from uint64) (*adversary.Cheat, error) {
	ch := &adversary.Cheat{Kind: adversary.Kind(kind), FromTick: from}
	switch ch.Kind {
	case adversary.InvalidMove:
		ch.Mutate = func(in []byte) []byte {
			c, err := arena.DecodeInput(in)
			if err != nil {
				return in
			}
			return arena.SpeedHackInput(c)
		}
	case adversary.ForgeInput, adversary.EquivocateInput, adversary.StateHashLie,
		adversary.ReplayInput, adversary.Garbage, adversary.Flood, adversary.SilentLeader,
		adversary.TamperRelay, adversary.EquivocateProposal, adversary.DoubleVote:
	default:
		return nil, fmt.Errorf("--cheat %q: want one of %v", kind, cheats.Kinds())
	}
	return ch, nil
}
