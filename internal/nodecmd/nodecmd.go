// Package nodecmd is the `paxsync node` subcommand: one player's consensus
// node on a real libp2p network, deciding test values and writing the
// decided log. It lives outside package main so that tests can run it in
// re-executed test binaries as well as through the paxsync binary.
package nodecmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/driver"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/internal/cli"
	"github.com/paxsync/paxsync/internal/metrics"
	"github.com/paxsync/paxsync/netp2p"
	"github.com/paxsync/paxsync/roster"
	"github.com/paxsync/paxsync/wal"
)

// Roster is the match file: {"match": name, "players": [hex public keys]}.
// It is roster.File, kept under this name for code that writes match files
// for nodes (the multi-process tests).
type Roster = roster.File

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type options struct {
	key, roster, wal, out string
	listen, peers         multiFlag
	mdns, recover         bool
	propose               int
	proposeEvery          time.Duration
	tick                  time.Duration
	slots                 uint64
	linger, timeout       time.Duration
	verbose               bool
	fsync                 wal.Policy
	metrics               string
}

const usageLine = "usage: paxsync node --key FILE --roster FILE --wal DIR [--peer MULTIADDR]... [flags]"

// parse reads the flags. Bad input is a *cli.UsageError (exit status 2);
// -h and --help give flag.ErrHelp after printing the flags (exit 0).
func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, usageLine)
		fs.PrintDefaults()
		fmt.Fprintf(stderr, `
The node logs its listen addresses (msg=listening addr=...), each ending in
/p2p/<peer ID>, once it is listening: give one to the other players' --peer.
paxsync keygen also prints a key's peer ID. The roster must list %d..%d
distinct keys, this node's among them; unknown fields are an error.
`, roster.MinPlayers, gamestate.MaxSeats)
	}
	fs.StringVar(&o.key, "key", "", "player key file (paxsync keygen)")
	fs.StringVar(&o.roster, "roster", "", `match file: {"match": name, "players": [hex keys]}`)
	fs.Var(&o.listen, "listen", "listen multiaddr (repeatable; default all interfaces, TCP and QUIC)")
	fs.Var(&o.peers, "peer", "bootstrap peer multiaddr with /p2p/ID (repeatable)")
	fs.BoolVar(&o.mdns, "mdns", false, "discover peers on the LAN with mDNS")
	fs.StringVar(&o.wal, "wal", "", "directory for the write-ahead log (required)")
	fs.IntVar(&o.propose, "propose", 0, "propose this many test values while leader")
	cli.DurationVar(fs, &o.proposeEvery, "propose-every", 0, "pause between test proposals")
	fs.StringVar(&o.out, "out", "", `write the decided log here as "slot digest" lines`)
	cli.DurationVar(fs, &o.tick, "tick", 20*time.Millisecond, "consensus tick interval")
	fs.Uint64Var(&o.slots, "slots", 0, "stop after this many decided slots (0: run until interrupted); --out then holds exactly\nthe first N, although the node goes on deciding with its peers during --linger")
	cli.DurationVar(fs, &o.linger, "linger", 3*time.Second, "keep serving peers this long after --slots is reached (so that slower peers reach it too)")
	cli.DurationVar(fs, &o.timeout, "timeout", 0, "give up after this long (0: never)")
	fs.BoolVar(&o.verbose, "v", false, "debug logging")
	fs.StringVar(&o.metrics, "metrics", "", "serve Prometheus /metrics and net/http/pprof /debug/pprof/ on `ADDR`\n(a bare :PORT binds 127.0.0.1; :0 picks a port, logged as msg=metrics addr=...; default off)")
	fs.BoolVar(&o.recover, "recover", false, "this seat lost or damaged its WAL: keep a damaged one aside and rejoin as a learner\nthat signs no vote for the rest of the match (docs/PROTOCOL.md)")
	fsync := fs.String("fsync", "power", "WAL durability: power (fsync each group; survives power loss), process (survives a process crash), none (tests only)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &cli.UsageError{Err: err}
	}
	if fs.NArg() != 0 {
		return nil, cli.Usagef("unexpected argument %q (%s)", fs.Arg(0), usageLine)
	}
	p, err := wal.ParsePolicy(*fsync)
	if err != nil {
		return nil, cli.Usagef("--fsync: %w", err)
	}
	o.fsync = p
	if o.key == "" || o.roster == "" || o.wal == "" {
		return nil, cli.Usagef("--key, --roster and --wal are required (%s)", usageLine)
	}
	return o, nil
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

// write writes the first limit lines (all of them if limit < 0) to path.
func (l *decidedLog) write(path string, limit int) error {
	l.mu.Lock()
	lines := l.lines
	if limit >= 0 && limit < len(lines) {
		lines = lines[:limit]
	}
	data := strings.Join(lines, "\n") + "\n"
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
	rs, err := roster.Load(o.roster)
	if errors.Is(err, roster.ErrInvalid) {
		return &cli.UsageError{Err: fmt.Errorf("--roster: %w", err)}
	}
	if err != nil {
		return err
	}
	name, roster, match, seat := rs.Match, rs.Keys, rs.ID, rs.Seat(key.Public())
	if seat < 0 {
		return cli.Usagef("the key in %s (public key %s) is not in the roster %s", o.key, key.Public().Hex(), o.roster)
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	// A damaged WAL or one of another seat or match is an error (exit
	// status 1), never replaced: the node must not run without its votes.
	// With --recover, a damaged one is kept aside and the node rejoins as
	// a learner that signs no vote (bft.Config.Recovering).
	wlog, restored, err := driver.OpenWAL(o.wal, o.fsync, driver.Owner{Match: match, Seat: seat, Key: key.Public()}, o.recover, log)
	if err != nil {
		return err
	}
	defer wlog.Close()
	n := len(roster)
	node, err := bft.NewNode(bft.Config{
		Seat: uint16(seat), N: n, F: (n - 1) / 3,
		Signer:     crypto.NewSigner(key, match, uint16(seat)),
		Verifier:   crypto.NewVerifier(match, roster),
		Recovering: o.recover,
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
	// One line per address, each complete with /p2p/<peer ID> and without
	// quotes, so that the other players can copy one into their --peer.
	for _, a := range host.Addrs() {
		log.Info("listening", "addr", a)
	}

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
	if o.metrics != "" {
		srv, err := serveMetrics(o.metrics, name, seat, d, host)
		if err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
		defer srv.Close()
		log.Info("metrics", "addr", srv.Addr())
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
			// Exactly the first --slots slots: more may have been decided
			// since reached was closed.
			if err := app.write(o.out, int(o.slots)); err != nil {
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
			runErr = fmt.Errorf("decided %d of %d slots before the --timeout", app.len(), o.slots)
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
		if err := app.write(o.out, -1); err != nil && runErr == nil {
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

// serveMetrics serves the node's metrics (consensus and network; a bare
// node has no game) with the Go runtime's and the process's, and the
// runtime profiles, on addr until the returned server is closed.
func serveMetrics(addr, match string, seat int, d *driver.Driver, host *netp2p.Host) (*metrics.Server, error) {
	reg := metrics.NewRegistry()
	if _, err := metrics.New(reg, match, seat, metrics.Sources{Driver: d, Net: host}); err != nil {
		return nil, err
	}
	return metrics.Serve(addr, reg)
}
