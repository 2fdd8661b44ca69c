package gamestate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/paxsync/paxsync/bft"
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
// The first record is the Header; then, in log order, every decided entry
// with its commit certificate (or, for a peer that caught up, the
// certified checkpoint it installed), every consensus verdict bft
// delivered, the recorder's own state hashes, and, when the session closed
// cleanly, the recorder's signed End. docs/PROTOCOL.md, "Replays" describes it.
//
// Version 2 added certificates, checkpoints, resumption and the end
// record; a version-1 file (batches only, nothing a third party can check)
// is refused with ErrReplayOldFormat.
const (
	replayMagic   = "paxsync-replay\x00\x02"
	replayMagicV1 = "paxsync-replay\x00\x01"
)

// Record kinds.
const (
	recHeader     = 1
	recBatch      = 2 // an uncertified batch (broadcast mode: nothing was agreed)
	recConsensus  = 3
	recHash       = 4
	recEntry      = 5 // a decided slot: slot, view, value, commit certificate
	recCheckpoint = 6 // an installed checkpoint: body, certificate, snapshot
	recEnd        = 7 // the recorder's signed end (TypeReplayEnd)
	recResume     = 8 // the recorder restarted here (unsigned marker)
	recResult     = 9 // the match-result certificate of the recorder's stable checkpoint, just before End
)

// Replay errors.
var (
	ErrReplayCorrupt   = errors.New("gamestate: replay is corrupt")
	ErrReplayTruncated = errors.New("gamestate: replay ends inside a record")
	ErrReplayInvalid   = errors.New("gamestate: replay does not verify")
	// ErrReplayOldFormat is a replay of format version 1, which holds no
	// certificates: it cannot be verified by this version.
	ErrReplayOldFormat = errors.New("gamestate: replay is of format version 1 (no commit certificates); record it again with this version")
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
	// Quorum and Acceptors say what a commit or checkpoint certificate
	// must hold: Quorum distinct signers among seats below Acceptors.
	// Zero means Byzantine consensus's: every seat an acceptor, quorum
	// (n+f+2)/2 with f = (n-1)/3. Crash consensus records its own.
	Quorum, Acceptors int
}

// CertQuorum is how many distinct signers a certificate in this replay
// must hold.
func (h *Header) CertQuorum() int { q, _ := h.certQuorum(); return q }

// certQuorum returns the header's quorum and acceptor count, defaults
// filled in.
func (h *Header) certQuorum() (q, acc int) {
	n := len(h.Roster)
	q, acc = h.Quorum, h.Acceptors
	if acc <= 0 || acc > n {
		acc = n
	}
	if q <= 0 {
		q = (n + (n-1)/3 + 2) / 2
	}
	return q, acc
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
	w.Uvarint(uint64(h.Quorum))
	w.Uvarint(uint64(h.Acceptors))
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
	h.Quorum = int(r.Uvarint("header.quorum"))
	h.Acceptors = int(r.Uvarint("header.acceptors"))
	if r.Err() == nil && (h.Quorum > n || h.Acceptors > n) {
		r.Fail("header.quorum", wire.ErrMalformed)
	}
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

// ReplayWriter appends records to a replay file as the match goes. It
// keeps a hash chain over every record it wrote (the header included) and
// their count, which the signed End names: dropping, reordering or
// altering any record, consensus verdicts and state hashes included,
// breaks the chain.
type ReplayWriter struct {
	w        io.Writer
	buf      []byte
	chain    crypto.Digest
	records  uint64
	lastSlot uint64
	ended    bool
	header   *Header // what a result certificate names the match by
}

// errReplayEnded is a write after WriteEnd.
var errReplayEnded = errors.New("gamestate: replay: written after its end record")

// NewReplayWriter writes the magic and the header to w. If w has a Flush()
// error method (bufio.Writer) it is called after every record; an *os.File
// gets one write(2) per record, so a crashed process loses nothing written.
func NewReplayWriter(w io.Writer, h *Header) (*ReplayWriter, error) {
	if _, err := io.WriteString(w, replayMagic); err != nil {
		return nil, fmt.Errorf("gamestate: replay: %w", err)
	}
	rw := &ReplayWriter{w: w, header: h}
	return rw, rw.record(recHeader, h.encode())
}

// WriteBatch appends a batch nothing certifies: broadcast mode's, where
// each peer applies what it received. A verifier re-checks its signatures
// but cannot tell it was what everyone applied (Report.Uncertified).
func (rw *ReplayWriter) WriteBatch(b *Batch) error { return rw.record(recBatch, b.Encode()) }

// WriteEntry appends a decided slot as bft delivered it: the value exactly
// as agreed (payload and the evidence ordered with it) and its commit
// certificate, q Confirm envelopes of view naming (slot, crypto.Sum(value)).
// Slots must come in order without gaps; the verifier rejects a gap.
func (rw *ReplayWriter) WriteEntry(slot, view uint64, value []byte, cert []crypto.Envelope) error {
	w := wire.NewWriter(make([]byte, 0, len(value)+len(cert)*160+16))
	w.Uvarint(slot)
	w.Uvarint(view)
	w.Blob(value)
	writeCertEnvs(w, cert)
	if err := rw.record(recEntry, w.Bytes()); err != nil {
		return err
	}
	rw.lastSlot = slot
	return nil
}

// WriteCheckpoint appends a checkpoint this peer installed instead of the
// slots up to it (catch-up): the encoded checkpoint body (slot, digest of
// the snapshot, ordered verdicts), its certificate (q signed Checkpoint
// envelopes of exactly that body) and the snapshot. Verification resumes
// from the snapshot; verdicts the skipped slots held are not re-derived.
func (rw *ReplayWriter) WriteCheckpoint(body []byte, cert []crypto.Envelope, snapshot []byte) error {
	slot, _, err := checkpointSlot(body)
	if err != nil {
		return fmt.Errorf("gamestate: replay: checkpoint: %w", err)
	}
	w := wire.NewWriter(make([]byte, 0, len(body)+len(snapshot)+len(cert)*160+16))
	w.Blob(body)
	writeCertEnvs(w, cert)
	w.Blob(snapshot)
	if err := rw.record(recCheckpoint, w.Bytes()); err != nil {
		return err
	}
	rw.lastSlot = slot
	return nil
}

// WriteEnd closes the replay with the recorder's signed end: the last
// slot, the next tick, the number of records before it and their hash
// chain. Only a replay with a valid End is complete; nothing may be
// written after it.
func (rw *ReplayWriter) WriteEnd(s *crypto.Signer, nextTick uint64) error {
	if rw.ended {
		return errReplayEnded
	}
	e := ReplayEnd{LastSlot: rw.lastSlot, NextTick: nextTick, Records: rw.records, Chain: rw.chain}
	env := s.Sign(wire.TypeReplayEnd, e.encode())
	if err := rw.record(recEnd, env.Encode(nil)); err != nil {
		return err
	}
	rw.ended = true
	return nil
}

// WriteResult appends the match-result certificate of a stable
// checkpoint (its body, its certificate, the snapshot), so a replay ends
// with its result: a backend takes it out (ReplayRecord.Result) and checks
// it without replaying. The session writes it just before WriteEnd.
func (rw *ReplayWriter) WriteResult(body []byte, cert []crypto.Envelope, snapshot []byte) error {
	c := &ResultCertificate{Name: rw.header.Name, Roster: rw.header.Roster, Epoch: rw.header.Epoch,
		Checkpoint: body, Cert: cert, Snapshot: snapshot}
	return rw.record(recResult, c.Encode())
}

// Ended reports whether WriteEnd succeeded.
func (rw *ReplayWriter) Ended() bool { return rw.ended }

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
	if rw.ended {
		return errReplayEnded
	}
	n := 1 + len(body)
	rw.buf = binary.BigEndian.AppendUint32(rw.buf[:0], uint32(n))
	rw.buf = append(rw.buf, kind)
	rw.buf = append(rw.buf, body...)
	rw.buf = binary.BigEndian.AppendUint32(rw.buf, crc32.Checksum(rw.buf[4:], crcTable))
	if _, err := rw.w.Write(rw.buf); err != nil {
		return fmt.Errorf("gamestate: replay: %w", err)
	}
	rw.chain = chainNext(rw.chain, rw.buf[4:4+n])
	rw.records++
	if f, ok := rw.w.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			return fmt.Errorf("gamestate: replay: %w", err)
		}
	}
	return nil
}

// ReplayRecord is one decoded record after the header; which fields are
// meaningful depends on Kind.
type ReplayRecord struct {
	Kind      string // "batch", "entry", "checkpoint", "consensus", "hash", "resume", "result", "end"
	Batch     *Batch // batch; entry (decoded from Value's payload, nil if it is none)
	Consensus *Verdict
	Tick      uint64
	Hash      crypto.Digest
	// Entry and checkpoint records.
	Slot, View uint64
	Value      []byte             // entry: the decided value
	Evidence   []bft.Evidence     // entry: the evidence ordered with it (decoded from Value)
	Cert       []crypto.Envelope  // entry: Confirms; checkpoint: Checkpoints
	Checkpoint []byte             // checkpoint: encoded body
	Snapshot   []byte             // checkpoint: engine snapshot
	Result     *ResultCertificate // result: the certificate (decoded, not verified)
	// End record: the signed envelope, its decoded body, and the chain
	// and count of the records before it as this reader computed them.
	End          *crypto.Envelope
	EndBody      ReplayEnd
	ChainBefore  crypto.Digest
	RecordsRead  uint64
	recordNumber uint64
}

// Number is the record's position in the file: the header is record 0.
func (r *ReplayRecord) Number() uint64 { return r.recordNumber }

// ReplayReader reads a replay file record by record.
type ReplayReader struct {
	r       *countingReader
	Header  *Header
	whole   int64 // bytes of the magic and of every whole record read
	chain   crypto.Digest
	records uint64
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
		if string(magic) == replayMagicV1 {
			return nil, ErrReplayOldFormat
		}
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
	rr.chain = chainNext(rr.chain, rec[:n])
	rr.records++
	return rec[0], rec[1:n], nil
}

// Next returns the next record, io.EOF at a clean end, ErrReplayTruncated
// for a torn last record, or ErrReplayCorrupt.
func (rr *ReplayReader) Next() (ReplayRecord, error) {
	before, count := rr.chain, rr.records
	kind, body, err := rr.raw()
	if err != nil {
		return ReplayRecord{}, err
	}
	rec, err := decodeRecord(kind, body)
	rec.recordNumber = count
	if kind == recEnd {
		rec.ChainBefore, rec.RecordsRead = before, count
	}
	return rec, err
}

func decodeRecord(kind byte, body []byte) (ReplayRecord, error) {
	switch kind {
	case recEntry:
		r := wire.NewReader(body)
		slot, view := r.Uvarint("entry.slot"), r.Uvarint("entry.view")
		value := r.Blob("entry.value", wire.MaxMessageSize)
		cert := readCertEnvs(r, "entry.cert")
		if err := r.Done(); err != nil {
			return ReplayRecord{}, fmt.Errorf("%w: entry: %v", ErrReplayCorrupt, err)
		}
		return EntryRecord(slot, view, value, cert), nil
	case recCheckpoint:
		r := wire.NewReader(body)
		body := r.Blob("checkpoint.body", wire.MaxMessageSize)
		cert := readCertEnvs(r, "checkpoint.cert")
		snapshot := r.Blob("checkpoint.snapshot", wire.MaxMessageSize)
		if err := r.Done(); err != nil {
			return ReplayRecord{}, fmt.Errorf("%w: checkpoint: %v", ErrReplayCorrupt, err)
		}
		return CheckpointRecord(body, cert, snapshot)
	case recResult:
		c, err := DecodeResultCertificate(body)
		if err != nil {
			return ReplayRecord{}, fmt.Errorf("%w: result: %v", ErrReplayCorrupt, err)
		}
		return ReplayRecord{Kind: "result", Result: c}, nil
	case recResume:
		if len(body) != 0 {
			return ReplayRecord{}, fmt.Errorf("%w: resume record with a body", ErrReplayCorrupt)
		}
		return ReplayRecord{Kind: "resume"}, nil
	case recEnd:
		env, err := crypto.DecodeEnvelope(body)
		if err != nil {
			return ReplayRecord{}, fmt.Errorf("%w: end: %v", ErrReplayCorrupt, err)
		}
		e, err := decodeReplayEnd(env.Body)
		if err != nil || env.Type != wire.TypeReplayEnd {
			return ReplayRecord{}, fmt.Errorf("%w: end: not a replay end", ErrReplayCorrupt)
		}
		return ReplayRecord{Kind: "end", End: &env, EndBody: e, Slot: e.LastSlot, Tick: e.NextTick}, nil
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
