package gamestate

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
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
	// Entries counts certified decided slots (each one's commit
	// certificate checked), Checkpoints the certified checkpoints the
	// recorder installed (verification resumed from their snapshot;
	// Skipped slots before them were not re-derived), Uncertified the
	// batches nothing certifies (broadcast mode).
	Entries, Checkpoints, Uncertified int
	Skipped                           uint64
	// LastSlot is the last slot recorded.
	LastSlot uint64
	// Ended means the file closes with a valid end record signed by seat
	// EndSeat that names exactly the records before it: nothing was cut
	// off, dropped or altered after the recorder wrote it.
	Ended   bool
	EndSeat int
	// Resumes counts restarts of the recorder (resume records): each
	// starts the re-simulation over; verdicts re-derived again are listed
	// once.
	Resumes int
	// Result is the match result the replay ends with, its certificate
	// checked against the header's roster (nil if the replay holds none:
	// no stable checkpoint yet, crash consensus, or an older recorder).
	Result     *MatchResult
	ResultCert *ResultCertificate
	seen       map[reportVerdictKey]bool
}

type reportVerdictKey struct {
	kind     VerdictKind
	offender int
	tick     uint64
	detail   string
}

// addVerdicts appends the verdicts not listed yet (a resumed recorder
// re-derives the ones before its restart).
func (r *Report) addVerdicts(vs ...Verdict) {
	if r.seen == nil {
		r.seen = map[reportVerdictKey]bool{}
	}
	for _, v := range vs {
		k := reportVerdictKey{v.Kind, v.Offender, v.Tick, v.Detail}
		if !r.seen[k] {
			r.seen[k] = true
			r.Verdicts = append(r.Verdicts, v)
		}
	}
}

// Proves reports whether the replay is a transferable proof: it is
// complete (a valid end record), and every tick it applied came from
// entries whose commit certificates verified, so every verdict it
// re-derived (invalid-move and state-divergence included) follows from
// what the match decided, not from what the recorder says.
func (r *Report) Proves() bool {
	return r.Ended && !r.Truncated && r.Uncertified == 0 && r.Entries+r.Checkpoints > 0
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
// replay proving nothing checks this too. A replay without the recorder's
// signed end record is incomplete however it was cut: between two records
// too.
func (r *Report) Incomplete() error {
	where := fmt.Sprintf("at byte %d", r.End)
	switch {
	case r.Truncated && r.Ticks == 0:
		return fmt.Errorf("%w: it ends inside a record %s, before any tick was recorded", ErrReplayIncomplete, where)
	case r.Truncated:
		return fmt.Errorf("%w: it ends inside a record %s, after tick %d (%d batches): the recording peer stopped abruptly; everything up to there verified, what followed is unknown",
			ErrReplayIncomplete, where, r.Ticks-1, r.Batches)
	case r.Ticks == 0 && r.Batches == 0:
		return fmt.Errorf("%w: it holds only the header (%d bytes), no tick", ErrReplayIncomplete, r.End)
	case r.Ticks == 0:
		return fmt.Errorf("%w: it ends %s with %d batches but no tick", ErrReplayIncomplete, where, r.Batches)
	case !r.Ended:
		return fmt.Errorf("%w: it has no end record (%s, after slot %d, tick %d): it was cut short, or the recording peer never closed its session; everything up to there verified, what followed is unknown",
			ErrReplayIncomplete, where, r.LastSlot, r.Ticks-1)
	}
	return nil
}

// VerifyReplay re-simulates a replay deterministically and checks it from
// the file alone, trusting nothing its recorder says: every entry's commit
// certificate (q distinct acceptors' signed Confirms naming its slot and
// the digest of its recorded value) and every checkpoint's certificate are
// checked against the header's roster; slots must follow one another, so a
// dropped entry is reported by slot; every batch must pass ValidateBatch
// (so every input signature is re-verified); every recorded state hash
// must equal the re-simulated one; every verdict is re-derived from the
// log and its evidence re-checked (invalid-move and state-divergence by
// this very replay, which the certificates make a proof); and the end
// record, if any, must be signed by a seat and name exactly the records
// before it (count and hash chain). Report.Proves says whether the replay
// is a complete proof, Report.Incomplete why not.
//
// newGame builds the game in its initial state from the header (whose Game
// field carries the game's parameters, e.g. an arena's seed). On a failed
// check it returns the report so far and an error wrapping ErrReplayInvalid
// or ErrReplayCorrupt; a version-1 file gives ErrReplayOldFormat.
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
	// claims are the consensus records since the last entry. In a
	// certified replay the recorder writes them just before the entry
	// whose value ordered their evidence; the verdicts are derived from
	// that value (Engine.RecordOrdered, as every peer derives them), and
	// each claim must be among them. A recorder that drops one changes
	// nothing: trusting the claims instead let a dropped record make the
	// honest seats' later signed state hashes look like lies.
	var claims []ReplayRecord
	for {
		rec, err := rr.Next()
		if err == io.EOF {
			break
		}
		if err == nil && rec.Kind == "resume" {
			claims = nil // the recorder stopped between a claim and its entry; the log is applied again
		}
		if err == nil && len(claims) > 0 && rec.Kind != "entry" && rec.Kind != "consensus" {
			return fail("consensus record #%d is not followed by the entry that ordered it (record #%d is a %s)", claims[0].Number(), rec.Number(), rec.Kind)
		}
		if err == nil && rep.Ended {
			return fail("record #%d follows the end record", rec.Number())
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
		case "resume":
			// The recorder restarted: its game began again from the
			// initial state, and its log from slot 1 (or a checkpoint).
			game, err := newGame(h)
			if err != nil {
				return fail("resume (record #%d): building the game: %v", rec.Number(), err)
			}
			if eng, err = NewEngine(game, cfg); err != nil {
				return fail("resume (record #%d): %v", rec.Number(), err)
			}
			rep.LastSlot = 0
			rep.Resumes++
			rep.Result, rep.ResultCert = nil, nil // a result before the restart is not this run's
		case "result":
			res, err := rec.Result.Verify(h.Name, h.Roster)
			if err == nil && rec.Result.Epoch != h.Epoch {
				err = errors.New("names another match than the header")
			}
			if err == nil && res.Slot > rep.LastSlot {
				err = fmt.Errorf("certifies slot %d, beyond the last recorded slot %d", res.Slot, rep.LastSlot)
			}
			if err != nil {
				return fail("result certificate (record #%d): %v", rec.Number(), err)
			}
			rep.Result, rep.ResultCert = res, rec.Result
		case "end":
			if err := checkEnd(cfg.Verifier, &rec, rep, eng.Next()); err != nil {
				return fail("end record (record #%d): %v", rec.Number(), err)
			}
			rep.Ended, rep.EndSeat = true, int(rec.End.Sender)
		case "entry":
			if rec.Slot != rep.LastSlot+1 {
				if rec.Slot > rep.LastSlot+1 {
					return fail("entry for slot %d missing: record #%d holds slot %d, right after slot %d (entries were dropped)",
						rep.LastSlot+1, rec.Number(), rec.Slot, rep.LastSlot)
				}
				return fail("record #%d holds slot %d again (or out of order) after slot %d", rec.Number(), rec.Slot, rep.LastSlot)
			}
			if err := checkCommitCert(h, cfg.Verifier, rec.Slot, rec.View, rec.Value, rec.Cert); err != nil {
				return fail("entry for slot %d (record #%d) was not decided: %v", rec.Slot, rec.Number(), err)
			}
			rep.LastSlot = rec.Slot
			rep.Entries++
			var evidence []bft.Evidence
			if _, ev, err := bft.DecodeValue(rec.Value, wire.MaxMessageSize); err == nil {
				evidence = ev
			}
			derived := eng.RecordOrdered(rec.Slot, evidence)
			for _, c := range claims {
				if !slices.ContainsFunc(derived, func(v Verdict) bool { return v.Kind == c.Consensus.Kind && v.Offender == c.Consensus.Offender }) {
					return fail("consensus record #%d claims %s against seat %d, which the entry for slot %d does not order", c.Number(), c.Consensus.Kind, c.Consensus.Offender, rec.Slot)
				}
			}
			claims = nil
			rep.addVerdicts(derived...)
			if rec.Batch == nil {
				continue // not a batch: every peer skipped it alike
			}
			if err := applyReplayBatch(eng, rec.Batch, cfg.Verifier, rules, rep, true); err != nil {
				return fail("entry for slot %d (record #%d): %v", rec.Slot, rec.Number(), err)
			}
		case "checkpoint":
			if rec.Slot <= rep.LastSlot {
				return fail("checkpoint of slot %d (record #%d) after slot %d", rec.Slot, rec.Number(), rep.LastSlot)
			}
			if err := checkCheckpointCert(h, cfg.Verifier, rec.Checkpoint, rec.Cert, rec.Snapshot); err != nil {
				return fail("checkpoint (record #%d): %v", rec.Number(), err)
			}
			if err := eng.Restore(rec.Snapshot); err != nil {
				return fail("checkpoint of slot %d (record #%d): restoring its snapshot: %v", rec.Slot, rec.Number(), err)
			}
			rep.Skipped += rec.Slot - rep.LastSlot
			rep.LastSlot = rec.Slot
			rep.Checkpoints++
		case "batch":
			if err := applyReplayBatch(eng, rec.Batch, cfg.Verifier, rules, rep, false); err != nil {
				return fail("batch %d (record #%d): %v", rep.Batches, rec.Number(), err)
			}
			rep.Uncertified++
		case "consensus":
			c := rec.Consensus
			if err := c.Verify(cfg.Verifier); !errors.Is(err, ErrNeedsConsensusCheck) {
				return fail("consensus verdict: %v", err)
			}
			if rep.Entries > 0 || rep.Checkpoints > 0 {
				claims = append(claims, rec) // a certified log: its entry orders it
				continue
			}
			v, fresh, err := eng.RecordConsensus(c.Kind, c.Offender, c.Evidence, c.Detail)
			if err != nil {
				return fail("consensus verdict: %v", err)
			}
			if v.Tick != c.Tick {
				return fail("consensus verdict recorded at tick %d, replay gives %d", c.Tick, v.Tick)
			}
			if fresh {
				rep.addVerdicts(v)
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

// applyReplayBatch validates and applies one batch and re-checks the
// verdicts it gives. A certified batch that does not continue the log is a
// stale duplicate every peer skipped alike.
func applyReplayBatch(eng *Engine, b *Batch, ver *crypto.Verifier, rules Rules, rep *Report, certified bool) error {
	if err := ValidateBatch(b, ver, rules); err != nil {
		return err
	}
	res, err := eng.Apply(b)
	if certified && errors.Is(err, ErrNotContiguous) {
		return nil
	}
	if err != nil {
		return err
	}
	rep.Batches++
	for i := range res.Verdicts {
		if err := recheck(&res.Verdicts[i], ver); err != nil {
			return fmt.Errorf("verdict %s against seat %d: %v", res.Verdicts[i].Kind, res.Verdicts[i].Offender, err)
		}
	}
	rep.addVerdicts(res.Verdicts...)
	return nil
}

// checkEnd checks the end record: signed by a seat, naming exactly the
// records before it (count and hash chain), the last slot and next tick.
func checkEnd(ver *crypto.Verifier, rec *ReplayRecord, rep *Report, next uint64) error {
	if err := ver.Verify(rec.End); err != nil {
		return fmt.Errorf("signature: %v", err)
	}
	e := &rec.EndBody
	switch {
	case e.Records != rec.RecordsRead:
		return fmt.Errorf("it names %d records before it, the file holds %d (records were dropped or added)", e.Records, rec.RecordsRead)
	case e.Chain != rec.ChainBefore:
		return fmt.Errorf("the records before it are not the ones the recorder (seat %d) wrote: hash chain %s, recorded %s", rec.End.Sender, rec.ChainBefore, e.Chain)
	case e.LastSlot != rep.LastSlot:
		return fmt.Errorf("it names last slot %d, the file ends at slot %d", e.LastSlot, rep.LastSlot)
	case e.NextTick != next:
		return fmt.Errorf("it names next tick %d, re-simulation gives %d", e.NextTick, next)
	}
	return nil
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
