// Package synctest runs a game alone, with a forced rollback every tick,
// to catch non-determinism before it splits a networked match: the
// equivalent of GGRS's SyncTestSession and GGPO's sync test.
//
// Every tick t is advanced on a primary instance and its hash recorded.
// Then the primary is restored to its state of k ticks before and the
// last k ticks are re-simulated with the same inputs; every re-simulated
// hash must equal the recorded one. A second instance, never restored, is
// advanced straight through alongside and must agree too, which catches
// what one instance restoring itself can hide (map iteration order,
// pointer addresses, state outside the snapshot shared by one instance).
// The first disagreement ends the run; if the game implements
// gamestate.Sectioned the report names the sections that differ.
//
// Like the rest of gamestate, the package is pure and deterministic: no
// goroutines, clocks, I/O or randomness.
package synctest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
)

// DefaultRollback is the rollback distance when Config.Rollback is 0: two
// ticks, GGRS's default check distance.
const DefaultRollback = 2

// MaxRollback bounds Config.Rollback, so a typo cannot make Run keep
// thousands of snapshots; real rollback netcode re-simulates a few ticks.
const MaxRollback = 1024

// Config says what to run. NewGame and Inputs are required.
type Config struct {
	// NewGame builds the initial state. It is called twice (the primary
	// and the straight-through instance); both calls must give the same
	// state, or the run fails at its first tick.
	NewGame func() (gamestate.Game, error)
	// Inputs is the input script: seat's input for tick, given g, the
	// primary's state before tick (do not modify it). It is called exactly
	// once per tick and seat, in tick and then seat order, so a stateful
	// bot works; re-simulations reuse what it returned. Like the engine,
	// Run checks every present input with the game's Validate and turns a
	// rejected one into "no input" (counted in Report.Dropped).
	Inputs func(tick uint64, seat int, g gamestate.Game) gamestate.SeatInput
	// Ticks is how many ticks to simulate, from tick 0.
	Ticks uint64
	// Rollback is k, the ticks re-simulated after every tick (0 means
	// DefaultRollback). Larger k exercises older snapshots; k = 1 checks
	// that restoring and replaying one tick is exact.
	Rollback int
	// Progress, if set, is called after every tick with the ticks done,
	// so a long run can show it is alive. It must not touch the game.
	Progress func(done uint64)
}

// Kind says which comparison failed, because each points at a different
// kind of bug.
type Kind uint8

// The comparisons Run makes.
const (
	// Resimulated: a tick re-simulated after a rollback differs from the
	// same tick simulated the first time. Non-determinism within one
	// instance, or state that Restore did not bring back and that then
	// changed what Advance did.
	Resimulated Kind = iota + 1
	// Restored: right after Restore, the state's hash differs from the
	// hash recorded for that state: Restore (or Snapshot) loses or leaks
	// part of the state.
	Restored
	// Instance: the straight-through second instance differs from the
	// primary after the same tick with the same inputs: non-determinism
	// between instances (map order, pointers, globals), or a NewGame that
	// does not build the same state twice.
	Instance
	// Validated: Validate judged the same input differently on a
	// re-simulation or on the second instance: the rules are
	// non-deterministic, so peers would disagree on invalid-move verdicts.
	Validated
	// RestoreFailed: Restore returned an error for the game's own
	// snapshot.
	RestoreFailed
)

var kindNames = [...]string{
	Resimulated:   "re-simulation differs",
	Restored:      "restored state differs",
	Instance:      "second instance differs",
	Validated:     "Validate differs",
	RestoreFailed: "Restore failed",
}

// String describes the kind for reports.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("kind-%d", uint8(k))
}

// Report is the outcome of Run: the counts say how much was checked, and
// Mismatch is nil if the game passed.
type Report struct {
	Ticks       uint64        // ticks simulated straight through
	Rollbacks   uint64        // rollbacks done (restore + re-simulation)
	Resimulated uint64        // ticks re-simulated after rollbacks
	Checked     uint64        // hash comparisons that agreed (second instance, restored state, re-simulated ticks)
	Dropped     uint64        // inputs Validate rejected and Run turned into "no input"
	Rollback    int           // k used
	FinalHash   crypto.Digest // the primary's hash after the last tick (zero if none ran or on a mismatch)
	Mismatch    *Mismatch     // the first disagreement; nil: passed
}

// Mismatch is the first disagreement found: the earliest tick whose
// states differ, which is where to look for the bug.
type Mismatch struct {
	Kind Kind
	// Tick is the tick after which the states differ (for Restored: the
	// last tick applied in the restored state; Initial is set when that
	// is the initial state, before tick 0). For Validated, the tick whose
	// input was judged.
	Tick    uint64
	Initial bool
	// RolledBackAt is the tick whose rollback found it (Resimulated,
	// Restored, RestoreFailed).
	RolledBackAt uint64
	// Want is the hash recorded straight through (the primary the first
	// time); Got the hash of the re-simulation, the restored state or the
	// second instance.
	Want, Got crypto.Digest
	// Seat is the seat whose input Validate judged differently
	// (Validated; -1 otherwise).
	Seat int
	// Sections are the sections that differ, in the game's order; nil if
	// the game does not implement gamestate.Sectioned.
	Sections []SectionDiff
	// Sectioned reports whether the game implements gamestate.Sectioned.
	Sectioned bool
	// Detail says more in words (a Restore error, the two verdicts).
	Detail string
}

// SectionDiff is one section that differs between the two states, with a
// hint of where: enough to find the field without a hex dump of the whole
// snapshot.
type SectionDiff struct {
	Name string
	// Offset is the first differing byte within the section (if one
	// section is a prefix of the other, the shorter one's length).
	Offset int
	// WantLen and GotLen are the section's lengths in the two states;
	// -1 means the section is missing from that state.
	WantLen, GotLen int
	// Want and Got are up to 8 bytes of each state from Offset.
	Want, Got []byte
}

// hintBytes is how many bytes from the first difference a SectionDiff
// shows.
const hintBytes = 8

// Err is nil if the game passed, else an error describing the mismatch,
// for callers (tests) that want a plain error.
func (r *Report) Err() error {
	if r.Mismatch == nil {
		return nil
	}
	return errors.New("synctest: " + r.Mismatch.String())
}

// String is the report in one line if it passed, or the mismatch.
func (r *Report) String() string {
	if r.Mismatch != nil {
		return r.Mismatch.String()
	}
	return fmt.Sprintf("synctest ok: %d ticks, %d rollbacks of %d (%d ticks re-simulated), %d hashes checked, %d inputs dropped; final hash %s",
		r.Ticks, r.Rollbacks, r.Rollback, r.Resimulated, r.Checked, r.Dropped, r.FinalHash.Hex())
}

// String describes the mismatch over several lines: what differs, the
// hashes and the sections, first tick first.
func (m *Mismatch) String() string {
	var b strings.Builder
	where := fmt.Sprintf("tick %d", m.Tick)
	if m.Initial {
		where = "the initial state"
	}
	fmt.Fprintf(&b, "desync: %s at %s", m.Kind, where)
	switch m.Kind {
	case Resimulated, Restored, RestoreFailed:
		fmt.Fprintf(&b, " (rollback after tick %d)", m.RolledBackAt)
	case Validated:
		fmt.Fprintf(&b, " (seat %d)", m.Seat)
	}
	if m.Detail != "" {
		fmt.Fprintf(&b, ": %s", m.Detail)
	}
	if m.Kind == Validated || m.Kind == RestoreFailed {
		return b.String()
	}
	fmt.Fprintf(&b, "\n  want %s\n  got  %s", m.Want.Hex(), m.Got.Hex())
	switch {
	case !m.Sectioned:
		b.WriteString("\n  sections: the game does not implement gamestate.Sectioned")
	case len(m.Sections) == 0:
		b.WriteString("\n  sections: all equal (the difference is in hashed state outside the sections)")
	}
	for _, d := range m.Sections {
		fmt.Fprintf(&b, "\n  section %s differs at byte %d", d.Name, d.Offset)
		switch {
		case d.WantLen < 0:
			b.WriteString(": missing from the wanted state")
		case d.GotLen < 0:
			b.WriteString(": missing from the other state")
		default:
			if d.WantLen != d.GotLen {
				fmt.Fprintf(&b, " (length %d, want %d)", d.GotLen, d.WantLen)
			}
			fmt.Fprintf(&b, ": want %x got %x", d.Want, d.Got)
		}
	}
	return b.String()
}

// DiffSections compares two states' sections name by name and returns
// those that differ, in want's order followed by sections only got has.
// It is exported for tools that compare states of their own (e.g. two
// peers' snapshots at a state-divergence verdict).
func DiffSections(want, got []gamestate.Section) []SectionDiff {
	var out []SectionDiff
	find := func(ss []gamestate.Section, name string) int {
		for i := range ss {
			if ss[i].Name == name {
				return i
			}
		}
		return -1
	}
	for _, w := range want {
		j := find(got, w.Name)
		if j < 0 {
			out = append(out, SectionDiff{Name: w.Name, WantLen: len(w.Data), GotLen: -1})
			continue
		}
		if d, ok := diffBytes(w.Name, w.Data, got[j].Data); !ok {
			out = append(out, d)
		}
	}
	for _, g := range got {
		if find(want, g.Name) < 0 {
			out = append(out, SectionDiff{Name: g.Name, WantLen: -1, GotLen: len(g.Data)})
		}
	}
	return out
}

// diffBytes finds the first differing byte of a and b; ok is true if they
// are equal.
func diffBytes(name string, a, b []byte) (SectionDiff, bool) {
	if bytes.Equal(a, b) {
		return SectionDiff{}, true
	}
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	hint := func(s []byte) []byte {
		if i >= len(s) {
			return []byte{}
		}
		return bytes.Clone(s[i:min(len(s), i+hintBytes)])
	}
	return SectionDiff{Name: name, Offset: i, WantLen: len(a), GotLen: len(b), Want: hint(a), Got: hint(b)}, false
}

// record is what Run keeps of one tick for re-simulating it.
type record struct {
	before   []byte                // the primary's snapshot before the tick
	raw      []gamestate.SeatInput // what the script returned
	agreed   []gamestate.SeatInput // after Validate
	verdicts []string              // Validate's judgement of each seat's input
	hash     crypto.Digest         // the primary's hash after the tick
	sections []gamestate.Section   // the primary's sections after the tick (Sectioned games)
}

// Run runs the sync test that cfg describes. The error is for a Config
// that cannot run (missing functions, a bad Rollback, NewGame failing or
// its two instances having different seat counts); a game that fails the
// test is a Report with a Mismatch, not an error.
func Run(cfg Config) (*Report, error) {
	if cfg.NewGame == nil || cfg.Inputs == nil {
		return nil, errors.New("synctest: Config.NewGame and Config.Inputs are required")
	}
	k := cfg.Rollback
	if k == 0 {
		k = DefaultRollback
	}
	if k < 0 || k > MaxRollback {
		return nil, fmt.Errorf("synctest: rollback %d out of range 1..%d", cfg.Rollback, MaxRollback)
	}
	primary, err := cfg.NewGame()
	if err != nil {
		return nil, fmt.Errorf("synctest: NewGame: %w", err)
	}
	second, err := cfg.NewGame()
	if err != nil {
		return nil, fmt.Errorf("synctest: NewGame: %w", err)
	}
	if primary == second {
		return nil, errors.New("synctest: NewGame returned the same instance twice; it must build a new game each call")
	}
	n := primary.NumSeats()
	if n <= 0 || second.NumSeats() != n {
		return nil, fmt.Errorf("synctest: NewGame gave games of %d and %d seats", n, second.NumSeats())
	}
	_, sectioned := primary.(gamestate.Sectioned)
	sections := func(g gamestate.Game) []gamestate.Section {
		s, ok := g.(gamestate.Sectioned)
		if !ok {
			return nil
		}
		secs := s.Sections()
		out := make([]gamestate.Section, len(secs))
		for i, sec := range secs {
			out[i] = gamestate.Section{Name: sec.Name, Data: bytes.Clone(sec.Data)}
		}
		return out
	}
	rep := &Report{Rollback: k}
	mismatch := func(m *Mismatch, wantSecs []gamestate.Section, got gamestate.Game) (*Report, error) {
		m.Sectioned = sectioned
		if m.Kind != Validated {
			m.Seat = -1
		}
		if sectioned && got != nil {
			m.Sections = DiffSections(wantSecs, sections(got))
		}
		rep.Mismatch, rep.FinalHash = m, crypto.Digest{}
		return rep, nil
	}

	initHash, initSecs := primary.Hash(), sections(primary)
	if h := second.Hash(); h != initHash {
		return mismatch(&Mismatch{Kind: Instance, Initial: true, Want: initHash, Got: h,
			Detail: "NewGame built two different initial states"}, initSecs, second)
	}
	rep.Checked++
	// The ring holds ticks t-k..t: the k re-simulated and the one before
	// them, whose hash the restored state must have.
	ring := make([]record, k+1)
	at := func(t uint64) *record { return &ring[t%uint64(k+1)] }
	// agree applies Validate to the script's inputs as the engine does.
	// Each Advance gets its own copy of the data, so a game that keeps or
	// alters an input cannot change what later re-simulations replay.
	agree := func(g gamestate.Game, raw []gamestate.SeatInput) ([]gamestate.SeatInput, []string) {
		out := make([]gamestate.SeatInput, len(raw))
		verdicts := make([]string, len(raw))
		for s, in := range raw {
			if !in.Present {
				verdicts[s] = "no input"
				continue
			}
			if v := g.Validate(s, in.Data); v != nil {
				verdicts[s] = "rejected (" + v.Error() + ")"
				continue
			}
			data := bytes.Clone(in.Data)
			if data == nil {
				data = []byte{}
			}
			out[s], verdicts[s] = gamestate.SeatInput{Present: true, Data: data}, "legal"
		}
		return out, verdicts
	}
	validated := func(tick uint64, seat int, where, want, got string) (*Report, error) {
		return mismatch(&Mismatch{Kind: Validated, Tick: tick, Seat: seat,
			Detail: fmt.Sprintf("the input was %s the first time, %s %s", want, got, where)}, nil, nil)
	}

	for t := uint64(0); t < cfg.Ticks; t++ {
		r := at(t)
		r.before = primary.Snapshot()
		r.raw = make([]gamestate.SeatInput, n)
		for s := range r.raw {
			in := cfg.Inputs(t, s, primary)
			if in.Present {
				in.Data = bytes.Clone(in.Data)
			} else {
				in.Data = nil
			}
			r.raw[s] = in
		}
		r.agreed, r.verdicts = agree(primary, r.raw)
		verdicts := r.verdicts
		for s := range r.raw {
			if r.raw[s].Present && !r.agreed[s].Present {
				rep.Dropped++
			}
		}
		secondIn, secondVerdicts := agree(second, r.raw)
		for s := range verdicts {
			if verdicts[s] != secondVerdicts[s] {
				return validated(t, s, "on the second instance", verdicts[s], secondVerdicts[s])
			}
		}
		primary.Advance(t, r.agreed)
		second.Advance(t, secondIn)
		r.hash, r.sections = primary.Hash(), sections(primary)
		rep.Ticks++
		if h := second.Hash(); h != r.hash {
			return mismatch(&Mismatch{Kind: Instance, Tick: t, Want: r.hash, Got: h}, r.sections, second)
		}
		rep.Checked++

		if t+1 >= uint64(k) {
			from := t + 1 - uint64(k) // the first tick re-simulated
			rep.Rollbacks++
			// The restored state is the one after tick from-1 (or the
			// initial state), whose hash and sections were recorded.
			last, wantHash, wantSecs := uint64(0), initHash, initSecs
			if from > 0 {
				last, wantHash, wantSecs = from-1, at(from-1).hash, at(from-1).sections
			}
			if err := primary.Restore(at(from).before); err != nil {
				return mismatch(&Mismatch{Kind: RestoreFailed, Tick: last, Initial: from == 0,
					RolledBackAt: t, Detail: err.Error()}, nil, nil)
			}
			if h := primary.Hash(); h != wantHash {
				return mismatch(&Mismatch{Kind: Restored, Tick: last, Initial: from == 0, RolledBackAt: t,
					Want: wantHash, Got: h}, wantSecs, primary)
			}
			rep.Checked++
			for u := from; u <= t; u++ {
				ru := at(u)
				in, vs := agree(primary, ru.raw)
				for s := range vs {
					if vs[s] != ru.verdicts[s] {
						return validated(u, s, fmt.Sprintf("on re-simulation after tick %d", t), ru.verdicts[s], vs[s])
					}
				}
				primary.Advance(u, in)
				rep.Resimulated++
				if h := primary.Hash(); h != ru.hash {
					return mismatch(&Mismatch{Kind: Resimulated, Tick: u, RolledBackAt: t, Want: ru.hash, Got: h},
						ru.sections, primary)
				}
				rep.Checked++
			}
		}
		if cfg.Progress != nil {
			cfg.Progress(t + 1)
		}
	}
	rep.FinalHash = primary.Hash()
	return rep, nil
}
