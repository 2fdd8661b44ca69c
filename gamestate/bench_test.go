package gamestate_test

import (
	"testing"

	"github.com/paxsync/paxsync/gamestate"
)

// benchBatches records an 8-seat bot match as one-tick batches.
func benchBatches(b *testing.B) (*match, []*gamestate.Batch) {
	m := newMatch(b, 8, 30, nil)
	var batches []*gamestate.Batch
	for m.ref.Next() < 600 {
		batches = append(batches, m.step())
	}
	return m, batches
}

// BenchmarkEngineApply8 is the engine's per-batch cost on an 8-ship arena
// (1–3 ticks per batch, decode + game.Validate + Advance, hash at
// checkpoints), without signature checks.
func BenchmarkEngineApply8(b *testing.B) {
	m, batches := benchBatches(b)
	b.ReportAllocs()
	b.ResetTimer()
	var e *gamestate.Engine
	ticks := 0
	for i := 0; b.Loop(); i++ {
		if i%len(batches) == 0 {
			e, _ = gamestate.NewEngine(m.newArena(), m.cfg)
		}
		res, _ := e.Apply(batches[i%len(batches)])
		ticks += len(res.Ticks)
	}
	b.ReportMetric(float64(ticks)/float64(b.N), "ticks/op")
}

// BenchmarkValidateBatch8 is what an acceptor pays before voting: Ed25519
// verification of every signed input in the batch (8 seats × 1–3 ticks).
func BenchmarkValidateBatch8(b *testing.B) {
	m, batches := benchBatches(b)
	rules := m.cfg.Rules()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := gamestate.ValidateBatch(batches[i%len(batches)], m.cfg.Verifier, rules); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeBatch8 is every peer's cost to decode a proposed batch.
func BenchmarkDecodeBatch8(b *testing.B) {
	_, batches := benchBatches(b)
	enc := batches[10].Encode()
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := gamestate.DecodeBatch(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeBatch8 is the leader's cost to encode one batch (8 seats'
// signed inputs) into the value it proposes.
func BenchmarkEncodeBatch8(b *testing.B) {
	_, batches := benchBatches(b)
	bt := batches[10]
	b.SetBytes(int64(len(bt.Encode())))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = bt.Encode()
	}
}
