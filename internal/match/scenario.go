// Package match runs scripted cheat-injection matches: every peer is its own
// OS process (a real paxsync.Session over libp2p on 127.0.0.1) playing the
// arena with a bot; chosen peers cheat through internal/adversary
// (the same code path honest peers run) or fail (SIGKILL and restart), and
// the runner collects what every peer saw and checks the scenario's
// expectations. The same scenarios are the project's end-to-end suite, so
// nothing here simulates a verdict: a report only contains what the peers'
// sessions really reached.
package match

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/internal/adversary"
)

// ErrScenario marks a scenario file that cannot be run as written: a
// malformed or unknown field, or values that break the rules below. The
// command maps it to exit status 2.
var ErrScenario = errors.New("bad scenario")

// Scenario is one scripted match (the JSON file format of docs/MATCH.md).
type Scenario struct {
	Name   string `json:"name"`
	Peers  int    `json:"peers"`
	TickHz int    `json:"tick_hz"`
	Ticks  uint64 `json:"ticks"`
	Seed   uint64 `json:"seed"`
	Sealed bool   `json:"sealed_inputs"`
	// Spectators watch the match through the players' spectator services
	// (paxsync.Spectate, in the runner's process), from tick
	// SpectatorsJoinTick on (0: from the start), until every one reached
	// Ticks or a minute after the players finished.
	Spectators         int    `json:"spectators,omitempty"`
	SpectatorsJoinTick uint64 `json:"spectators_join_tick,omitempty"`
	// RelaySpectators watch through the Spectators' relays only (every
	// one relays when there are any): none of them asks a player.
	RelaySpectators int         `json:"relay_spectators,omitempty"`
	Cheats          []CheatSpec `json:"cheats"`
	Faults          []FaultSpec `json:"faults"`
	Expect          Expect      `json:"expect"`
}

// CheatSpec makes one peer misbehave from FromTick on.
type CheatSpec struct {
	Peer     int    `json:"peer"`
	Kind     string `json:"kind"`
	FromTick uint64 `json:"from_tick"`
	// Target is the victim seat of forge-input (default: the next seat).
	Target *int `json:"target,omitempty"`
}

// FaultSpec is a failure the runner (crash) or the peer itself applies.
type FaultSpec struct {
	Peer          *int    `json:"peer,omitempty"`
	Kind          string  `json:"kind"`
	AtTick        uint64  `json:"at_tick"`
	RestartAtTick uint64  `json:"restart_at_tick,omitempty"`
	HealAtTick    uint64  `json:"heal_at_tick,omitempty"`
	Groups        [][]int `json:"groups,omitempty"`
}

// Expect is what must hold at the end for exit status 0.
type Expect struct {
	// Flagged maps a peer index ("0".."n-1") to the verdict kinds (or, for
	// the local-class cheats, observation kinds) every honest peer must
	// have reached about it; "a|b" is met by either kind (a leader that
	// stalls is reported slow-leader or unresponsive, whichever a peer's
	// own clock saw first before the view changed). A peer absent from the
	// map must get no proof-class verdict from any honest peer.
	Flagged map[string][]string `json:"flagged"`
	// HonestAgree: honest peers' state hashes are identical at every
	// checkpoint both reached.
	HonestAgree bool `json:"honest_agree"`
	// MinDecidedTicks: every honest peer decided at least this many ticks.
	MinDecidedTicks uint64 `json:"min_decided_ticks"`
	// ResultsVerify: every honest peer up at the end wrote a match-result
	// certificate that verifies against the roster (`paxsync result
	// verify`). Certificates are always checked when present: one that
	// does not verify, flags an honest peer, or differs from another
	// honest peer's of the same checkpoint fails the run.
	ResultsVerify bool `json:"results_verify,omitempty"`

	// The three below are about what the match cost the honest peers over
	// the play window (PeerReport.Resources: from the tick the runner
	// chose, before any cheat starts, to the peer's stop); each is checked
	// only when set.

	// MaxHonestHeapGrowthMiB bounds every honest peer's heap growth over
	// the window, in MiB: what the window left (HeapInuse after a GC at
	// its start and at its end) and what the peer held at its worst (the
	// peak live heap above the start's; ResourceReport).
	MaxHonestHeapGrowthMiB float64 `json:"max_honest_heap_growth_mib,omitempty"`
	// NoHonestDrops: over the window no honest peer lost a message to a
	// full queue (netp2p's validation, outbound and delivery queues, the
	// driver's send queues), and no honest peer had another honest peer's
	// messages cut as flooding.
	NoHonestDrops bool `json:"no_honest_drops,omitempty"`
	// MinHonestTicksPerS: every honest peer decided and applied at least
	// this many ticks per second over the window (the match keeps its
	// tick rate).
	MinHonestTicksPerS float64 `json:"min_honest_ticks_per_s,omitempty"`
	// MinInputShare: every honest peer's own input is in at least this
	// share of the ticks it decided (PeerResult.InputShare): no leader
	// censored it. Checked for peers that ran the whole match (not
	// crashed, restarted or isolated).
	MinInputShare float64 `json:"min_input_share,omitempty"`
	// SpectatorsAgree: every spectator followed the match to its last
	// tick, holds every honest player's state at each checkpoint both
	// reached (at least one), and reached the same verdicts (kind and
	// offender). Always checked when the scenario has spectators: no
	// spectator may drop an honest player, and every spectator must have
	// dropped every forge-log cheater.
	SpectatorsAgree bool `json:"spectators_agree,omitempty"`
}

// supportedCheats maps scenario cheat kinds to adversary kinds.
var supportedCheats = map[string]adversary.Kind{
	"invalid-move":        adversary.InvalidMove,
	"forge-input":         adversary.ForgeInput,
	"equivocate-input":    adversary.EquivocateInput,
	"state-hash-lie":      adversary.StateHashLie,
	"replay-input":        adversary.ReplayInput,
	"garbage":             adversary.Garbage,
	"flood":               adversary.Flood,
	"silent-leader":       adversary.SilentLeader,
	"forge-log":           adversary.ForgeLog,
	"equivocate-proposal": adversary.EquivocateProposal,
	"double-vote":         adversary.DoubleVote,
	"tamper-relay":        adversary.TamperRelay,
	"lookahead":           adversary.Lookahead,
	"vote-flood":          adversary.VoteFlood,
	"evidence-bait":       adversary.EvidenceBait,
	"stream-flood":        adversary.StreamFlood,
	"bad-sync":            adversary.BadSync,
	"censor-input":        adversary.CensorInput,
	"slow-leader":         adversary.SlowLeader,
	"suppress-evidence":   adversary.SuppressEvidence,
	"withhold-reveal":     adversary.WithholdReveal,
}

// Load reads and validates a scenario file.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScenario, err)
	}
	sc, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sc, nil
}

// Parse decodes a scenario strictly (unknown fields are errors, so a typo
// cannot silently drop an expectation) and validates it.
func Parse(data []byte) (*Scenario, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%w: field %q: want %s, got %s", ErrScenario, te.Field, te.Type, te.Value)
		}
		return nil, fmt.Errorf("%w: %v", ErrScenario, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the scenario object", ErrScenario)
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return &sc, nil
}

func bad(field, format string, a ...any) error {
	return fmt.Errorf("%w: field %q: %s", ErrScenario, field, fmt.Sprintf(format, a...))
}

// F is the number of faulty peers the scenario's n tolerates.
func (sc *Scenario) F() int { return (sc.Peers - 1) / 3 }

// maxScenarioTicks bounds a scenario's length: an hour at 60 Hz, enough
// for the long matches that check memory stays flat (docs/BENCHMARKS.md).
const maxScenarioTicks = 216000

// Validate checks every field; errors name the field.
func (sc *Scenario) Validate() error {
	if sc.Name == "" {
		return bad("name", "required")
	}
	// Every scenario plays the arena, so its seat limit (not the
	// protocol's gamestate.MaxSeats) is the one a peer would hit at start.
	if sc.Peers < 4 || sc.Peers > arena.MaxSeats {
		return bad("peers", "%d, want 4..%d (Byzantine Paxos needs n >= 3f+1 with f >= 1; the arena seats at most %d)", sc.Peers, arena.MaxSeats, arena.MaxSeats)
	}
	if sc.TickHz < 1 || sc.TickHz > gamestate.MaxTickRate {
		return bad("tick_hz", "%d, want 1..%d", sc.TickHz, gamestate.MaxTickRate)
	}
	if sc.Ticks < 60 || sc.Ticks > maxScenarioTicks {
		return bad("ticks", "%d, want 60..%d", sc.Ticks, maxScenarioTicks)
	}
	if sc.Spectators < 0 || sc.Spectators > 8 {
		return bad("spectators", "%d, want 0..8", sc.Spectators)
	}
	if sc.RelaySpectators < 0 || sc.RelaySpectators > 8 || (sc.RelaySpectators > 0 && sc.Spectators == 0) {
		return bad("relay_spectators", "%d, want 0..8, and \"spectators\" to relay through", sc.RelaySpectators)
	}
	if sc.SpectatorsJoinTick != 0 && (sc.Spectators == 0 || sc.SpectatorsJoinTick >= sc.Ticks) {
		return bad("spectators_join_tick", "%d needs spectators and must be before ticks (%d)", sc.SpectatorsJoinTick, sc.Ticks)
	}
	if sc.Expect.SpectatorsAgree && sc.Spectators == 0 {
		return bad("expect.spectators_agree", "the scenario has no spectators")
	}
	faulty := map[int]bool{}
	for i, c := range sc.Cheats {
		f := fmt.Sprintf("cheats[%d]", i)
		if c.Peer < 0 || c.Peer >= sc.Peers {
			return bad(f+".peer", "%d, want 0..%d", c.Peer, sc.Peers-1)
		}
		for _, o := range sc.Cheats[:i] {
			if o.Peer == c.Peer && o.Kind == c.Kind {
				return bad(f+".kind", "peer %d already plays %s (a peer may combine different kinds)", c.Peer, c.Kind)
			}
		}
		faulty[c.Peer] = true
		if _, ok := supportedCheats[c.Kind]; !ok {
			return bad(f+".kind", "unknown cheat kind %q", c.Kind)
		}
		if (c.Kind == "lookahead" || c.Kind == "withhold-reveal") && !sc.Sealed {
			return bad(f+".kind", "%s needs \"sealed_inputs\": true (without commit-reveal there is no commitment to look ahead of or withhold)", c.Kind)
		}
		if c.Kind == "forge-log" && sc.Spectators == 0 {
			return bad(f+".kind", "forge-log serves spectators a forged log: the scenario needs \"spectators\"")
		}
		if c.FromTick >= sc.Ticks {
			return bad(f+".from_tick", "%d is not before ticks (%d)", c.FromTick, sc.Ticks)
		}
		targeted := c.Kind == "forge-input" || c.Kind == "censor-input" || c.Kind == "suppress-evidence"
		if c.Target != nil && (!targeted || *c.Target < 0 || *c.Target >= sc.Peers || *c.Target == c.Peer) {
			return bad(f+".target", "only for forge-input, censor-input and suppress-evidence, another peer's index")
		}
	}
	for i, ft := range sc.Faults {
		if err := sc.validateFault(fmt.Sprintf("faults[%d]", i), ft, faulty); err != nil {
			return err
		}
	}
	if len(faulty) > sc.F() {
		return bad("peers", "%d faulty peers (cheaters and crashed) need n >= %d, have %d", len(faulty), 3*len(faulty)+1, sc.Peers)
	}
	for key, kinds := range sc.Expect.Flagged {
		f := "expect.flagged." + key
		p, err := strconv.Atoi(key)
		if err != nil || p < 0 || p >= sc.Peers {
			return bad(f, "key must be a peer index 0..%d", sc.Peers-1)
		}
		if len(kinds) == 0 {
			return bad(f, "empty list")
		}
		for _, alt := range kinds {
			for _, k := range strings.Split(alt, "|") {
				if _, ok := ClassOf(k); !ok {
					return bad(f, "unknown verdict or observation kind %q", k)
				}
			}
		}
	}
	if sc.Expect.MinDecidedTicks > sc.Ticks {
		return bad("expect.min_decided_ticks", "%d is more than ticks (%d)", sc.Expect.MinDecidedTicks, sc.Ticks)
	}
	if sc.Expect.MaxHonestHeapGrowthMiB < 0 {
		return bad("expect.max_honest_heap_growth_mib", "%g, want a positive bound", sc.Expect.MaxHonestHeapGrowthMiB)
	}
	if r := sc.Expect.MinInputShare; r < 0 || r > 1 {
		return bad("expect.min_input_share", "%g, want 0..1", r)
	}
	if r := sc.Expect.MinHonestTicksPerS; r < 0 || r > float64(sc.TickHz) {
		return bad("expect.min_honest_ticks_per_s", "%g, want 0..tick_hz (%d)", r, sc.TickHz)
	}
	return nil
}

func (sc *Scenario) validateFault(f string, ft FaultSpec, faulty map[int]bool) error {
	switch ft.Kind {
	case "crash":
		if ft.Peer == nil || *ft.Peer < 0 || *ft.Peer >= sc.Peers {
			return bad(f+".peer", "crash needs a peer index 0..%d", sc.Peers-1)
		}
		if ft.AtTick == 0 || ft.AtTick >= sc.Ticks {
			return bad(f+".at_tick", "%d, want 1..%d", ft.AtTick, sc.Ticks-1)
		}
		if ft.RestartAtTick != 0 && (ft.RestartAtTick <= ft.AtTick || ft.RestartAtTick >= sc.Ticks) {
			return bad(f+".restart_at_tick", "%d, want after at_tick and before ticks", ft.RestartAtTick)
		}
		if ft.HealAtTick != 0 || ft.Groups != nil {
			return bad(f, "crash takes peer, at_tick and restart_at_tick only")
		}
		faulty[*ft.Peer] = true
		return nil
	case "partition", "disconnect":
		return sc.validateNetFault(f, ft, faulty)
	}
	return bad(f+".kind", "unknown fault kind %q (want crash, partition or disconnect)", ft.Kind)
}

// Class is "proof" for verdict kinds (agreed through the log) and "local"
// for observation kinds (what one peer saw and cannot prove).
func ClassOf(kind string) (string, bool) {
	if k, ok := gamestate.ParseVerdictKind(kind); ok {
		if !k.Flags() {
			// In the log and identical everywhere, but not a conviction
			// (withheld-reveal: a reveal opened by key shares, which a
			// lost packet also causes).
			return "logged", true
		}
		return "proof", true
	}
	for k := gamestate.ObservationKind(1); k < 16; k++ {
		if k.String() == kind {
			return "local", true
		}
	}
	return "", false
}

// cheatOf returns the (first) cheat a peer plays, or nil for an honest
// peer.
func (sc *Scenario) cheatOf(peer int) *CheatSpec {
	for i := range sc.Cheats {
		if sc.Cheats[i].Peer == peer {
			return &sc.Cheats[i]
		}
	}
	return nil
}

// cheatsOf returns every cheat a peer plays (none: honest).
func (sc *Scenario) cheatsOf(peer int) []CheatSpec {
	var out []CheatSpec
	for _, c := range sc.Cheats {
		if c.Peer == peer {
			out = append(out, c)
		}
	}
	return out
}

// flaggedPeers returns the map's keys as sorted ints (validated already).
func (sc *Scenario) flaggedPeers() []int {
	var out []int
	for k := range sc.Expect.Flagged {
		p, _ := strconv.Atoi(k)
		out = append(out, p)
	}
	sort.Ints(out)
	return out
}
