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
	rep := &Report{Header: h, MatchID: h.MatchID()}
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
		rep.Ticks, rep.FinalHash = eng.Next(), eng.Hash()
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
			rep.Ticks, rep.FinalHash = eng.Next(), eng.Hash()
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
	rep.Ticks, rep.FinalHash = eng.Next(), eng.Hash()
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
