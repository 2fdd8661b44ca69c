package spectator

import (
	"errors"
	"fmt"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

// A player signs what it serves a spectator: the answer frame is the
// player's envelope of type wire.TypeSyncResponse, whose body names the
// slot asked after and the digest of the answer, followed by the answer
// (an encoded bft.SyncState). One signature per answer, over 40 bytes, so
// a large answer costs no more to sign than a small one. A signed answer
// that does not verify is a transferable proof that its signer served a
// forged log (VerifyForgery): no honest player signs one.

// AnswerBody is what a player signs for its answer resp to a spectator
// that asked after slot after.
func AnswerBody(after uint64, resp []byte) []byte {
	w := wire.NewWriter(make([]byte, 0, 42))
	w.Uvarint(after)
	w.Bytes32(crypto.Sum(resp))
	return w.Bytes()
}

// EncodeAnswer frames a signed answer.
func EncodeAnswer(env crypto.Envelope, resp []byte) []byte {
	w := wire.NewWriter(make([]byte, 0, len(resp)+200))
	w.Blob(env.Encode(nil))
	w.Blob(resp)
	return w.Bytes()
}

// ErrNotForged is VerifyForgery's answer for a signed answer whose every
// certificate holds: it proves nothing against its signer.
var ErrNotForged = errors.New("spectator: the answer verifies: no forgery")

func decodeAnswer(frame []byte) (crypto.Envelope, []byte, error) {
	r := wire.NewReader(frame)
	eb := r.Blob("answer.envelope", 4096)
	resp := r.Blob("answer.log", wire.MaxMessageSize)
	if err := r.Done(); err != nil {
		return crypto.Envelope{}, nil, err
	}
	env, err := crypto.DecodeEnvelope(eb)
	return env, resp, err
}

// signedBy checks that frame is seat's signed answer to a request after
// slot after (seat < 0: any seat) and returns the envelope and answer.
func signedBy(ver *crypto.Verifier, frame []byte, seat int, after *uint64) (crypto.Envelope, []byte, error) {
	env, resp, err := decodeAnswer(frame)
	if err != nil {
		return env, nil, fmt.Errorf("answer frame: %v", err)
	}
	if env.Type != wire.TypeSyncResponse || (seat >= 0 && int(env.Sender) != seat) {
		return env, nil, fmt.Errorf("answer signed as %s by seat %d", env.Type, env.Sender)
	}
	if err := ver.Verify(&env); err != nil {
		return env, nil, fmt.Errorf("answer signature: %v", err)
	}
	r := wire.NewReader(env.Body)
	a, d := r.Uvarint("answer.after"), r.Bytes32("answer.digest")
	if r.Done() != nil || d != crypto.Sum(resp) || (after != nil && a != *after) {
		return env, nil, errors.New("the signature names another answer")
	}
	return env, resp, nil
}

// VerifyForgery checks a Forgery's Proof against the match h describes,
// with no other state: the answer must be signed by a seat of h's roster
// (which it returns) and hold something no honest player serves: an
// undecodable log, a checkpoint whose certificate or snapshot does not
// hold, an entry whose commit certificate does not, or entries that do
// not run on from the slot asked after (or from the checkpoint). It
// returns ErrNotForged for an answer that holds.
func VerifyForgery(h *gamestate.Header, proof []byte) (seat int, reason string, err error) {
	env, resp, err := signedBy(h.Config().Verifier, proof, -1, nil)
	if err != nil {
		return -1, "", err
	}
	seat = int(env.Sender)
	after := wire.NewReader(env.Body).Uvarint("answer.after") // signedBy parsed it
	st, err := bft.DecodeSyncState(resp)
	if err != nil {
		return seat, fmt.Sprintf("served an undecodable log: %v", err), nil
	}
	certs := gamestate.NewCertChecker(h)
	next := after + 1
	if st.Snapshot != nil {
		rec, err := gamestate.CheckpointRecord(st.Checkpoint, st.CheckpointCert, st.Snapshot)
		if err != nil {
			return seat, fmt.Sprintf("served a checkpoint that names no slot: %v", err), nil
		}
		if rec.Slot <= after {
			return seat, fmt.Sprintf("served the snapshot of slot %d to a spectator at slot %d", rec.Slot, after), nil
		}
		if err := certs.Checkpoint(&rec); err != nil {
			return seat, fmt.Sprintf("served a forged checkpoint: %v", err), nil
		}
		next = rec.Slot + 1
	}
	for _, e := range st.Entries {
		if e.Slot != next {
			return seat, fmt.Sprintf("served slot %d where slot %d was due", e.Slot, next), nil
		}
		cert := make([]crypto.Envelope, 0, len(e.Cert))
		for _, i := range e.Cert {
			if int(i) >= len(st.Confirms) {
				return seat, fmt.Sprintf("slot %d: certificate index %d of %d Confirms", e.Slot, i, len(st.Confirms)), nil
			}
			cert = append(cert, st.Confirms[i])
		}
		rec := gamestate.EntryRecord(e.Slot, e.View, e.Value, cert)
		if err := certs.Entry(&rec); err != nil {
			return seat, fmt.Sprintf("served a forged entry: %v", err), nil
		}
		next++
	}
	return seat, "", ErrNotForged
}
