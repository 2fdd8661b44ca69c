package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/driver/nodecmd"
	"github.com/paxsync/paxsync/gamestate/arena"
)

// JoinLAN joins a real match on the network: this player's key file, the
// roster every player agreed on (its order fixes the seats), and peers
// found by mDNS or given as multiaddrs. The arena seed is derived from the
// match ID, so every player builds the same initial arena without another
// round of agreement. A lobby lists who is connected until everyone is.
func JoinLAN(ctx context.Context, lc LiveConfig) (*Live, error) {
	if lc.KeyFile == "" || lc.RosterFile == "" {
		return nil, errors.New("LAN play needs --key FILE and --roster FILE (see paxsync keygen)")
	}
	if !lc.MDNS && len(lc.Peers) == 0 {
		return nil, errors.New("LAN play needs --mdns or at least one --peer MULTIADDR")
	}
	key, err := crypto.LoadKeyFile(lc.KeyFile)
	if err != nil {
		return nil, err
	}
	name, roster, match, err := nodecmd.LoadRoster(lc.RosterFile)
	if err != nil {
		return nil, err
	}
	if lc.Match != "" && lc.Match != name {
		return nil, fmt.Errorf("--match %q but the roster is for match %q", lc.Match, name)
	}
	if len(roster) < arena.MinSeats || len(roster) > arena.MaxSeats {
		return nil, fmt.Errorf("roster has %d players; the arena seats %d..%d", len(roster), arena.MinSeats, arena.MaxSeats)
	}
	seed := lc.Seed
	if seed == 0 {
		for i := 0; i < 8; i++ {
			seed = seed<<8 | uint64(match[i])
		}
	}
	cfg := newMatchConfig(lc, name, roster, seed)
	cfg.Key = key
	cfg.Network = paxsync.NetworkConfig{MDNS: lc.MDNS, Peers: lc.Peers}
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
		players[i] = Player{Name: "P" + itoa(i), Note: k.String()}
	}
	players[me].Note, players[me].Connected = "you", true
	w := NewWorld(fmt.Sprintf("paxsync arena — match %q", name), players, me, lc.TickRate,
		crypto.NewVerifier(match, roster))
	g, _ := arena.New(len(roster), seed)
	l := &Live{World: w, title: "paxsync arena — " + name, rec: rec, stop: stop, lobby: true}
	l.local = &peer{seat: me, sess: s, mirror: g, delay: uint64(delayOf(cfg))}
	l.updateLobby(s.Addrs())
	l.wg.Add(1)
	go l.run(ctx, l.local, true)
	l.submit(l.local, true)
	return l, nil
}

// updateLobby shows who is connected until every player is (or the first
// agreed tick arrives: consensus needs only a quorum, so a match can start
// while a straggler is still connecting).
func (l *Live) updateLobby(addrs []string) {
	if !l.lobby {
		return
	}
	l.World.mu.Lock()
	missing, lines := 0, []string{}
	for _, p := range l.World.players {
		state := "connected"
		if !p.Connected {
			state, missing = "waiting…", missing+1
		}
		lines = append(lines, fmt.Sprintf("%s  %-14s %s", p.Name, p.Note, state))
	}
	started := l.World.cur != nil
	l.World.mu.Unlock()
	if missing == 0 || started {
		l.lobby = false
		l.World.SetLobby("")
		return
	}
	msg := fmt.Sprintf("Lobby — waiting for %d player(s)\n%s", missing, strings.Join(lines, "\n"))
	if len(addrs) > 0 {
		msg += "\n\nothers can join with --peer " + addrs[0]
	}
	l.World.SetLobby(msg)
}
