package match

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/roster"
)

// Options configure Run.
type Options struct {
	// Exe and Args start one peer process; the runner appends
	// "--config FILE". cmd/paxsync passes os.Executable() and
	// ["match", "play"].
	Exe  string
	Args []string
	// Dir holds keys, WALs, peer configs and reports. If OutDir is set it
	// is used (and kept), so every peer's log and replay are there, and a
	// match also writes OutDir/report.html (HTMLName).
	OutDir string
	// Progress gets a status line about once a second (nil: none).
	Progress io.Writer

	// The hooks below let another harness (`paxsync bench`) run its own
	// kind of peer through the same process management; matches leave
	// them zero.

	// Configure, if set, adjusts each peer's config after the runner built
	// it (keys, WAL, report paths) and before any peer starts.
	Configure func(cfg *PeerConfig)
	// Status, if set, makes the progress line (elapsed time and the
	// furthest tick a live honest peer reported) instead of the match's.
	Status func(elapsed time.Duration, tick uint64) string
	// Timeout, if set, replaces the deadline derived from the scenario's
	// ticks and tick rate; at the deadline the report says the run timed
	// out.
	Timeout time.Duration
}

// proc is one peer: its current OS process and what the runner learned
// from its progress lines (which survive a SIGKILL, unlike its report).
type proc struct {
	seat     int
	cfgPath  string
	cfg      PeerConfig
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	exited   chan struct{}
	addrs    []string
	spect    []string // its spectator service's addresses (current process)
	tick     uint64
	verdicts int
	done     bool
	crashed  bool // SIGKILLed and (so far) not restarted
	// died is why the process ended on its own during the match (its exit
	// status and the tail of its stderr); "" while it runs or after the
	// runner stopped it.
	died        string
	stderr      *strings.Builder // the current process's (first 4 KiB), read once it exited
	restarts    int
	gen         int // incarnation whose tick/done lines count
	checkpoints map[uint64]string
}

type line struct {
	seat, gen int
	text      string
}

// StartAllowance estimates how long starting n peer processes one by one
// takes (each waits for the previous one's addresses): the shared tick
// grid starts after it, so every peer is normally up by then. A late peer
// only loses its first ticks: its clock joins the grid where it is.
func StartAllowance(n int) time.Duration {
	return time.Second + time.Duration(n)*400*time.Millisecond
}

// Run plays the scenario and returns its report. Errors are about running
// the match at all (cannot start a process); unmet expectations are in the
// report.
func Run(sc *Scenario, opt Options) (*Report, error) {
	start := time.Now()
	dir := opt.OutDir
	if dir == "" {
		d, err := os.MkdirTemp("", "paxsync-match-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	rosterHex := make([]string, sc.Peers)
	procs := make([]*proc, sc.Peers)
	// Every peer samples tick t at the same moment (Config.Epoch), as
	// peers of a LAN lobby would, so a tick's inputs reach the leader
	// together; the grid starts once all peers should be up (a late one
	// just joins the grid where it is). Configure may override it.
	epoch := start.Add(StartAllowance(sc.Peers))
	for i := range procs {
		k, err := crypto.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		kf := filepath.Join(dir, fmt.Sprintf("peer%d.key", i))
		if err := crypto.WriteKeyFile(kf, k, true); err != nil {
			return nil, err
		}
		rosterHex[i] = k.Public().Hex()
		p := &proc{seat: i, cfgPath: filepath.Join(dir, fmt.Sprintf("peer%d.json", i)), checkpoints: map[uint64]string{}}
		p.cfg = PeerConfig{Seat: i, KeyFile: kf, MatchName: "match-" + sc.Name, TickHz: sc.TickHz, Ticks: sc.Ticks,
			Seed: sc.Seed, Sealed: sc.Sealed, Cheats: sc.cheatsOf(i), NetFaults: sc.netFaultsOf(i, 0), WALDir: filepath.Join(dir, fmt.Sprintf("peer%d.wal", i)),
			ReportFile: filepath.Join(dir, fmt.Sprintf("peer%d.report.json", i)), EpochUnixNano: epoch.UnixNano(),
			ResultFile:     filepath.Join(dir, fmt.Sprintf("peer%d.result.cert", i)),
			WindowFromTick: sc.windowFromTick(), Spectate: sc.Spectators > 0}
		if opt.OutDir != "" {
			p.cfg.ReplayFile = filepath.Join(dir, fmt.Sprintf("peer%d.replay", i))
			p.cfg.LogFile = filepath.Join(dir, fmt.Sprintf("peer%d.log", i))
		}
		if opt.Configure != nil {
			opt.Configure(&p.cfg)
		}
		procs[i] = p
	}
	for _, p := range procs {
		p.cfg.Roster = rosterHex
	}
	// The roster file, for `paxsync result verify --roster DIR/roster.json`
	// and `paxsync replay verify` users checking the match afterwards.
	if err := writeJSON(filepath.Join(dir, "roster.json"), roster.File{Match: "match-" + sc.Name, Players: rosterHex}); err != nil {
		return nil, err
	}
	lines := make(chan line, 1024)
	gen := 0
	killAll := func() {
		for _, p := range procs {
			if p.cmd != nil && !p.crashed {
				_ = p.cmd.Process.Kill()
			}
		}
	}
	// Start peers one by one: each later peer bootstraps from the earlier
	// ones' addresses (ports are chosen by the OS).
	for _, p := range procs {
		gen++
		if err := startPeer(opt, p, procs, lines, gen); err != nil {
			killAll()
			return nil, err
		}
	}
	r := newRunState(sc, procs)
	spect, err := newSpectators(sc, procs)
	if err != nil {
		killAll()
		return nil, err
	}
	defer spect.close()
	timeout := opt.Timeout
	if timeout == 0 {
		timeout = time.Duration(sc.Ticks)*time.Second/time.Duration(max(sc.TickHz, 1))*3 + 60*time.Second
	}
	deadline := time.After(timeout)
	progress := time.NewTicker(time.Second)
	defer progress.Stop()
	timedOut := false
wait:
	for !r.allDone() {
		select {
		case l := <-lines:
			r.handle(l)
		case <-progress.C:
			switch {
			case opt.Progress == nil:
			case opt.Status != nil:
				fmt.Fprintln(opt.Progress, opt.Status(time.Since(start), r.maxTick()))
			default:
				fmt.Fprintf(opt.Progress, "%s: %s\n", sc.Name, r.status(time.Since(start)))
			}
		case <-deadline:
			timedOut = true
			break wait
		}
		r.noticeExits(time.Since(start))
		spect.maybeStart(r.maxTick(), func(format string, a ...any) {
			r.note("t+%.1fs: "+format, append([]any{time.Since(start).Seconds()}, a...)...)
		})
		// Faults driven by progress: crash at a peer's own tick, restart
		// when the honest peers reached restart_at_tick.
		for i := range sc.Faults {
			f := &sc.Faults[i]
			if f.Kind != "crash" {
				continue // partition and disconnect: each peer applies its own part
			}
			p := procs[*f.Peer]
			if !r.killed[i] && p.tick >= f.AtTick {
				r.killed[i] = true
				_ = p.cmd.Process.Signal(syscall.SIGKILL)
				<-p.exited
				p.crashed, p.done = true, false
				r.note("t+%.1fs: SIGKILL peer %d at tick %d", time.Since(start).Seconds(), p.seat, p.tick)
				r.markFault(p.seat, markCrash, p.tick)
			}
			if r.killed[i] && !r.restarted[i] && f.RestartAtTick != 0 && r.maxTick() >= f.RestartAtTick {
				r.restarted[i] = true
				gen++
				p.cfg.NetFaults = sc.netFaultsOf(p.seat, r.maxTick())
				if err := startPeer(opt, p, procs, lines, gen); err != nil {
					killAll()
					return nil, fmt.Errorf("restart peer %d: %w", p.seat, err)
				}
				p.crashed = false
				p.restarts++
				r.note("t+%.1fs: restarted peer %d (same key and WAL) at tick %d", time.Since(start).Seconds(), p.seat, r.maxTick())
				r.markFault(p.seat, markRestart, r.maxTick())
			}
		}
	}
	// Spectators follow to the last tick while the players still serve
	// (bounded: a spectator that cannot keep up fails its expectation).
	if !timedOut {
		limit := time.After(time.Minute)
		tk := time.NewTicker(100 * time.Millisecond)
	follow:
		for !spect.reached(sc.Ticks) {
			select {
			case l := <-lines:
				r.handle(l)
			case <-tk.C:
			case <-limit:
				break follow
			}
		}
		tk.Stop()
	}
	spect.close()
	// Stop: closing stdin tells each peer to write its report and exit.
	for _, p := range procs {
		if !p.crashed {
			_ = p.stdin.Close()
		}
	}
	// Keep reading progress lines meanwhile: a peer blocked writing to a
	// full pipe could not exit.
	grace := time.After(20 * time.Second)
	for _, p := range procs {
		if p.crashed {
			continue
		}
	drain:
		for {
			select {
			case l := <-lines:
				r.handle(l)
			case <-p.exited:
				break drain
			case <-grace:
				_ = p.cmd.Process.Kill()
				r.note("peer %d did not exit within 20s of stop; killed", p.seat)
				grace = time.After(5 * time.Second)
			}
		}
	}
	rep := r.build(time.Since(start), timedOut)
	spect.report(r, rep)
	// A match run with --out also gets its page. A run whose harness
	// brings its own peers (Configure: `paxsync bench`) reports through
	// that harness, and its peers stream no timeline.
	if opt.OutDir != "" && opt.Configure == nil {
		// The run itself is over and its report stands; a page that could
		// not be written is said in the report rather than losing it.
		if err := rep.writeHTMLFile(filepath.Join(dir, HTMLName)); err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s not written: %v", HTMLName, err))
		}
	}
	return rep, nil
}

// startPeer writes p's config (with the addresses of every live peer) and
// starts its process, waiting for its "ready" line.
func startPeer(opt Options, p *proc, procs []*proc, lines chan<- line, gen int) error {
	p.cfg.Peers = nil
	for _, q := range procs {
		if q != p && q.cmd != nil && !q.crashed {
			p.cfg.Peers = append(p.cfg.Peers, q.addrs...)
		}
	}
	_ = os.Remove(p.cfg.ReportFile)
	data, err := json.Marshal(p.cfg)
	if err != nil {
		return err
	}
	if err := os.WriteFile(p.cfgPath, data, 0o600); err != nil {
		return err
	}
	cmd := exec.Command(opt.Exe, append(append([]string(nil), opt.Args...), "--config", p.cfgPath)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr := &strings.Builder{}
	cmd.Stderr = &limitedWriter{w: stderr, n: 4096}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd, p.stdin, p.exited, p.addrs, p.gen, p.stderr = cmd, stdin, make(chan struct{}), nil, gen, stderr
	exited := p.exited
	ready := make(chan [2][]string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var addrs, spect []string
		sent := false
		for sc.Scan() {
			t := sc.Text()
			if !sent {
				if a, ok := strings.CutPrefix(t, "addr "); ok {
					addrs = append(addrs, a)
				} else if a, ok := strings.CutPrefix(t, "spect "); ok {
					spect = append(spect, a)
				} else if t == "ready" {
					ready <- [2][]string{addrs, spect}
					sent = true
				}
				continue
			}
			lines <- line{seat: p.seat, gen: gen, text: t}
		}
		if !sent {
			close(ready)
		}
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case a, ok := <-ready:
		if !ok {
			<-exited
			return fmt.Errorf("peer %d exited before it was ready: %s", p.seat, strings.TrimSpace(stderr.String()))
		}
		p.addrs, p.spect = a[0], a[1]
		return nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return fmt.Errorf("peer %d not ready after 30s", p.seat)
	}
}

// limitedWriter keeps the first n bytes of a peer's stderr for error
// messages without growing without bound.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(b []byte) (int, error) {
	if l.n > 0 {
		k := min(len(b), l.n)
		l.n -= k
		_, _ = l.w.Write(b[:k])
	}
	return len(b), nil
}

// parseLine applies one progress line to p. Checkpoint hashes count from
// any incarnation (a crashed peer's hashes are still what it computed);
// progress and "done" only from the current one.
func (p *proc) parseLine(t string, gen int) {
	f := strings.Fields(t)
	if len(f) > 0 && f[0] != "checkpoint" && gen != p.gen {
		return
	}
	switch {
	case len(f) == 4 && f[0] == "tick":
		if v, err := strconv.ParseUint(f[1], 10, 64); err == nil && v > p.tick {
			p.tick = v
		}
		if v, err := strconv.Atoi(f[3]); err == nil {
			p.verdicts = v
		}
	case len(f) == 3 && f[0] == "checkpoint":
		if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			p.checkpoints[v] = f[2]
		}
	case len(f) == 1 && f[0] == "done":
		p.done = true
	}
}

// noticeExits marks every peer whose process ended on its own (not killed
// by a crash fault, not yet told to stop): a panic, a full disk, a fatal
// WAL error. The run does not wait for it any longer (allDone), and the
// report fails with the reason instead of timing out at the deadline.
func (r *runState) noticeExits(elapsed time.Duration) {
	for _, p := range r.procs {
		if p.crashed || p.done || p.died != "" || p.exited == nil {
			continue
		}
		select {
		case <-p.exited:
		default:
			continue
		}
		why := "exited"
		if st := p.cmd.ProcessState; st != nil {
			why = st.String()
		}
		if tail := strings.TrimSpace(p.stderr.String()); tail != "" {
			if i := strings.LastIndexByte(tail, '\n'); i >= 0 {
				tail = tail[i+1:]
			}
			why += ": " + tail
		}
		p.died = why
		r.note("t+%.1fs: peer %d %s at tick %d", elapsed.Seconds(), p.seat, why, p.tick)
	}
}
