package gamestate

// What makes a replay checkable by a third party: commit certificates of
// decided entries, checkpoint certificates of installed snapshots, and the
// recorder's signed end with a hash chain over every record.
//
// The bodies checked here are bft's (bft/msgs.go): a Confirm's body is
// view | count | (slot, digest)*, a checkpoint body starts slot | app
// digest; a decided value is read with bft.DecodeValue. The few Confirm
// and checkpoint fields needed are read here, with no bft node;
// tests/replay_cert_test.go records a real session's replay and verifies
// it, which fails if the two drift apart.

import (
	"bytes"
	"fmt"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// Bounds on what a certificate record may hold when decoded.
const (
	maxCertEnvs  = 1 << 12
	maxVotePairs = 4096
)

// ReplayEnd is the body of the recorder's signed end record.
type ReplayEnd struct {
	LastSlot uint64        // the last slot recorded (entry or checkpoint)
	NextTick uint64        // the engine's next tick when recording ended
	Records  uint64        // records before the end, the header included
	Chain    crypto.Digest // hash chain over those records
}

func (e *ReplayEnd) encode() []byte {
	w := wire.NewWriter(nil)
	w.Uvarint(e.LastSlot)
	w.Uvarint(e.NextTick)
	w.Uvarint(e.Records)
	w.Bytes32(e.Chain)
	return w.Bytes()
}

func decodeReplayEnd(b []byte) (ReplayEnd, error) {
	r := wire.NewReader(b)
	e := ReplayEnd{LastSlot: r.Uvarint("end.slot"), NextTick: r.Uvarint("end.tick"), Records: r.Uvarint("end.records")}
	e.Chain = r.Bytes32("end.chain")
	return e, r.Done()
}

// chainNext extends the record hash chain by one record (kind | body).
func chainNext(prev crypto.Digest, rec []byte) crypto.Digest {
	return crypto.Sum([]byte("paxsync-replay-chain"), prev[:], rec)
}

func writeCertEnvs(w *wire.Writer, envs []crypto.Envelope) {
	w.Uvarint(uint64(len(envs)))
	for i := range envs {
		w.Blob(envs[i].Encode(nil))
	}
}

func readCertEnvs(r *wire.Reader, field string) []crypto.Envelope {
	n := r.Len(field, maxCertEnvs, 1)
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

// checkpointSlot reads the slot and application digest a checkpoint body
// names.
func checkpointSlot(body []byte) (uint64, crypto.Digest, error) {
	r := wire.NewReader(body)
	s := r.Uvarint("checkpoint.slot")
	d := r.Bytes32("checkpoint.app")
	return s, d, r.Err()
}

// confirmVote is a Confirm body read once: its view and the (slot,
// digest) pairs it names.
type confirmVote struct {
	view  uint64
	pairs map[slotDigest]bool
	// sender and body are what was read: a cache hit must match both.
	sender uint16
	body   []byte
}

type slotDigest struct {
	slot uint64
	d    crypto.Digest
}

// confirmCache reads each Confirm envelope's body once, however many
// entries point to it: a certificate check then costs a lookup per
// envelope, not a parse of its body, so an answer or a file that points
// every entry at one Confirm naming thousands of pairs costs what its
// bytes cost, not their product with its entries. Only envelopes whose
// signature verified are read into it (certSigners checks the signature
// first), so what an answer holds that no acceptor signed costs a failed
// verification and is never kept. Keyed by signature, and a hit counts
// only when the body is the one read: the same signature beside another
// body is read afresh, never taken for the cached one (a signature that
// stood for a body it was not made over would let a Byzantine source
// make every honest answer's genuine Confirm look like a vote for
// something else). Bounded by the pairs it holds, since a Byzantine
// acceptor can sign Confirms naming thousands of pairs each. A nil cache
// reads every time.
type confirmCache struct {
	m     map[[64]byte]*confirmVote
	pairs int // pairs held in m
}

// maxConfirmCache bounds the cache's envelopes and maxCachedPairs the
// pairs they name (about 100 bytes each); it starts over when either is
// reached. An honest Confirm names the few slots of one batch.
const (
	maxConfirmCache = 1 << 14
	maxCachedPairs  = 1 << 18
)

func (c *confirmCache) vote(e *crypto.Envelope) *confirmVote {
	if c != nil {
		if v, ok := c.m[e.Sig]; ok && v.sender == e.Sender && bytes.Equal(v.body, e.Body) {
			return v
		}
	}
	r := wire.NewReader(e.Body)
	v := &confirmVote{view: r.Uvarint("view"), pairs: map[slotDigest]bool{}, sender: e.Sender}
	n := r.Len("pairs", maxVotePairs, 33)
	for i := 0; i < n && r.Err() == nil; i++ {
		s, pd := r.Uvarint("slot"), r.Bytes32("digest")
		if r.Err() == nil {
			v.pairs[slotDigest{s, pd}] = true // any pair naming it counts, as in confirmNames
		}
	}
	if c != nil {
		if c.m == nil || len(c.m) >= maxConfirmCache || c.pairs+len(v.pairs) > maxCachedPairs {
			c.m, c.pairs = map[[64]byte]*confirmVote{}, 0
		}
		if old, ok := c.m[e.Sig]; ok {
			c.pairs -= len(old.pairs)
		}
		v.body = bytes.Clone(e.Body) // not the answer's buffer: a cached vote must not pin a whole answer
		c.m[e.Sig] = v
		c.pairs += len(v.pairs)
	}
	return v
}

// certSigners counts the distinct acceptors among cert whose envelope is of
// type t, is validly signed for the match, and passes ok. The signature is
// checked before ok reads the body, so that ok (the Confirm cache) only
// ever sees what an acceptor signed.
func certSigners(cert []crypto.Envelope, t wire.Type, acc int, ver *crypto.Verifier, ok func(e *crypto.Envelope) bool) int {
	seen := map[uint16]bool{}
	for i := range cert {
		e := &cert[i]
		if e.Type != t || int(e.Sender) >= acc || seen[e.Sender] || ver.Verify(e) != nil {
			continue
		}
		if ok(e) {
			seen[e.Sender] = true
		}
	}
	return len(seen)
}

// checkCommitCert checks that cert holds q distinct acceptors' valid
// Confirms of view naming (slot, crypto.Sum(value)): that the value was
// decided at that slot, whoever recorded it.
func checkCommitCert(h *Header, ver *crypto.Verifier, cache *confirmCache, slot, view uint64, value []byte, cert []crypto.Envelope) error {
	q, acc := h.certQuorum()
	if len(cert) > acc {
		// bft's certificate holds one Confirm per acceptor at most.
		return fmt.Errorf("commit certificate of slot %d: %d Confirms, more than the %d acceptors", slot, len(cert), acc)
	}
	d := crypto.Sum(value)
	n := certSigners(cert, wire.TypeConfirm, acc, ver, func(e *crypto.Envelope) bool {
		v := cache.vote(e)
		return v.view == view && v.pairs[slotDigest{slot, d}]
	})
	if n < q {
		return fmt.Errorf("commit certificate of slot %d: %d valid Confirms of view %d naming digest %s, want %d", slot, n, view, d, q)
	}
	return nil
}

// checkCheckpointCert checks a checkpoint record: q distinct acceptors'
// valid Checkpoints of exactly body, and the snapshot's digest is the one
// body names.
func checkCheckpointCert(h *Header, ver *crypto.Verifier, body []byte, cert []crypto.Envelope, snapshot []byte) error {
	q, acc := h.certQuorum()
	slot, app, err := checkpointSlot(body)
	if err != nil {
		return err
	}
	n := certSigners(cert, wire.TypeCheckpoint, acc, ver, func(e *crypto.Envelope) bool { return bytes.Equal(e.Body, body) })
	if n < q {
		return fmt.Errorf("checkpoint certificate of slot %d: %d valid Checkpoints, want %d", slot, n, q)
	}
	if crypto.Sum(snapshot) != app {
		return fmt.Errorf("checkpoint of slot %d: snapshot digest %s, certified %s", slot, crypto.Sum(snapshot), app)
	}
	return nil
}
