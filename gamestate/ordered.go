package gamestate

import (
	"fmt"

	"github.com/paxsync/paxsync/bft"
)

// RecordOrdered records the consensus verdicts of the evidence bft ordered
// with decided slot (in the order the value lists it): a proposal or vote
// equivocation becomes a verdict against its offender; a checkpoint
// equivocation has no game verdict kind. bft orders one verdict per
// (offender, kind) in a match, so evidence whose verdict this engine
// already holds is skipped: a live peer (fed bft's filtered Entry.Evidence)
// and a replay verifier (reading the raw certified value, which a leader
// may have filled with evidence ordered before) record the same verdicts
// at the same position. It returns the verdicts recorded, for the replay
// and the events. Every peer and every verifier derives consensus verdicts
// through this one function, so the details (part of the snapshot) agree.
func (e *Engine) RecordOrdered(slot uint64, evidence []bft.Evidence) []Verdict {
	var out []Verdict
	for _, ev := range evidence {
		var kind VerdictKind
		switch ev.Kind {
		case bft.ProposalEquivocation:
			kind = ProposalEquivocation
		case bft.VoteEquivocation:
			kind = VoteEquivocation
		default:
			continue
		}
		if e.holds(kind, int(ev.Offender)) {
			continue
		}
		v, fresh, err := e.RecordConsensus(kind, int(ev.Offender),
			[][]byte{ev.A.Encode(nil), ev.B.Encode(nil)}, fmt.Sprintf("seat %d: %s at slot %d", ev.Offender, ev.Kind, slot))
		if err == nil && fresh {
			out = append(out, v)
		}
	}
	return out
}

// holds reports whether a verdict of kind against off is recorded.
func (e *Engine) holds(kind VerdictKind, off int) bool {
	for _, k := range e.seen {
		if k.kind == kind && k.off == off {
			return true
		}
	}
	return false
}
