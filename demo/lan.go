package demo

import (
	"context"
	"errors"
	"fmt"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/demo/lobby"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/roster"
)

// JoinLAN joins a real match on the network: this player's key file, the
// roster every player agreed on (its order fixes the seats), and peers
// found by mDNS or given as multiaddrs. With neither, this peer is the
// first: it listens and waits, and the others join it with --peer (its
// addresses are in the lobby and in Addrs). The arena seed is derived from
// the match ID, so every player builds the same initial arena without
// another round of agreement. A lobby lists who is connected until
// everyone is.
func JoinLAN(ctx context.Context, lc LiveConfig) (*Live, error) {
	if lc.KeyFile == "" || lc.RosterFile == "" {
		return nil, errors.New("LAN play needs --key FILE and --roster FILE (see paxsync keygen)")
	}
	key, err := crypto.LoadKeyFile(lc.KeyFile)
	if err != nil {
		return nil, err
	}
	rs, err := roster.Load(lc.RosterFile)
	if err != nil {
		return nil, err
	}
	name, roster, match := rs.Match, rs.Keys, rs.ID
	if lc.Match != "" && lc.Match != name {
		return nil, fmt.Errorf("--match %q but the roster is for match %q", lc.Match, name)
	}
	if len(roster) < arena.MinSeats || len(roster) > arena.MaxSeats {
		return nil, fmt.Errorf("roster has %d players; the arena seats %d..%d", len(roster), arena.MinSeats, arena.MaxSeats)
	}
	seed := matchSeed(lc, match)
	cfg := newMatchConfig(lc, name, roster, seed)
	cfg.Key = key
	cfg.Prediction.Enabled = lc.Prediction
	cfg.Network = paxsync.NetworkConfig{MDNS: lc.MDNS, Peers: lc.Peers}
	if lc.SpectatorListen != "" {
		cfg.Network.SpectatorAddrs = []string{lc.SpectatorListen}
	}
	if lc.Listen != "" {
		cfg.Network.ListenAddrs = []string{lc.Listen}
	}
	rec, err := openRecorder(lc.Record)
	if err != nil {
		return nil, err
	}
	if rec != nil {
		cfg.Record = rec
	}
	ctx, stop := context.WithCancel(ctx)
	s, err := paxsync.Join(ctx, cfg)
	if err != nil {
		stop()
		if rec != nil {
			rec.Close()
		}
		return nil, err
	}
	me := s.Seat()
	players := make([]Player, len(roster))
	for i, k := range roster {
		players[i] = Player{Name: "P" + itoa(i), Note: ShortID(k.String())}
	}
	players[me].Note, players[me].Connected = "you", true
	w := NewWorld(fmt.Sprintf("paxsync arena — match %q", name), players, me, lc.TickRate,
		crypto.NewVerifier(s.MatchID(), roster))
	g, _ := arena.New(len(roster), seed)
	l := &Live{World: w, title: "paxsync arena — " + name, rec: rec, stop: stop, lobby: true, debug: lc.Debug, onObs: lc.OnObservation,
		lanInfo: &lanInfo{match: name, joinAddr: lobby.JoinAddr(s.Addrs())}, prediction: lc.Prediction}
	l.local = &peer{seat: me, sess: s, mirror: g, delay: uint64(delayOf(cfg))}
	l.updateLobby()
	l.wg.Add(1)
	go l.run(ctx, l.local, true)
	l.submitNow(l.local, true)
	l.startPrediction(ctx)
	return l, nil
}

// matchSeed is the arena seed of a LAN match: --seed, or derived from the
// match ID, so every player and spectator builds the same initial arena
// without another round of agreement.
func matchSeed(lc LiveConfig, match crypto.MatchID) uint64 {
	seed := lc.Seed
	if seed == 0 {
		for i := 0; i < 8; i++ {
			seed = seed<<8 | uint64(match[i])
		}
	}
	return seed
}

// SpectatorAddrs are the local player's spectator service addresses
// (LiveConfig.SpectatorListen): what spectators pass as --spectate.
func (l *Live) SpectatorAddrs() []string { return l.local.sess.SpectatorAddrs() }

// lanInfo is what a LAN lobby shows besides the roster.
type lanInfo struct {
	match    string
	joinAddr string // the address others should pass as --peer
}

// updateLobby shows who is connected until every player is (or the first
// agreed tick arrives: consensus needs only a quorum, so a match can start
// while a straggler is still connecting).
func (l *Live) updateLobby() {
	if !l.lobby || l.lanInfo == nil {
		return
	}
	l.World.mu.Lock()
	seats := make([]lobby.Seat, len(l.World.players))
	for i, p := range l.World.players {
		seats[i] = lobby.Seat{Name: p.Name, Key: p.Note, You: i == l.World.local, Connected: p.Connected}
	}
	started := l.World.cur != nil
	l.World.mu.Unlock()
	if lobby.Missing(seats) == 0 || started {
		l.lobby = false
		l.World.SetLobby("")
		return
	}
	l.World.SetLobby(lobby.Message(l.lanInfo.match, seats, l.lanInfo.joinAddr))
}
