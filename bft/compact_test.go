package bft

import (
	"testing"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// walCluster is n nodes with the fast simulation signer, a WAL per node
// kept the way a driver keeps it (Compact replaces it, Persist appends),
// and an application that answers every CheckpointDue.
type walCluster struct {
	cfgs  []Config
	nodes []*Node
	wal   [][]Record
	inbox [][]crypto.Envelope
	app   []simApp
	peak  []int // largest WAL seen per node since the last resetPeak
	watch int   // seat whose own envelopes are collected in sent2 (-1: none)
	sent2 []crypto.Envelope
	// watchAll collects every seat's envelopes in sentAll.
	watchAll bool
	sentAll  []crypto.Envelope
}

func newWALCluster(tb testing.TB, n int) *walCluster {
	signers, vrf := keysFor(n)
	c := &walCluster{wal: make([][]Record, n), inbox: make([][]crypto.Envelope, n), app: make([]simApp, n), peak: make([]int, n), watch: -1}
	for i := 0; i < n; i++ {
		cfg := Config{Seat: uint16(i), N: n, F: (n - 1) / 3, Signer: signers[i], Verifier: vrf, Window: 32, CheckpointInterval: 64, ViewTimeoutTicks: 20}
		nd, err := NewNode(cfg, nil)
		if err != nil {
			tb.Fatal(err)
		}
		c.cfgs = append(c.cfgs, cfg)
		c.nodes = append(c.nodes, nd)
	}
	return c
}

func (c *walCluster) pump() {
	for busy := true; busy; {
		busy = false
		for i, nd := range c.nodes {
			if !nd.HasReady() {
				continue
			}
			busy = true
			rd := nd.Ready()
			if rd.Compact != nil {
				c.wal[i] = append([]Record(nil), rd.Compact...)
			}
			c.wal[i] = append(c.wal[i], rd.Persist...)
			c.peak[i] = max(c.peak[i], walBytes(c.wal[i]))
			for _, m := range rd.Messages {
				if i == c.watch {
					c.sent2 = append(c.sent2, m.Env)
				}
				if c.watchAll {
					c.sentAll = append(c.sentAll, m.Env)
				}
				for j := range c.nodes {
					if j != i && (m.To == Broadcast || m.To == j) {
						c.inbox[j] = append(c.inbox[j], m.Env)
					}
				}
			}
			for _, e := range rd.Committed {
				c.app[i].slot = e.Slot
				c.app[i].chain = crypto.Sum(c.app[i].chain[:], e.Payload)
			}
			nd.Advance()
			for _, s := range rd.CheckpointDue {
				nd.Checkpoint(s, c.app[i].snapshot())
			}
		}
		for j, nd := range c.nodes {
			for _, e := range c.inbox[j] {
				_ = nd.Step(e)
			}
			if len(c.inbox[j]) > 0 {
				busy = true
			}
			c.inbox[j] = c.inbox[j][:0]
		}
	}
}

// run decides slots more slots, a window's worth per round, each payload
// the size of a 4-player tick batch.
func (c *walCluster) run(tb testing.TB, slots int) {
	payload := make([]byte, 400)
	for done := 0; done < slots; {
		k := min(32, slots-done)
		lead := c.nodes[0]
		for _, nd := range c.nodes {
			if nd.Status().IsLeader {
				lead = nd
			}
		}
		for i := 0; i < k; i++ {
			payload[0], payload[1] = byte(done+i), byte((done+i)>>8)
			if err := lead.Propose(payload); err != nil {
				tb.Fatalf("propose: %v", err)
			}
		}
		c.pump()
		done += k
	}
}

func walBytes(recs []Record) (n int) {
	for _, r := range recs {
		n += len(r) + 8 // the file's frame header
	}
	return n
}

// TestWALCompactionBoundsSizeAndKeepsVotes: the WAL stops growing with
// the match (it was never compacted: 23 MB after five minutes at 60 Hz),
// a node restarted from the compacted log refuses to sign a vote that
// conflicts with one it signed above the checkpoint, and its Promise fits
// the wire (a Promise listing every certificate since genesis overflowed
// maxPairs).
func TestWALCompactionBoundsSizeAndKeepsVotes(t *testing.T) {
	slots := 20000 // about 5.5 minutes at 60 Hz
	if testing.Short() || raceEnabled {
		slots = 4000
	}
	c := newWALCluster(t, 4)
	c.run(t, slots/4)
	early := c.peak[1]
	c.peak[1] = 0
	c.run(t, slots-slots/4)
	late := c.peak[1]
	for i, nd := range c.nodes {
		if st := nd.Status(); st.Committed != uint64(slots) || st.StableCheckpoint < uint64(slots)-64 {
			t.Fatalf("seat %d: committed %d, stable %d", i, st.Committed, st.StableCheckpoint)
		}
	}
	// Compaction happens at each stable checkpoint: the largest the log
	// gets depends on what lies above a checkpoint, not on the length.
	if late > early*3/2 || late > 256<<10 { // it varies by ±30% with where the checkpoints fall
		t.Fatalf("WAL grew with the match: at most %d bytes in the first %d slots, %d in the next %d", early, slots/4, late, slots-slots/4)
	}

	// Restart seat 1 from its compacted log.
	re, err := NewNode(c.cfgs[1], c.wal[1])
	if err != nil {
		t.Fatal(err)
	}
	if re.stable.Slot != c.nodes[1].stable.Slot {
		t.Fatalf("restored stable checkpoint %d, want %d", re.stable.Slot, c.nodes[1].stable.Slot)
	}
	// Every own vote above the checkpoint is still known.
	for k, d := range c.nodes[1].ownVotes {
		if k.slot > re.stable.Slot && (k.t == wire.TypeVerify || k.t == wire.TypeConfirm) {
			if got, ok := re.ownVotes[k]; !ok || got != d {
				t.Fatalf("restored node forgot its %v at (view %d, slot %d)", k.t, k.view, k.slot)
			}
		}
	}
	// Its Promise (after a view change) encodes and decodes.
	re.Suspect()
	for _, s := range []int{2, 3} {
		c.nodes[s].Suspect()
		for _, m := range c.nodes[s].Ready().Messages {
			_ = re.Step(m.Env)
		}
	}
	re.Ready()
	if re.view != 1 || re.myPromise == nil {
		t.Fatalf("restarted node did not promise in the view change (view %d)", re.view)
	}
	if _, err := decodePromise(re.myPromise.Body); err != nil {
		t.Fatalf("restarted node's Promise does not decode: %v", err)
	}
	t.Logf("largest WAL: %d bytes in the first %d slots, %d in the %d after", early, slots/4, late, slots-slots/4)
}

// TestCompactedRestartRefusesConflictingVote: after compaction, a
// restarted acceptor that Verified (view, slot) above the checkpoint never
// Verifies another digest there, and never votes below the checkpoint.
func TestCompactedRestartRefusesConflictingVote(t *testing.T) {
	c := newWALCluster(t, 4)
	c.run(t, 200)
	// Seat 0 proposes one more slot; only seat 2 gets it and Verifies.
	if err := c.nodes[0].Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	rd := c.nodes[0].Ready()
	c.nodes[0].Advance()
	for _, m := range rd.Messages {
		_ = c.nodes[2].Step(m.Env)
	}
	rd2 := c.nodes[2].Ready()
	if rd2.Compact != nil {
		c.wal[2] = rd2.Compact
	}
	c.wal[2] = append(c.wal[2], rd2.Persist...)
	c.nodes[2].Advance()
	s := c.nodes[0].nextSlot - 1
	mine, ok := c.nodes[2].ownVotes[ownKey{wire.TypeVerify, 0, s}]
	if !ok {
		t.Fatal("seat 2 did not Verify the new slot")
	}
	// Force a compaction now (a stable checkpoint moved) and restart.
	c.nodes[2].compactDue = true
	rd2 = c.nodes[2].Ready()
	c.wal[2] = append(rd2.Compact, rd2.Persist...)
	re, err := NewNode(c.cfgs[2], c.wal[2])
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := re.ownVotes[ownKey{wire.TypeVerify, 0, s}]; !ok || d != mine {
		t.Fatal("compacted WAL lost the Verify above the checkpoint")
	}
	// A conflicting proposal for the same (view, slot), as a Byzantine
	// leader would send after the restart.
	other := (&value{Payload: []byte("y")}).encode()
	lead := c.cfgs[0].Signer
	_ = re.Step(lead.Sign(wire.TypeAccept, (&acceptBody{View: 0, Slots: []uint64{s}, Values: [][]byte{other}}).encode()))
	_ = re.Step(lead.Sign(wire.TypeVerify, (&voteBody{View: 0, Pairs: []pair{{s, crypto.Sum(other)}}}).encode()))
	// And a proposal below the checkpoint.
	low := re.stable.Slot
	_ = re.Step(lead.Sign(wire.TypeVerify, (&voteBody{View: 0, Pairs: []pair{{low, crypto.Sum(other)}}}).encode()))
	for _, m := range re.Ready().Messages {
		if m.Env.Sender != 2 || (m.Env.Type != wire.TypeVerify && m.Env.Type != wire.TypeConfirm) {
			continue
		}
		b, _ := decodeVote(m.Env.Body)
		for _, p := range b.Pairs {
			if p.Slot == s && p.Digest != mine || p.Slot <= low {
				t.Fatalf("restarted seat signed %v for slot %d (checkpoint %d)", m.Env.Type, p.Slot, low)
			}
		}
	}
}

// BenchmarkRestartAfterHourMatch: the WAL of one seat after a 60 Hz match
// of one hour (216,000 slots, simulated) and the time to restore a node
// from it. Reported: bytes of WAL, records, and ns per restore.
func BenchmarkRestartAfterHourMatch(b *testing.B) {
	slots := 216000
	if testing.Short() {
		slots = 20000
	}
	c := newWALCluster(b, 4)
	start := time.Now()
	c.run(b, slots)
	b.Logf("simulated %d slots in %v", slots, time.Since(start).Round(time.Millisecond))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := NewNode(c.cfgs[0], c.wal[0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(walBytes(c.wal[0])), "wal-bytes")
	b.ReportMetric(float64(len(c.wal[0])), "records")
}
