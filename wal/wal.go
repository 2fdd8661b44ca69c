// Package wal is a file-backed write-ahead log for bft's Ready.Persist
// records. A node must write each Ready's records before sending its
// messages, so that after a restart it never signs anything contradicting
// what it already sent; this package makes that one group write per Ready,
// with a durability policy chosen by the caller, and reads the log back
// without ever forgetting a record silently.
//
// File format: a sequence of frames, each
//
//	length (uint32, big-endian) | CRC-32C of data (uint32) | data
//
// with 0 < length ≤ MaxRecord. A frame is intact when its header is
// complete, its length is in that range, its data lies inside the file and
// its checksum matches. The first frame may be an owner header (Options.Owner):
// data that starts with ownerMagic, identifying whose votes the log holds.
//
// # Torn tail or damage: the rule
//
// Open reads frames from the start. At the first frame that is not intact,
// at offset X, it searches every later offset for an intact frame:
//
//   - None found: the bytes from X to the end are a torn write (a crash cut
//     the last group write, or a power loss left it half on disk or
//     zero-filled). Open cuts the file at X and reports the cut
//     (Log.Recovery().Tear: offset, bytes, why), so the caller logs it.
//     Those records were never acknowledged (Append had not returned), so
//     no message they protect was sent.
//   - One found: the damage is followed by intact data, so it is not a tear:
//     writes only ever go at the end, and Open cuts any torn tail before the
//     next append, so an acknowledged record was damaged. Open returns a
//     *CorruptError (errors.Is ErrCorrupt) naming the file and X, and
//     changes nothing on disk.
//
// So a torn write can only cost the unacknowledged last group, and damage
// anywhere else stops the node instead of silently dropping every vote
// after it (a node restarted on a silently shortened log can equivocate).
// One consequence is deliberate: if a power loss persisted a later page of
// the last, unacknowledged group write but not an earlier one, Open reports
// damage, because it cannot tell that from damage to acknowledged records;
// refusing is the safe side. The other way round, damage that runs to the
// end of the file with nothing intact after it (a flipped byte in the last
// frame, a lost last page) is indistinguishable from a torn write and is
// cut; Tear.Bytes says how much, so a caller can judge a large cut.
package wal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// Policy chooses what a successful Append survives.
type Policy int

const (
	// SyncNone buffers records in the process: fastest, survives nothing
	// (tests and benchmarks only; a crash may lose acknowledged records).
	SyncNone Policy = iota
	// SyncProcess writes each group to the kernel with one write(2):
	// survives a crash of the process, not of the machine.
	SyncProcess
	// SyncPower writes and fsyncs each group: survives power loss.
	SyncPower
)

// String names the policy for flags and benchmark tables.
func (p Policy) String() string {
	switch p {
	case SyncNone:
		return "none"
	case SyncProcess:
		return "process"
	case SyncPower:
		return "power"
	}
	return "unknown"
}

// ParsePolicy reads a policy name written by String.
func ParsePolicy(s string) (Policy, error) {
	for _, p := range []Policy{SyncNone, SyncProcess, SyncPower} {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("wal: unknown sync policy %q (want none, process or power)", s)
}

// MaxRecord bounds one record; a larger length field is treated as damage.
const MaxRecord = 64 << 20

const headerSize = 8

// ownerMagic starts the data of the owner header frame. Its first byte is
// zero, which no bft record starts with, and Append refuses records that
// start with it, so the header cannot be confused with a record.
var ownerMagic = []byte("\x00paxsync-wal-owner\x00")

// TempSuffix is appended to the log's path for the file Rewrite builds
// before renaming it over the log. A file with this name is never part of
// the log (the rename is the commit point); Open removes a leftover one.
const TempSuffix = ".rewrite-tmp"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

var (
	// ErrClosed is returned by Append and Rewrite after Close.
	ErrClosed = errors.New("wal: log is closed")
	// ErrCorrupt is what a *CorruptError matches with errors.Is: the log
	// is damaged before its end, so records may be missing, and it was
	// left untouched.
	ErrCorrupt = errors.New("wal: log is corrupt")
	// ErrWrongOwner is what an *OwnerError matches with errors.Is: the log
	// holds someone else's records.
	ErrWrongOwner = errors.New("wal: log belongs to another owner")
)

// CorruptError reports damage before the end of a log: a frame at Offset
// that is not intact although an intact frame follows at Next. Open
// returns it without changing the file, so the operator can inspect or
// restore it; a node must not run on a log that lost records.
type CorruptError struct {
	Path   string
	Offset int64  // start of the first damaged frame
	Next   int64  // start of an intact frame after it
	Reason string // what is wrong with the frame at Offset
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal: %s is corrupt at byte %d (%s; an intact frame follows at byte %d, so this is not a torn write): "+
		"refusing to open it, nothing was truncated", e.Path, e.Offset, e.Reason, e.Next)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// OwnerError reports a log whose owner header differs from the one the
// caller expects (Options.Owner): it was written by another node, and its
// records must not be restored into this one.
type OwnerError struct {
	Path       string
	Have, Want []byte // the owner tags found and expected
}

func (e *OwnerError) Error() string {
	return fmt.Sprintf("wal: %s belongs to another owner (header %x, expected %x)", e.Path, e.Have, e.Want)
}

// Is makes errors.Is(err, ErrWrongOwner) true.
func (e *OwnerError) Is(target error) bool { return target == ErrWrongOwner }

// Tear describes a torn final write that Open cut off.
type Tear struct {
	Offset int64  // where the file was cut (its new length)
	Bytes  int64  // how many bytes were removed
	Reason string // what was wrong with the frame at Offset
}

// Recovery is what Open found and did besides reading records, for the
// caller to log: nothing here is an error.
type Recovery struct {
	// Tear is the torn tail that was cut off, or nil.
	Tear *Tear
	// RemovedTemp is set when a leftover Rewrite temp file (a compaction
	// interrupted before its rename) was deleted.
	RemovedTemp bool
	// Owner is the owner tag in the log's header (nil: none).
	Owner []byte
	// Legacy is set for a non-empty log without an owner header (written
	// before headers existed): its owner could not be checked.
	Legacy bool
}

// Options configure Open.
type Options struct {
	Policy Policy
	// Owner, if non-nil, identifies who may use the log (the driver
	// encodes match, seat and key). Open writes it as the header of a new
	// log and returns an *OwnerError for a log whose header differs, so a
	// directory mixed up between seats or matches is named as such instead
	// of failing later as corrupt records. A log without a header (Legacy)
	// is accepted and gets the header at its next Rewrite. Nil: no check,
	// and no header is written.
	Owner []byte
}

// Stats count a log's group writes since Open, to check (and measure) the
// one-write, one-fsync-per-group promise.
type Stats struct {
	Groups uint64 // Append calls that wrote at least one record
	Syncs  uint64 // fsyncs of the log file (Append under SyncPower, Rewrite)
	Bytes  uint64 // bytes written by Append
}

// Log is an open write-ahead log. It is not safe for concurrent use.
type Log struct {
	f      *os.File
	w      *bufio.Writer // SyncNone only
	policy Policy
	buf    []byte
	path   string
	owner  []byte // header to keep in a rewritten log; nil: none
	rec    Recovery
	stats  Stats
	err    error // first write or fsync failure; the log refuses writes after it
}

// crashPoint is a test seam: when set, Rewrite calls it after the temp
// file is complete and synced and before the rename, so a test can stop
// there as a crash would (a panic leaves the temp file behind). Nil in
// production.
var crashPoint func()

// Open opens (creating if needed) the log at path and returns it with
// every record in it. A torn tail is cut off and reported in Recovery;
// damage before the end is a *CorruptError and a foreign owner header an
// *OwnerError, both returned without changing the file. See the package
// comment for the exact rule.
func Open(path string, opts Options) (*Log, [][]byte, error) {
	if len(opts.Owner) > MaxRecord-len(ownerMagic) {
		return nil, nil, fmt.Errorf("wal: owner tag of %d bytes is too long", len(opts.Owner))
	}
	var rec Recovery
	switch err := os.Remove(path + TempSuffix); {
	case err == nil:
		rec.RemovedTemp = true
	case !errors.Is(err, os.ErrNotExist):
		return nil, nil, fmt.Errorf("wal: remove leftover %s: %w", path+TempSuffix, err)
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: %w", err)
	}
	fail := func(err error) (*Log, [][]byte, error) {
		f.Close()
		return nil, nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fail(fmt.Errorf("wal: read %s: %w", path, err))
	}
	recs, good, err := Scan(data)
	if err != nil {
		var ce *CorruptError
		if errors.As(err, &ce) {
			ce.Path = path
		}
		return fail(err)
	}
	if len(recs) > 0 && bytes.HasPrefix(recs[0], ownerMagic) {
		rec.Owner = bytes.Clone(recs[0][len(ownerMagic):])
		recs = recs[1:]
	} else if len(recs) > 0 {
		rec.Legacy = true
	}
	if opts.Owner != nil && rec.Owner != nil && !bytes.Equal(rec.Owner, opts.Owner) {
		return fail(&OwnerError{Path: path, Have: rec.Owner, Want: bytes.Clone(opts.Owner)})
	}
	l := &Log{f: f, policy: opts.Policy, path: path, owner: rec.Owner}
	if l.owner == nil && opts.Owner != nil {
		l.owner = bytes.Clone(opts.Owner) // a legacy log gets it at its next Rewrite
	}
	if good != len(data) {
		rec.Tear = &Tear{Offset: int64(good), Bytes: int64(len(data) - good), Reason: frameProblem(data, good)}
		if err := f.Truncate(int64(good)); err != nil {
			return fail(fmt.Errorf("wal: cut torn tail of %s at byte %d: %w", path, good, err))
		}
		// The cut must be durable before anything is appended after it:
		// otherwise a power loss could bring the torn bytes back with
		// intact frames after them, which the next Open rightly calls
		// corrupt.
		if opts.Policy == SyncPower {
			if err := l.sync(); err != nil {
				return fail(err)
			}
		}
	}
	if _, err := f.Seek(int64(good), io.SeekStart); err != nil {
		return fail(fmt.Errorf("wal: %w", err))
	}
	if good == 0 && opts.Owner != nil {
		rec.Owner = l.owner
		l.buf = appendFrame(l.buf[:0], l.header())
		if _, err := f.Write(l.buf); err != nil {
			return fail(fmt.Errorf("wal: write header of %s: %w", path, err))
		}
		if opts.Policy == SyncPower {
			if err := l.sync(); err != nil {
				return fail(err)
			}
		}
	}
	if created && opts.Policy == SyncPower {
		// A new file survives power loss only once its directory entry does.
		if err := syncDir(filepath.Dir(path)); err != nil {
			return fail(err)
		}
	}
	if opts.Policy == SyncNone {
		l.w = bufio.NewWriterSize(f, 1<<20)
	}
	l.rec = rec
	return l, recs, nil
}

// Recovery reports what Open found (a cut torn tail, a removed temp file,
// the owner header).
func (l *Log) Recovery() Recovery { return l.rec }

// Stats returns the log's write counters.
func (l *Log) Stats() Stats { return l.stats }

// Path is the log's file.
func (l *Log) Path() string { return l.path }

func (l *Log) header() []byte { return append(bytes.Clone(ownerMagic), l.owner...) }

// intactAt reports whether an intact frame starts at off, and its length.
func intactAt(data []byte, off int) (int, bool) {
	if len(data)-off < headerSize {
		return 0, false
	}
	n := binary.BigEndian.Uint32(data[off:])
	if n == 0 || n > MaxRecord || uint64(len(data)-off-headerSize) < uint64(n) {
		return 0, false
	}
	rec := data[off+headerSize : off+headerSize+int(n)]
	if crc32.Checksum(rec, crcTable) != binary.BigEndian.Uint32(data[off+4:]) {
		return 0, false
	}
	return int(n), true
}

// frameProblem says why the frame at off is not intact.
func frameProblem(data []byte, off int) string {
	left := len(data) - off
	if left < headerSize {
		return fmt.Sprintf("frame header cut short (%d of %d bytes)", left, headerSize)
	}
	n := binary.BigEndian.Uint32(data[off:])
	switch {
	case n == 0:
		return "zero length field (zero-filled or damaged header)"
	case n > MaxRecord:
		return fmt.Sprintf("length field %d exceeds the %d-byte limit", n, MaxRecord)
	case uint64(left-headerSize) < uint64(n):
		return fmt.Sprintf("frame of %d bytes runs past the end of the file (%d present)", n, left-headerSize)
	}
	return fmt.Sprintf("checksum mismatch in a %d-byte frame", n)
}

// Scan parses frames from data. It returns the records of the intact
// frames before the first one that is not (they alias data) and the length
// of that valid prefix. If the bytes after the prefix are a torn tail
// (no intact frame starts anywhere in them), err is nil and the caller may
// cut data at good; if they are damage followed by an intact frame, err is
// a *CorruptError (without Path) and nothing may be cut.
func Scan(data []byte) (recs [][]byte, good int, err error) {
	off := 0
	for {
		n, ok := intactAt(data, off)
		if !ok {
			break
		}
		recs = append(recs, data[off+headerSize:off+headerSize+n])
		off += headerSize + n
	}
	for y := off + 1; y+headerSize < len(data); y++ {
		if _, ok := intactAt(data, y); ok {
			return recs, off, &CorruptError{Offset: int64(off), Next: int64(y), Reason: frameProblem(data, off)}
		}
	}
	return recs, off, nil
}

func appendFrame(b, rec []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(rec)))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(rec, crcTable))
	return append(b, rec...)
}

// encode appends recs as frames to l.buf[:0], checking each.
func (l *Log) encode(prefix []byte, recs [][]byte) error {
	l.buf = l.buf[:0]
	if prefix != nil {
		l.buf = appendFrame(l.buf, prefix)
	}
	for i, r := range recs {
		switch {
		case len(r) == 0:
			return fmt.Errorf("wal: record %d is empty (a zero-length frame reads as damage)", i)
		case len(r) > MaxRecord:
			return fmt.Errorf("wal: record %d of %d bytes exceeds %d", i, len(r), MaxRecord)
		case bytes.HasPrefix(r, ownerMagic):
			return fmt.Errorf("wal: record %d starts with the owner-header magic", i)
		}
		l.buf = appendFrame(l.buf, r)
	}
	return nil
}

// Append writes recs as one group: a single write (and, under SyncPower, a
// single fsync). When it returns nil the records are as durable as the
// policy promises, and the caller may send the messages they protect. An
// empty group writes nothing and costs no fsync.
//
// After a failed write or fsync every later Append and Rewrite returns that
// first error: the file may end in a partial frame (or, after a failed
// fsync, hold pages the kernel dropped), and appending after it would turn
// a torn tail into damage. Reopening the log cuts the tail.
func (l *Log) Append(recs ...[]byte) error {
	if l.f == nil {
		return ErrClosed
	}
	if l.err != nil {
		return l.err
	}
	if len(recs) == 0 {
		return nil
	}
	if err := l.encode(nil, recs); err != nil {
		return err
	}
	l.stats.Groups++
	l.stats.Bytes += uint64(len(l.buf))
	if l.w != nil {
		if _, err := l.w.Write(l.buf); err != nil {
			l.err = fmt.Errorf("wal: write %s: %w", l.path, err)
			return l.err
		}
		return nil
	}
	if _, err := l.f.Write(l.buf); err != nil {
		l.err = fmt.Errorf("wal: write %s: %w", l.path, err)
		return l.err
	}
	if l.policy == SyncPower {
		return l.sync()
	}
	return nil
}

func (l *Log) sync() error {
	l.stats.Syncs++
	if err := l.f.Sync(); err != nil {
		l.err = fmt.Errorf("wal: fsync %s: %w", l.path, err)
		return l.err
	}
	return nil
}

// MkdirAll creates dir and any missing parents (mode 0700), like
// os.MkdirAll, and fsyncs the parent of every directory it created, so a
// log created inside survives power loss together with its path: fsyncing
// the log and its own directory is not enough if that directory's entry
// was never synced.
func MkdirAll(dir string) error {
	dir = filepath.Clean(dir)
	var created []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		created = append(created, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	for _, d := range created {
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("wal: open directory for fsync: %w", err)
	}
	err = d.Sync()
	d.Close()
	if err != nil {
		return fmt.Errorf("wal: fsync directory %s: %w", dir, err)
	}
	return nil
}

// Rewrite atomically replaces the whole log with recs (compaction after a
// stable checkpoint), keeping its owner header: it writes the new content
// to path+TempSuffix in the same directory, fsyncs it, renames it over the
// log, fsyncs the directory, and continues appending to the new file. A
// crash at any point leaves either the old log intact (a leftover temp
// file is removed by the next Open) or the new one complete. On an error
// before the rename the old log is unchanged and stays open for appends;
// an error after it (the directory fsync) leaves the new log open, but the
// replacement may not survive power loss.
//
// Whatever the policy, Rewrite fsyncs: a rename of unsynced data can leave
// an empty or partial log after a power loss, which would lose every
// record, not just the newest.
func (l *Log) Rewrite(recs [][]byte) error {
	if l.f == nil {
		return ErrClosed
	}
	if l.err != nil {
		return l.err
	}
	if l.w != nil {
		// The old log must be complete in case the rewrite fails.
		if err := l.w.Flush(); err != nil {
			l.err = fmt.Errorf("wal: write %s: %w", l.path, err)
			return l.err
		}
	}
	var prefix []byte
	if l.owner != nil {
		prefix = l.header()
	}
	if err := l.encode(prefix, recs); err != nil {
		return err
	}
	tmp := l.path + TempSuffix
	nf, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("wal: rewrite: %w", err)
	}
	abort := func(err error) error {
		nf.Close()
		os.Remove(tmp)
		return err
	}
	if _, err := nf.Write(l.buf); err != nil {
		return abort(fmt.Errorf("wal: rewrite: write %s: %w", tmp, err))
	}
	l.stats.Syncs++
	if err := nf.Sync(); err != nil {
		return abort(fmt.Errorf("wal: rewrite: fsync %s: %w", tmp, err))
	}
	if crashPoint != nil {
		crashPoint()
	}
	if err := os.Rename(tmp, l.path); err != nil {
		return abort(fmt.Errorf("wal: rewrite: %w", err))
	}
	old := l.f
	l.f = nf
	if l.w != nil {
		l.w = bufio.NewWriterSize(nf, 1<<20)
	}
	old.Close() // its data was flushed above and is now unlinked
	return syncDir(filepath.Dir(l.path))
}

// Close flushes (SyncNone) and closes the file.
func (l *Log) Close() error {
	if l.f == nil {
		return nil
	}
	var err error
	if l.w != nil {
		err = l.w.Flush()
		l.w = nil
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
