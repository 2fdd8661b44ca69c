// Package bench is the harness behind `paxsync bench`: it measures what
// Byzantine agreement costs a lockstep game, end to end, on this machine.
//
// One run starts N peers as separate OS processes on 127.0.0.1 — the same
// `paxsync match play` peer process scripted matches use (match.Run does the
// process management), each a real paxsync.Session over libp2p playing the
// arena with a bot — on a shared tick grid (Config.Epoch), and lets each
// peer measure a window of wall time after a warm-up: every commit latency
// of its own inputs, decided ticks, its CPU time, network bytes and
// messages, and signatures made and checked. The harness pools the honest
// peers' samples into overall percentiles (nearest rank) and turns the
// counters into per-tick figures, and multiplies signatures per tick by
// their cost measured here (crypto.MeasureCost) to get the signature floor:
// CPU no implementation of the same protocol could go below.
//
// Every consensus mode runs in the same harness so their ratios are fair:
// bft (the product), broadcast (no agreement: the lockstep latency floor)
// and crash (the same Multi-Paxos without the verify broadcast, 2f+1
// acceptors). Sweep runs the standard grid and writes docs/BENCHMARKS.md's
// tables and an SVG plot. docs/BENCH.md defines every figure.
package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/internal/match"
)

// Mode is a consensus mode the harness can run (paxsync.ConsensusMode).
type Mode = paxsync.ConsensusMode

// AllModes is the default: every mode, bft first, so one invocation gives
// the bft/broadcast ratio from the same machine state.
var AllModes = []Mode{paxsync.ConsensusBFT, paxsync.ConsensusBroadcast, paxsync.ConsensusCrash}

// Limits on a run's configuration. MaxPeers is 16: the largest
// sweep point, and 16 processes already share this machine's cores.
const (
	MaxPeers    = 16
	MaxTickHz   = gamestate.MaxTickRate
	MinDuration = time.Second
)

// ErrConfig marks an Options value that cannot be run; the message names
// the flag. The command maps it to exit status 2.
var ErrConfig = errors.New("bad bench configuration")

// ParseModes reads --mode: "all", one mode, or a comma list (in the
// order given, duplicates dropped).
func ParseModes(s string) ([]Mode, error) {
	if strings.TrimSpace(s) == "all" || s == "" {
		return append([]Mode(nil), AllModes...), nil
	}
	var out []Mode
	seen := map[Mode]bool{}
	for _, f := range strings.Split(s, ",") {
		m := Mode(strings.TrimSpace(f))
		switch m {
		case paxsync.ConsensusBFT, paxsync.ConsensusBroadcast, paxsync.ConsensusCrash:
		default:
			return nil, fmt.Errorf("%w: --mode: unknown mode %q (want bft, broadcast, crash, all or a comma list)", ErrConfig, f)
		}
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out, nil
}

// Options configure one benchmark invocation (one configuration, one run
// per mode).
type Options struct {
	Peers  int
	TickHz int // 0: saturating (Config.Unpaced: as fast as consensus goes)
	// Duration is the measured window; Warmup precedes it (from the tick
	// grid's epoch), so connection set-up and the first view are excluded.
	Duration, Warmup time.Duration
	Modes            []Mode
	// InputDelay is Config.InputDelay (0: the session's default).
	InputDelay int
	// Sealed runs every mode with commit-reveal inputs (Config.Sealed), to
	// measure what sealing costs; broadcast mode cannot (nothing orders
	// the commitments).
	Sealed bool
	// Prediction turns on Config.Prediction in the ordering modes (bft,
	// crash), so the run also reports the time to speculative apply and
	// the rollbacks beside commit latency.
	Prediction bool
	// WALSync is every peer's Config.WALSync ("": the session's default,
	// power), so the cost of durable votes can be measured.
	WALSync paxsync.WALSync
	// Transport is what the peers connect over: "tcp" (the default: TCP,
	// Noise, yamux) or "quic" (QUIC v1), to measure what each costs.
	Transport string
	Seed      uint64
	// Exe and Args start one peer process (cmd/paxsync: os.Executable()
	// and ["match", "play"]), as for match.Run.
	Exe  string
	Args []string
	// OutDir, if set, keeps every run's keys, WALs, logs and reports under
	// OutDir/<n>-<hz>-<mode>.
	OutDir string
	// Progress gets one status line per second (nil: none).
	Progress io.Writer
	// CostWindow is how long crypto.MeasureCost runs (0: one second).
	CostWindow time.Duration
	// Command is recorded in the result (the exact command line).
	Command string
}

// Validate checks the options; errors wrap ErrConfig and name the flag.
func (o *Options) Validate() error {
	switch {
	case o.Peers < 1 || o.Peers > MaxPeers:
		return fmt.Errorf("%w: --peers %d, want 1..%d", ErrConfig, o.Peers, MaxPeers)
	case o.TickHz < 0 || o.TickHz > MaxTickHz:
		return fmt.Errorf("%w: --tick-hz %d, want 1..%d, or 0 for a saturating run", ErrConfig, o.TickHz, MaxTickHz)
	case o.Duration < MinDuration:
		return fmt.Errorf("%w: --duration %v, want at least %v", ErrConfig, o.Duration, MinDuration)
	case o.WALSync != "" && o.WALSync != paxsync.WALSyncPower && o.WALSync != paxsync.WALSyncProcess:
		return fmt.Errorf("%w: --wal-sync %q, want power or process", ErrConfig, o.WALSync)
	case o.Transport != "" && o.Transport != "tcp" && o.Transport != "quic":
		return fmt.Errorf("%w: --transport %q, want tcp or quic", ErrConfig, o.Transport)
	case o.Warmup < 0:
		return fmt.Errorf("%w: --warmup %v, want 0 or more", ErrConfig, o.Warmup)
	case o.InputDelay < 0 || o.InputDelay > 30:
		return fmt.Errorf("%w: --input-delay %d, want 0 (default) or 1..30", ErrConfig, o.InputDelay)
	case len(o.Modes) == 0:
		return fmt.Errorf("%w: --mode: no mode selected", ErrConfig)
	case o.Sealed && slices.Contains(o.Modes, paxsync.ConsensusBroadcast):
		return fmt.Errorf("%w: --sealed: broadcast mode has no agreement to order sealed inputs; use --mode bft,crash", ErrConfig)
	case o.Exe == "":
		return fmt.Errorf("%w: no peer executable", ErrConfig)
	}
	return nil
}

// Run measures the sign and verify cost once, then runs one configuration
// in every selected mode, one after the other. An error means a run could
// not be started at all; a run that started but failed (a peer wrote no
// report, the run timed out) is in its ModeRun.Failed.
func Run(opt Options) (*Result, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	sign, verify := measureCost(opt)
	return run(opt, sign, verify)
}

// measureCost measures one sign and one verify on this machine, before
// any peer runs, so the reading is not disturbed by them.
func measureCost(opt Options) (sign, verify time.Duration) {
	cw := opt.CostWindow
	if cw == 0 {
		cw = time.Second
	}
	return crypto.MeasureCost(cw)
}

// run is Run with the costs already measured.
func run(opt Options, sign, verify time.Duration) (*Result, error) {
	res := &Result{
		Command: opt.Command, Peers: opt.Peers, TickHz: opt.TickHz, Saturating: opt.TickHz == 0,
		DurationS: opt.Duration.Seconds(), WarmupS: opt.Warmup.Seconds(), InputDelay: effectiveInputDelay(opt.InputDelay, opt.TickHz, opt.Sealed), Sealed: opt.Sealed,
		Game: match.GameFor(opt.Peers), Machine: ThisMachine(), Date: time.Now().UTC().Format(time.RFC3339),
		SignCostUs: us(sign), VerifyCostUs: us(verify),
	}
	for i, m := range opt.Modes {
		mr, err := runMode(opt, m, i, sign, verify)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m, err)
		}
		res.Runs = append(res.Runs, *mr)
	}
	res.finish()
	return res, nil
}

// SaturatingInputDelay is the input delay of a saturating run unless
// --input-delay says otherwise: the input delay is how many ticks are in
// flight, and with the game's default of 2 a saturating run measures one
// round trip per two ticks rather than what the protocol can order
// (measured at n = 4: 241 ticks/s at 2, 390 at 8, 531 at 16, 515 at 30).
const SaturatingInputDelay = 16

func effectiveInputDelay(d, tickHz int, sealed bool) int {
	switch {
	case d != 0:
		return d
	case tickHz == 0:
		return SaturatingInputDelay
	case sealed:
		return paxsync.DefaultSealedInputDelay
	}
	return gamestate.DefaultInputDelay
}

// runMode runs one configuration in one mode.
func runMode(opt Options, mode Mode, idx int, sign, verify time.Duration) (*ModeRun, error) {
	name := RunName(opt.Peers, opt.TickHz, mode)
	sc := &match.Scenario{Name: name, Peers: opt.Peers, TickHz: max(opt.TickHz, 1), Seed: opt.Seed + 1}
	if opt.TickHz == 0 {
		// Unpaced: the tick rate only sets defaults (grace, stall bounds).
		sc.TickHz = MaxTickHz
	}
	begin := time.Now()
	epoch := begin.Add(match.StartAllowance(opt.Peers))
	total := epoch.Sub(begin) + opt.Warmup + opt.Duration
	game := match.GameFor(opt.Peers)
	mopt := match.Options{
		Exe: opt.Exe, Args: opt.Args, Progress: opt.Progress,
		Configure: func(cfg *match.PeerConfig) {
			cfg.Consensus = string(mode)
			cfg.EpochUnixNano = epoch.UnixNano()
			cfg.Unpaced = opt.TickHz == 0
			cfg.InputDelay = effectiveInputDelay(opt.InputDelay, opt.TickHz, opt.Sealed)
			cfg.Sealed = opt.Sealed
			cfg.Prediction = opt.Prediction && mode != paxsync.ConsensusBroadcast
			cfg.WALSync = string(opt.WALSync)
			cfg.Transport = opt.Transport
			cfg.Game = game
			cfg.Bench = &match.BenchSpec{Warmup: opt.Warmup, Duration: opt.Duration}
		},
		Status: func(elapsed time.Duration, tick uint64) string {
			return fmt.Sprintf("bench %s (%d/%d): %.0fs/%.0fs tick %d", name, idx+1, len(opt.Modes),
				elapsed.Seconds(), total.Seconds(), tick)
		},
		Timeout: total + 60*time.Second,
	}
	if opt.OutDir != "" {
		mopt.OutDir = filepath.Join(opt.OutDir, name)
	}
	rep, err := match.Run(sc, mopt)
	if err != nil {
		return nil, err
	}
	return fromReport(mode, rep, opt.TickHz, sign, verify, time.Since(begin)), nil
}

// RunName names one run: "n4-60hz-bft", "n4-sat-broadcast".
func RunName(peers, hz int, mode Mode) string {
	r := fmt.Sprintf("%dhz", hz)
	if hz == 0 {
		r = "sat"
	}
	return fmt.Sprintf("n%d-%s-%s", peers, r, mode)
}

// Machine describes where the figures were measured.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// ThisMachine describes the running machine (CPU model from /proc/cpuinfo
// where there is one).
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUModel: "unknown"}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
