package bft

import (
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// Bounds on decoded counts, so a forged count never drives an allocation.
const (
	maxPairs    = 4096
	maxEvidence = 64
	maxEnvs     = 4096
)

// pair is one (slot, digest) vote inside a Verify or Confirm. One signed
// message carries every pair that became ready in the same Ready cycle, so
// the signature cost is paid once per batch, not once per slot.
type pair struct {
	Slot   uint64
	Digest crypto.Digest
}

// voteBody is the body of Verify and Confirm: view | count | (slot, digest)*.
// Slots are strictly increasing, so one message never holds two digests for
// one slot and every message has a single encoding.
type voteBody struct {
	View  uint64
	Pairs []pair
	// Seq numbers the leader's empty heartbeat Verifies (encoded only when
	// Pairs is empty and Seq > 0), so each heartbeat is a distinct envelope
	// that duplicate suppression does not swallow.
	Seq uint64
}

func (b *voteBody) encode() []byte {
	w := wire.NewWriter(make([]byte, 0, 4+len(b.Pairs)*36))
	w.Uvarint(b.View)
	w.Uvarint(uint64(len(b.Pairs)))
	for _, p := range b.Pairs {
		w.Uvarint(p.Slot)
		w.Bytes32(p.Digest)
	}
	if len(b.Pairs) == 0 && b.Seq > 0 {
		w.Uvarint(b.Seq)
	}
	return w.Bytes()
}

func decodeVote(body []byte) (voteBody, error) {
	r := wire.NewReader(body)
	var b voteBody
	b.View = r.Uvarint("view")
	n := r.Len("pairs", maxPairs, 33)
	if n > 0 {
		b.Pairs = make([]pair, n)
	}
	for i := range b.Pairs {
		b.Pairs[i].Slot = r.Uvarint("slot")
		b.Pairs[i].Digest = r.Bytes32("digest")
		if i > 0 && b.Pairs[i].Slot <= b.Pairs[i-1].Slot && r.Err() == nil {
			r.Fail("slot", wire.ErrMalformed)
		}
	}
	if n == 0 && r.Err() == nil && r.Remaining() > 0 {
		if b.Seq = r.Uvarint("seq"); b.Seq == 0 && r.Err() == nil {
			r.Fail("seq", wire.ErrMalformed)
		}
	}
	return b, r.Done()
}

// acceptBody carries proposal values: view | count | (slot, value)*. It is
// content-addressed: a value counts only when a leader-signed Verify (or a
// NewView) names its digest, so bft does not need to check its signature.
type acceptBody struct {
	View   uint64
	Slots  []uint64
	Values [][]byte
}

func (b *acceptBody) encode() []byte {
	w := wire.NewWriter(nil)
	w.Uvarint(b.View)
	w.Uvarint(uint64(len(b.Slots)))
	for i, s := range b.Slots {
		w.Uvarint(s)
		w.Blob(b.Values[i])
	}
	return w.Bytes()
}

func decodeAccept(body []byte, maxValue int) (acceptBody, error) {
	r := wire.NewReader(body)
	var b acceptBody
	b.View = r.Uvarint("view")
	n := r.Len("values", maxPairs, 2)
	for i := 0; i < n && r.Err() == nil; i++ {
		b.Slots = append(b.Slots, r.Uvarint("slot"))
		b.Values = append(b.Values, r.Blob("value", maxValue))
	}
	return b, r.Done()
}

// value is what a slot decides: the application's payload plus the
// evidence the leader orders with it. The digest covers both.
type value struct {
	Payload  []byte
	Evidence []Evidence
}

func (v *value) encode() []byte {
	w := wire.NewWriter(make([]byte, 0, len(v.Payload)+8))
	w.Blob(v.Payload)
	w.Uvarint(uint64(len(v.Evidence)))
	for i := range v.Evidence {
		w.Blob(EncodeEvidence(&v.Evidence[i]))
	}
	return w.Bytes()
}

func decodeValue(b []byte, maxPayload int) (value, error) {
	r := wire.NewReader(b)
	var v value
	v.Payload = r.Blob("payload", maxPayload)
	n := r.Len("evidence", maxEvidence, 1)
	for i := 0; i < n && r.Err() == nil; i++ {
		eb := r.Blob("evidence", wire.MaxMessageSize)
		if r.Err() != nil {
			break
		}
		e, err := DecodeEvidence(eb)
		if err != nil {
			r.Fail("evidence", wire.ErrMalformed)
			break
		}
		v.Evidence = append(v.Evidence, e)
	}
	return v, r.Done()
}

// DecodeValue splits a decided value (Entry.Value) into the application's
// payload and the evidence ordered with it, exactly as deliver reads it,
// so that a replay verifier re-derives from a certified value the
// consensus verdicts every peer derived (and need not trust a recorder's
// word for them). maxPayload must be the match's Config.MaxValueSize: a
// value that does not decode within it delivers neither payload nor
// evidence.
func DecodeValue(b []byte, maxPayload int) (payload []byte, evidence []Evidence, err error) {
	v, err := decodeValue(b, maxPayload)
	if err != nil {
		return nil, nil, err
	}
	return v.Payload, v.Evidence, nil
}

// maxValueBytes bounds an encoded value: payload plus room for evidence.
func (c *Config) maxValueBytes() int { return c.MaxValueSize + 64<<10 }

// viewBody is the body of ViewChange and Prepare: just the view.
func viewBody(v uint64) []byte {
	w := wire.NewWriter(make([]byte, 0, 10))
	w.Uvarint(v)
	return w.Bytes()
}

func decodeViewBody(body []byte) (uint64, error) {
	r := wire.NewReader(body)
	v := r.Uvarint("view")
	return v, r.Done()
}

// checkpointBody is a signed claim "after applying slot, the application
// state digest is App and the set of ordered verdicts is Ordered". The
// ordered-verdict set is part of bft's own state, so a node restored from a
// checkpoint dedupes evidence exactly like one that never left.
type checkpointBody struct {
	Slot    uint64
	App     crypto.Digest
	Ordered []verdict
}

// verdict is the dedupe key of ordered evidence: each offender is convicted
// of each kind of misbehaviour once.
type verdict struct {
	Offender uint16
	Kind     EvidenceKind
}

func (b *checkpointBody) encode() []byte {
	w := wire.NewWriter(nil)
	w.Uvarint(b.Slot)
	w.Bytes32(b.App)
	w.Uvarint(uint64(len(b.Ordered)))
	for _, v := range b.Ordered {
		w.U16(v.Offender)
		w.U8(uint8(v.Kind))
	}
	return w.Bytes()
}

func decodeCheckpoint(body []byte) (checkpointBody, error) {
	r := wire.NewReader(body)
	var b checkpointBody
	b.Slot = r.Uvarint("slot")
	b.App = r.Bytes32("app")
	n := r.Len("ordered", 1<<16, 3)
	for i := 0; i < n && r.Err() == nil; i++ {
		v := verdict{Offender: r.U16("offender"), Kind: EvidenceKind(r.U8("kind"))}
		if i > 0 && !verdictLess(b.Ordered[i-1], v) && r.Err() == nil {
			r.Fail("ordered", wire.ErrMalformed)
		}
		b.Ordered = append(b.Ordered, v)
	}
	return b, r.Done()
}

func verdictLess(a, b verdict) bool {
	if a.Offender != b.Offender {
		return a.Offender < b.Offender
	}
	return a.Kind < b.Kind
}

// envList encodes envelopes as length-prefixed blobs.
func encodeEnvs(w *wire.Writer, envs []crypto.Envelope) {
	w.Uvarint(uint64(len(envs)))
	for i := range envs {
		w.Blob(envs[i].Encode(nil))
	}
}

func decodeEnvs(r *wire.Reader, field string) []crypto.Envelope {
	n := r.Len(field, maxEnvs, 70)
	var out []crypto.Envelope
	for i := 0; i < n && r.Err() == nil; i++ {
		b := r.Blob(field, wire.MaxMessageSize)
		if r.Err() != nil {
			break
		}
		e, err := crypto.DecodeEnvelope(b)
		if err != nil {
			r.Fail(field, wire.ErrMalformed)
			break
		}
		out = append(out, e)
	}
	return out
}

// promiseBody is phase 1b: "I am in View and will take part in no lower
// view; here is my stable checkpoint (with its certificate) and, for every
// later slot, the highest-view value I saw prepared, with the quorum of
// signed Verifies that proves it".
type promiseBody struct {
	View       uint64
	CP         checkpointBody
	CPCert     []crypto.Envelope // Quorum signed Checkpoints for CP (empty for slot 0)
	Prepared   []preparedItem
	VerifyEnvs []crypto.Envelope // the distinct Verify envelopes backing Prepared
}

// preparedItem says "slot was prepared in View with Digest".
type preparedItem struct {
	Slot   uint64
	View   uint64
	Digest crypto.Digest
}

func (b *promiseBody) encode() []byte {
	w := wire.NewWriter(nil)
	w.Uvarint(b.View)
	w.Blob(b.CP.encode())
	encodeEnvs(w, b.CPCert)
	w.Uvarint(uint64(len(b.Prepared)))
	for _, p := range b.Prepared {
		w.Uvarint(p.Slot)
		w.Uvarint(p.View)
		w.Bytes32(p.Digest)
	}
	encodeEnvs(w, b.VerifyEnvs)
	return w.Bytes()
}

func decodePromise(body []byte) (promiseBody, error) {
	r := wire.NewReader(body)
	var b promiseBody
	b.View = r.Uvarint("view")
	cpb := r.Blob("checkpoint", wire.MaxMessageSize)
	if r.Err() == nil {
		cp, err := decodeCheckpoint(cpb)
		if err != nil {
			r.Fail("checkpoint", wire.ErrMalformed)
		}
		b.CP = cp
	}
	b.CPCert = decodeEnvs(r, "cp-cert")
	n := r.Len("prepared", maxPairs, 34)
	for i := 0; i < n && r.Err() == nil; i++ {
		p := preparedItem{Slot: r.Uvarint("slot"), View: r.Uvarint("pview"), Digest: r.Bytes32("digest")}
		if i > 0 && p.Slot <= b.Prepared[i-1].Slot && r.Err() == nil {
			r.Fail("prepared", wire.ErrMalformed)
		}
		b.Prepared = append(b.Prepared, p)
	}
	b.VerifyEnvs = decodeEnvs(r, "verifies")
	return b, r.Done()
}

// newViewBody is the new leader's justification: a quorum of Promises for
// View. Every acceptor recomputes from them which value each slot must carry.
type newViewBody struct {
	View     uint64
	Promises []crypto.Envelope
}

func (b *newViewBody) encode() []byte {
	w := wire.NewWriter(nil)
	w.Uvarint(b.View)
	encodeEnvs(w, b.Promises)
	return w.Bytes()
}

func decodeNewView(body []byte) (newViewBody, error) {
	r := wire.NewReader(body)
	var b newViewBody
	b.View = r.Uvarint("view")
	b.Promises = decodeEnvs(r, "promises")
	return b, r.Done()
}
