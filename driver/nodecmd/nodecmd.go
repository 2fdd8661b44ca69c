// Package nodecmd is the `paxsync node` subcommand: one player's consensus
// node on a real libp2p network, deciding test values and writing the
// decided log. It lives outside package main so that tests can run it in
// re-executed test binaries as well as through the paxsync binary.
package nodecmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/driver"
	"github.com/paxsync/paxsync/netp2p"
	"github.com/paxsync/paxsync/wal"
)

// Roster is the match file: {"match": name, "players": [hex public keys]}.
type Roster struct {
	Match   string   `json:"match"`
	Players []string `json:"players"`
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type options struct {
	key, roster, wal, out string
	listen, peers         multiFlag
	mdns                  bool
	propose               int
	proposeEvery          time.Duration
	tick                  time.Duration
	slots                 uint64
	linger, timeout       time.Duration
	verbose               bool
	fsync                 wal.Policy
}

func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("paxsync node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.key, "key", "", "player key file (paxsync keygen)")
	fs.StringVar(&o.roster, "roster", "", `match file: {"match": name, "players": [hex keys]}`)
	fs.Var(&o.listen, "listen", "listen multiaddr (repeatable; default all interfaces, TCP and QUIC)")
	fs.Var(&o.peers, "peer", "bootstrap peer multiaddr with /p2p/ID (repeatable)")
	fs.BoolVar(&o.mdns, "mdns", false, "discover peers on the LAN with mDNS")
	fs.StringVar(&o.wal, "wal", "", "directory for the write-ahead log (required)")
	fs.IntVar(&o.propose, "propose", 0, "propose this many test values while leader")
	fs.DurationVar(&o.proposeEvery, "propose-every", 0, "pause between test proposals")
	fs.StringVar(&o.out, "out", "", `write the decided log here as "slot digest" lines`)
	fs.DurationVar(&o.tick, "tick", 20*time.Millisecond, "consensus tick interval")
	fs.Uint64Var(&o.slots, "slots", 0, "stop after this many decided slots (0: run until interrupted)")
	fs.DurationVar(&o.linger, "linger", 3*time.Second, "keep serving peers this long after --slots is reached")
	fs.DurationVar(&o.timeout, "timeout", 0, "give up after this long (0: never)")
	fs.BoolVar(&o.verbose, "v", false, "debug logging")
	fsync := fs.String("fsync", "power", "WAL durability: power (fsync each group; survives power loss), process (survives a process crash), none (tests only)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	p, err := wal.ParsePolicy(*fsync)
	if err != nil {
		return nil, fmt.Errorf("paxsync node: --fsync: %w", err)
	}
	o.fsync = p
	if o.key == "" || o.roster == "" || o.wal == "" {
		return nil, errors.New("paxsync node: --key, --roster and --wal are required")
	}
	return o, nil
}

// LoadRoster reads a match file and returns the match name, the keys in
// seat order and the match ID.
func LoadRoster(path string) (string, []crypto.PublicKey, crypto.MatchID, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, crypto.MatchID{}, err
	}
	var r Roster
	if err := json.Unmarshal(data, &r); err != nil {
		return "", nil, crypto.MatchID{}, fmt.Errorf("%s: %w", path, err)
	}
	var keys []crypto.PublicKey
	for i, h := range r.Players {
		k, err := crypto.ParsePublicKey(h)
		if err != nil {
			return "", nil, crypto.MatchID{}, fmt.Errorf("%s: player %d: %w", path, i, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return "", nil, crypto.MatchID{}, fmt.Errorf("%s: no players", path)
	}
	return r.Match, keys, crypto.NewMatchID(r.Match, keys), nil
}

// decidedLog is the node's application: the decided log, as "slot digest"
// lines. Its snapshot is the whole log, so catch-up through a checkpoint
// still reproduces every line.
type decidedLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *decidedLog) apply(e bft.Entry) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf("%d %s", e.Slot, crypto.Sum(e.Payload).Hex()))
	l.mu.Unlock()
}

func (l *decidedLog) snapshot(slot uint64) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return []byte(strings.Join(l.lines[:min(int(slot), len(l.lines))], "\n"))
}

func (l *decidedLog) restore(s *bft.Snapshot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = nil
	if len(s.Data) > 0 {
		l.lines = strings.Split(string(s.Data), "\n")
	}
}

func (l *decidedLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

func (l *decidedLog) write(path string) error {
	l.mu.Lock()
	data := strings.Join(l.lines, "\n") + "\n"
	l.mu.Unlock()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Run is `paxsync node`. It returns when --slots are decided (after
// --linger), when ctx ends, or on error.
func Run(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	key, err := crypto.LoadKeyFile(o.key)
	if err != nil {
		return err
	}
	name, roster, match, err := LoadRoster(o.roster)
	if err != nil {
		return err
	}
	seat := -1
	for i, k := range roster {
		if k == key.Public() {
			seat = i
		}
	}
	if seat < 0 {
		return fmt.Errorf("paxsync node: key %s is not in the roster %s", key.Public(), o.roster)
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	if err := os.MkdirAll(o.wal, 0o700); err != nil {
		return err
	}
	wlog, restored, err := driver.OpenFileWAL(filepath.Join(o.wal, "bft.wal"), o.fsync)
	if err != nil {
		return err
	}
	defer wlog.Close()
	n := len(roster)
	node, err := bft.NewNode(bft.Config{
		Seat: uint16(seat), N: n, F: (n - 1) / 3,
		Signer:   crypto.NewSigner(key, match, uint16(seat)),
		Verifier: crypto.NewVerifier(match, roster),
	}, restored)
	if err != nil {
		return err
	}
	host, err := netp2p.New(ctx, netp2p.Config{
		Key: key, Roster: roster, Match: match, MatchName: name,
		ListenAddrs: o.listen, Peers: o.peers, MDNS: o.mdns, Logger: log,
	})
	if err != nil {
		return err
	}
	defer host.Close()
	log.Info("node started", "seat", seat, "peer", host.PeerID(), "restored_records", len(restored), "addrs", host.Addrs())

	app := &decidedLog{}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	reached := make(chan struct{})
	var once sync.Once
	d, err := driver.New(driver.Config{
		Node: node, Seat: seat, N: n, Transport: host, WAL: wlog, TickInterval: o.tick,
		Apply: func(e bft.Entry) {
			app.apply(e)
			if e.Slot%10 == 0 {
				log.Info("decided", "slot", e.Slot)
			}
			if o.slots > 0 && uint64(app.len()) >= o.slots {
				once.Do(func() { close(reached) })
			}
		},
		Snapshot: app.snapshot, Restore: app.restore,
		Evidence:    func(ev bft.Evidence) { log.Warn("evidence", "offender", ev.Offender, "kind", ev.Kind.String()) },
		SyncOnStart: len(restored) > 0, Logger: log,
	})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); proposeLoop(runCtx, d, o, seat) }()

	var runErr error
	select {
	case <-reached:
		log.Info("reached slots", "slots", o.slots)
		if o.out != "" {
			if err := app.write(o.out); err != nil {
				runErr = err
			}
		}
		t := time.NewTimer(o.linger)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	case <-ctx.Done():
		if o.slots > 0 && !errors.Is(context.Cause(ctx), context.Canceled) {
			runErr = fmt.Errorf("paxsync node: decided %d of %d slots before timeout", app.len(), o.slots)
		}
	case err := <-done:
		done <- err
		runErr = err
	}
	stop()
	wg.Wait()
	if err := <-done; err != nil && runErr == nil {
		runErr = err
	}
	st := d.Stats()
	log.Info("node stopped", "decided", app.len(), "syncs_applied", st.SyncsApplied, "sync_errors", st.SyncErrs,
		"stepped", st.Stepped, "send_drops", st.SendDrops)
	if o.out != "" && o.slots == 0 {
		if err := app.write(o.out); err != nil && runErr == nil {
			runErr = err
		}
	}
	return runErr
}

// proposeLoop proposes test values while this node leads. Values carry
// their index, so a new leader continues where the log stands; duplicates
// after a view change are harmless (every node decides the same log).
func proposeLoop(ctx context.Context, d *driver.Driver, o *options, seat int) {
	if o.propose <= 0 {
		return
	}
	next := 0
	t := time.NewTicker(max(o.proposeEvery, 10*time.Millisecond))
	defer t.Stop()
	for next < o.propose {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := d.Status(ctx)
		if err != nil || !st.IsLeader {
			continue
		}
		if uint64(next) < st.Committed {
			next = int(st.Committed)
		}
		batch := 1
		if o.proposeEvery == 0 {
			batch = o.propose - next
		}
		for i := 0; i < batch && next < o.propose; i++ {
			if err := d.Propose(ctx, []byte(fmt.Sprintf("test-value-%d", next))); err != nil {
				break
			}
			next++
		}
	}
}
