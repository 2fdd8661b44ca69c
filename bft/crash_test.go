package bft

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// crashNet is an in-memory cluster for ModeCrash tests: seats can be
// crashed (they neither process nor receive anything), links can be cut by
// a filter, every sent envelope is recorded, and NeedSync is served by a
// live peer, so a test can drive a real view change.
type crashNet struct {
	t     *testing.T
	nodes []*Node
	down  []bool
	inbox [][]crypto.Envelope
	cut   func(from, to int, env crypto.Envelope) bool
	sent  []Message // To rewritten to the sender's seat
	log   [][]Entry
}

func newCrashNet(t *testing.T, n int) *crashNet {
	t.Helper()
	c := newBenchClusterMode(t, n, 8, ModeCrash)
	return &crashNet{t: t, nodes: c.nodes, down: make([]bool, n), inbox: make([][]crypto.Envelope, n), log: make([][]Entry, n)}
}

func (cn *crashNet) pump() {
	for round, busy := 0, true; busy; round++ {
		if round > 10000 {
			cn.t.Fatal("pump does not settle")
		}
		busy = false
		for i, nd := range cn.nodes {
			if cn.down[i] || !nd.HasReady() {
				continue
			}
			busy = true
			rd := nd.Ready()
			for _, m := range rd.Messages {
				cn.sent = append(cn.sent, Message{To: i, Env: m.Env})
				for j := range cn.nodes {
					if j == i || cn.down[j] || (m.To != Broadcast && m.To != j) {
						continue
					}
					if cn.cut == nil || !cn.cut(i, j, m.Env) {
						cn.inbox[j] = append(cn.inbox[j], m.Env)
					}
				}
			}
			cn.log[i] = append(cn.log[i], rd.Committed...)
			if rd.NeedSync != nil {
				cn.serveSync(i, rd.NeedSync)
			}
			nd.Advance()
		}
		for j, nd := range cn.nodes {
			in := cn.inbox[j]
			cn.inbox[j] = nil
			for _, e := range in {
				if !cn.down[j] {
					busy = true
					_ = nd.Step(e)
				}
			}
		}
	}
}

func (cn *crashNet) serveSync(i int, need *SyncNeed) {
	for _, p := range need.Peers {
		if cn.down[p] {
			continue
		}
		if st, ok := cn.nodes[p].SyncResponse(need.From - 1); ok {
			_ = cn.nodes[i].ApplySync(st)
			return
		}
	}
}

func (cn *crashNet) tick(k int) {
	for ; k > 0; k-- {
		for i, nd := range cn.nodes {
			if !cn.down[i] {
				nd.Tick()
			}
		}
		cn.pump()
	}
}

// leader returns the live seat that is the active leader, or -1.
func (cn *crashNet) leader() int {
	for i, nd := range cn.nodes {
		if !cn.down[i] && nd.Status().IsLeader {
			return i
		}
	}
	return -1
}

func (cn *crashNet) propose(seat int, k int, tag string) {
	cn.t.Helper()
	for i := 0; i < k; i++ {
		if err := cn.nodes[seat].Propose([]byte(fmt.Sprintf("%s-%d", tag, i))); err != nil {
			cn.t.Fatalf("seat %d propose: %v", seat, err)
		}
	}
}

// agree checks that every live seat committed at least want slots and that
// all logs (live or crashed) agree slot by slot.
func (cn *crashNet) agree(want uint64) {
	cn.t.Helper()
	ref := map[uint64][]byte{}
	for i, lg := range cn.log {
		for _, e := range lg {
			if r, ok := ref[e.Slot]; ok && !bytes.Equal(r, e.Payload) {
				cn.t.Fatalf("agreement: seat %d decided %q at slot %d, another seat %q", i, e.Payload, e.Slot, r)
			}
			ref[e.Slot] = e.Payload
		}
		if !cn.down[i] && cn.nodes[i].committed < want {
			cn.t.Fatalf("seat %d committed %d, want ≥ %d", i, cn.nodes[i].committed, want)
		}
	}
}

// In ModeCrash, 2F+1 acceptors decide without any Verify broadcast and the
// learners decide too, without signing anything.
func TestCrashModeDecidesWithLearners(t *testing.T) {
	for _, n := range []int{4, 7} {
		t.Run(fmt.Sprint("n=", n), func(t *testing.T) {
			cn := newCrashNet(t, n)
			f := (n - 1) / 3
			cfg := cn.nodes[0].cfg
			if cfg.Acceptors() != 2*f+1 || cfg.Quorum() != f+1 {
				t.Fatalf("acceptors %d quorum %d", cfg.Acceptors(), cfg.Quorum())
			}
			cn.propose(0, 8, "a")
			cn.pump()
			cn.agree(8)
			for _, m := range cn.sent {
				from := uint16(m.To)
				switch m.Env.Type {
				case wire.TypeVerify:
					if from != 0 {
						t.Fatalf("seat %d sent a Verify: the Verify broadcast must not exist in ModeCrash", from)
					}
				case wire.TypeConfirm:
					if int(from) > 2*f {
						t.Fatalf("learner %d sent a Confirm", from)
					}
				}
			}
			for i := 2*f + 1; i < n; i++ {
				if s := cn.nodes[i].met.Signed; s != 0 {
					t.Fatalf("learner %d signed %d messages", i, s)
				}
			}
			// Per Ready round: the leader signs Accept, its proposal and a
			// Confirm; every other acceptor one Confirm.
			if s := cn.nodes[0].met.Signed; s != 3 {
				t.Fatalf("leader signed %d, want 3", s)
			}
			for i := 1; i <= 2*f; i++ {
				if s := cn.nodes[i].met.Signed; s != 1 {
					t.Fatalf("acceptor %d signed %d, want 1", i, s)
				}
			}
		})
	}
}

// F crashed acceptors do not stop progress; F+1 do, and learners can never
// stand in for them.
func TestCrashModeToleratesFCrashedAcceptors(t *testing.T) {
	for _, n := range []int{4, 7} {
		t.Run(fmt.Sprint("n=", n), func(t *testing.T) {
			f := (n - 1) / 3
			cn := newCrashNet(t, n)
			for i := 0; i < f; i++ {
				cn.down[2*f-i] = true // the highest acceptor seats
			}
			cn.propose(0, 8, "a")
			cn.pump()
			cn.agree(8)

			cn = newCrashNet(t, n)
			for i := 0; i <= f; i++ {
				cn.down[2*f-i] = true
			}
			cn.propose(0, 8, "a")
			cn.pump()
			for i, nd := range cn.nodes {
				if !cn.down[i] && nd.committed != 0 {
					t.Fatalf("seat %d decided %d slots with only F live acceptors (learners counted?)", i, nd.committed)
				}
			}
		})
	}
}

// The leader rotates over acceptors only: a learner never leads.
func TestCrashModeLearnersNeverLead(t *testing.T) {
	cn := newCrashNet(t, 7)
	for v := uint64(0); v < 50; v++ {
		if l := cn.nodes[0].leaderOf(v); l > 4 {
			t.Fatalf("view %d led by learner %d", v, l)
		}
	}
	// A learner's timeout and Suspect do not vote; its ViewChange, Confirm,
	// Checkpoint or Promise would be rejected anyway.
	ln := cn.nodes[6]
	ln.Suspect()
	for i := 0; i < 10*ln.cfg.ViewTimeoutTicks; i++ {
		ln.Tick()
	}
	for _, m := range ln.Ready().Messages {
		t.Fatalf("learner sent %s", m.Env.Type)
	}
	ln.Advance()
	s6 := cn.nodes[6].cfg.Signer
	acc := cn.nodes[1]
	d := crypto.Sum([]byte("x"))
	for _, env := range []crypto.Envelope{
		s6.Sign(wire.TypeViewChange, viewBody(1)),
		s6.Sign(wire.TypeConfirm, (&voteBody{View: 0, Pairs: []pair{{1, d}}}).encode()),
		s6.Sign(wire.TypeCheckpoint, (&checkpointBody{Slot: acc.cfg.CheckpointInterval}).encode()),
		cn.nodes[2].cfg.Signer.Sign(wire.TypeVerify, (&voteBody{View: 0, Pairs: []pair{{1, d}}}).encode()), // non-leader Verify
	} {
		if err := acc.Step(env); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s from seat %d: %v, want ErrInvalid", env.Type, env.Sender, err)
		}
	}
}

// A crashed leader is replaced by the next acceptor, and a value that only
// the crashed leader saw decided (one other acceptor accepted it) survives
// the view change: the new leader learns it from that acceptor's Promise and
// re-proposes it, and every live seat, learner included, decides it.
func TestCrashModeViewChangeKeepsDecidedValue(t *testing.T) {
	for _, n := range []int{4, 7} {
		t.Run(fmt.Sprint("n=", n), func(t *testing.T) {
			f := (n - 1) / 3
			cn := newCrashNet(t, n)
			// Phase 1: the leader's proposals (not its Confirms) reach only
			// the witnesses, seats F+1 ... 2F, whose Confirms reach only the
			// leader: the leader decides, the witnesses only accepted.
			witness := map[int]bool{2 * f: true}
			for i := f + 1; i < 2*f; i++ {
				witness[i] = true
			}
			cn.cut = func(from, to int, env crypto.Envelope) bool {
				if from == 0 {
					return !witness[to] || env.Type == wire.TypeConfirm
				}
				return witness[from] && to != 0
			}
			cn.propose(0, 3, "old")
			cn.pump()
			if cn.nodes[0].committed != 3 {
				t.Fatalf("leader committed %d", cn.nodes[0].committed)
			}
			for i := 1; i < n; i++ {
				if cn.nodes[i].committed != 0 {
					t.Fatalf("seat %d committed %d before the crash", i, cn.nodes[i].committed)
				}
			}
			// Phase 2: the leader crashes; the network heals.
			cn.down[0], cn.cut = true, nil
			for k := 0; k < 50 && cn.leader() < 0; k++ {
				cn.tick(10)
			}
			l := cn.leader()
			if l < 1 || l > 2*f {
				t.Fatalf("no acceptor took over (leader %d)", l)
			}
			cn.propose(l, 2, "new")
			cn.pump()
			cn.tick(40)
			cn.agree(5)
			for i := 1; i < n; i++ {
				if got := cn.nodes[i].Status(); got.View == 0 || got.Leader != uint16(l) {
					t.Fatalf("seat %d: view %d leader %d", i, got.View, got.Leader)
				}
			}
		})
	}
}

// A ModeCrash acceptor restarted from its WAL remembers what it accepted
// and never accepts a different value for the same (view, slot).
func TestCrashModeRestartKeepsAccepted(t *testing.T) {
	cn := newCrashNet(t, 4)
	nd := cn.nodes[1]
	p := cn.nodes[0].cfg.Signer
	mk := func(s string) ([]byte, crypto.Digest) {
		v := (&value{Payload: []byte(s)}).encode()
		return v, crypto.Sum(v)
	}
	va, da := mk("a")
	nd.Step(p.Sign(wire.TypeAccept, (&acceptBody{View: 0, Slots: []uint64{1}, Values: [][]byte{va}}).encode()))
	nd.Step(p.Sign(wire.TypeVerify, (&voteBody{View: 0, Pairs: []pair{{1, da}}}).encode()))
	rd := nd.Ready()
	nd.Advance()
	var sentConfirm bool
	for _, m := range rd.Messages {
		sentConfirm = sentConfirm || m.Env.Type == wire.TypeConfirm
		if m.Env.Type == wire.TypeVerify {
			t.Fatal("acceptor sent a Verify in ModeCrash")
		}
	}
	if !sentConfirm {
		t.Fatal("acceptor did not Confirm the leader's proposal")
	}
	re, err := NewNode(nd.cfg, rd.Persist)
	if err != nil {
		t.Fatal(err)
	}
	if ss := re.slots[1]; ss == nil || ss.prep == nil || ss.prep.digest != da || len(ss.prep.cert) != 1 {
		t.Fatal("restarted acceptor forgot what it accepted")
	}
	vb, db := mk("b")
	re.Step(p.Sign(wire.TypeAccept, (&acceptBody{View: 0, Slots: []uint64{1}, Values: [][]byte{vb}}).encode()))
	re.Step(p.Sign(wire.TypeVerify, (&voteBody{View: 0, Pairs: []pair{{1, db}}}).encode()))
	for _, m := range re.Ready().Messages {
		if m.Env.Type == wire.TypeConfirm {
			t.Fatal("restarted acceptor confirmed a second value")
		}
	}
}

func TestCrashModeConfig(t *testing.T) {
	signers, vrf := keysFor(4)
	if _, err := NewNode(Config{N: 4, F: 1, Mode: ModeCrash + 1, Signer: signers[0], Verifier: vrf}, nil); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("unknown mode: %v", err)
	}
	c := Config{N: 7, F: 2}
	if c.Acceptors() != 7 || c.Quorum() != 5 {
		t.Fatalf("byzantine default changed: %d acceptors, quorum %d", c.Acceptors(), c.Quorum())
	}
	if ModeByzantine.String() != "byzantine" || ModeCrash.String() != "crash" {
		t.Fatal("mode names")
	}
}
