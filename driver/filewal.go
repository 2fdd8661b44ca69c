package driver

import (
	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/wal"
)

// FileWAL adapts a wal.Log to the driver's WAL interface: each Ready's
// records are one group write, made durable according to the policy chosen
// at open (wal.SyncPower survives power loss, wal.SyncProcess a crash of
// the process).
type FileWAL struct{ log *wal.Log }

// OpenFileWAL opens (or creates) the log at path and returns it with the
// records it already holds, for bft.NewNode. A torn tail left by a crash is
// cut off (see package wal).
func OpenFileWAL(path string, policy wal.Policy) (*FileWAL, []bft.Record, error) {
	l, raw, err := wal.Open(path, policy)
	if err != nil {
		return nil, nil, err
	}
	recs := make([]bft.Record, len(raw))
	for i, r := range raw {
		recs[i] = bft.Record(r)
	}
	return &FileWAL{log: l}, recs, nil
}

// Append writes recs as one group.
func (w *FileWAL) Append(recs []bft.Record) error {
	raw := make([][]byte, len(recs))
	for i, r := range recs {
		raw[i] = r
	}
	return w.log.Append(raw...)
}

// Close closes the file.
func (w *FileWAL) Close() error { return w.log.Close() }
