package gamestate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// A replay file is a magic string followed by records. Each record is
//
//	length u32 (of kind|body) | kind u8 | body | CRC-32C u32 (of kind|body)
//
// and is written with one Write call and flushed, so a crash loses at most
// the record being written, and a torn tail is told apart from tampering
// (a bad checksum or an undecodable record in the middle).
//
// The first record is the Header; then, in log order, every decided Batch,
// every consensus verdict bft delivered, and the recorder's own state hashes.
const replayMagic = "paxsync-replay\x00\x01"

// Record kinds.
const (
	recHeader    = 1
	recBatch     = 2
	recConsensus = 3
	recHash      = 4
)

// Replay errors.
var (
	ErrReplayCorrupt   = errors.New("gamestate: replay is corrupt")
	ErrReplayTruncated = errors.New("gamestate: replay ends inside a record")
	ErrReplayInvalid   = errors.New("gamestate: replay does not verify")
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// MaxMatchName is the longest match name, in bytes, a replay header holds.
// It is exported so that roster files are refused up front rather than
// producing replays that no reader accepts.
const MaxMatchName = 256

// Header describes the match a replay records.
type Header struct {
	Name         string
	Roster       []crypto.PublicKey // seat i is played by Roster[i]
	TickRate     int
	InputDelay   int
	HashInterval uint64
	Sealed       bool
	Policy       Policy
	Game         []byte // opaque game parameters (e.g. arena seats and seed)
	// Epoch is the match's start (Config.Epoch) in Unix nanoseconds, 0 if
	// it had none: part of its ID (crypto.NewMatchInstanceID). Written
	// last and only when set, so replays of matches without one read as
	// before.
	Epoch int64
}

// MatchID is the ID every signature in the match is bound to.
func (h *Header) MatchID() crypto.MatchID {
	return crypto.NewMatchInstanceIDNanos(h.Name, h.Roster, h.Epoch)
}

// Config returns the engine configuration the header describes.
func (h *Header) Config() Config {
	return Config{Verifier: crypto.NewVerifier(h.MatchID(), h.Roster), TickRate: h.TickRate,
		InputDelay: h.InputDelay, HashInterval: h.HashInterval, Sealed: h.Sealed, Policy: h.Policy}.WithDefaults()
}

func (h *Header) encode() []byte {
	w := wire.NewWriter(nil)
	w.String(h.Name)
	w.Uvarint(uint64(len(h.Roster)))
	for _, k := range h.Roster {
		w.Bytes32(k)
	}
	w.Uvarint(uint64(h.TickRate))
	w.Uvarint(uint64(h.InputDelay))
	w.Uvarint(h.HashInterval)
	w.Bool(h.Sealed)
	w.Bool(h.Policy.KeepCheaterInputs)
	w.Blob(h.Game)
	if h.Epoch != 0 {
		w.Varint(h.Epoch)
	}
	return w.Bytes()
}

func decodeHeader(b []byte) (*Header, error) {
	r := wire.NewReader(b)
	h := &Header{Name: r.String("header.name", MaxMatchName)}
	n := r.Len("header.roster", MaxSeats, 32)
	for i := 0; i < n; i++ {
		h.Roster = append(h.Roster, r.Bytes32("header.key"))
	}
	if r.Err() == nil && n == 0 {
		r.Fail("header.roster", wire.ErrMalformed)
	}
	h.TickRate = int(r.Uvarint("header.tick_rate"))
	h.InputDelay = int(r.Uvarint("header.input_delay"))
	h.HashInterval = r.Uvarint("header.hash_interval")
	if r.Err() == nil && (h.TickRate > MaxTickRate || h.InputDelay > 1<<16 || h.HashInterval > 1<<32) {
		r.Fail("header.config", wire.ErrMalformed)
	}
	h.Sealed = r.Bool("header.sealed")
	h.Policy.KeepCheaterInputs = r.Bool("header.keep_cheater_inputs")
	h.Game = r.Blob("header.game", 4096)
	if r.Err() == nil && r.Remaining() > 0 {
		if h.Epoch = r.Varint("header.epoch"); r.Err() == nil && h.Epoch == 0 {
			r.Fail("header.epoch", wire.ErrMalformed) // written only when set
		}
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	return h, nil
}

func encodeConsensus(v *Verdict) []byte { return v.Encode() }

// ReplayWriter appends records to a replay file as the match goes.
type ReplayWriter struct {
	w   io.Writer
	buf []byte
}

// NewReplayWriter writes the magic and the header to w. If w has a Flush()
// error method (bufio.Writer) it is called after every record; an *os.File
// gets one write(2) per record, so a crashed process loses nothing written.
func NewReplayWriter(w io.Writer, h *Header) (*ReplayWriter, error) {
	if _, err := io.WriteString(w, replayMagic); err != nil {
		return nil, fmt.Errorf("gamestate: replay: %w", err)
	}
	rw := &ReplayWriter{w: w}
	return rw, rw.record(recHeader, h.encode())
}

// WriteBatch appends a decided batch.
func (rw *ReplayWriter) WriteBatch(b *Batch) error { return rw.record(recBatch, b.Encode()) }

// WriteConsensus appends a consensus verdict at the log position where it
// was given to Engine.RecordConsensus.
func (rw *ReplayWriter) WriteConsensus(v *Verdict) error {
	return rw.record(recConsensus, encodeConsensus(v))
}

// WriteHash appends the recorder's own state hash after tick (the last
// applied tick, or a checkpoint tick the engine still remembers).
func (rw *ReplayWriter) WriteHash(tick uint64, h crypto.Digest) error {
	w := wire.NewWriter(nil)
	w.Uvarint(tick)
	w.Bytes32(h)
	return rw.record(recHash, w.Bytes())
}

func (rw *ReplayWriter) record(kind byte, body []byte) error {
	n := 1 + len(body)
	rw.buf = binary.BigEndian.AppendUint32(rw.buf[:0], uint32(n))
	rw.buf = append(rw.buf, kind)
	rw.buf = append(rw.buf, body...)
	rw.buf = binary.BigEndian.AppendUint32(rw.buf, crc32.Checksum(rw.buf[4:], crcTable))
	if _, err := rw.w.Write(rw.buf); err != nil {
		return fmt.Errorf("gamestate: replay: %w", err)
	}
	if f, ok := rw.w.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			return fmt.Errorf("gamestate: replay: %w", err)
		}
	}
	return nil
}

// ReplayRecord is one decoded record after the header. Exactly one of
// Batch, Consensus and (Tick, Hash) is meaningful, per Kind.
type ReplayRecord struct {
	Kind      string // "batch", "consensus", "hash"
	Batch     *Batch
	Consensus *Verdict
	Tick      uint64
	Hash      crypto.Digest
}

// ReplayReader reads a replay file record by record.
type ReplayReader struct {
	r      *countingReader
	Header *Header
	whole  int64 // bytes of the magic and of every whole record read
}

// countingReader counts the bytes read through it, for Offset.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Offset is the number of bytes of the file made of whole records read so
// far (the magic included): where a torn or cut file stops making sense,
// so that tools can say where a partial replay ends.
func (rr *ReplayReader) Offset() int64 { return rr.whole }

// NewReplayReader checks the magic and reads the header.
func NewReplayReader(r io.Reader) (*ReplayReader, error) {
	magic := make([]byte, len(replayMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != replayMagic {
		return nil, fmt.Errorf("%w: not a paxsync replay", ErrReplayCorrupt)
	}
	rr := &ReplayReader{r: &countingReader{r: r, n: int64(len(magic))}, whole: int64(len(magic))}
	kind, body, err := rr.raw()
	if err == io.EOF {
		err = ErrReplayTruncated
	}
	if err != nil {
		return nil, err
	}
	if kind != recHeader {
		return nil, fmt.Errorf("%w: first record is not a header", ErrReplayCorrupt)
	}
	if rr.Header, err = decodeHeader(body); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrReplayCorrupt, err)
	}
	return rr, nil
}

// raw reads one record; io.EOF at a clean end, ErrReplayTruncated inside one.
func (rr *ReplayReader) raw() (byte, []byte, error) {
	var hdr [4]byte
	if n, err := io.ReadFull(rr.r, hdr[:]); err != nil {
		if n == 0 && err == io.EOF {
			return 0, nil, io.EOF
		}
		return 0, nil, ErrReplayTruncated
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 1 || n > wire.MaxMessageSize+1 {
		return 0, nil, fmt.Errorf("%w: record length %d", ErrReplayCorrupt, n)
	}
	rec := make([]byte, n+4)
	if _, err := io.ReadFull(rr.r, rec); err != nil {
		return 0, nil, ErrReplayTruncated
	}
	if binary.BigEndian.Uint32(rec[n:]) != crc32.Checksum(rec[:n], crcTable) {
		return 0, nil, fmt.Errorf("%w: checksum", ErrReplayCorrupt)
	}
	rr.whole = rr.r.n
	return rec[0], rec[1:n], nil
}

// Next returns the next record, io.EOF at a clean end, ErrReplayTruncated
// for a torn last record, or ErrReplayCorrupt.
func (rr *ReplayReader) Next() (ReplayRecord, error) {
	kind, body, err := rr.raw()
	if err != nil {
		return ReplayRecord{}, err
	}
	switch kind {
	case recBatch:
		b, err := DecodeBatch(body)
		if err != nil {
			return ReplayRecord{}, fmt.Errorf("%w: batch: %v", ErrReplayCorrupt, err)
		}
		return ReplayRecord{Kind: "batch", Batch: b}, nil
	case recConsensus:
		v, err := DecodeVerdict(body)
		if err != nil {
			return ReplayRecord{}, fmt.Errorf("%w: consensus verdict: %v", ErrReplayCorrupt, err)
		}
		return ReplayRecord{Kind: "consensus", Consensus: &v}, nil
	case recHash:
		r := wire.NewReader(body)
		rec := ReplayRecord{Kind: "hash", Tick: r.Uvarint("hash.tick"), Hash: r.Bytes32("hash.digest")}
		if err := r.Done(); err != nil {
			return ReplayRecord{}, fmt.Errorf("%w: hash: %v", ErrReplayCorrupt, err)
		}
		return rec, nil
	}
	return ReplayRecord{}, fmt.Errorf("%w: record kind %d", ErrReplayCorrupt, kind)
}
