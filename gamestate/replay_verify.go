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
	// Verdicts lists every verdict in log order: re-derived from the log
	// (consensus ones from the evidence its certified entries ordered),
	// or, for slots a certified checkpoint skipped, as that checkpoint's
	// snapshot holds them (no evidence).
	Verdicts []Verdict
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
	c, err := NewReplayChecker(rr.Header, newGame)
	if err != nil {
		c.rep.End = rr.Offset()
		return c.rep, err
	}
	for {
		rec, err := rr.Next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, ErrReplayTruncated) {
			c.rep.Truncated = true
			break
		}
		if err == nil {
			err = c.Check(&rec)
		}
		if err != nil {
			rep := c.Report()
			rep.End = rr.Offset()
			return rep, err
		}
	}
	rep := c.Report()
	rep.End = rr.Offset()
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
