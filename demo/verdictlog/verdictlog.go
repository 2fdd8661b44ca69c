// Package verdictlog prints what the demo's local peer learns about
// cheaters on its terminal, as it happens: a line when a player is first
// proven to have cheated in some way (a verdict) or first seen to
// misbehave in a way it cannot prove (an observation), every one of them
// when verbose, and once, at the end, one summary row per (player, kind)
// (gamestate.SummarizeVerdicts for verdicts). A cheater that forges every
// tick earns a verdict per tick; a terminal wants "who did what, how
// often", not hundreds of near-identical lines. It does not import Ebiten,
// so it can be tested without a display.
package verdictlog

import (
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/paxsync/paxsync/gamestate"
)

// Log collects verdicts and observations as they arrive and prints them.
// It is safe for concurrent use.
type Log struct {
	mu       sync.Mutex
	w        io.Writer
	verbose  bool
	seen     map[vkey]bool // (offender, verdict kind) already printed
	verdicts []gamestate.Verdict
	obs      map[okey]int // observations counted per (seat, kind)
	hinted   bool         // the "repeats are counted" hint was printed
	done     bool         // the summary was printed
}

type vkey struct {
	offender int
	kind     gamestate.VerdictKind
}

type okey struct {
	about int
	kind  gamestate.ObservationKind
}

// New returns a log writing to w. verbose prints every verdict and
// observation as it arrives instead of only the first of each kind about
// each player.
func New(w io.Writer, verbose bool) *Log {
	return &Log{w: w, verbose: verbose, seen: map[vkey]bool{}, obs: map[okey]int{}}
}

// Add records v, which the caller has already deduplicated, and prints
//
//	verdict: <kind> player <seat> (P<seat>): <text>
//
// if it is the first verdict of its kind against its offender, or always
// when verbose; the first line says where the repeats go. text is the
// HUD's description (demo.VerdictText). Verdicts added after Summary are
// ignored.
func (l *Log) Add(v gamestate.Verdict, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return
	}
	l.verdicts = append(l.verdicts, v)
	k := vkey{v.Offender, v.Kind}
	if l.seen[k] && !l.verbose {
		return
	}
	l.seen[k] = true
	l.println(fmt.Sprintf("verdict: %s player %d (P%d): %s", v.Kind, v.Offender, v.Offender, text))
}

// AddObservation records o and prints
//
//	observation: <kind> about player <seat> (P<seat>): <detail> (local, unproven)
//
// if it is the first of its kind about that player, or always when
// verbose. Observations added after Summary are ignored.
func (l *Log) AddObservation(o gamestate.Observation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return
	}
	k := okey{o.About, o.Kind}
	l.obs[k]++
	if l.obs[k] > 1 && !l.verbose {
		return
	}
	l.println(fmt.Sprintf("observation: %s about player %d (P%d): %s (local, unproven)", o.Kind, o.About, o.About, o.Detail))
}

// println writes line, with the hint about repeats after the first one
// (l.mu held).
func (l *Log) println(line string) {
	if !l.verbose && !l.hinted {
		l.hinted = true
		line += "\n  (further ones of the same kind about the same player are counted in the summary at exit; -v prints each)"
	}
	fmt.Fprintln(l.w, line)
}

// Summary prints the summary, once; later calls print nothing:
//
//	verdict summary: 1 row
//	  seat 2 forged-input: 317 times, ticks 12–328 (P2)
//	observation summary (local, unproven): 1 row
//	  seat 3 flooding: 9 times (P3)
//
// "verdict summary: no verdicts" when there are none; the observation
// part only when there are observations.
func (l *Log) Summary() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return
	}
	l.done = true
	rows := gamestate.SummarizeVerdicts(l.verdicts)
	if len(rows) == 0 {
		fmt.Fprintln(l.w, "verdict summary: no verdicts")
	} else {
		fmt.Fprintf(l.w, "verdict summary: %s\n", plural(len(rows), "row"))
	}
	for _, r := range rows {
		fmt.Fprintf(l.w, "  %s (P%d)\n", r, r.Offender)
	}
	if len(l.obs) == 0 {
		return
	}
	keys := make([]okey, 0, len(l.obs))
	for k := range l.obs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].about != keys[j].about {
			return keys[i].about < keys[j].about
		}
		return keys[i].kind < keys[j].kind
	})
	fmt.Fprintf(l.w, "observation summary (local, unproven): %s\n", plural(len(keys), "row"))
	for _, k := range keys {
		fmt.Fprintf(l.w, "  seat %d %s: %s (P%d)\n", k.about, k.kind, times(l.obs[k]), k.about)
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

// Count is the number of verdicts added so far.
func (l *Log) Count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.verdicts)
}
