package match

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"time"

	paxsync "github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
)

// SpectatorResult is one spectator's row of the report.
type SpectatorResult struct {
	Index int `json:"index"`
	// ViaRelays: it watched through the other spectators' relays only
	// (relay_spectators), asking no player.
	ViaRelays bool `json:"via_relays,omitempty"`
	// JoinedAtTick is the furthest tick a player had reported when the
	// spectator started.
	JoinedAtTick uint64 `json:"joined_at_tick"`
	DecidedTicks uint64 `json:"decided_ticks"`
	FinalHash    string `json:"final_hash"`
	// Checkpoints counts the certified checkpoints it installed (one to
	// join mid-match); Compared the checkpoint ticks whose hash it shares
	// with the honest players (all must be equal).
	Checkpoints int           `json:"checkpoints"`
	Compared    int           `json:"compared"`
	Verdicts    []VerdictInfo `json:"verdicts,omitempty"`
	// Dropped are the players it caught serving a forged log.
	Dropped []SpectatorDrop `json:"dropped,omitempty"`
	// RelayFaults are relays it dropped for serving what no player
	// signed (none, with the runner's honest relays).
	RelayFaults []string `json:"relay_faults,omitempty"`
	Error       string   `json:"error,omitempty"`

	hashes map[uint64]string
}

// SpectatorDrop is a player a spectator dropped, and why.
type SpectatorDrop struct {
	Peer   int    `json:"peer"`
	Reason string `json:"reason"`
	// Proven: the spectator kept the player's signed answer, and
	// paxsync.VerifyForgedLog, given only the match's settings, convicts
	// that player with it.
	Proven bool `json:"proven"`
}

// spectatorRun is one spectator the runner runs in its own process.
type spectatorRun struct {
	sp        *paxsync.Spectator
	viaRelays bool
	joinedAt  uint64
	stop      chan struct{}
	done      chan struct{}

	mu     sync.Mutex
	hashes map[uint64]string // checkpoint tick → hash, sampled as it follows
}

// spectators are a scenario's spectators.
type spectators struct {
	sc      *Scenario
	procs   []*proc
	cfg     paxsync.Config // the match as the players play it; Key per spectator
	runs    []*spectatorRun
	started bool
	errs    []string
}

func newSpectators(sc *Scenario, procs []*proc) (*spectators, error) {
	s := &spectators{sc: sc, procs: procs}
	if sc.Spectators == 0 {
		return s, nil
	}
	pc := procs[0].cfg
	roster := make([]crypto.PublicKey, len(pc.Roster))
	for i, h := range pc.Roster {
		k, err := crypto.ParsePublicKey(h)
		if err != nil {
			return nil, err
		}
		roster[i] = k
	}
	newGame, params, _, err := gameSetup(pc, len(roster), 0)
	if err != nil {
		return nil, err
	}
	s.cfg = paxsync.Config{MatchName: pc.MatchName, Roster: roster, NewGame: newGame, GameParams: params,
		TickRate: pc.TickHz, InputDelay: pc.InputDelay, Sealed: pc.Sealed, Consensus: paxsync.ConsensusMode(pc.Consensus)}
	if pc.EpochUnixNano != 0 {
		s.cfg.Epoch = time.Unix(0, pc.EpochUnixNano)
	}
	return s, nil
}

// maybeStart starts the spectators once a player reached the join tick
// and every running player announced its spectator service.
func (s *spectators) maybeStart(maxTick uint64, note func(string, ...any)) {
	if s.started || s.sc.Spectators == 0 || maxTick < s.sc.SpectatorsJoinTick {
		return
	}
	var addrs []string
	for _, p := range s.procs {
		if p.cmd != nil && !p.crashed {
			if len(p.spect) == 0 {
				return
			}
			addrs = append(addrs, p.spect...)
		}
	}
	s.started = true
	var relays []string
	for i := range s.sc.Spectators + s.sc.RelaySpectators {
		key, err := crypto.GenerateKey(rand.Reader)
		if err != nil {
			s.errs = append(s.errs, fmt.Sprintf("spectator %d: key: %v", i, err))
			continue
		}
		cfg := s.cfg
		cfg.Key = key
		from, viaRelays := addrs, i >= s.sc.Spectators
		if viaRelays {
			from = relays
		} else if s.sc.RelaySpectators > 0 {
			cfg.Network.SpectatorAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
		}
		if len(from) == 0 {
			s.errs = append(s.errs, fmt.Sprintf("spectator %d: no relay to watch through", i))
			continue
		}
		sp, err := paxsync.Spectate(context.Background(), cfg, from)
		if err != nil {
			s.errs = append(s.errs, fmt.Sprintf("spectator %d: %v", i, err))
			continue
		}
		relays = append(relays, sp.RelayAddrs()...)
		run := &spectatorRun{sp: sp, viaRelays: viaRelays, joinedAt: maxTick, stop: make(chan struct{}), done: make(chan struct{}), hashes: map[uint64]string{}}
		go run.sample(gamestate.DefaultHashInterval)
		s.runs = append(s.runs, run)
	}
	note("%s", joinNote(s.runs, maxTick))
}

// joinNote says how many spectators joined and, when some watch only
// through the others' relays, how many of those did (the ones that failed
// to start are in the errors, not counted here).
func joinNote(runs []*spectatorRun, tick uint64) string {
	relayed := 0
	for _, r := range runs {
		if r.viaRelays {
			relayed++
		}
	}
	msg := fmt.Sprintf("%d spectators joined at tick %d", len(runs), tick)
	if relayed > 0 {
		msg += fmt.Sprintf(" (%d through the others' relays)", relayed)
	}
	return msg
}

// sample keeps the spectator's checkpoint hashes (its engine holds only
// the recent ones) until stop.
func (r *spectatorRun) sample(interval uint64) {
	defer close(r.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	next := uint64(0)
	for {
		ticks := r.sp.Stats().Ticks
		for ; next+1 <= ticks; next += interval {
			if next == 0 {
				continue // tick 0's hash is no checkpoint the players report
			}
			if h, ok := r.sp.CheckpointHash(next); ok {
				r.mu.Lock()
				r.hashes[next] = h.Hex()
				r.mu.Unlock()
			}
		}
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
	}
}

// reached reports whether every spectator applied ticks ticks (true
// without spectators).
func (s *spectators) reached(ticks uint64) bool {
	for _, r := range s.runs {
		if r.sp.Stats().Ticks < ticks && r.sp.Err() == nil {
			return false
		}
	}
	return s.started || s.sc.Spectators == 0
}

// close stops every spectator (idempotent).
func (s *spectators) close() {
	for _, r := range s.runs {
		select {
		case <-r.stop:
			continue
		default:
		}
		close(r.stop)
		<-r.done
		r.sp.Close()
	}
}

// report adds the spectators' rows to rep and checks what the scenario
// expects of them.
func (s *spectators) report(r *runState, rep *Report) {
	if s.sc.Spectators == 0 {
		return
	}
	fail := func(format string, a ...any) { rep.Failed = append(rep.Failed, fmt.Sprintf(format, a...)) }
	for _, e := range s.errs {
		fail("spectators: %s", e)
	}
	if !s.started {
		fail("spectators: never started (no player reached tick %d with its spectator service up)", s.sc.SpectatorsJoinTick)
	}
	forgers := map[int]bool{}
	for _, c := range s.sc.Cheats {
		if c.Kind == "forge-log" {
			forgers[c.Peer] = true
		}
	}
	// The verdicts (kind, offender) of the first honest player up at the
	// end, for spectators_agree.
	var ref map[string]bool
	for i, pr := range rep.Peers {
		if r.honest(i) && !pr.DownAtEnd {
			ref = map[string]bool{}
			for _, v := range pr.Verdicts {
				ref[fmt.Sprintf("%s/%d", v.Kind, v.Against)] = true
			}
			break
		}
	}
	for i, run := range s.runs {
		st := run.sp.Stats()
		res := SpectatorResult{Index: i, ViaRelays: run.viaRelays, JoinedAtTick: run.joinedAt, DecidedTicks: st.Ticks, FinalHash: st.Hash.Hex(), Checkpoints: st.Checkpoints}
		for _, f := range st.RelayFaults {
			res.RelayFaults = append(res.RelayFaults, fmt.Sprintf("relay %d: %s", f.Relay, f.Reason))
			fail("spectator %d dropped relay %d, an honest spectator: %s", i, f.Relay, f.Reason)
		}
		if err := run.sp.Err(); err != nil {
			res.Error = err.Error()
		}
		for _, f := range st.Forgeries {
			d := SpectatorDrop{Peer: f.Seat, Reason: f.Reason}
			if f.Proof != nil {
				seat, _, err := paxsync.VerifyForgedLog(s.cfg, f.Proof)
				d.Proven = err == nil && seat == f.Seat
			}
			res.Dropped = append(res.Dropped, d)
		}
		seen := map[string]bool{}
		for _, v := range st.Verdicts {
			res.Verdicts = append(res.Verdicts, VerdictInfo{Kind: v.Kind.String(), Against: v.Offender, Tick: v.Tick, Class: verdictClass(v.Kind)})
			seen[fmt.Sprintf("%s/%d", v.Kind, v.Offender)] = true
		}
		run.mu.Lock()
		res.hashes = maps(run.hashes)
		run.mu.Unlock()
		differ := ""
		for t, h := range res.hashes {
			for j, pr := range rep.Peers {
				if !r.honest(j) {
					continue
				}
				if h2, ok := pr.hashes[t]; ok {
					if h2 != h && differ == "" {
						differ = fmt.Sprintf("checkpoint %d: spectator %.16s, peer %d %.16s", t, h, j, h2)
					}
					res.Compared++
					break
				}
			}
		}
		for _, d := range res.Dropped {
			if !forgers[d.Peer] {
				fail("spectator %d dropped peer %d, which served no forged log: %s", i, d.Peer, d.Reason)
			}
		}
		for p := range forgers {
			// The relays keep only what they checked: a spectator
			// watching through them never meets a forgery.
			if run.viaRelays {
				if len(res.Dropped) > 0 {
					fail("spectator %d, through honest relays, was served a forgery", i)
				}
				continue
			}
			if !slices.ContainsFunc(res.Dropped, func(d SpectatorDrop) bool { return d.Peer == p && d.Proven }) {
				fail("forge-log: spectator %d did not catch peer %d with a proof (paxsync.VerifyForgedLog)", i, p)
			}
		}
		if differ != "" {
			fail("spectator %d differs from the honest players at %s", i, differ)
		}
		if s.sc.Expect.SpectatorsAgree {
			switch {
			case res.Error != "":
				fail("spectators_agree: spectator %d stopped: %s", i, res.Error)
			case st.Ticks < s.sc.Ticks:
				fail("spectators_agree: spectator %d applied %d ticks, want %d", i, st.Ticks, s.sc.Ticks)
			case res.Compared == 0:
				fail("spectators_agree: spectator %d shares no checkpoint with the honest players", i)
			case ref != nil && !sameKeys(ref, seen):
				fail("spectators_agree: spectator %d reached verdicts %v, the honest players %v", i, keys(seen), keys(ref))
			}
		}
		rep.Spectators = append(rep.Spectators, res)
	}
	rep.ExpectOK = len(rep.Failed) == 0
}

func maps(m map[uint64]string) map[uint64]string {
	out := make(map[uint64]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sameKeys(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// printSpectators writes the spectators' rows of the text report.
func (rep *Report) printSpectators(w io.Writer) {
	for _, s := range rep.Spectators {
		via := ""
		if s.ViaRelays {
			via = " through the other spectators' relays"
		}
		fmt.Fprintf(w, "spectator %d: joined at tick %d%s, %d ticks applied, final hash %.16s, %d checkpoints installed, %d checkpoint hashes shared with the players",
			s.Index, s.JoinedAtTick, via, s.DecidedTicks, s.FinalHash, s.Checkpoints, s.Compared)
		if len(s.Verdicts) > 0 {
			fmt.Fprintf(w, ", verdicts %s", summarizeVerdicts(s.Verdicts))
		}
		fmt.Fprintln(w)
		for _, d := range s.Dropped {
			proof := "no proof"
			if d.Proven {
				proof = "signed answer kept: a proof"
			}
			fmt.Fprintf(w, "  dropped peer %d (forged-log, %s): %s\n", d.Peer, proof, d.Reason)
		}
		for _, f := range s.RelayFaults {
			fmt.Fprintf(w, "  dropped %s\n", f)
		}
		if s.Error != "" {
			fmt.Fprintf(w, "  stopped: %s\n", s.Error)
		}
	}
}
