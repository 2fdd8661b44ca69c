package paxsync

// Opening the write-ahead log that keeps this player's own votes.

import (
	"fmt"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/driver"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wal"
)

// walWrapper is a test seam: when set, openWAL wraps the session's WAL
// with it (tests inject a WAL that fails like a full disk). Nil in
// production; nothing outside the package's tests sets it.
var walWrapper func(driver.WAL) driver.WAL

// openWAL opens the bft log in Config.WALDir (its default directory if
// unset) with the owner header of this match, seat and key, or an
// in-memory one for MemoryWAL, and returns the records to restore the
// node from. Damage before the log's end and a foreign owner are errors;
// a torn tail cut off is logged.
func (s *Session) openWAL(dc *driver.Config) ([]bft.Record, error) {
	wl, recs, err := s.openWALFile()
	if err == nil && walWrapper != nil {
		wl = walWrapper(wl)
	}
	dc.WAL = wl
	return recs, err
}

func (s *Session) openWALFile() (driver.WAL, []bft.Record, error) {
	if s.cfg.WALDir == MemoryWAL {
		return &driver.MemWAL{}, nil, nil
	}
	dir := s.cfg.WALDir
	if dir == "" && s.cfg.Epoch.IsZero() {
		// Nothing tells this match from an earlier one of the same name and
		// roster: a default directory would restore that match's votes,
		// and no seat could vote for this match's slots.
		s.log.Warn("no Config.Epoch and no Config.WALDir: votes are kept in memory only, so a restarted process cannot rejoin this match with the same key; and a rerun of this match (same name and roster) would share its ID, so messages kept from this one would verify in it; set Epoch (the agreed start time) or WALDir")
		return &driver.MemWAL{}, nil, nil
	}
	if dir == "" {
		d, err := driver.DefaultWALDir(s.cfg.MatchName, crypto.NewMatchID(s.cfg.MatchName, s.cfg.Roster), s.cfg.Epoch, s.cfg.Key.Public(), s.seat)
		if err != nil {
			return nil, nil, badConfig("WALDir", "no default directory (%v); set WALDir, or MemoryWAL to keep votes in memory only", err)
		}
		dir = d
	}
	policy := wal.SyncPower
	if s.cfg.WALSync == WALSyncProcess {
		policy = wal.SyncProcess
	}
	// The owner names the match by name and roster and its playing by
	// Epoch (not by the instance ID, which mixes both), so a WAL of an
	// earlier playing is refused as exactly that.
	owner := driver.Owner{Match: crypto.NewMatchID(s.cfg.MatchName, s.cfg.Roster), Seat: s.seat, Key: s.cfg.Key.Public()}
	if !s.cfg.Epoch.IsZero() {
		owner.Epoch = s.cfg.Epoch.UnixNano()
	}
	fw, recs, err := driver.OpenWAL(dir, policy, owner, s.cfg.RecoverLostWAL, s.log)
	if err != nil {
		return nil, nil, fmt.Errorf("paxsync: WALDir: %w", err)
	}
	s.closeWAL = fw.Close
	return fw, recs, nil
}

// replayHeader describes the match cfg plays: what its replay starts
// with and what a spectator checks the log against.
func replayHeader(cfg *Config) *gamestate.Header {
	h := &gamestate.Header{Name: cfg.MatchName, Roster: cfg.Roster,
		TickRate: cfg.TickRate, InputDelay: cfg.InputDelay, HashInterval: cfg.HashInterval, Sealed: cfg.Sealed,
		Policy: cfg.Policy, Game: cfg.GameParams, Epoch: epochNanos(cfg.Epoch)}
	if cfg.Consensus == ConsensusCrash {
		f := (len(cfg.Roster) - 1) / 3
		h.Quorum, h.Acceptors = f+1, 2*f+1
	}
	return h
}

// openReplay starts the replay in Config.Record. Its header says what a
// certificate must hold (crash consensus: f+1 of the 2f+1 acceptors). A
// Record that is a file (gamestate.ReplayFile, e.g. an *os.File opened
// read-write) holding a replay of this very match is continued, not
// overwritten: a peer restarted from its WAL appends a resume marker and
// goes on recording, so the file still verifies as one.
func (s *Session) openReplay() (*gamestate.ReplayWriter, error) {
	cfg := &s.cfg
	h := replayHeader(cfg)
	if f, ok := cfg.Record.(gamestate.ReplayFile); ok {
		return gamestate.ResumeReplayWriter(f, h)
	}
	return gamestate.NewReplayWriter(cfg.Record, h)
}
