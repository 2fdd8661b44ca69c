package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/internal/bench"
	"github.com/paxsync/paxsync/internal/cli"
)

const benchExamples = `
examples:
  paxsync bench --peers 4 --tick-hz 60 --duration 20s --json   # the issue's acceptance run
  paxsync bench --peers 7 --mode bft,broadcast                    # two modes, human table
  paxsync bench --peers 4 --tick-hz 0 --mode bft                  # saturating: decided ticks/s
  paxsync bench --sweep --duration 10s                            # n = 4, 7, 10, 16 × modes → docs/BENCHMARKS.md

Every peer is its own OS process (paxsync match play) on 127.0.0.1. Exit
status: 0 every run completed (targets missed are reported, not errors),
1 a run failed, 2 bad flags. Figures are defined in docs/BENCH.md.

--peers 1..3 runs, but bft with n < 4 tolerates no faulty peer (f = 0):
such runs measure the protocol's cost, not a Byzantine-tolerant match, and
a warning says so on stderr.
`

// minTolerantPeers is the smallest n for which bft tolerates a fault
// (n >= 3f+1 with f >= 1); below it the benchmark warns.
const minTolerantPeers = 4

// runBench is `paxsync bench`: see bench.Options and docs/BENCH.md.
func runBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	peers := fs.Int("peers", 4, "number of peers (OS processes), 1..16; below 4, bft tolerates no fault (a warning is printed)")
	hz := fs.Int("tick-hz", 60, "ticks per second, 1..60; 0 = saturating (as fast as consensus goes)")
	dur := cli.Duration(fs, "duration", 10*time.Second, "measured window per mode, with a unit (at least 1s)")
	warm := cli.Duration(fs, "warmup", 2*time.Second, "warm-up before the window, with a unit (excluded from every figure)")
	modes := fs.String("mode", "all", "bft, broadcast, crash, all, or a comma list (e.g. bft,broadcast)")
	asJSON := fs.Bool("json", false, "print one JSON object on stdout (the table goes to stderr)")
	sweep := fs.Bool("sweep", false, "run n = 4, 7, 10 (60 Hz), 16 (30 Hz) and a saturating n = 4 in every mode; write --docs and its plot")
	docs := fs.String("docs", "docs/BENCHMARKS.md", "with --sweep: the Markdown file whose sweep section is replaced (the plot goes next to it)")
	delay := fs.Int("input-delay", 0, "session input delay in ticks = ticks in flight (0: the default, 2; 16 for --tick-hz 0)")
	prediction := fs.Bool("prediction", false, "run bft and crash with Config.Prediction: report speculative apply time and rollbacks beside commit latency")
	sealed := fs.Bool("sealed", false, "commit-reveal inputs (Config.Sealed) in every mode; default modes become bft,crash")
	walSync := fs.String("wal-sync", "power", "peers' WAL durability: power (fsync every vote group, the default) or process (no fsync)")
	transport := fs.String("transport", "tcp", "what the peers connect over: tcp (TCP, Noise, yamux) or quic (QUIC v1)")
	out := fs.String("out", "", "keep every run's keys, WALs, logs and reports under this directory")
	seed := fs.Uint64("seed", 1, "game seed (bot inputs are reproducible per seed)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: paxsync bench [--peers N] [--tick-hz H] [--duration D] [--mode MODE] [--json]\n       paxsync bench --sweep [--duration D] [--mode MODE] [--docs PATH] [--json]")
		fs.PrintDefaults()
		fmt.Fprint(stderr, benchExamples)
	}
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	if fs.NArg() != 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *sealed && !set["mode"] {
		*modes = "bft,crash"
	}
	ms, err := bench.ParseModes(*modes)
	if err != nil {
		return &cli.UsageError{Err: err}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	opt := bench.Options{Peers: *peers, TickHz: *hz, Duration: *dur, Warmup: *warm, Modes: ms, InputDelay: *delay, Sealed: *sealed, Prediction: *prediction,
		WALSync: paxsync.WALSync(*walSync), Transport: *transport, Seed: *seed, Exe: exe, Args: []string{"match", "play"}, OutDir: *out, Progress: stderr,
		Command: "paxsync bench " + strings.Join(args, " ")}
	if *sweep {
		for _, f := range []string{"peers", "tick-hz"} {
			if set[f] {
				return usagef("--%s cannot be combined with --sweep (the sweep sets it per run)", f)
			}
		}
		if err := opt.ValidateSweep(); err != nil {
			return &cli.UsageError{Err: err}
		}
		// Find out now, not after minutes of runs, whether --docs can be
		// written.
		if err := bench.CheckDocs(*docs); err != nil {
			return usagef("--docs: %v", err)
		}
		return runSweep(opt, *docs, *asJSON, stdout, stderr)
	}
	if set["docs"] {
		return usagef("--docs only applies with --sweep")
	}
	if err := opt.Validate(); err != nil {
		return &cli.UsageError{Err: err}
	}
	warnFewPeers(stderr, *peers, ms)
	res, err := bench.Run(opt)
	if err != nil {
		return err
	}
	if *asJSON {
		res.PrintTable(stderr)
		if err := res.PrintJSON(stdout); err != nil {
			return err
		}
	} else {
		res.PrintTable(stdout)
	}
	return failure(res)
}

// warnFewPeers says on stderr that bft with n < 4 tolerates no faulty peer:
// such a run is allowed (it measures the protocol's cost at small n) but
// must not be mistaken for a Byzantine-tolerant configuration.
func warnFewPeers(stderr io.Writer, peers int, modes []bench.Mode) {
	if peers < minTolerantPeers && slices.Contains(modes, paxsync.ConsensusBFT) {
		fmt.Fprintf(stderr, "warning: --peers %d: bft with fewer than %d peers tolerates no faulty peer (f = 0); "+
			"these figures are the protocol's cost, not those of a Byzantine-tolerant match\n", peers, minTolerantPeers)
	}
}

func runSweep(opt bench.Options, docs string, asJSON bool, stdout, stderr io.Writer) error {
	sw, err := bench.Sweep(opt)
	if err != nil {
		return err
	}
	svg, err := sw.WriteDocs(docs)
	if err != nil {
		return err
	}
	table := stdout
	if asJSON {
		table = stderr
	}
	for _, r := range sw.Results {
		r.PrintTable(table)
		fmt.Fprintln(table)
	}
	fmt.Fprintf(table, "wrote %s (sweep section) and %s\n", docs, svg)
	if asJSON {
		if err := sw.PrintJSON(stdout); err != nil {
			return err
		}
	}
	for _, r := range sw.Results {
		if err := failure(r); err != nil {
			return err
		}
	}
	return nil
}

// failure is the error for a result with a failed run (exit status 1).
func failure(r *bench.Result) error {
	for _, m := range r.Runs {
		if !m.OK {
			return fmt.Errorf("n=%d %s %s: run failed: %s", r.Peers, r.Rate(), m.Mode, strings.Join(m.Failed, "; "))
		}
	}
	return nil
}
