package demo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/demo/prediction"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/internal/adversary"

	"github.com/hajimehoshi/ebiten/v2"
)

// LiveConfig configures a live match: the one-machine setup (Bots > 0) or
// a LAN match (Match, KeyFile, RosterFile, MDNS/Peers).
type LiveConfig struct {
	TickRate   int
	InputDelay int
	// Prediction makes the local player's session speculate
	// (paxsync.Config.Prediction): the arena draws its predicted state, so
	// the ship answers the keys on the next frame (the copy runs to the
	// last tick this player has sampled, whatever the InputDelay). Bots
	// and the agreed path that verdicts, scores and replays use are
	// unchanged.
	Prediction bool
	Seed       uint64
	Record     string // replay file path

	Bots            int
	Cheater         int    // seat that cheats (0: the local player), -1 for none
	Cheat           string // a adversary.Kind
	CheatAfter      time.Duration
	CheatAfterTicks uint64

	Match, KeyFile, RosterFile string
	// StartAt is the match's tick grid (Config.Epoch): every LAN player
	// passes the same moment, so their inputs for a tick are signed
	// together. Zero: each clock starts when its peer has heard all others.
	StartAt time.Time
	MDNS    bool
	Peers   []string
	Listen  string
	// SpectatorListen starts this player's spectator service there
	// (paxsync.NetworkConfig.SpectatorAddrs): others may watch the match
	// with --spectate.
	SpectatorListen string

	// Debug, if set, receives the demo's internal notes, which are not
	// for the player's screen: a render mirror resynced from its session,
	// a refused input.
	Debug func(msg string)
	// OnObservation, if set, is called with every observation the local
	// peer reports, on the goroutine that drains its events.
	OnObservation func(gamestate.Observation)
}

// Live is a running match with the local player at seat `seat`. Bots (in
// the one-machine setup) are further sessions in this process; each one is
// a full peer with its own key and libp2p host.
type Live struct {
	World *World
	title string
	local *peer
	bots  []*peer
	rec   *recorder
	wg    sync.WaitGroup
	stop  context.CancelFunc
	debug func(string)
	onObs func(gamestate.Observation)
	// notice is a sentence for the terminal about how the match was set
	// up (a leader-only cheater moved to seat 0).
	notice string
	// ownCheat is the local session's cheat from --cheater 0, which it
	// plays again when F2 and F3 are off (nil: honest). Set before the
	// game starts.
	ownCheat *adversary.Cheat

	mu       sync.Mutex
	controls arena.Controls
	speed    bool           // F1: the local player sends speed-hacked inputs
	cheat    adversary.Kind // F2/F3: the local session's cheat ("" = none)
	lobby    bool           // LAN: the lobby is shown (touched only by the local run goroutine after start)
	lanInfo  *lanInfo       // LAN: what the lobby lists (nil in the one-machine demo)
	// prediction: the local session speculates (LiveConfig.Prediction).
	prediction bool
	rollRate   prediction.Rate // rollbacks per second, from the local session's StatsEvents (its run goroutine)

	closeOnce sync.Once
	closeErr  error
}

// peer is one session plus the arena mirror it keeps from its own
// TickEvents. The mirror is the game exactly as the session's engine
// advanced it (TickEvent.Inputs are what the game received), so bots and
// the renderer read game state without touching the session's copy; the
// checkpoint hashes in TickEvents check that the mirror has not diverged.
//
// mu guards the mirror, next and fireState: the run goroutine advances the
// mirror, and with prediction the local peer's predict goroutine submits
// inputs too.
type peer struct {
	mu     sync.Mutex
	seat   int
	sess   *paxsync.Session
	player *adversary.Player // nil unless it joined through the adversary (local player, cheater)
	mirror *arena.Arena
	bot    *arena.Bot // nil for the local player
	next   uint64     // the next tick to submit an input for
	delay  uint64
	fireState
}

// Title is the window title.
func (l *Live) Title() string { return l.title }

// Notice is a sentence for the terminal about how the match was set up,
// or "".
func (l *Live) Notice() string { return l.notice }

// PeerID is the local player's libp2p peer ID.
func (l *Live) PeerID() string { return l.local.sess.PeerID() }

// Addrs are the local player's listen multiaddrs, each ending in
// /p2p/<peer ID>: what other players pass as --peer.
func (l *Live) Addrs() []string { return l.local.sess.Addrs() }

// logf sends an internal note to LiveConfig.Debug.
func (l *Live) logf(format string, args ...any) {
	if l.debug != nil {
		l.debug(fmt.Sprintf(format, args...))
	}
}

// CheatKeys are the local player's cheat keys. F1 makes the demo send
// speed-hacked inputs (an invalid move, caught by every engine); F2 and F3
// switch the local session's own cheat at run time (adversary.Player.SetCheat):
// F2 signs two different inputs per tick (input equivocation, caught by
// every pool), F3 signs a wrong state hash at checkpoints (state
// divergence). A session plays one cheat at a time, so F2 and F3 are
// exclusive: turning one on turns the other off.
func (l *Live) CheatKeys() []CheatKey {
	return []CheatKey{
		{Key: ebiten.KeyF1, Name: "F1", Label: "speed hack"},
		{Key: ebiten.KeyF2, Name: "F2", Label: "equivocate inputs", Exclusive: true},
		{Key: ebiten.KeyF3, Name: "F3", Label: "lie about state", Exclusive: true},
	}
}

// sessionCheats maps the cheat keys played by the session itself to its
// cheat kinds.
var sessionCheats = map[ebiten.Key]adversary.Kind{
	ebiten.KeyF2: adversary.EquivocateInput,
	ebiten.KeyF3: adversary.StateHashLie,
}

// Input is called by the game every frame with the keyboard's state; the
// local peer submits the latest controls once per tick, and the session's
// cheat follows F2/F3 (changed only when a key was toggled).
func (l *Live) Input(c arena.Controls, cheats []CheatKey) {
	var kind adversary.Kind
	l.mu.Lock()
	l.controls = c
	l.speed = false
	for _, k := range cheats {
		if k.Key == ebiten.KeyF1 && k.Active {
			l.speed = true
		}
		if sk, ok := sessionCheats[k.Key]; ok && k.Active && kind == "" {
			kind = sk
		}
	}
	changed := kind != l.cheat
	l.cheat = kind
	l.mu.Unlock()
	if changed && l.local != nil && l.local.player != nil {
		ch := l.ownCheat // nil: honest again
		if kind != "" {
			ch = &adversary.Cheat{Kind: kind}
		}
		if err := l.local.player.SetCheat(ch); err != nil {
			l.logf("cheat key: %v", err)
		}
	}
}

// localInput is the local player's input for tick, keeping the fire rate
// legal (a held space bar must not make an honest player a cheater) unless
// the speed hack is on, in which case thrust is illegal on purpose.
func (l *Live) localInput(p *peer, tick uint64) []byte {
	l.mu.Lock()
	c, speed := l.controls, l.speed
	l.mu.Unlock()
	if c.Fire && !localCanFire(p, tick) {
		c.Fire = false
	}
	if c.Fire {
		p.lastFire, p.fired = tick, true
	}
	if speed {
		return arena.SpeedHackInput(c)
	}
	return arena.EncodeInput(c)
}

// fireState is kept per peer for the local player's fire-rate guard.
type fireState struct {
	lastFire uint64
	fired    bool
}

func localCanFire(p *peer, tick uint64) bool {
	a := p.mirror
	if tick < a.Next() || uint64(a.Ship(p.seat).Cooldown) > tick-a.Next() {
		return false
	}
	return !p.fired || tick >= p.lastFire+arena.FireCooldown
}

// run drains one session's events until it closes: it advances the
// mirror, submits inputs ahead of the agreed tick, and (for the local
// player) feeds the World.
func (l *Live) run(ctx context.Context, p *peer, isLocal bool) {
	defer l.wg.Done()
	for {
		var ev paxsync.Event
		var ok bool
		select {
		case <-ctx.Done():
			return
		case ev, ok = <-p.sess.Events():
			if !ok {
				return
			}
		}
		switch e := ev.(type) {
		case paxsync.TickEvent:
			p.mu.Lock()
			p.mirror.Advance(e.Tick, e.Inputs)
			if e.Checkpoint && p.mirror.Hash() != e.Hash {
				l.resync(p, isLocal, e.Tick)
			}
			l.submit(p, isLocal)
			var f Frame
			if isLocal {
				f = Capture(p.mirror)
			}
			p.mu.Unlock()
			if isLocal {
				l.World.PushFrame(f)
				l.updateLobby()
			}
		case paxsync.VerdictEvent:
			if isLocal {
				l.World.AddVerdict(e.Verdict)
			}
		case paxsync.ObservationEvent:
			if isLocal {
				o := e.Observation
				l.World.AddNote(fmt.Sprintf("%s about P%d: %s", o.Kind, o.About, o.Detail))
				if l.onObs != nil {
					l.onObs(o)
				}
			}
		case paxsync.PeerEvent:
			if isLocal {
				switch e.Kind {
				case paxsync.PeerConnected:
					l.World.SetConnected(e.Seat, true)
				case paxsync.PeerDisconnected:
					l.World.SetConnected(e.Seat, false)
				case paxsync.PeerSilent:
					l.World.AddNote(fmt.Sprintf("P%d has been silent", e.Seat))
				}
				l.updateLobby()
			}
		case paxsync.StatsEvent:
			if isLocal {
				st := e.Stats
				l.World.SetStats(NetStats{CommitP50: st.CommitP50, CommitP99: st.CommitP99, View: st.View,
					Leader: st.Leader, TicksBehind: int(st.TicksBehind), MsgsPerSec: st.MsgsPerSec, Peers: len(st.Connected),
					PeerRTT: st.PeerRTT, Prediction: l.predictionFigures(st)})
			}
		case paxsync.DesyncEvent:
			if isLocal && e.Local {
				l.World.AddNote(fmt.Sprintf("this client's state diverged at tick %d", e.Tick))
			}
		}
	}
}

// submitNow is submit for a goroutine that does not hold p.mu.
func (l *Live) submitNow(p *peer, isLocal bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l.submit(p, isLocal)
}

// submit sends inputs for every open tick up to the last agreed tick plus
// the input delay (p.mu held), so each tick gets one input computed from
// the freshest agreed state, tagged with the exact tick it will be applied at (the bots'
// and the local fire-rate guard depend on that).
func (l *Live) submit(p *peer, isLocal bool) {
	t := max(p.next, p.sess.InputTick(), p.mirror.Next())
	upto := max(p.mirror.Next()+p.delay, t)
loop:
	for ; t <= upto; t++ {
		var in []byte
		if isLocal {
			in = l.localInput(p, t)
		} else {
			in = p.bot.Input(p.mirror, t)
		}
		err := p.sess.SubmitInputAt(t, in)
		switch {
		case err == nil, errors.Is(err, paxsync.ErrTooLate):
			continue
		case errors.Is(err, paxsync.ErrTooEarly), errors.Is(err, paxsync.ErrClosed):
		default:
			l.logf("seat %d: input for tick %d refused: %v", p.seat, t, err)
		}
		break loop
	}
	p.next = t
}

// resync replaces a diverged mirror with the session's own state. The
// mirror applies the same agreed inputs to the same deterministic game, so
// this is about the demo's own bookkeeping, not the match: it is logged
// (LiveConfig.Debug), not shown to the player.
func (l *Live) resync(p *peer, isLocal bool, tick uint64) {
	snap, _ := p.sess.Snapshot()
	err := p.mirror.Restore(snap)
	who := "bot"
	if isLocal {
		who = "local"
	}
	l.logf("seat %d (%s): render mirror differed from the session at tick %d; resynced (restore error: %v)", p.seat, who, tick, err)
}

// Close stops every session (all at once: each closes its libp2p host and
// WAL) and then finishes the replay file. It is safe to call more than
// once.
func (l *Live) Close() error {
	l.closeOnce.Do(func() {
		l.stop()
		var mu sync.Mutex
		var errs []error
		var wg sync.WaitGroup
		for _, p := range append([]*peer{l.local}, l.bots...) {
			if p == nil || p.sess == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := p.sess.Close(); err != nil && !errors.Is(err, paxsync.ErrClosed) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("seat %d: %w", p.seat, err))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		l.wg.Wait()
		if l.rec != nil {
			errs = append(errs, l.rec.Close())
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// newMatch is the shared part of a session config.
func newMatchConfig(lc LiveConfig, name string, roster []crypto.PublicKey, seed uint64) paxsync.Config {
	seats := len(roster)
	rate := lc.TickRate
	if rate == 0 {
		rate = gamestate.DefaultTickRate
	}
	return paxsync.Config{
		MatchName: name, Roster: roster,
		NewGame:    func() (gamestate.Game, error) { return arena.New(seats, seed) },
		GameParams: arena.Params(seats, seed),
		TickRate:   lc.TickRate, InputDelay: lc.InputDelay, Epoch: lc.StartAt,
		// One Grace for every seat, written out rather than left to each
		// session's default: an acceptor judges a leader's "no input"
		// against its own deadline, so seats with different graces would
		// refuse each other's honest batches as censorship (Config.Grace).
		Grace: time.Second / time.Duration(rate),
	}
}
