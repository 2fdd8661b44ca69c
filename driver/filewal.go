package driver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wal"
)

// FileWAL adapts a wal.Log to the driver's WAL interface: each Ready's
// records are one group write, made durable according to the policy chosen
// at open (wal.SyncPower survives power loss, wal.SyncProcess a crash of
// the process). It is not safe for concurrent use: the driver goroutine
// owns it while Run runs.
type FileWAL struct{ log *wal.Log }

// Owner identifies the node whose votes a WAL holds: restoring another
// node's records (a directory mixed up between seats, players or matches)
// would make this node sign as if it had sent what another did. It is the
// WAL's header, written when the log is created and checked on every open.
type Owner struct {
	Match crypto.MatchID
	Seat  int
	Key   crypto.PublicKey
	// Epoch is the match's start (Config.Epoch, Unix nanoseconds; 0 when
	// the match has none). A match ID is its name and roster only, so the
	// same players replaying "friday" make the same ID: the start time
	// tells the two matches apart, and a WAL of the earlier one is refused
	// instead of restored (its votes would block or replay the old log).
	Epoch int64
}

const ownerVersion = 2

func (o Owner) encode() []byte {
	b := []byte{ownerVersion}
	b = append(b, o.Match[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(o.Seat))
	b = append(b, o.Key[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(o.Epoch))
}

func decodeOwner(b []byte) (Owner, bool) {
	var o Owner
	if len(b) != 1+len(o.Match)+2+len(o.Key)+8 || b[0] != ownerVersion {
		return o, false
	}
	b = b[1:]
	copy(o.Match[:], b)
	b = b[len(o.Match):]
	o.Seat = int(binary.BigEndian.Uint16(b))
	copy(o.Key[:], b[2:])
	o.Epoch = int64(binary.BigEndian.Uint64(b[2+len(o.Key):]))
	return o, true
}

func shortKey(k crypto.PublicKey) string { return k.Hex()[:16] }

func epochString(ns int64) string {
	if ns == 0 {
		return "with no start time"
	}
	return "at " + time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// WrongOwnerError reports a WAL written by another node. It unwraps to the
// *wal.OwnerError, so errors.Is(err, wal.ErrWrongOwner) holds.
type WrongOwnerError struct {
	Path string
	Want Owner
	// Have is the owner found in the header; nil if the header is not one
	// this version can read.
	Have *Owner
	err  *wal.OwnerError
}

func (e *WrongOwnerError) Error() string {
	var who string
	switch h := e.Have; {
	case h == nil:
		who = fmt.Sprintf("another node (unreadable owner header %x)", e.err.Have)
	case h.Match != e.Want.Match:
		who = fmt.Sprintf("another match (%s, seat %d, key %s)", h.Match, h.Seat, shortKey(h.Key))
	case h.Epoch != e.Want.Epoch && h.Seat == e.Want.Seat && h.Key == e.Want.Key:
		who = fmt.Sprintf("an earlier match with the same name and roster (started %s; this one starts %s): give this match its own name, or remove the old WAL", epochString(h.Epoch), epochString(e.Want.Epoch))
	case h.Seat != e.Want.Seat:
		who = fmt.Sprintf("seat %d (key %s)", h.Seat, shortKey(h.Key))
	default:
		who = fmt.Sprintf("another key (%s) at seat %d", shortKey(h.Key), h.Seat)
	}
	return fmt.Sprintf("driver: WAL %s belongs to %s, not to seat %d (key %s) of match %s: refusing to restore another node's votes",
		e.Path, who, e.Want.Seat, shortKey(e.Want.Key), e.Want.Match)
}

// Unwrap returns the underlying *wal.OwnerError.
func (e *WrongOwnerError) Unwrap() error { return e.err }

// OpenFileWAL opens (or creates) the log at path with no owner check and
// returns it with the records it already holds, for bft.NewNode. A torn
// tail left by a crash is cut off and reported by Recovery; damage before
// the end is a *wal.CorruptError (see package wal). Nodes that have an
// identity should use OpenOwnedFileWAL.
func OpenFileWAL(path string, policy wal.Policy) (*FileWAL, []bft.Record, error) {
	return openFileWAL(path, wal.Options{Policy: policy}, Owner{})
}

// OpenOwnedFileWAL is OpenFileWAL for the node owner: a new log gets owner
// as its header, and a log whose header names another node is refused with
// a *WrongOwnerError (nothing is read into the node, nothing on disk
// changes).
func OpenOwnedFileWAL(path string, policy wal.Policy, owner Owner) (*FileWAL, []bft.Record, error) {
	return openFileWAL(path, wal.Options{Policy: policy, Owner: owner.encode()}, owner)
}

func openFileWAL(path string, opts wal.Options, owner Owner) (*FileWAL, []bft.Record, error) {
	l, raw, err := wal.Open(path, opts)
	if err != nil {
		var oe *wal.OwnerError
		if errors.As(err, &oe) {
			we := &WrongOwnerError{Path: path, Want: owner, err: oe}
			if h, ok := decodeOwner(oe.Have); ok {
				we.Have = &h
			}
			return nil, nil, we
		}
		return nil, nil, err
	}
	recs := make([]bft.Record, len(raw))
	for i, r := range raw {
		recs[i] = bft.Record(r)
	}
	return &FileWAL{log: l}, recs, nil
}

// Append writes recs as one group: one write, and one fsync under
// wal.SyncPower.
func (w *FileWAL) Append(recs []bft.Record) error { return w.log.Append(toRaw(recs)...) }

// Rewrite atomically replaces the log's content with recs (wal.Log.Rewrite:
// temp file, fsync, rename, directory fsync).
func (w *FileWAL) Rewrite(recs []bft.Record) error { return w.log.Rewrite(toRaw(recs)) }

func toRaw(recs []bft.Record) [][]byte {
	raw := make([][]byte, len(recs))
	for i, r := range recs {
		raw[i] = r
	}
	return raw
}

// Recovery reports what opening the log found: a torn tail that was cut,
// a leftover compaction temp file that was removed, a legacy log without
// owner header.
func (w *FileWAL) Recovery() wal.Recovery { return w.log.Recovery() }

// LogRecovery logs Recovery: a cut torn tail as a warning with its offset
// and size, so a record lost to a crash is never forgotten silently.
func (w *FileWAL) LogRecovery(log *slog.Logger) {
	r := w.log.Recovery()
	if t := r.Tear; t != nil {
		log.Warn("write-ahead log: cut a torn final write (records never acknowledged, so never sent)",
			"path", w.log.Path(), "offset", t.Offset, "bytes", t.Bytes, "reason", t.Reason)
	}
	if r.RemovedTemp {
		log.Info("write-ahead log: removed the temp file of an interrupted compaction", "path", w.log.Path()+wal.TempSuffix)
	}
	if r.Legacy {
		log.Warn("write-ahead log has no owner header (written by an older version): its owner is not checked", "path", w.log.Path())
	}
}

// Stats returns the log's write counters (group writes, fsyncs, bytes).
func (w *FileWAL) Stats() wal.Stats { return w.log.Stats() }

// Close closes the file.
func (w *FileWAL) Close() error { return w.log.Close() }

// OpenRecoveringFileWAL is OpenOwnedFileWAL for a seat that rejoins after
// losing its WAL (bft.Config.Recovering): a damaged log is renamed to
// path.damaged-<unix time> (kept for inspection, never deleted) and a new
// one is started; aside names it ("" if none was damaged). A log of
// another owner is still refused.
func OpenRecoveringFileWAL(path string, policy wal.Policy, owner Owner, now time.Time) (fw *FileWAL, recs []bft.Record, aside string, err error) {
	fw, recs, err = OpenOwnedFileWAL(path, policy, owner)
	if err == nil || !errors.Is(err, wal.ErrCorrupt) {
		return fw, recs, "", err
	}
	aside = fmt.Sprintf("%s.damaged-%d", path, now.Unix())
	if rerr := os.Rename(path, aside); rerr != nil {
		return nil, nil, "", fmt.Errorf("%w (and it could not be moved aside: %v)", err, rerr)
	}
	fw, recs, err = OpenOwnedFileWAL(path, policy, owner)
	return fw, recs, aside, err
}

// OpenWAL opens the node's log in dir (created if missing) for owner, the
// one way both a session and `paxsync node` open it: a damaged log or one
// of another owner is an error and nothing on disk changes, except that
// with recover a damaged log is kept aside and a fresh one started (the
// node then rejoins as a learner, bft.Config.Recovering). What recovery
// found (a torn tail cut, a log kept aside) is logged.
func OpenWAL(dir string, policy wal.Policy, owner Owner, recover bool, log *slog.Logger) (*FileWAL, []bft.Record, error) {
	if err := wal.MkdirAll(dir); err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dir, "bft.wal")
	var fw *FileWAL
	var recs []bft.Record
	var err error
	if recover {
		var aside string
		fw, recs, aside, err = OpenRecoveringFileWAL(path, policy, owner, time.Now())
		if aside != "" {
			log.Warn("write-ahead log was damaged: kept aside; rejoining as a learner that signs no vote", "path", path, "kept_as", aside)
		}
	} else {
		fw, recs, err = OpenOwnedFileWAL(path, policy, owner)
	}
	if err != nil {
		return nil, nil, err
	}
	fw.LogRecovery(log)
	log.Info("write-ahead log", "path", path, "sync", policy.String(), "restored_records", len(recs))
	return fw, recs, nil
}

// DefaultWALDir is a session's default WAL directory (paxsync.Config.WALDir): a directory per match (name,
// ID and start time, so matches that share a name but not a roster or a
// start never meet) and
// per seat and key, under $XDG_STATE_HOME (ignored unless absolute, as the
// XDG spec says) or ~/.local/state.
func DefaultWALDir(name string, match crypto.MatchID, epoch time.Time, key crypto.PublicKey, seat int) (string, error) {
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
