// Command paxsync-demo is the Ebiten arena client. With no LAN flags it
// starts "one machine, one command": the local player plus --bots bot
// peers, each a real paxsync session with its own key, talking libp2p over
// loopback, so the whole system (and a cheater being caught) is visible at
// once. --replay watches a recorded match; --ticks with --screenshot makes
// a headless check that works under Xvfb.
//
// Verdicts are printed as they are reached (the first of each kind against
// each player; -v for all) and summarised once at the end. SIGINT, SIGTERM
// and SIGQUIT end the demo cleanly: the window loop stops, every session
// closes (its WAL with it), the replay file is finished and the summary is
// printed; the exit status is then 0.
//
// --help, a bad flag and a missing display are answered before Ebiten's
// package init, which would otherwise panic without a display: see package
// internal/preflight.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	_ "github.com/paxsync/paxsync/cmd/paxsync-demo/internal/preflight" // must run before Ebiten's init

	"github.com/paxsync/paxsync/cmd/paxsync-demo/internal/cli"
	"github.com/paxsync/paxsync/demo"
	"github.com/paxsync/paxsync/demo/lobby"
	"github.com/paxsync/paxsync/demo/verdictlog"
)

// forceAfter is how long a stop signal waits for the window loop to return
// before the shutdown runs without it. The loop checks every frame, so
// this only matters if it is stuck.
const forceAfter = 3 * time.Second

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	// Preflight has answered --help and bad flags already; parsing again
	// is cheap and keeps run complete on its own.
	o, err := cli.Parse(args)
	if err != nil {
		return cli.ParseFailed(err, stdout, stderr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
	defer signal.Stop(sigs)

	d := &demoRun{o: o, stdout: stdout, stderr: stderr, done: make(chan struct{})}
	go d.watchSignals(sigs, cancel)
	err = d.play(ctx)
	if err != nil && ctx.Err() != nil {
		// Stopped by a signal while starting: the source has cleaned up
		// after itself (its start-up honours ctx).
		d.shutdown()
		err = nil
	}
	close(d.done)
	if err != nil {
		fmt.Fprintln(stderr, "paxsync-demo:", err)
		return cli.ExitError
	}
	return cli.ExitOK
}

// demoRun is one run of the demo: the source being shown, its verdict log
// and the shutdown that both the normal end and a stop signal go through.
type demoRun struct {
	o              *cli.Options
	stdout, stderr io.Writer
	vlog           *verdictlog.Log
	done           chan struct{} // closed when play has returned and shut down

	mu      sync.Mutex
	closeFn func() error // stops the source; nil until the window loop runs

	shutOnce sync.Once
	shutErr  error
}

// watchSignals turns the first stop signal into cancel (start-up gives
// up, the window loop returns at its next update) and makes sure the
// process ends even if the loop does not: forceAfter later, if the loop
// runs still, it shuts down and exits itself. A second signal exits at
// once.
func (d *demoRun) watchSignals(sigs <-chan os.Signal, cancel context.CancelFunc) {
	var sig os.Signal
	select {
	case sig = <-sigs:
	case <-d.done:
		return
	}
	fmt.Fprintf(d.stderr, "paxsync-demo: %v: stopping\n", sig)
	cancel()
	timeout := time.After(forceAfter)
	for {
		select {
		case <-d.done:
			return
		case sig = <-sigs:
			fmt.Fprintf(d.stderr, "paxsync-demo: %v again: exiting without cleanup\n", sig)
			os.Exit(cli.ExitError)
		case <-timeout:
			d.mu.Lock()
			running := d.closeFn != nil
			d.mu.Unlock()
			if !running {
				timeout = nil // still starting: start-up honours ctx, wait for it
				continue
			}
			fmt.Fprintln(d.stderr, "paxsync-demo: the window loop did not stop; shutting down without it")
			code := cli.ExitOK
			if err := d.shutdown(); err != nil {
				fmt.Fprintln(d.stderr, "paxsync-demo:", err)
				code = cli.ExitError
			}
			os.Exit(code)
		}
	}
}

// shutdown stops the source (sessions, WALs, replay file) and prints the
// verdict summary, once, whoever calls it first.
func (d *demoRun) shutdown() error {
	d.shutOnce.Do(func() {
		d.mu.Lock()
		closeFn := d.closeFn
		d.mu.Unlock()
		if closeFn != nil {
			d.shutErr = closeFn()
		}
		if d.vlog != nil {
			d.vlog.Summary()
		}
	})
	return d.shutErr
}

// debug is LiveConfig.Debug: internal notes go to stderr under -v.
func (d *demoRun) debug(msg string) {
	fmt.Fprintln(d.stderr, "paxsync-demo: [debug]", msg)
}

// play builds the source the flags ask for, runs the window until it is
// closed, the headless run is complete or ctx is cancelled, and shuts
// down.
func (d *demoRun) play(ctx context.Context) error {
	o := d.o
	d.vlog = verdictlog.New(d.stdout, o.Verbose)
	gopt := demo.Options{ExitAfterTicks: o.Ticks, Screenshot: o.Screenshot, ShowNet: o.Net, Quit: ctx.Done()}
	title := "paxsync replay"
	var closeFn func() error
	switch {
	case o.Replay != "":
		r, err := demo.OpenReplay(o.Replay, o.ReplaySpeed)
		if err != nil {
			return err
		}
		gopt.World = r.World
		played := make(chan struct{})
		rctx, stop := context.WithCancel(ctx)
		go func() {
			defer close(played)
			r.Play(rctx)
		}()
		closeFn = func() error { stop(); <-played; return nil }
	case len(o.Spectate) > 0:
		lc := demo.LiveConfig{TickRate: o.TickHz, InputDelay: o.InputDelay, Seed: o.Seed, RosterFile: o.Roster, StartAt: o.StartAt,
			SpectatorListen: o.Spectators}
		wt, err := demo.WatchLAN(ctx, lc, o.Spectate)
		if err != nil {
			return err
		}
		if a := lobby.JoinAddr(wt.RelayAddrs()); a != "" {
			fmt.Fprintln(d.stdout, "paxsync-demo: other spectators can watch through this one with:")
			fmt.Fprintf(d.stdout, "  paxsync-demo --spectate %s --roster %s\n", a, o.Roster)
		}
		gopt.World = wt.World
		title = "paxsync spectator"
		watched := make(chan struct{})
		wctx, stop := context.WithCancel(ctx)
		go func() {
			defer close(watched)
			wt.Play(wctx)
		}()
		closeFn = func() error { stop(); <-watched; return nil }
	default:
		lc := demo.LiveConfig{TickRate: o.TickHz, InputDelay: o.InputDelay, Prediction: o.Prediction, Seed: o.Seed, Record: o.Record,
			OnObservation: d.vlog.AddObservation}
		if o.Verbose {
			lc.Debug = d.debug
		}
		var live *demo.Live
		var err error
		if o.LAN {
			lc.Match, lc.KeyFile, lc.RosterFile, lc.MDNS, lc.Peers, lc.Listen = o.Match, o.Key, o.Roster, o.MDNS, o.Peers, o.Listen
			lc.StartAt, lc.SpectatorListen = o.StartAt, o.Spectators
			live, err = demo.JoinLAN(ctx, lc)
		} else {
			lc.Bots, lc.Cheater, lc.Cheat = o.Bots, o.Cheater, o.Cheat
			lc.CheatAfter, lc.CheatAfterTicks = o.CheatAfter, o.CheatAfterTicks
			live, err = demo.StartLocal(ctx, lc)
		}
		if err != nil {
			return err
		}
		if o.LAN {
			d.printListening(live)
		}
		if n := live.Notice(); n != "" {
			fmt.Fprintln(d.stdout, "paxsync-demo:", n)
		}
		gopt.World, gopt.Input, gopt.Cheats = live.World, live.Input, live.CheatKeys()
		title = live.Title()
		closeFn = live.Close
	}
	gopt.World.OnVerdict(func(f demo.Flag) { d.vlog.Add(f.Verdict, f.Text) })
	d.mu.Lock()
	d.closeFn = closeFn
	d.mu.Unlock()

	runErr := demo.Run(demo.NewGame(gopt), title)
	if err := d.shutdown(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// printListening tells a LAN player, on the terminal, where this peer
// listens and the command the others join it with.
func (d *demoRun) printListening(live *demo.Live) {
	addrs := live.Addrs()
	fmt.Fprintf(d.stdout, "paxsync-demo: listening as peer %s on:\n", live.PeerID())
	for _, a := range addrs {
		fmt.Fprintln(d.stdout, "  "+a)
	}
	if a := lobby.JoinAddr(addrs); a != "" {
		fmt.Fprintln(d.stdout, "paxsync-demo: the others can join with:")
		fmt.Fprintln(d.stdout, "  "+lobby.JoinCommand(d.o.Match, d.o.Roster, a))
	}
	if a := lobby.JoinAddr(live.SpectatorAddrs()); a != "" {
		fmt.Fprintln(d.stdout, "paxsync-demo: spectators can watch with:")
		fmt.Fprintf(d.stdout, "  paxsync-demo --spectate %s --roster %s\n", a, d.o.Roster)
	}
}
