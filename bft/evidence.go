package bft

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// EvidenceKind classifies a proven misbehaviour.
type EvidenceKind uint8

// Evidence kinds. Each is two envelopes signed by the same seat that cannot
// both be honest.
const (
	// ProposalEquivocation: the leader of a view signed two different
	// proposals for one slot (two leader Verifies naming different digests
	// for the same (view, slot)), or two different NewViews for one view.
	ProposalEquivocation EvidenceKind = 1
	// VoteEquivocation: an acceptor signed two Verifies or two Confirms
	// naming different digests for the same (view, slot).
	VoteEquivocation EvidenceKind = 2
	// CheckpointEquivocation: an acceptor signed two different checkpoint
	// states for the same slot.
	CheckpointEquivocation EvidenceKind = 3
)

// String names the kind for reports.
func (k EvidenceKind) String() string {
	switch k {
	case ProposalEquivocation:
		return "proposal-equivocation"
	case VoteEquivocation:
		return "vote-equivocation"
	case CheckpointEquivocation:
		return "checkpoint-equivocation"
	}
	return "unknown"
}

// Evidence is a transferable proof that Offender equivocated: anyone holding
// the roster can re-check it with Check, like CometBFT's duplicate-vote
// evidence. It is reported in Ready.Evidence when found and ordered into the
// log (Entry.Evidence) so every honest peer learns the verdict at one slot.
type Evidence struct {
	Kind     EvidenceKind
	Offender uint16
	A, B     crypto.Envelope
}

// ErrBadEvidence is returned (wrapped) by Evidence.Check.
var ErrBadEvidence = errors.New("bft: evidence does not prove equivocation")

// sizer is implemented by *crypto.Verifier; Check uses it to know which
// seat led a view.
type sizer interface{ Size() int }

// Check verifies both signatures and that the two messages really conflict:
// same signer, same type, and for the same (view, slot) different digests
// (for checkpoints: the same slot, different states; for NewViews: the same
// view, different contents). ProposalEquivocation on Verifies additionally
// requires the offender to lead that view, which needs a verifier that knows
// the roster size (*crypto.Verifier does).
func (e *Evidence) Check(v Verifier) error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrBadEvidence, why) }
	if e.A.Sender != e.Offender || e.B.Sender != e.Offender {
		return bad("signer is not the offender")
	}
	if e.A.Type != e.B.Type {
		return bad("different message types")
	}
	if bytes.Equal(e.A.Body, e.B.Body) {
		return bad("identical messages")
	}
	if _, _, ok := conflict(e.A.Type, e.A.Body, e.B.Body); !ok {
		return bad("messages do not conflict")
	}
	view, _, _ := conflict(e.A.Type, e.A.Body, e.B.Body)
	want, err := kindOf(e.A.Type, e.Offender, view, v)
	if err != nil {
		return err
	}
	if want != e.Kind {
		return bad("kind does not match the messages")
	}
	if err := v.Verify(&e.A); err != nil {
		return fmt.Errorf("%w: %v", ErrBadEvidence, err)
	}
	if err := v.Verify(&e.B); err != nil {
		return fmt.Errorf("%w: %v", ErrBadEvidence, err)
	}
	return nil
}

// kindOf says which kind a conflict of type t by offender in view is.
func kindOf(t wire.Type, offender uint16, view uint64, v Verifier) (EvidenceKind, error) {
	switch t {
	case wire.TypeNewView:
		return ProposalEquivocation, nil
	case wire.TypeCheckpoint:
		return CheckpointEquivocation, nil
	case wire.TypeConfirm:
		return VoteEquivocation, nil
	case wire.TypeVerify:
		s, ok := v.(sizer)
		if !ok || s.Size() == 0 {
			return 0, fmt.Errorf("%w: verifier does not know the roster size", ErrBadEvidence)
		}
		if uint64(offender) == view%uint64(s.Size()) {
			return ProposalEquivocation, nil
		}
		return VoteEquivocation, nil
	}
	return 0, fmt.Errorf("%w: type %s cannot equivocate", ErrBadEvidence, t)
}

// conflict reports whether bodies a and b of type t conflict, and at which
// (view, slot).
func conflict(t wire.Type, a, b []byte) (view, slot uint64, ok bool) {
	switch t {
	case wire.TypeVerify, wire.TypeConfirm:
		va, err1 := decodeVote(a)
		vb, err2 := decodeVote(b)
		if err1 != nil || err2 != nil || va.View != vb.View {
			return 0, 0, false
		}
		i, j := 0, 0
		for i < len(va.Pairs) && j < len(vb.Pairs) {
			pa, pb := va.Pairs[i], vb.Pairs[j]
			switch {
			case pa.Slot < pb.Slot:
				i++
			case pa.Slot > pb.Slot:
				j++
			default:
				if pa.Digest != pb.Digest {
					return va.View, pa.Slot, true
				}
				i++
				j++
			}
		}
	case wire.TypeCheckpoint:
		ca, err1 := decodeCheckpoint(a)
		cb, err2 := decodeCheckpoint(b)
		if err1 == nil && err2 == nil && ca.Slot == cb.Slot {
			return 0, ca.Slot, true // bodies differ (checked by caller) and are canonical
		}
	case wire.TypeNewView:
		na, err1 := decodeNewView(a)
		nb, err2 := decodeNewView(b)
		if err1 == nil && err2 == nil && na.View == nb.View {
			return na.View, 0, true
		}
	}
	return 0, 0, false
}

// key identifies one equivocation (offender, type, view, slot) for local
// de-duplication of reports.
func (e *Evidence) key() evKey {
	v, s, _ := conflict(e.A.Type, e.A.Body, e.B.Body)
	return evKey{e.Offender, e.A.Type, v, s}
}

type evKey struct {
	Offender uint16
	Type     wire.Type
	View     uint64
	Slot     uint64
}

func (e *Evidence) verdict() verdict { return verdict{e.Offender, e.Kind} }

// EncodeEvidence is the canonical wire form: kind | offender | A | B.
func EncodeEvidence(e *Evidence) []byte {
	w := wire.NewWriter(nil)
	w.U8(uint8(e.Kind))
	w.U16(e.Offender)
	w.Blob(e.A.Encode(nil))
	w.Blob(e.B.Encode(nil))
	return w.Bytes()
}

// DecodeEvidence parses EncodeEvidence's form. It checks structure only;
// call Check to verify the proof.
func DecodeEvidence(b []byte) (Evidence, error) {
	r := wire.NewReader(b)
	var e Evidence
	e.Kind = EvidenceKind(r.U8("kind"))
	if r.Err() == nil && (e.Kind < ProposalEquivocation || e.Kind > CheckpointEquivocation) {
		r.Fail("kind", wire.ErrMalformed)
	}
	e.Offender = r.U16("offender")
	for i, dst := range []*crypto.Envelope{&e.A, &e.B} {
		eb := r.Blob([]string{"a", "b"}[i], wire.MaxMessageSize)
		if r.Err() != nil {
			break
		}
		env, err := crypto.DecodeEnvelope(eb)
		if err != nil {
			r.Fail([]string{"a", "b"}[i], wire.ErrMalformed)
			break
		}
		*dst = env
	}
	if err := r.Done(); err != nil {
		return Evidence{}, err
	}
	return e, nil
}

// foundEvidence records verified evidence. One verdict (offender, kind) is
// reported locally, queued for ordering and announced once, however many
// (view, slot) conflicts prove it: an attacker that equivocates at 200
// slots must not make every honest node sign and broadcast 200 messages
// (which would also count against the honest node's own rate budget at its
// peers). The own announcement is re-sent until the verdict is ordered.
// A leader proven to equivocate in the current view is voted out at once,
// even when it was convicted before.
func (nd *Node) foundEvidence(ev Evidence, announce bool) {
	v := ev.verdict()
	if !nd.reported[v] {
		nd.reported[v] = true
		nd.met.EvidenceFound++
		nd.rd.Evidence = append(nd.rd.Evidence, ev)
		if _, done := nd.ordered[v]; !done {
			if _, ok := nd.pending[v]; !ok {
				nd.pending[v] = ev
			}
			if announce {
				env := nd.sign(wire.TypeEvidence, EncodeEvidence(&ev))
				nd.send(Broadcast, env)
				nd.evEnvs[v] = env
			}
		}
	}
	if nd.ousts(&ev) {
		nd.startViewChange(nd.view + 1)
	}
}

// ousts says whether ev proves the current leader equivocated in this view.
func (nd *Node) ousts(ev *Evidence) bool {
	return ev.Kind == ProposalEquivocation && ev.Offender == nd.leaderOf(nd.view) && ev.key().View == nd.view && nd.vcTarget == 0
}

func (nd *Node) onEvidenceMsg(env crypto.Envelope) error {
	ev, err := DecodeEvidence(env.Body)
	if err != nil {
		return nd.drop(DropDecode)
	}
	if nd.reported[ev.verdict()] && !nd.ousts(&ev) {
		return nd.drop(DropDuplicate)
	}
	nd.met.Verified += 2
	if ev.Check(nd.vrf) != nil {
		return nd.drop(DropInvalid)
	}
	// Announced (once per verdict) and re-sent until ordered by every
	// node that holds it, not only by its finder: a finder that restarts
	// before the verdict is ordered forgets it.
	nd.foundEvidence(ev, true)
	return nil
}
