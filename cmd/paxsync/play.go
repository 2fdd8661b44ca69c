package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"

	"github.com/paxsync/paxsync/internal/match"
)

// runPlay is `paxsync match play --config FILE`: one game peer process of a
// scripted match (spawned by the runner, not meant to be typed). It plays
// until its stdin closes (the runner's stop signal, which also fires if the
// runner dies, so no peer outlives it) or SIGTERM/SIGINT, then writes its
// report.
func runPlay(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("match play", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "peer config written by `paxsync match` (its \"ticks\": print done after applying ticks 0..ticks-1, then play on until stopped)")
	metricsAddr := fs.String("metrics", "", "serve Prometheus /metrics and net/http/pprof /debug/pprof/ on `ADDR`, overriding the config's metrics_addr\n(a bare :PORT binds 127.0.0.1; :0 picks a port, printed as \"metrics ADDR\"; default off)")
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	if *cfgPath == "" || fs.NArg() != 0 {
		return usagef("--config FILE is required and no other arguments are allowed")
	}
	data, err := os.ReadFile(*cfgPath)
	if err != nil {
		return err
	}
	var cfg match.PeerConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return usagef("%s: %v", *cfgPath, err)
	}
	if *metricsAddr != "" {
		cfg.MetricsAddr = *metricsAddr
	}
	stop := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	merged := make(chan struct{})
	go func() {
		select {
		case <-stop:
		case <-sigs:
		}
		close(merged)
	}()
	// PAXSYNC_CPUPROFILE=DIR writes this peer's CPU profile to
	// DIR/peer<seat>.cpu.pprof, so `paxsync bench` and `paxsync match`
	// runs can be profiled peer by peer (docs/BENCHMARKS.md).
	if dir := os.Getenv("PAXSYNC_CPUPROFILE"); dir != "" {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("peer%d.cpu.pprof", cfg.Seat)))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	// stdout is os.Stdout, unbuffered: the runner sees each progress line at once
	// (crash faults are timed by them).
	return match.RunPeer(cfg, stdout, merged)
}
