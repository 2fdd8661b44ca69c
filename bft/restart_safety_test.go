package bft

import (
	"bytes"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// handNet is a cluster whose every delivery the test chooses: nothing moves
// unless the test hands it over. Each node's WAL is the records it handed
// out, so restart(i) is exactly what a crash and a restart from disk do.
type handNet struct {
	t       *testing.T
	cfgs    []Config
	nodes   []*Node
	wal     [][]Record
	sent    [][]crypto.Envelope // every envelope node i emitted, in order
	decided []map[uint64][]byte // slot → decided payload per node
}

func newHandNet(t *testing.T, n int) *handNet {
	t.Helper()
	signers, vrf := keysFor(n)
	h := &handNet{t: t, wal: make([][]Record, n), sent: make([][]crypto.Envelope, n)}
	for i := 0; i < n; i++ {
		cfg := Config{Seat: uint16(i), N: n, F: (n - 1) / 3, Signer: signers[i], Verifier: vrf, Window: 8, CheckpointInterval: 1 << 40, ViewTimeoutTicks: 10}
		nd, err := NewNode(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		h.cfgs = append(h.cfgs, cfg)
		h.nodes = append(h.nodes, nd)
		h.decided = append(h.decided, map[uint64][]byte{})
	}
	return h
}

// ready collects node i's Ready: records go to its WAL first, then the
// messages are returned (and remembered) for the test to deliver.
func (h *handNet) ready(i int) []crypto.Envelope {
	rd := h.nodes[i].Ready()
	h.wal[i] = append(h.wal[i], rd.Persist...)
	var out []crypto.Envelope
	for _, m := range rd.Messages {
		out = append(out, m.Env)
	}
	h.sent[i] = append(h.sent[i], out...)
	for _, e := range rd.Committed {
		h.decided[i][e.Slot] = e.Payload
	}
	h.nodes[i].Advance()
	return out
}

func (h *handNet) restart(i int) {
	nd, err := NewNode(h.cfgs[i], h.wal[i])
	if err != nil {
		h.t.Fatalf("restart seat %d: %v", i, err)
	}
	h.nodes[i] = nd
}

func (h *handNet) give(to int, envs ...crypto.Envelope) {
	for _, e := range envs {
		_ = h.nodes[to].Step(e)
	}
}

// pick returns the envelopes of type t in envs.
func pick(envs []crypto.Envelope, t wire.Type) []crypto.Envelope {
	var out []crypto.Envelope
	for _, e := range envs {
		if e.Type == t {
			out = append(out, e)
		}
	}
	return out
}

func (h *handNet) agreement(honest ...int) {
	h.t.Helper()
	for _, i := range honest {
		for _, j := range honest {
			for s, a := range h.decided[i] {
				if b, ok := h.decided[j][s]; ok && !bytes.Equal(a, b) {
					h.t.Fatalf("agreement violated at slot %d: seat %d decided %q, seat %d decided %q", s, i, a, j, b)
				}
			}
		}
	}
}

// runRestartAttack plays the sequence of issue 12 §1 on n = 4: seat 0
// leads view 0 (honest), seat 1 is Byzantine and leads view 1, seats 2 and
// 3 are honest. Seat 2 restarts from its WAL after voting for the view-0
// proposal A, receives the proposal and the other Verifies again but not
// the Accept (the value), and later restarts a second time. Seat 1 signs a
// Confirm for A without being prepared, then leads view 1 and proposes B
// at the same slot. giveValue says whether the Accept is re-delivered to
// seat 2 after its first restart (it must then Confirm, and keep the
// certificate through the second restart).
func runRestartAttack(t *testing.T, giveValue bool) *handNet {
	h := newHandNet(t, 4)
	byz := h.cfgs[1].Signer

	// 1. Seat 0 proposes A at slot 1; seats 1, 2, 3 get it and Verify.
	if err := h.nodes[0].Propose([]byte("A")); err != nil {
		t.Fatal(err)
	}
	prop := h.ready(0)
	accept, proposal := pick(prop, wire.TypeAccept)[0], pick(prop, wire.TypeVerify)[0]
	var verifies [4]crypto.Envelope
	verifies[0] = proposal
	for _, i := range []int{1, 2, 3} {
		h.give(i, accept, proposal)
		vs := pick(h.ready(i), wire.TypeVerify)
		if i != 1 && len(vs) == 0 { // seat 1 relays the proposal; its own Verify follows
			t.Fatalf("seat %d did not Verify A", i)
		}
		for _, v := range vs {
			if v.Sender == uint16(i) {
				verifies[i] = v
			}
		}
	}
	if verifies[1].Body == nil {
		t.Fatal("seat 1 did not Verify A")
	}

	// 2. Seat 2 restarts; it receives the re-sent proposal and the Verifies
	// of seats 1 and 3, but not the Accept.
	h.restart(2)
	h.give(2, proposal, verifies[1], verifies[3])
	out2 := h.ready(2)
	if c := pick(out2, wire.TypeConfirm); len(c) > 0 {
		t.Errorf("seat 2 Confirmed a value it does not hold (it could not re-propose it after a view change)")
	}
	if giveValue {
		h.give(2, accept)
		out2 = h.ready(2)
		if len(pick(out2, wire.TypeConfirm)) == 0 {
			t.Fatal("seat 2 holds the value and a Verify quorum but did not Confirm")
		}
	}

	// 3. Seat 0 gets the Verifies (it prepares and Confirms), seat 2's
	// Confirm if any, and a Confirm seat 1 signs without being prepared.
	h.give(0, verifies[1], verifies[2], verifies[3])
	h.ready(0)
	h.give(0, pick(out2, wire.TypeConfirm)...)
	dA := crypto.Sum((&value{Payload: []byte("A")}).encode())
	h.give(0, byz.Sign(wire.TypeConfirm, (&voteBody{View: 0, Pairs: []pair{{1, dA}}}).encode()))
	h.ready(0)
	_, aDecided := h.decided[0][1]
	if aDecided != giveValue {
		t.Errorf("seat 0 decided A: %v, want %v", aDecided, giveValue)
	}

	// 4. Seat 2 restarts again.
	h.restart(2)

	// 5. Seats 1, 2, 3 move to view 1. Seat 1 (the Byzantine leader of
	// view 1) collects the Promises and proposes B at slot 1.
	var vcs []crypto.Envelope
	for _, i := range []int{1, 2, 3} {
		h.nodes[i].Suspect()
		vcs = append(vcs, pick(h.ready(i), wire.TypeViewChange)...)
	}
	var promises, promVals []crypto.Envelope
	for _, i := range []int{1, 2, 3} {
		for _, e := range vcs {
			if e.Sender != uint16(i) {
				h.give(i, e)
			}
		}
		out := h.ready(i)
		promises = append(promises, pick(out, wire.TypePromise)...)
		promVals = append(promVals, pick(out, wire.TypeAccept)...)
	}
	h.give(1, promVals...)
	h.give(1, promises...)
	lead := h.ready(1)
	nv := pick(lead, wire.TypeNewView)
	if len(nv) != 1 {
		t.Fatalf("seat 1 formed no NewView (%d promises)", len(promises))
	}
	var msgs [4][]crypto.Envelope
	msgs[1] = lead // the NewView's Accept and the re-proposal Verify follow it
	for _, i := range []int{2, 3} {
		h.give(i, promVals...)
		h.give(i, nv...)
		msgs[i] = h.ready(i)
	}
	// Seat 1 runs honest code here except for what it signs by hand: if
	// the NewView fixed slot 1, its proposal of B lands at slot 2.
	if err := h.nodes[1].Propose([]byte("B")); err != nil {
		t.Fatalf("view-1 leader cannot propose: %v", err)
	}
	// Everyone exchanges messages among 1, 2, 3 until nothing moves.
	for round := 0; round < 6; round++ {
		for _, i := range []int{1, 2, 3} {
			msgs[i] = append(msgs[i], h.ready(i)...)
		}
		for _, i := range []int{1, 2, 3} {
			for _, j := range []int{1, 2, 3} {
				if i != j {
					h.give(j, msgs[i]...)
				}
			}
			msgs[i] = nil
		}
	}
	return h
}

// TestRestartedAcceptorNeverConfirmsWithoutValue: the attack of issue 12
// §1 must not split the honest seats. On the old code seat 2 Confirmed A
// without its value, lost the certificate at its second restart, and the
// honest seats decided A (seat 0) and B (seat 3) at slot 1.
func TestRestartedAcceptorNeverConfirmsWithoutValue(t *testing.T) {
	h := runRestartAttack(t, false)
	h.agreement(0, 2, 3)
	if got := h.decided[3][1]; !bytes.Equal(got, []byte("B")) {
		t.Fatalf("view 1 should decide B at slot 1 (A was never decided); seat 3 has %q", got)
	}
}

// TestRestartedConfirmerKeepsCertificate: when the restarted seat gets the
// value and Confirms, A is decided, and after a second restart its Promise
// still names A, so the new view keeps A at slot 1.
func TestRestartedConfirmerKeepsCertificate(t *testing.T) {
	h := runRestartAttack(t, true)
	h.agreement(0, 2, 3)
	for _, i := range []int{2, 3} {
		if got := h.decided[i][1]; !bytes.Equal(got, []byte("A")) {
			t.Fatalf("seat %d decided %q at slot 1, want A (decided in view 0)", i, got)
		}
	}
}

// TestLegacyPreparedRecordWithoutValue: a WAL written by the old code holds
// prepared records whose value is nil; the certificate is still restored
// (its digest is the one its Verifies name), so the Promise names it.
func TestLegacyPreparedRecordWithoutValue(t *testing.T) {
	h := newHandNet(t, 4)
	d := crypto.Sum((&value{Payload: []byte("A")}).encode())
	var envs []crypto.Envelope
	for i := 0; i < 3; i++ {
		envs = append(envs, h.cfgs[i].Signer.Sign(wire.TypeVerify, (&voteBody{View: 0, Pairs: []pair{{1, d}}}).encode()))
	}
	w := wire.NewWriter([]byte{recPrepared1})
	w.Uvarint(0)
	w.Uvarint(1)
	w.Uvarint(1)
	w.Blob(nil)
	encodeEnvs(w, envs)
	nd, err := NewNode(h.cfgs[2], []Record{Record(w.Bytes())})
	if err != nil {
		t.Fatal(err)
	}
	ss := nd.slots[1]
	if ss == nil || ss.prep == nil || ss.prep.digest != d || len(ss.prep.cert) != 3 {
		t.Fatalf("legacy digest-only certificate not restored: %+v", ss)
	}
}
