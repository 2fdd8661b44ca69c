// Package wal is a file-backed write-ahead log for bft's Ready.Persist
// records. A node must write each Ready's records before sending its
// messages, so that after a restart it never signs anything contradicting
// what it already sent; this package makes that one group write per Ready,
// with a durability policy chosen by the caller, and reads the log back
// tolerating a torn final write.
//
// File format: a sequence of frames, each
//
//	length (uint32, big-endian) | CRC-32C of data (uint32) | data
//
// A frame that is cut short or fails its checksum ends the log: it can only
// be the tail of a write that a crash interrupted (earlier frames were
// complete before any later write began), so Open drops it and truncates the
// file there.
package wal

import (
	"bufio"
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

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("wal: log is closed")

// Log is an open write-ahead log. It is not safe for concurrent use.
type Log struct {
	f      *os.File
	w      *bufio.Writer // SyncNone only
	policy Policy
	buf    []byte
	path   string
}

// Open opens (creating if needed) the log at path and returns it together
// with every complete record in it. A torn or corrupt tail is cut off.
func Open(path string, policy Policy) (*Log, [][]byte, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("wal: read %s: %w", path, err)
	}
	recs, good := Scan(data)
	if good != len(data) {
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("wal: truncate torn tail: %w", err)
		}
	}
	if _, err := f.Seek(int64(good), io.SeekStart); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("wal: %w", err)
	}
	l := &Log{f: f, policy: policy, path: path}
	if policy == SyncNone {
		l.w = bufio.NewWriterSize(f, 1<<20)
	}
	return l, recs, nil
}

// Scan parses frames from data and returns the complete records and the
// length of the valid prefix. The records alias data.
func Scan(data []byte) (recs [][]byte, good int) {
	off := 0
	for len(data)-off >= headerSize {
		n := binary.BigEndian.Uint32(data[off:])
		sum := binary.BigEndian.Uint32(data[off+4:])
		if n > MaxRecord || uint64(len(data)-off-headerSize) < uint64(n) {
			break
		}
		rec := data[off+headerSize : off+headerSize+int(n)]
		if crc32.Checksum(rec, crcTable) != sum {
			break
		}
		recs = append(recs, rec)
		off += headerSize + int(n)
	}
	return recs, off
}

// Append writes recs as one group: a single write (and, under SyncPower, a
// single fsync). When it returns nil the records are as durable as the
// policy promises, and the caller may send the messages they protect.
func (l *Log) Append(recs ...[]byte) error {
	if l.f == nil {
		return ErrClosed
	}
	if len(recs) == 0 {
		return nil
	}
	l.buf = l.buf[:0]
	for _, r := range recs {
		if len(r) > MaxRecord {
			return fmt.Errorf("wal: record of %d bytes exceeds %d", len(r), MaxRecord)
		}
		l.buf = binary.BigEndian.AppendUint32(l.buf, uint32(len(r)))
		l.buf = binary.BigEndian.AppendUint32(l.buf, crc32.Checksum(r, crcTable))
		l.buf = append(l.buf, r...)
	}
	if l.w != nil {
		_, err := l.w.Write(l.buf)
		return err
	}
	if _, err := l.f.Write(l.buf); err != nil {
		return fmt.Errorf("wal: write: %w", err)
	}
	if l.policy == SyncPower {
		if err := l.f.Sync(); err != nil {
			return fmt.Errorf("wal: fsync: %w", err)
		}
	}
	return nil
}

// Rewrite replaces the whole log with recs (compaction after a stable
// checkpoint): it writes a new file, fsyncs it, and renames it over the
// old one, so a crash leaves either the old log or the new one.
func (l *Log) Rewrite(recs [][]byte) error {
	if l.f == nil {
		return ErrClosed
	}
	tmp := l.path + ".tmp"
	nl, _, err := Open(tmp, SyncProcess)
	if err != nil {
		return err
	}
	if err := nl.f.Truncate(0); err != nil {
		nl.Close()
		return fmt.Errorf("wal: %w", err)
	}
	if err := nl.Append(recs...); err != nil {
		nl.Close()
		return err
	}
	if err := nl.f.Sync(); err != nil {
		nl.Close()
		return fmt.Errorf("wal: fsync: %w", err)
	}
	if err := os.Rename(tmp, l.path); err != nil {
		nl.Close()
		return fmt.Errorf("wal: %w", err)
	}
	if d, err := os.Open(filepath.Dir(l.path)); err == nil {
		d.Sync()
		d.Close()
	}
	if err := l.Close(); err != nil {
		nl.Close()
		return err
	}
	l.f, nl.f = nl.f, nil
	if l.policy == SyncNone {
		l.w = bufio.NewWriterSize(l.f, 1<<20)
	}
	return nil
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
