package demo

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"

	"github.com/hajimehoshi/ebiten/v2"
)

// LiveConfig configures a live match: the one-machine setup (Bots > 0) or
// a LAN match (Match, KeyFile, RosterFile, MDNS/Peers).
type LiveConfig struct {
	TickRate   int
	InputDelay int
	Seed       uint64
	Record     string // replay file path

	Bots            int
	Cheater         int    // bot seat that cheats, -1 for none
	Cheat           string // a paxsync.CheatKind
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
}

// CheatKinds lists the kinds a bot can be told to play: every cheat the
// session implements, through its own code path.
func CheatKinds() []string {
	return []string{string(paxsync.CheatInvalidMove), string(paxsync.CheatForgeInput),
		string(paxsync.CheatEquivocateInput), string(paxsync.CheatStateHashLie),
		string(paxsync.CheatReplayInput), string(paxsync.CheatGarbage),
		string(paxsync.CheatFlood), string(paxsync.CheatSilentLeader), string(paxsync.CheatTamperRelay),
		string(paxsync.CheatEquivocateProposal), string(paxsync.CheatDoubleVote)}
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

	mu       sync.Mutex
	controls arena.Controls
	speed    bool              // F1: the local player sends speed-hacked inputs
	cheat    paxsync.CheatKind // F2/F3: the local session's cheat ("" = none)
	lobby    bool              // LAN: the lobby is shown (touched only by the local run goroutine after start)
}

// peer is one session plus the arena mirror it keeps from its own
// TickEvents. The mirror is the game exactly as the session's engine
// advanced it (TickEvent.Inputs are what the game received), so bots and
// the renderer read game state without touching the session's copy; the
// checkpoint hashes in TickEvents check that the mirror has not diverged.
type peer struct {
	seat   int
	sess   *paxsync.Session
	mirror *arena.Arena
	bot    *arena.Bot // nil for the local player
	next   uint64     // the next tick to submit an input for
	delay  uint64
	fireState
}

// Title is the window title.
func (l *Live) Title() string { return l.title }

// CheatKeys are the local player's cheat keys. F1 makes the demo send
// speed-hacked inputs (an invalid move, caught by every engine); F2 and F3
// switch the local session's own cheat at run time (Session.SetCheat):
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
var sessionCheats = map[ebiten.Key]paxsync.CheatKind{
	ebiten.KeyF2: paxsync.CheatEquivocateInput,
	ebiten.KeyF3: paxsync.CheatStateHashLie,
}

// Input is called by the game every frame with the keyboard's state; the
// local peer submits the latest controls once per tick, and the session's
// cheat follows F2/F3 (changed only when a key was toggled).
func (l *Live) Input(c arena.Controls, cheats []CheatKey) {
	var kind paxsync.CheatKind
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
	if changed && l.local != nil && l.local.sess != nil {
		var ch *paxsync.Cheat // nil: honest again
		if kind != "" {
			ch = &paxsync.Cheat{Kind: kind}
		}
		if err := l.local.sess.SetCheat(ch); err != nil {
			log.Printf("demo: cheat key: %v", err)
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
			p.mirror.Advance(e.Tick, e.Inputs)
			if e.Checkpoint && p.mirror.Hash() != e.Hash {
				l.resync(p, isLocal, e.Tick)
			}
			l.submit(p, isLocal)
			if isLocal {
				l.World.PushFrame(Capture(p.mirror))
				l.updateLobby(nil)
			}
		case paxsync.VerdictEvent:
			if isLocal {
				l.World.AddVerdict(e.Verdict)
			}
		case paxsync.ObservationEvent:
			if isLocal {
				o := e.Observation
				l.World.AddNote(fmt.Sprintf("%s about P%d: %s", o.Kind, o.About, o.Detail))
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
				l.updateLobby(p.sess.Addrs())
			}
		case paxsync.StatsEvent:
			if isLocal {
				st := e.Stats
				l.World.SetStats(NetStats{CommitP50: st.CommitP50, CommitP99: st.CommitP99, View: st.View,
					Leader: st.Leader, TicksBehind: int(st.TicksBehind), MsgsPerSec: st.MsgsPerSec, Peers: len(st.Connected)})
			}
		case paxsync.DesyncEvent:
			if isLocal && e.Local {
				l.World.AddNote(fmt.Sprintf("this client's state diverged at tick %d", e.Tick))
			}
		}
	}
}

// submit sends inputs for every open tick up to the last agreed tick plus
// the input delay, so each tick gets one input computed from the freshest
// agreed state, tagged with the exact tick it will be applied at (the bots'
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
			if isLocal {
				l.World.AddNote("input: " + err.Error())
			}
		}
		break loop
	}
	p.next = t
}

// resync replaces a diverged mirror with the session's own state. It
// should never run: the mirror applies the same agreed inputs to the same
// deterministic game. If it does, the screen says so.
func (l *Live) resync(p *peer, isLocal bool, tick uint64) {
	snap, _ := p.sess.Snapshot()
	err := p.mirror.Restore(snap)
	if isLocal {
		l.World.AddNote(fmt.Sprintf("render mirror differed from the session at tick %d; resynced (err=%v)", tick, err))
	}
}

// Close stops every session and the recorder.
func (l *Live) Close() error {
	l.stop()
	var errs []error
	for _, p := range append([]*peer{l.local}, l.bots...) {
		if p != nil && p.sess != nil {
			if err := p.sess.Close(); err != nil && !errors.Is(err, paxsync.ErrClosed) {
				errs = append(errs, err)
			}
		}
	}
	l.wg.Wait()
	if l.rec != nil {
		errs = append(errs, l.rec.Close())
	}
	return errors.Join(errs...)
}

// newMatch is the shared part of a session config.
func newMatchConfig(lc LiveConfig, name string, roster []crypto.PublicKey, seed uint64) paxsync.Config {
	seats := len(roster)
	return paxsync.Config{
		MatchName: name, Roster: roster,
		NewGame:    func() (gamestate.Game, error) { return arena.New(seats, seed) },
		GameParams: arena.Params(seats, seed),
		TickRate:   lc.TickRate, InputDelay: lc.InputDelay, Epoch: lc.StartAt,
	}
}
