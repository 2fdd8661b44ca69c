package gamestate

import (
	"errors"
	"fmt"
	"slices"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
)

// ReplayChecker checks a replay's records one at a time, trusting nothing
// their source says (VerifyReplay's checks, which it runs: see there). It
// keeps the re-simulated engine, so a reader that receives the records as
// they are decided (a spectator) follows the match with the same checks
// and the same state as a verifier of the finished file. It is not safe
// for concurrent use.
type ReplayChecker struct {
	h       *Header
	newGame func(h *Header) (Game, error)
	cfg     Config
	rules   Rules
	eng     *Engine
	rep     *Report
	// claims are the consensus records since the last entry. In a
	// certified replay the recorder writes them just before the entry
	// whose value ordered their evidence; the verdicts are derived from
	// that value (Engine.RecordOrdered, as every peer derives them), and
	// each claim must be among them. A recorder that drops one changes
	// nothing: trusting the claims instead let a dropped record make the
	// honest seats' later signed state hashes look like lies.
	claims   []ReplayRecord
	count    uint64       // records checked
	confirms confirmCache // Confirm bodies read once
}

// NewReplayChecker starts checking the replay of h: newGame builds its
// game in the initial state. On an error (wrapping ErrReplayInvalid) the
// checker still gives a Report.
func NewReplayChecker(h *Header, newGame func(h *Header) (Game, error)) (*ReplayChecker, error) {
	c := &ReplayChecker{h: h, newGame: newGame, cfg: h.Config(), rep: &Report{Header: h, MatchID: h.MatchID()}}
	c.rules = c.cfg.Rules()
	game, err := newGame(h)
	if err != nil {
		return c, fmt.Errorf("%w: building the game: %v", ErrReplayInvalid, err)
	}
	if c.eng, err = NewEngine(game, c.cfg); err != nil {
		return c, fmt.Errorf("%w: %v", ErrReplayInvalid, err)
	}
	return c, nil
}

// Report is what the records checked so far show (Ticks and FinalHash as
// of now; End is the caller's to set).
func (c *ReplayChecker) Report() *Report {
	if c.eng != nil {
		c.rep.Ticks, c.rep.FinalHash = c.eng.Next(), c.eng.Hash()
	}
	return c.rep
}

// LastSlot is the last decided slot checked (Report().LastSlot without
// the game hash Report computes).
func (c *ReplayChecker) LastSlot() uint64 { return c.rep.LastSlot }

// Engine is the re-simulated engine after the records checked so far.
// Read it only; a record checked later changes it.
func (c *ReplayChecker) Engine() *Engine { return c.eng }

func (c *ReplayChecker) fail(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrReplayInvalid, fmt.Sprintf(format, a...))
}

// Check checks rec, the next record, and applies it. An error wraps
// ErrReplayInvalid and names the record; after one the checker's state is
// that of the records before rec (rec may be half applied: start over).
func (c *ReplayChecker) Check(rec *ReplayRecord) error {
	if c.eng == nil {
		return c.fail("no game to check against")
	}
	c.count++
	if rec.recordNumber == 0 {
		rec.recordNumber = c.count // a record not read from a file: the count checked
	}
	if c.rep.Ended {
		return c.fail("record #%d follows the end record", rec.Number())
	}
	if rec.Kind == "resume" {
		c.claims = nil // the recorder stopped between a claim and its entry; the log is applied again
	}
	if len(c.claims) > 0 && rec.Kind == "batch" {
		// An uncertified replay (broadcast mode): nothing orders the
		// claims, so they are taken as recorded; Report.Proves is false.
		if err := c.believeClaims(); err != nil {
			return err
		}
	}
	if len(c.claims) > 0 && rec.Kind != "entry" && rec.Kind != "consensus" {
		return c.fail("consensus record #%d is not followed by the entry that ordered it (record #%d is a %s)", c.claims[0].Number(), rec.Number(), rec.Kind)
	}
	switch rec.Kind {
	case "resume":
		// The recorder restarted: its game began again from the
		// initial state, and its log from slot 1 (or a checkpoint).
		game, err := c.newGame(c.h)
		if err != nil {
			return c.fail("resume (record #%d): building the game: %v", rec.Number(), err)
		}
		if c.eng, err = NewEngine(game, c.cfg); err != nil {
			return c.fail("resume (record #%d): %v", rec.Number(), err)
		}
		c.rep.LastSlot = 0
		c.rep.Resumes++
		c.rep.Result, c.rep.ResultCert = nil, nil // a result before the restart is not this run's
	case "result":
		res, err := rec.Result.Verify(c.h.Name, c.h.Roster)
		if err == nil && rec.Result.Epoch != c.h.Epoch {
			err = errors.New("names another match than the header")
		}
		if err == nil && res.Slot > c.rep.LastSlot {
			err = fmt.Errorf("certifies slot %d, beyond the last recorded slot %d", res.Slot, c.rep.LastSlot)
		}
		if err != nil {
			return c.fail("result certificate (record #%d): %v", rec.Number(), err)
		}
		c.rep.Result, c.rep.ResultCert = res, rec.Result
	case "end":
		if err := checkEnd(c.cfg.Verifier, rec, c.rep, c.eng.Next()); err != nil {
			return c.fail("end record (record #%d): %v", rec.Number(), err)
		}
		c.rep.Ended, c.rep.EndSeat = true, int(rec.End.Sender)
	case "entry":
		if rec.Slot != c.rep.LastSlot+1 {
			if rec.Slot > c.rep.LastSlot+1 {
				return c.fail("entry for slot %d missing: record #%d holds slot %d, right after slot %d (entries were dropped)",
					c.rep.LastSlot+1, rec.Number(), rec.Slot, c.rep.LastSlot)
			}
			return c.fail("record #%d holds slot %d again (or out of order) after slot %d", rec.Number(), rec.Slot, c.rep.LastSlot)
		}
		if err := checkCommitCert(c.h, c.cfg.Verifier, &c.confirms, rec.Slot, rec.View, rec.Value, rec.Cert); err != nil {
			return c.fail("entry for slot %d (record #%d) was not decided: %v", rec.Slot, rec.Number(), err)
		}
		c.rep.LastSlot = rec.Slot
		c.rep.Entries++
		derived := c.eng.RecordOrdered(rec.Slot, rec.Evidence)
		for _, cl := range c.claims {
			if !slices.ContainsFunc(derived, func(v Verdict) bool { return v.Kind == cl.Consensus.Kind && v.Offender == cl.Consensus.Offender }) {
				return c.fail("consensus record #%d claims %s against seat %d, which the entry for slot %d does not order", cl.Number(), cl.Consensus.Kind, cl.Consensus.Offender, rec.Slot)
			}
		}
		c.claims = nil
		c.rep.addVerdicts(derived...)
		if rec.Batch == nil {
			return nil // not a batch: every peer skipped it alike
		}
		if err := applyReplayBatch(c.eng, rec.Batch, c.cfg.Verifier, c.rules, c.rep, true); err != nil {
			return c.fail("entry for slot %d (record #%d): %v", rec.Slot, rec.Number(), err)
		}
	case "checkpoint":
		if rec.Slot <= c.rep.LastSlot {
			return c.fail("checkpoint of slot %d (record #%d) after slot %d", rec.Slot, rec.Number(), c.rep.LastSlot)
		}
		if err := checkCheckpointCert(c.h, c.cfg.Verifier, rec.Checkpoint, rec.Cert, rec.Snapshot); err != nil {
			return c.fail("checkpoint (record #%d): %v", rec.Number(), err)
		}
		if err := c.eng.Restore(rec.Snapshot); err != nil {
			return c.fail("checkpoint of slot %d (record #%d): restoring its snapshot: %v", rec.Slot, rec.Number(), err)
		}
		c.rep.Skipped += rec.Slot - c.rep.LastSlot
		c.rep.LastSlot = rec.Slot
		c.rep.Checkpoints++
		c.reportHeld(rec.Slot)
	case "batch":
		if err := applyReplayBatch(c.eng, rec.Batch, c.cfg.Verifier, c.rules, c.rep, false); err != nil {
			return c.fail("batch %d (record #%d): %v", c.rep.Batches, rec.Number(), err)
		}
		c.rep.Uncertified++
	case "consensus":
		cv := rec.Consensus
		if err := cv.Verify(c.cfg.Verifier); !errors.Is(err, ErrNeedsConsensusCheck) {
			return c.fail("consensus verdict: %v", err)
		}
		// What it is depends on the record after it: the entry whose
		// value ordered its evidence (a claim checked against what that
		// value gives), or, in an uncertified replay only, a batch.
		c.claims = append(c.claims, *rec)
	case "hash":
		own, ok := c.eng.CheckpointHash(rec.Tick)
		if c.eng.Next() > 0 && rec.Tick == c.eng.Next()-1 {
			own, ok = c.eng.Hash(), true
		}
		if !ok {
			return c.fail("recorded hash for tick %d cannot be checked (next tick %d)", rec.Tick, c.eng.Next())
		}
		if own != rec.Hash {
			return c.fail("state hash at tick %d: recorded %s, re-simulation gives %s", rec.Tick, rec.Hash, own)
		}
		c.rep.HashesChecked++
	}
	return nil
}

// believeClaims records the pending consensus records as they say, at
// this position (an uncertified replay: the old rule).
func (c *ReplayChecker) believeClaims() error {
	for _, cl := range c.claims {
		cv := cl.Consensus
		v, fresh, err := c.eng.RecordConsensus(cv.Kind, cv.Offender, cv.Evidence, cv.Detail)
		if err != nil {
			return c.fail("consensus verdict (record #%d): %v", cl.Number(), err)
		}
		if v.Tick != cv.Tick {
			return c.fail("consensus verdict (record #%d) recorded at tick %d, replay gives %d", cl.Number(), cv.Tick, v.Tick)
		}
		if fresh {
			c.rep.addVerdicts(v)
		}
	}
	c.claims = nil
	return nil
}

// reportHeld lists the verdicts a certified checkpoint's snapshot holds
// that the report does not: those of the slots it skipped, which were not
// re-derived here. Without this a recorder could hide a verdict against
// itself by recording a later checkpoint in place of the entries that
// gave it. They are listed as the checkpoint certifies them (kind,
// offender, tick), without their evidence, which only the skipped
// entries held.
func (c *ReplayChecker) reportHeld(slot uint64) {
	listed := func(k verdictKey) bool {
		return slices.ContainsFunc(c.rep.Verdicts, func(v Verdict) bool { return v.Kind == k.kind && v.Offender == k.off && v.Tick == k.tick })
	}
	for _, k := range c.eng.seen {
		if !listed(k) {
			c.rep.addVerdicts(Verdict{Kind: k.kind, Offender: k.off, Tick: k.tick,
				Detail: fmt.Sprintf("held by the certified checkpoint of slot %d (the slots before it were not replayed)", slot)})
		}
	}
}

// EntryRecord is the record of a decided slot: its value (bft.Entry.Value)
// and commit certificate, the batch decoded from the value's payload (nil
// if it is none). Nothing is checked until ReplayChecker.Check.
func EntryRecord(slot, view uint64, value []byte, cert []crypto.Envelope) ReplayRecord {
	rec := ReplayRecord{Kind: "entry", Slot: slot, View: view, Value: value, Cert: cert}
	// Read as every peer's bft reads it (bft's deliver): a value that
	// does not decode within MaxValuePayload holds neither a batch nor
	// evidence for anyone.
	if p, ev, err := bft.DecodeValue(value, MaxValuePayload); err == nil {
		rec.Batch, _ = DecodeBatch(p)
		rec.Evidence = ev
	}
	return rec
}

// CheckpointRecord is the record of an installed checkpoint: its body
// (bft.Snapshot.Checkpoint), certificate and engine snapshot. It fails
// (ErrReplayCorrupt) only when the body names no slot; the certificate is
// checked by ReplayChecker.Check.
func CheckpointRecord(body []byte, cert []crypto.Envelope, snapshot []byte) (ReplayRecord, error) {
	slot, _, err := checkpointSlot(body)
	if err != nil {
		return ReplayRecord{}, fmt.Errorf("%w: checkpoint: %v", ErrReplayCorrupt, err)
	}
	return ReplayRecord{Kind: "checkpoint", Slot: slot, Checkpoint: body, Cert: cert, Snapshot: snapshot}, nil
}

// CertChecker checks records' certificates on their own, with no state:
// what an entry or a checkpoint proves by itself (a spectator's proof of
// a forged log is checked with one). Not safe for concurrent use.
type CertChecker struct {
	h        *Header
	ver      *crypto.Verifier
	confirms confirmCache
}

// NewCertChecker checks certificates against h's roster.
func NewCertChecker(h *Header) *CertChecker {
	return &CertChecker{h: h, ver: h.Config().Verifier}
}

// Entry checks an entry record's commit certificate.
func (c *CertChecker) Entry(rec *ReplayRecord) error {
	return checkCommitCert(c.h, c.ver, &c.confirms, rec.Slot, rec.View, rec.Value, rec.Cert)
}

// Checkpoint checks a checkpoint record's certificate and its snapshot's
// digest.
func (c *CertChecker) Checkpoint(rec *ReplayRecord) error {
	return checkCheckpointCert(c.h, c.ver, rec.Checkpoint, rec.Cert, rec.Snapshot)
}
