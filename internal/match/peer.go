package match

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/internal/adversary"
)

// PeerConfig is what the runner writes for one peer process (`paxsync
// match play --config FILE`). It is a file rather than flags so a restart
// after a crash reuses exactly the same identity, WAL and roster.
type PeerConfig struct {
	Seat       int         `json:"seat"`
	KeyFile    string      `json:"key_file"`
	MatchName  string      `json:"match_name"`
	Roster     []string    `json:"roster"` // hex public keys, seat order
	Peers      []string    `json:"peers"`  // multiaddrs of already running peers
	TickHz     int         `json:"tick_hz"`
	Ticks      uint64      `json:"ticks"`
	Seed       uint64      `json:"seed"`
	Cheats     []CheatSpec `json:"cheats,omitempty"`
	NetFaults  []NetFault  `json:"net_faults,omitempty"`
	WALDir     string      `json:"wal_dir"`
	ReportFile string      `json:"report_file"`
	ReplayFile string      `json:"replay_file,omitempty"`
	// ResultFile is where the peer writes its match-result certificate
	// after Close (Session.ResultCertificate).
	ResultFile string `json:"result_file,omitempty"`
	LogFile    string `json:"log_file,omitempty"`
	// MetricsAddr, if set, serves this peer's Prometheus /metrics and
	// /debug/pprof/ there (`paxsync match play --metrics`; a bare ":port"
	// binds 127.0.0.1, ":0" picks a port, printed as "metrics ADDR").
	MetricsAddr string `json:"metrics_addr,omitempty"`
	// Spectate starts the peer's spectator service on 127.0.0.1 (its
	// addresses are printed as "spect ADDR" before "ready").
	Spectate bool `json:"spectate,omitempty"`

	// The fields below are for `paxsync bench`; matches leave them zero.

	// Consensus is the session's ConsensusMode ("" = bft).
	Consensus string `json:"consensus,omitempty"`
	// Transport is what the match's libp2p host listens on: "" or "tcp"
	// (TCP with Noise and yamux), or "quic" (QUIC v1), so a bench can
	// compare them.
	Transport string `json:"transport,omitempty"`
	// WALSync is the session's Config.WALSync ("" = power: fsync before
	// sending), so a bench can measure what durability costs.
	WALSync string `json:"wal_sync,omitempty"`
	// EpochUnixNano is the tick grid every peer shares (Config.Epoch), so
	// all peers sample a tick at the same moment; 0 = each its own clock.
	EpochUnixNano int64 `json:"epoch_unix_nano,omitempty"`
	// Unpaced runs the clock as fast as consensus goes (Config.Unpaced);
	// the peer then submits its inputs ahead.
	Unpaced bool `json:"unpaced,omitempty"`
	// InputDelay is Config.InputDelay (0 = the session's default).
	InputDelay int `json:"input_delay,omitempty"`
	// Sealed is Config.Sealed: commit-reveal inputs (scenario
	// "sealed_inputs").
	Sealed bool `json:"sealed,omitempty"`
	// Prediction is Config.Prediction.Enabled: a speculative copy of the
	// game runs ahead of the agreed log (benchmarks measure its apply time).
	Prediction bool `json:"prediction,omitempty"`
	// Game is GameArena ("" too) or GameTally.
	Game string `json:"game,omitempty"`
	// Bench makes the peer measure a window instead of playing Ticks
	// ticks: it prints "done" when the window ends and reports it.
	Bench *BenchSpec `json:"bench,omitempty"`

	// WindowFromTick is where a match peer's play window opens
	// (PeerReport.Resources): when it has applied this tick.
	WindowFromTick uint64 `json:"window_from_tick,omitempty"`
}

// PeerReport is what one peer process writes on exit.
type PeerReport struct {
	Seat         int    `json:"seat"`
	PeerID       string `json:"peer_id"`
	DecidedTicks uint64 `json:"decided_ticks"`
	// OwnInputTicks: decided ticks holding this peer's own input;
	// RefusedBatches: proposals it refused as unfair (Stats).
	OwnInputTicks   uint64            `json:"own_input_ticks"`
	OwnNoInputTicks uint64            `json:"own_no_input_ticks"`
	RefusedBatches  uint64            `json:"refused_batches"`
	FinalHash       string            `json:"final_hash"`
	Checkpoints     map[uint64]string `json:"checkpoints"`
	Verdicts        []VerdictInfo     `json:"verdicts"`
	Observations    []ObsInfo         `json:"observations"`
	CommitP50Ms     float64           `json:"commit_p50_ms"`
	CommitP99Ms     float64           `json:"commit_p99_ms"`
	View            uint64            `json:"view"`
	CaughtUp        bool              `json:"caught_up,omitempty"`
	ReplayError     string            `json:"replay_error,omitempty"`
	// ResultError says why the peer wrote no result certificate.
	ResultError string `json:"result_error,omitempty"`
	// Bench is the measured window of a bench peer (absent in matches).
	Bench *BenchReport `json:"bench,omitempty"`
	// Resources is what the play window cost this peer (absent if the
	// window never opened).
	Resources *ResourceReport `json:"resources,omitempty"`
}

// VerdictInfo is one verdict as a report shows it.
type VerdictInfo struct {
	Kind    string `json:"kind"`
	Against int    `json:"against"`
	Tick    uint64 `json:"tick"`
	Class   string `json:"class"`
	// DecidedAt is the last tick this peer had applied when the verdict
	// arrived: detection latency is DecidedAt minus the cheat's from_tick.
	DecidedAt uint64 `json:"decided_at"`
	Evidence  string `json:"evidence"`
	Detail    string `json:"detail"`
}

// ObsInfo is one local observation.
type ObsInfo struct {
	Kind   string `json:"kind"`
	About  int    `json:"about"`
	Class  string `json:"class"`
	Detail string `json:"detail"`
}

// cheatConfig turns a scenario cheat into the session's Cheat.
func cheatConfig(c *CheatSpec) *adversary.Cheat {
	if c == nil {
		return nil
	}
	ch := &adversary.Cheat{Kind: supportedCheats[c.Kind], FromTick: c.FromTick, Target: -1}
	if c.Target != nil {
		ch.Target = *c.Target
	}
	if ch.Kind == adversary.InvalidMove {
		ch.Mutate = func(in []byte) []byte {
			ctl, err := arena.DecodeInput(in)
			if err != nil {
				return in
			}
			return arena.SpeedHackInput(ctl)
		}
	}
	return ch
}

// evidenceSummary re-checks a verdict's evidence offline and says how far
// the check got, so a report shows proof, not just a claim.
func evidenceSummary(v *gamestate.Verdict, ver *crypto.Verifier) string {
	n := 0
	for _, e := range v.Evidence {
		n += len(e)
	}
	res := "verified"
	if err := v.Verify(ver); err != nil {
		switch {
		case errors.Is(err, gamestate.ErrNeedsReplay):
			res = "signatures ok, claim checked by replay"
		case errors.Is(err, gamestate.ErrNeedsConsensusCheck):
			res = "signatures ok, conflict checked by bft"
		default:
			res = "INVALID: " + err.Error()
		}
	}
	return fmt.Sprintf("%d signed msgs, %d bytes, %s", len(v.Evidence), n, res)
}

// RunPeer plays one seat until stop is closed (the runner closes the
// peer's stdin), printing progress lines to progress, then writes the
// report. Progress lines: "metrics ADDR" (with MetricsAddr), "addr A",
// "ready", "tick T verdicts V", "checkpoint T HASH", "done".
func RunPeer(cfg PeerConfig, progress io.Writer, stop <-chan struct{}) error {
	key, err := crypto.LoadKeyFile(cfg.KeyFile)
	if err != nil {
		return err
	}
	roster := make([]crypto.PublicKey, len(cfg.Roster))
	for i, h := range cfg.Roster {
		if roster[i], err = crypto.ParsePublicKey(h); err != nil {
			return fmt.Errorf("roster[%d]: %w", i, err)
		}
	}
	logger := slog.New(slog.DiscardHandler)
	if cfg.LogFile != "" {
		lf, err := os.OpenFile(cfg.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer lf.Close()
		logger = slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	var rec *os.File
	if cfg.ReplayFile != "" {
		// A restarted peer (its WAL directory is there) continues its
		// replay: the session cuts the torn tail SIGKILL left, appends a
		// resume marker and records on (the file stays one verifiable
		// replay). A first start truncates whatever a file there holds.
		// The file itself is the Record (no buffer): one write per record.
		flags := os.O_RDWR | os.O_CREATE | os.O_TRUNC
		if fi, err := os.Stat(cfg.WALDir); err == nil && fi.IsDir() && cfg.WALDir != "" {
			flags &^= os.O_TRUNC
		}
		rf, err := os.OpenFile(cfg.ReplayFile, flags, 0o644)
		if err != nil {
			return err
		}
		defer rf.Close()
		rec = rf
	}
	newGame, params, play, err := gameSetup(cfg, len(roster), seatOf(key, roster))
	if err != nil {
		return err
	}
	scfg := paxsync.Config{
		Key: key, MatchName: cfg.MatchName, Roster: roster,
		NewGame:    newGame,
		GameParams: params, TickRate: cfg.TickHz, WALDir: cfg.WALDir,
		Network:   paxsync.NetworkConfig{ListenAddrs: listenAddrs(cfg), Peers: cfg.Peers, SpectatorAddrs: spectateAddrs(cfg)},
		Logger:    logger,
		Consensus: paxsync.ConsensusMode(cfg.Consensus), Unpaced: cfg.Unpaced, InputDelay: cfg.InputDelay, Sealed: cfg.Sealed,
		WALSync: paxsync.WALSync(cfg.WALSync), Prediction: paxsync.Prediction{Enabled: cfg.Prediction},
	}
	pm := newPeerMetrics(cfg.MetricsAddr)
	scfg.Metrics = pm.registerer()
	if cfg.EpochUnixNano != 0 {
		scfg.Epoch = time.Unix(0, cfg.EpochUnixNano)
	}
	if rec != nil {
		scfg.Record = rec
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	var cheats []adversary.Cheat
	for i := range cfg.Cheats {
		cheats = append(cheats, *cheatConfig(&cfg.Cheats[i]))
	}
	s, _, err := adversary.JoinAll(ctx, scfg, cheats)
	cancel()
	if err != nil {
		return err
	}
	defer pm.close()
	if err := pm.serve(progress, logger); err != nil {
		s.Close()
		return err
	}
	bench := newBenchRec(cfg, time.Now())
	defer bench.stop()
	heapStart := time.Now()
	if cfg.EpochUnixNano != 0 {
		heapStart = time.Unix(0, cfg.EpochUnixNano)
	}
	stopHeap, err := startHeapProfiles(cfg.Seat, heapStart)
	if err != nil {
		s.Close()
		return err
	}
	defer stopHeap()
	feed := feeder{unpaced: cfg.Unpaced, play: play}
	if cfg.Unpaced {
		feed.feed(s) // the first ticks are sampled as soon as the clock starts
	}
	for _, a := range s.Addrs() {
		fmt.Fprintf(progress, "addr %s\n", a)
	}
	for _, a := range s.SpectatorAddrs() {
		fmt.Fprintf(progress, "spect %s\n", a)
	}
	fmt.Fprintln(progress, "ready")
	rep := PeerReport{Seat: s.Seat(), PeerID: s.PeerID(), Checkpoints: map[uint64]string{}}
	ver := crypto.NewVerifier(s.MatchID(), roster)
	var last uint64
	done := false
	events := s.Events()
	nf := netFaults{todo: cfg.NetFaults}
	tl := newTimelineRec(cfg, progress)
	res := newResourceRec(cfg, progress)
	say := func(format string, a ...any) { fmt.Fprintf(progress, format+"\n", a...) }
	healT := time.NewTicker(20 * time.Millisecond)
	defer healT.Stop()
loop:
	for {
		select {
		case <-stop:
			break loop
		case now := <-healT.C:
			nf.onClock(s, now, last, say)
		case <-res.C():
			res.samplePeak()
		case <-bench.C():
			if bench.transition(s) {
				fmt.Fprintf(progress, "tick %d verdicts %d\ndone\n", last, len(rep.Verdicts))
			}
		case ev, ok := <-events:
			if !ok {
				break loop
			}
			tl.event(s, ev)
			switch e := ev.(type) {
			case paxsync.TickEvent:
				last = e.Tick
				nf.onTick(s, e.Tick, time.Now(), say)
				res.onTick(s, e.Tick)
				if e.Checkpoint {
					rep.Checkpoints[e.Tick] = e.Hash.Hex()
					fmt.Fprintf(progress, "checkpoint %d %s\n", e.Tick, e.Hash.Hex())
				}
				bench.onTick(e)
				feed.feed(s)
				if e.Tick%15 == 0 {
					fmt.Fprintf(progress, "tick %d verdicts %d\n", e.Tick, len(rep.Verdicts))
				}
				if !done && cfg.Bench == nil && e.Tick+1 >= cfg.Ticks {
					done = true
					fmt.Fprintf(progress, "tick %d verdicts %d\ndone\n", e.Tick, len(rep.Verdicts))
				}
			case paxsync.VerdictEvent:
				v := e.Verdict
				rep.Verdicts = append(rep.Verdicts, VerdictInfo{Kind: v.Kind.String(), Against: v.Offender, Tick: v.Tick,
					Class: verdictClass(v.Kind), DecidedAt: last, Evidence: evidenceSummary(&v, ver), Detail: v.Detail})
				fmt.Fprintf(progress, "verdict %s %d %d\n", v.Kind, v.Offender, last)
			case paxsync.ObservationEvent:
				o := e.Observation
				rep.Observations = append(rep.Observations, ObsInfo{Kind: o.Kind.String(), About: o.About, Class: "local", Detail: o.Detail})
			case paxsync.PeerEvent:
				if e.Kind == paxsync.PeerCaughtUp {
					rep.CaughtUp = true
				}
			}
		}
	}
	rep.Bench = bench.report()
	rep.Resources = res.end(s, last)
	st := s.Stats()
	rep.DecidedTicks, rep.View = st.DecidedTicks, st.View
	rep.OwnInputTicks, rep.OwnNoInputTicks, rep.RefusedBatches = st.OwnInputTicks, st.OwnNoInputTicks, st.RefusedBatches
	rep.CommitP50Ms = float64(st.CommitP50.Microseconds()) / 1000
	rep.CommitP99Ms = float64(st.CommitP99.Microseconds()) / 1000
	s.View(func(g gamestate.Game, _ uint64) { rep.FinalHash = g.Hash().Hex() })
	cerr := s.Close()
	rep.ResultError = writeResult(s, cfg.ResultFile)
	if rec != nil {
		if err := rec.Sync(); err != nil {
			rep.ReplayError = err.Error()
		}
	}
	if err := writeJSON(cfg.ReportFile, rep); err != nil {
		return err
	}
	return cerr
}

// listenAddrs is where the peer's match host listens (PeerConfig.Transport).
func listenAddrs(cfg PeerConfig) []string {
	if cfg.Transport == "quic" {
		return []string{"/ip4/127.0.0.1/udp/0/quic-v1"}
	}
	return []string{"/ip4/127.0.0.1/tcp/0"}
}

// spectateAddrs is where the peer's spectator service listens (none
// unless PeerConfig.Spectate).
func spectateAddrs(cfg PeerConfig) []string {
	if !cfg.Spectate {
		return nil
	}
	return []string{"/ip4/127.0.0.1/tcp/0"}
}

// seatOf is key's index in roster (-1 if absent; Join then refuses it).
func seatOf(key *crypto.PrivateKey, roster []crypto.PublicKey) int {
	for i, k := range roster {
		if k == key.Public() {
			return i
		}
	}
	return -1
}

// writeJSON writes v atomically (temp file + rename), so the runner never
// reads half a report from a peer killed mid-write.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// verdictClass is "proof" for a verdict that convicts, "logged" for one
// that is only a report in the log (withheld-reveal).
func verdictClass(k gamestate.VerdictKind) string {
	if k.Flags() {
		return "proof"
	}
	return "logged"
}
