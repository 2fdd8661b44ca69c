package gamestate

import (
	"errors"
	"fmt"
	"io"

	"github.com/paxsync/paxsync/crypto"
)

// Report is what VerifyReplay found.
type Report struct {
	Header        *Header
	MatchID       crypto.MatchID
	Batches       int
	Ticks         uint64        // ticks applied
	FinalHash     crypto.Digest // game hash after the last tick
	HashesChecked int           // recorded state hashes that matched the re-simulation
	Verdicts      []Verdict     // every verdict, in log order, each re-checked
	// Truncated means the file ends inside a record, as a crash while
	// writing leaves it. Everything before it verified; what the missing
	// tail held (including verdicts) is unknown.
	Truncated bool
	// End is the byte offset up to which the file was read as whole
	// records (the file's size for an intact replay): where a partial
	// replay stops making sense.
	End int64
}

// ErrReplayIncomplete means a replay verified as far as it goes but does
// not record a whole match, so it cannot show what happened in it: it
// ends inside a record, or it holds no tick at all (a peer that restarted
// from its WAL, or installed a checkpoint, records nothing).
var ErrReplayIncomplete = errors.New("gamestate: replay is incomplete")

// Incomplete says why the replay the report describes is partial, as an
// error wrapping ErrReplayIncomplete that says where it ends, or nil if
// nothing shows it to be partial. VerifyReplay succeeds on partial
// replays (what they hold did verify); a tool that must not accept a
// replay proving nothing checks this too. A file cut exactly between two
// records cannot be told from a match that ended there: the format has no
// end-of-match record.
func (r *Report) Incomplete() error {
	where := fmt.Sprintf("at byte %d", r.End)
	switch {
	case r.Truncated && r.Ticks == 0:
		return fmt.Errorf("%w: it ends inside a record %s, before any tick was recorded", ErrReplayIncomplete, where)
	case r.Truncated:
		return fmt.Errorf("%w: it ends inside a record %s, after tick %d (%d batches): the recording peer stopped abruptly; everything up to there verified, what followed is unknown",
			ErrReplayIncomplete, where, r.Ticks-1, r.Batches)
	case r.Ticks == 0 && r.Batches == 0:
		return fmt.Errorf("%w: it holds only the header (%d bytes), no tick: a peer restarted from its WAL or caught up from a checkpoint records nothing", ErrReplayIncomplete, r.End)
	case r.Ticks == 0:
		return fmt.Errorf("%w: it ends %s with %d batches but no tick", ErrReplayIncomplete, where, r.Batches)
	}
	return nil
}

// VerifyReplay re-simulates a replay deterministically and checks it: every
// batch must pass ValidateBatch (so every signature is re-verified), every
// recorded state hash must equal the re-simulated one, and every verdict is
// re-derived from the log and its evidence re-checked: forged-input,
// input-equivocation and reveal-mismatch by their signed messages alone;
// invalid-move and state-divergence by this very replay; consensus verdicts
// by their signatures (the slot conflict itself is bft's to check; see
// Verdict.VerifyWith).
//
// newGame builds the game in its initial state from the header (whose Game
// field carries the game's parameters, e.g. an arena's seed). On a failed
// check it returns the report so far and an error wrapping ErrReplayInvalid
// or ErrReplayCorrupt.
func VerifyReplay(r io.Reader, newGame func(h *Header) (Game, error)) (*Report, error) {
	rr, err := NewReplayReader(r)
	if err != nil {
		return nil, err
	}
	h := rr.Header
	rep := &Report{Header: h, MatchID: h.MatchID(), End: rr.Offset()}
	game, err := newGame(h)
	if err != nil {
		return rep, fmt.Errorf("%w: building the game: %v", ErrReplayInvalid, err)
	}
	cfg := h.Config()
	eng, err := NewEngine(game, cfg)
	if err != nil {
		return rep, fmt.Errorf("%w: %v", ErrReplayInvalid, err)
	}
	rules := cfg.Rules()
	fail := func(format string, a ...any) (*Report, error) {
		rep.Ticks, rep.FinalHash, rep.End = eng.Next(), eng.Hash(), rr.Offset()
		return rep, fmt.Errorf("%w: %s", ErrReplayInvalid, fmt.Sprintf(format, a...))
	}
	for {
		rec, err := rr.Next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, ErrReplayTruncated) {
			rep.Truncated = true
			break
		}
		if err != nil {
			rep.Ticks, rep.FinalHash, rep.End = eng.Next(), eng.Hash(), rr.Offset()
			return rep, err
		}
		switch rec.Kind {
		case "batch":
			if err := ValidateBatch(rec.Batch, cfg.Verifier, rules); err != nil {
				return fail("batch %d: %v", rep.Batches, err)
			}
			res, err := eng.Apply(rec.Batch)
			if err != nil {
				return fail("batch %d: %v", rep.Batches, err)
			}
			rep.Batches++
			for i := range res.Verdicts {
				if err := recheck(&res.Verdicts[i], cfg.Verifier); err != nil {
					return fail("verdict %s against seat %d: %v", res.Verdicts[i].Kind, res.Verdicts[i].Offender, err)
				}
			}
			rep.Verdicts = append(rep.Verdicts, res.Verdicts...)
		case "consensus":
			c := rec.Consensus
			if err := c.Verify(cfg.Verifier); !errors.Is(err, ErrNeedsConsensusCheck) {
				return fail("consensus verdict: %v", err)
			}
			v, fresh, err := eng.RecordConsensus(c.Kind, c.Offender, c.Evidence, c.Detail)
			if err != nil {
				return fail("consensus verdict: %v", err)
			}
			if v.Tick != c.Tick {
				return fail("consensus verdict recorded at tick %d, replay gives %d", c.Tick, v.Tick)
			}
			if fresh {
				rep.Verdicts = append(rep.Verdicts, v)
			}
		case "hash":
			own, ok := eng.CheckpointHash(rec.Tick)
			if eng.Next() > 0 && rec.Tick == eng.Next()-1 {
				own, ok = eng.Hash(), true
			}
			if !ok {
				return fail("recorded hash for tick %d cannot be checked (next tick %d)", rec.Tick, eng.Next())
			}
			if own != rec.Hash {
				return fail("state hash at tick %d: recorded %s, re-simulation gives %s", rec.Tick, rec.Hash, own)
			}
			rep.HashesChecked++
		}
	}
	rep.Ticks, rep.FinalHash, rep.End = eng.Next(), eng.Hash(), rr.Offset()
	return rep, nil
}

// recheck verifies a verdict the engine derived; replay-dependent kinds are
// confirmed by the replay itself, so ErrNeedsReplay is their success.
func recheck(v *Verdict, ver *crypto.Verifier) error {
	err := v.Verify(ver)
	if (v.Kind == InvalidMove || v.Kind == StateDivergence) && errors.Is(err, ErrNeedsReplay) {
		return nil
	}
	return err
}
