package paxsync

// Opening the write-ahead log that keeps this player's own votes.

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/driver"
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
		d, err := defaultWALDir(s.cfg.MatchName, crypto.NewMatchID(s.cfg.MatchName, s.cfg.Roster), s.cfg.Epoch, s.cfg.Key.Public(), s.seat)
		if err != nil {
			return nil, nil, badConfig("WALDir", "no default directory (%v); set WALDir, or MemoryWAL to keep votes in memory only", err)
		}
		dir = d
	}
	if err := wal.MkdirAll(dir); err != nil {
		return nil, nil, fmt.Errorf("paxsync: WALDir: %w", err)
	}
	policy := wal.SyncPower
	if s.cfg.WALSync == WALSyncProcess {
		policy = wal.SyncProcess
	}
	path := filepath.Join(dir, "bft.wal")
	// The owner names the match by name and roster and its playing by
	// Epoch (not by the instance ID, which mixes both), so a WAL of an
	// earlier playing is refused as exactly that.
	owner := driver.Owner{Match: crypto.NewMatchID(s.cfg.MatchName, s.cfg.Roster), Seat: s.seat, Key: s.cfg.Key.Public()}
	if !s.cfg.Epoch.IsZero() {
		owner.Epoch = s.cfg.Epoch.UnixNano()
	}
	var fw *driver.FileWAL
	var recs []bft.Record
	var err error
	if s.cfg.RecoverLostWAL {
		var aside string
		fw, recs, aside, err = driver.OpenRecoveringFileWAL(path, policy, owner, time.Now())
		if aside != "" {
			s.log.Warn("write-ahead log was damaged: kept aside; rejoining as a learner that signs no vote", "path", path, "kept_as", aside)
		}
	} else {
		fw, recs, err = driver.OpenOwnedFileWAL(path, policy, owner)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("paxsync: WALDir: %w", err)
	}
	fw.LogRecovery(s.log)
	s.log.Info("write-ahead log", "path", path, "sync", policy.String(), "restored_records", len(recs))
	s.closeWAL = fw.Close
	return fw, recs, nil
}

// defaultWALDir is Config.WALDir's default: a directory per match (name,
// ID and start time, so matches that share a name but not a roster or a
// start never meet) and
// per seat and key, under $XDG_STATE_HOME (ignored unless absolute, as the
// XDG spec says) or ~/.local/state.
func defaultWALDir(name string, match crypto.MatchID, epoch time.Time, key crypto.PublicKey, seat int) (string, error) {
	base := os.Getenv("XDG_STATE_HOME")
	if !filepath.IsAbs(base) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		base = filepath.Join(home, ".local", "state")
	}
	safe := []byte(name)
	for i, c := range safe {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			safe[i] = '_'
		}
	}
	if len(safe) > 48 {
		safe = safe[:48]
	}
	return filepath.Join(base, "paxsync", fmt.Sprintf("%s-%x-%s", safe, match[:8], epoch.UTC().Format("20060102T150405.000000000Z")),
		fmt.Sprintf("seat%d-%s", seat, key.Hex()[:16])), nil
}
