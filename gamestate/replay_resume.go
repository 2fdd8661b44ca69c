package gamestate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ReplayFile is a replay that can be continued: an *os.File opened
// read-write satisfies it.
type ReplayFile interface {
	io.ReadWriteSeeker
	Truncate(size int64) error
}

// ResumeReplayWriter continues the replay in f: a peer restarted from its
// write-ahead log starts its game from the beginning (or a checkpoint
// it catches up to) while the file already holds what it recorded before.
// An empty f gets a fresh replay. Otherwise f must hold a replay of the
// match h describes: a torn last record (the crash) is cut off, an end
// record (a clean close before the restart) is removed, and a resume
// record is appended, after which the verifier starts over from the
// initial state (or the next checkpoint) while the hash chain runs on
// through the whole file. A replay of another match, or one damaged
// before its end, is an error: it is never overwritten.
func ResumeReplayWriter(f ReplayFile, h *Header) (*ReplayWriter, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("gamestate: replay: %w", err)
	}
	if size == 0 {
		return NewReplayWriter(f, h)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("gamestate: replay: %w", err)
	}
	rr, err := NewReplayReader(f)
	if err != nil {
		return nil, fmt.Errorf("gamestate: replay: continuing the existing file: %w", err)
	}
	if !bytes.Equal(rr.Header.encode(), h.encode()) {
		return nil, fmt.Errorf("gamestate: replay: the existing file records another match (%q); not overwritten", rr.Header.Name)
	}
	rw := &ReplayWriter{w: f, chain: rr.chain, records: rr.records, header: h}
	keep := rr.Offset()
	for {
		rec, err := rr.Next()
		if err == io.EOF || errors.Is(err, ErrReplayTruncated) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("gamestate: replay: continuing the existing file: %w", err)
		}
		if rec.Kind == "end" {
			break // dropped: the match goes on after it
		}
		rw.chain, rw.records, keep = rr.chain, rr.records, rr.Offset()
	}
	if err := f.Truncate(keep); err != nil {
		return nil, fmt.Errorf("gamestate: replay: %w", err)
	}
	if _, err := f.Seek(keep, io.SeekStart); err != nil {
		return nil, fmt.Errorf("gamestate: replay: %w", err)
	}
	return rw, rw.record(recResume, nil)
}
