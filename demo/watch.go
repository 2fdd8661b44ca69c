package demo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/roster"
)

// Watch is a LAN match watched as a spectator (paxsync.Spectate): no seat,
// a key of its own, the decided log asked from the players' spectator
// services and checked here, so what is drawn is what the honest players
// agreed, whichever player served it.
type Watch struct {
	World *World
	sp    *paxsync.Spectator
}

// WatchLAN starts watching the match of lc.RosterFile (the same settings
// the players pass: roster, --start-at, --tick-hz, --input-delay, --seed)
// through the spectator services at from (the players', or other
// spectators' relays); with lc.SpectatorListen it relays there itself.
func WatchLAN(ctx context.Context, lc LiveConfig, from []string) (*Watch, error) {
	if lc.RosterFile == "" {
		return nil, errors.New("--spectate needs the match's --roster FILE")
	}
	rs, err := roster.Load(lc.RosterFile)
	if err != nil {
		return nil, err
	}
	if len(rs.Keys) < arena.MinSeats || len(rs.Keys) > arena.MaxSeats {
		return nil, fmt.Errorf("roster has %d players; the arena seats %d..%d", len(rs.Keys), arena.MinSeats, arena.MaxSeats)
	}
	cfg := newMatchConfig(lc, rs.Match, rs.Keys, matchSeed(lc, rs.ID))
	if cfg.Key, err = crypto.GenerateKey(nil); err != nil {
		return nil, err
	}
	if lc.SpectatorListen != "" {
		cfg.Network.SpectatorAddrs = []string{lc.SpectatorListen} // relay to other spectators
	}
	sp, err := paxsync.Spectate(ctx, cfg, from)
	if err != nil {
		return nil, err
	}
	players := make([]Player, len(rs.Keys))
	for i, k := range rs.Keys {
		players[i] = Player{Name: "P" + itoa(i), Note: ShortID(k.String()), Connected: true}
	}
	w := NewWorld(fmt.Sprintf("paxsync arena — watching %q", rs.Match), players, -1, max(cfg.TickRate, 1),
		crypto.NewVerifier(crypto.NewMatchInstanceID(rs.Match, rs.Keys, lc.StartAt), rs.Keys))
	w.SetWatching("watched: its log checked here")
	return &Watch{World: w, sp: sp}, nil
}

// RelayAddrs are where this spectator relays to others (nil unless
// LiveConfig.SpectatorListen was set).
func (w *Watch) RelayAddrs() []string { return w.sp.RelayAddrs() }

// Play draws every tick the spectator has checked, at most one frame per
// tick period, and the verdicts as they come, until ctx ends or the
// spectator has no player left to watch from.
func (w *Watch) Play(ctx context.Context) {
	defer w.sp.Close()
	tk := time.NewTicker(w.World.tickDur)
	defer tk.Stop()
	shown, verdicts, dropped := uint64(0), 0, 0
	for {
		select {
		case <-ctx.Done():
			w.World.Finish(nil)
			return
		case <-tk.C:
		}
		var f Frame
		var next uint64
		w.sp.View(func(g gamestate.Game, n uint64) {
			if n > shown {
				f, next = Capture(g.(*arena.Arena)), n
			}
		})
		if next > shown {
			shown = next
			w.World.PushFrame(f)
		}
		st := w.sp.Stats()
		for _, v := range st.Verdicts[verdicts:] {
			w.World.AddVerdict(v)
		}
		verdicts = len(st.Verdicts)
		for _, fg := range st.Forgeries[dropped:] {
			w.World.AddNote(fmt.Sprintf("P%d served a forged log: no longer asked (%s)", fg.Seat, fg.Reason))
		}
		dropped = len(st.Forgeries)
		if err := w.sp.Err(); err != nil {
			w.World.Finish(err)
			return
		}
	}
}
