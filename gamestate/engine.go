package gamestate

import (
	"errors"
	"fmt"
	"sort"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// Defaults for Config, matching the lockstep figures of GGPO/GGRS-style
// sessions and of issue 5.
const (
	DefaultTickRate     = 30
	MaxTickRate         = 60
	DefaultInputDelay   = 2
	DefaultHashInterval = 30
	// hashHistory is how many of its own checkpoint hashes the engine keeps
	// to judge state hashes that are ordered after their tick.
	hashHistory = 64
)

// Policy is what happens to a proven cheater. The default (zero value)
// keeps the match running and ignores the cheater's later inputs: its seat
// gets the agreed "no input".
type Policy struct {
	// KeepCheaterInputs keeps applying a proven cheater's later inputs
	// (each is still validated by the game).
	KeepCheaterInputs bool
}

// Config configures an Engine. TickRate and InputDelay do not change what
// the engine computes; they belong to the scheduler and are recorded in
// replays so a replay says how the match was played.
type Config struct {
	Verifier     *crypto.Verifier // the match's roster; required
	TickRate     int              // ticks per second (default 30, at most 60)
	InputDelay   int              // ticks between sampling and applying an input (default 2)
	HashInterval uint64           // state hashes at ticks that are multiples of this (default 30)
	Sealed       bool             // commit-reveal inputs (defeats lookahead)
	Policy       Policy
}

// WithDefaults fills zero fields with the defaults.
func (c Config) WithDefaults() Config {
	if c.TickRate == 0 {
		c.TickRate = DefaultTickRate
	}
	if c.InputDelay == 0 {
		c.InputDelay = DefaultInputDelay
	}
	if c.HashInterval == 0 {
		c.HashInterval = DefaultHashInterval
	}
	return c
}

// Rules returns the ValidateBatch rules of this configuration.
func (c Config) Rules() Rules {
	return Rules{Seats: c.Verifier.Size(), Sealed: c.Sealed, HashInterval: c.WithDefaults().HashInterval}
}

// Engine errors.
var (
	ErrConfig        = errors.New("gamestate: bad engine configuration")
	ErrNotContiguous = errors.New("gamestate: batch does not start at the next tick")
)

// Flag records that a seat is a proven cheater.
type Flag struct {
	Flagged bool
	Kind    VerdictKind // the first verdict against the seat
	Tick    uint64      // that verdict's tick
}

// TickResult is what one applied tick produced.
type TickResult struct {
	Tick       uint64
	Inputs     []SeatInput   // the inputs the game received (NoInput where ignored)
	Checkpoint bool          // Tick is a multiple of the hash interval
	Hash       crypto.Digest // the game's hash after Tick; set at checkpoints only
}

// Result is what applying one batch produced, in log order.
type Result struct {
	Ticks    []TickResult
	Verdicts []Verdict
}

type ownHash struct {
	tick uint64
	hash crypto.Digest
}

type verdictKey struct {
	kind VerdictKind
	off  int
	tick uint64
}

type commit struct {
	key    seatTickKey
	env    crypto.Envelope
	opened bool   // key shares opened it (its reveal was withheld)
	plain  []byte // the opened input
}

// Engine applies decided batches to a Game in log order and derives
// verdicts from the log alone. It holds no maps and reads nothing but its
// arguments, so two engines fed the same batches are identical. It is not
// safe for concurrent use.
type Engine struct {
	game    Game
	cfg     Config
	n       int
	next    uint64       // first tick not yet applied
	flags   []Flag       // per seat
	seen    []verdictKey // sorted; one verdict per (kind, offender, tick)
	own     []ownHash    // recent checkpoint hashes, ascending
	commits []commit     // pending sealed inputs, sorted by (tick, seat)
	scratch []SeatInput  // reused per tick
	sealAD  func(uint16, uint64) []byte
}

// NewEngine returns an engine at tick 0 over game, which must be in its
// initial state.
func NewEngine(game Game, cfg Config) (*Engine, error) {
	cfg = cfg.WithDefaults()
	if cfg.Verifier == nil {
		return nil, fmt.Errorf("%w: no verifier", ErrConfig)
	}
	n := game.NumSeats()
	if n <= 0 || n > MaxSeats || n != cfg.Verifier.Size() {
		return nil, fmt.Errorf("%w: game has %d seats, roster %d", ErrConfig, n, cfg.Verifier.Size())
	}
	if cfg.TickRate < 0 || cfg.TickRate > MaxTickRate || cfg.InputDelay < 0 {
		return nil, fmt.Errorf("%w: tick rate %d, input delay %d", ErrConfig, cfg.TickRate, cfg.InputDelay)
	}
	match := cfg.Verifier.Match()
	return &Engine{game: game, cfg: cfg, n: n, flags: make([]Flag, n),
		sealAD: func(s uint16, t uint64) []byte { return SealAD(match, s, t) }}, nil
}

// Game is the engine's game, for rendering. Do not mutate it.
func (e *Engine) Game() Game { return e.game }

// Config is the engine's configuration with defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

// Next is the first tick not yet applied.
func (e *Engine) Next() uint64 { return e.next }

// Hash is the game's hash after the last applied tick.
func (e *Engine) Hash() crypto.Digest { return e.game.Hash() }

// Flag reports whether seat is a proven cheater, and since which verdict.
func (e *Engine) Flag(seat int) Flag { return e.flags[seat] }

// CheckpointHash is the engine's own hash after checkpoint tick, if still
// remembered.
func (e *Engine) CheckpointHash(tick uint64) (crypto.Digest, bool) {
	i := sort.Search(len(e.own), func(i int) bool { return e.own[i].tick >= tick })
	if i < len(e.own) && e.own[i].tick == tick {
		return e.own[i].hash, true
	}
	return crypto.Digest{}, false
}

// Apply applies one decided batch. The batch must have passed ValidateBatch
// (acceptors check it before voting); Apply does not re-verify input
// signatures, but it never panics on a batch that did not, and treats any
// misbound entry as "no input". The only error is a batch that does not
// start at Next; nothing is applied then.
func (e *Engine) Apply(b *Batch) (Result, error) {
	if b.First != e.next {
		return Result{}, fmt.Errorf("%w: batch starts at %d, next is %d", ErrNotContiguous, b.First, e.next)
	}
	var res Result
	for _, ev := range b.Evidence {
		off, tick, err := CheckEvidence(e.cfg.Verifier, ev.Kind, ev.Envelopes)
		if err != nil || off >= e.n {
			continue
		}
		if ev.Kind == WithheldReveal && !e.addOpening(ev.Envelopes) {
			continue // not the ordered commitment, or its tick is applied
		}
		e.record(&res, Verdict{Kind: ev.Kind, Offender: off, Tick: tick,
			Evidence: encodeEnvs(ev.Envelopes...), Detail: evidenceDetail(ev.Kind, off, tick)})
	}
	for _, t := range b.Ticks {
		e.applyTick(&res, t)
	}
	for i := range b.Hashes {
		e.checkHash(&res, &b.Hashes[i])
	}
	for i := range b.Commits {
		e.addCommit(&b.Commits[i])
	}
	return res, nil
}

func (e *Engine) applyTick(res *Result, t TickInputs) {
	tick := e.next
	if cap(e.scratch) < e.n {
		e.scratch = make([]SeatInput, e.n)
	}
	in := e.scratch[:e.n]
	for s := 0; s < e.n; s++ {
		in[s] = SeatInput{}
		if s < len(t.Seats) && t.Seats[s] != nil {
			in[s] = e.seatInput(res, s, tick, t.Seats[s])
		} else if c := e.openedCommit(seatTickKey{tick, uint16(s)}); c != nil {
			in[s] = e.openedInput(res, s, tick, c)
		}
	}
	e.game.Advance(tick, in)
	tr := TickResult{Tick: tick, Inputs: append([]SeatInput(nil), in...)}
	if tick%e.cfg.HashInterval == 0 {
		tr.Checkpoint, tr.Hash = true, e.game.Hash()
		e.own = append(e.own, ownHash{tick, tr.Hash})
		if len(e.own) > hashHistory {
			e.own = append(e.own[:0], e.own[len(e.own)-hashHistory:]...)
		}
	}
	res.Ticks = append(res.Ticks, tr)
	e.dropCommits(tick)
	e.next++
}

// seatInput decides one seat's input for tick from its log entry.
func (e *Engine) seatInput(res *Result, seat int, tick uint64, env *crypto.Envelope) SeatInput {
	if e.flags[seat].Flagged && !e.cfg.Policy.KeepCheaterInputs {
		return SeatInput{}
	}
	var data []byte
	evidence := []*crypto.Envelope{env}
	if e.cfg.Sealed {
		rv, err := DecodeReveal(env.Body)
		if env.Type != wire.TypeReveal || err != nil || int(rv.Seat) != seat || rv.Tick != tick || int(env.Sender) != seat {
			return SeatInput{}
		}
		c := e.findCommit(seatTickKey{tick, uint16(seat)})
		if c == nil {
			return SeatInput{} // revealed without an ordered commitment: nothing to open
		}
		sl, _ := DecodeSealedInput(c.Body)
		evidence = []*crypto.Envelope{c, env}
		plain, err := crypto.Open(sl.Sealed, rv.Key, e.sealAD(uint16(seat), tick))
		if err != nil {
			e.record(res, Verdict{Kind: RevealMismatch, Offender: seat, Tick: tick,
				Evidence: encodeEnvPtrs(evidence), Detail: evidenceDetail(RevealMismatch, seat, tick)})
			return SeatInput{}
		}
		data = plain
	} else {
		m, err := DecodeInput(env.Body)
		if env.Type != wire.TypeInput || err != nil || int(m.Seat) != seat || m.Tick != tick || int(env.Sender) != seat {
			return SeatInput{}
		}
		data = m.Data
	}
	return e.gameInput(res, seat, tick, data, evidence)
}

// gameInput is the game's check of one seat's input for tick, whose
// log entries are evidence.
func (e *Engine) gameInput(res *Result, seat int, tick uint64, data []byte, evidence []*crypto.Envelope) SeatInput {
	if v := e.game.Validate(seat, data); v != nil {
		e.record(res, Verdict{Kind: InvalidMove, Offender: seat, Tick: tick, Violation: v.Code,
			Evidence: encodeEnvPtrs(evidence), Detail: fmt.Sprintf("seat %d tick %d: %s", seat, tick, v.Error())})
		return SeatInput{}
	}
	if data == nil {
		data = []byte{}
	}
	return SeatInput{Present: true, Data: data}
}

func (e *Engine) checkHash(res *Result, env *crypto.Envelope) {
	m, err := DecodeStateHash(env.Body)
	if env.Type != wire.TypeStateHash || err != nil || m.Seat != env.Sender || int(m.Seat) >= e.n {
		return
	}
	own, ok := e.CheckpointHash(m.Tick)
	if !ok || own == m.Hash {
		return // not judgeable (future, not a checkpoint, forgotten) or agrees
	}
	e.record(res, Verdict{Kind: StateDivergence, Offender: int(m.Seat), Tick: m.Tick,
		Evidence: encodeEnvs(*env),
		Detail:   fmt.Sprintf("seat %d signed state %s at tick %d; replaying the log gives %s", m.Seat, m.Hash, m.Tick, own)})
}

// RecordConsensus records a consensus-level verdict (proposal or vote
// equivocation) that the bft layer committed, with its evidence (encoded
// signed envelopes). Its tick is the last applied tick. Call it at the
// position in the log where bft delivered it, so every peer records it at
// the same point. The returned bool is false if the same verdict was
// already recorded.
func (e *Engine) RecordConsensus(kind VerdictKind, offender int, evidence [][]byte, detail string) (Verdict, bool, error) {
	if kind != ProposalEquivocation && kind != VoteEquivocation {
		return Verdict{}, false, fmt.Errorf("%w: %s is not a consensus verdict", ErrBadEvidence, kind)
	}
	if offender < 0 || offender >= e.n {
		return Verdict{}, false, fmt.Errorf("%w: offender seat %d", ErrBadEvidence, offender)
	}
	tick := uint64(0)
	if e.next > 0 {
		tick = e.next - 1
	}
	v := Verdict{Kind: kind, Offender: offender, Tick: tick, Detail: detail}
	for _, b := range evidence {
		v.Evidence = append(v.Evidence, append([]byte(nil), b...))
	}
	var res Result
	e.record(&res, v)
	return v, len(res.Verdicts) == 1, nil
}

// MaxVerdictsPerKind bounds the verdicts of one kind recorded against one
// offender: later ones prove nothing new (it is flagged since the first)
// and are dropped, the same way on every engine since the rule reads only
// the log. Without it a cheater that forges or equivocates every tick
// grows every honest peer's verdict list (each with its evidence), the
// engine's index and its snapshot by one entry per tick, without bound.
const MaxVerdictsPerKind = 16

// record adds v unless the same (kind, offender, tick) was recorded or the
// offender already has MaxVerdictsPerKind of that kind, and flags the
// offender.
func (e *Engine) record(res *Result, v Verdict) {
	k := verdictKey{v.Kind, v.Offender, v.Tick}
	i := sort.Search(len(e.seen), func(i int) bool { return !keyLess(e.seen[i], k) })
	if i < len(e.seen) && e.seen[i] == k {
		return
	}
	same := 0
	for _, o := range e.seen {
		if o.kind == v.Kind && o.off == v.Offender {
			same++
		}
	}
	if same >= MaxVerdictsPerKind {
		return
	}
	e.seen = append(e.seen, verdictKey{})
	copy(e.seen[i+1:], e.seen[i:])
	e.seen[i] = k
	if !e.flags[v.Offender].Flagged && v.Kind.Flags() {
		e.flags[v.Offender] = Flag{Flagged: true, Kind: v.Kind, Tick: v.Tick}
	}
	res.Verdicts = append(res.Verdicts, v)
}

func keyLess(a, b verdictKey) bool {
	if a.tick != b.tick {
		return a.tick < b.tick
	}
	if a.off != b.off {
		return a.off < b.off
	}
	return a.kind < b.kind
}

func commitLess(a, b seatTickKey) bool {
	return a.tick < b.tick || (a.tick == b.tick && a.seat < b.seat)
}

func (e *Engine) commitIndex(k seatTickKey) int {
	return sort.Search(len(e.commits), func(i int) bool { return !commitLess(e.commits[i].key, k) })
}

func (e *Engine) findCommit(k seatTickKey) *crypto.Envelope {
	i := e.commitIndex(k)
	if i < len(e.commits) && e.commits[i].key == k {
		return &e.commits[i].env
	}
	return nil
}

// OrderedCommits returns the sealed inputs the log has ordered for ticks
// not applied yet, sorted by (tick, seat): after a peer installs a
// snapshot (catch-up), its pool learns from them which commitments are in
// the log, so its fair-play checks do not count them as left out.
func (e *Engine) OrderedCommits() []crypto.Envelope {
	out := make([]crypto.Envelope, len(e.commits))
	for i := range e.commits {
		out[i] = e.commits[i].env
	}
	return out
}

// addCommit stores a sealed input for a future tick. The first commitment
// ordered for a (seat, tick) wins; a later different one is ignored here
// (it is input-equivocation evidence if someone submits both).
func (e *Engine) addCommit(env *crypto.Envelope) {
	m, err := DecodeSealedInput(env.Body)
	if env.Type != wire.TypeSealedInput || err != nil || m.Seat != env.Sender || int(m.Seat) >= e.n ||
		m.Tick < e.next || m.Tick-e.next >= MaxCommitAhead+MaxBatchTicks {
		return
	}
	k := seatTickKey{m.Tick, m.Seat}
	i := e.commitIndex(k)
	if i < len(e.commits) && e.commits[i].key == k {
		return
	}
	e.commits = append(e.commits, commit{})
	copy(e.commits[i+1:], e.commits[i:])
	e.commits[i] = commit{key: k, env: *env}
}

// dropCommits forgets commitments for tick and earlier.
func (e *Engine) dropCommits(tick uint64) {
	i := 0
	for i < len(e.commits) && e.commits[i].key.tick <= tick {
		i++
	}
	if i > 0 {
		e.commits = append(e.commits[:0], e.commits[i:]...)
	}
}

func encodeEnvs(envs ...crypto.Envelope) [][]byte {
	out := make([][]byte, len(envs))
	for i := range envs {
		out[i] = envs[i].Encode(nil)
	}
	return out
}

func encodeEnvPtrs(envs []*crypto.Envelope) [][]byte {
	out := make([][]byte, len(envs))
	for i, e := range envs {
		out[i] = e.Encode(nil)
	}
	return out
}

func evidenceDetail(k VerdictKind, seat int, tick uint64) string {
	switch k {
	case ForgedInput:
		return fmt.Sprintf("seat %d signed an input for another seat at tick %d", seat, tick)
	case InputEquivocation:
		return fmt.Sprintf("seat %d signed two different inputs for tick %d", seat, tick)
	case RevealMismatch:
		return fmt.Sprintf("seat %d revealed a key that does not open its sealed input for tick %d", seat, tick)
	case WithheldReveal:
		return fmt.Sprintf("seat %d withheld its reveal for tick %d; key shares opened its sealed input", seat, tick)
	case BadShares:
		return fmt.Sprintf("seat %d dealt key shares that do not open its sealed input for tick %d", seat, tick)
	case FalseShare:
		return fmt.Sprintf("seat %d signed a key share for tick %d that does not match its dealt hash", seat, tick)
	}
	return k.String()
}
