package gamestate

import (
	"fmt"
	"sort"
)

// VerdictSummary is every verdict of one kind against one seat folded into
// one row. A cheater that forges every tick earns a verdict per tick; a
// reader wants "who did what, how often, over which ticks", not hundreds of
// near-identical lines.
type VerdictSummary struct {
	Offender  int         // the cheater's seat
	Kind      VerdictKind // what was proven
	FirstTick uint64      // the lowest tick of the kind against the seat
	LastTick  uint64      // the highest tick
	Count     int         // how many verdicts were folded in
}

// String reads like "seat 2 forged-input: 317 times, ticks 12–328", or
// "seat 2 forged-input: once, tick 12" for a single verdict.
func (s VerdictSummary) String() string {
	if s.Count == 1 {
		return fmt.Sprintf("seat %d %s: once, tick %d", s.Offender, s.Kind, s.FirstTick)
	}
	if s.FirstTick == s.LastTick {
		return fmt.Sprintf("seat %d %s: %d times, tick %d", s.Offender, s.Kind, s.Count, s.FirstTick)
	}
	return fmt.Sprintf("seat %d %s: %d times, ticks %d–%d", s.Offender, s.Kind, s.Count, s.FirstTick, s.LastTick)
}

// SummarizeVerdicts folds vs into one row per (offender, kind), so a report
// stays readable however long a cheat went on. Rows are ordered by first
// tick, then offender, then kind, whatever order vs is in, so two peers
// holding the same verdicts print the same summary. vs is not modified.
func SummarizeVerdicts(vs []Verdict) []VerdictSummary {
	type key struct {
		offender int
		kind     VerdictKind
	}
	idx := make(map[key]int)
	var out []VerdictSummary
	for i := range vs {
		v := &vs[i]
		k := key{v.Offender, v.Kind}
		j, ok := idx[k]
		if !ok {
			idx[k] = len(out)
			out = append(out, VerdictSummary{Offender: v.Offender, Kind: v.Kind,
				FirstTick: v.Tick, LastTick: v.Tick, Count: 1})
			continue
		}
		s := &out[j]
		s.Count++
		s.FirstTick = min(s.FirstTick, v.Tick)
		s.LastTick = max(s.LastTick, v.Tick)
	}
	sort.Slice(out, func(a, b int) bool {
		x, y := out[a], out[b]
		if x.FirstTick != y.FirstTick {
			return x.FirstTick < y.FirstTick
		}
		if x.Offender != y.Offender {
			return x.Offender < y.Offender
		}
		return x.Kind < y.Kind
	})
	return out
}
