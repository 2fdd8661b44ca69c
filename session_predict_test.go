package paxsync_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
)

// TestSessionPrediction plays a 4-seat memnet match with prediction on and
// no input delay (the default with prediction), every seat changing its
// controls every few ticks so that predictions go wrong. Checked on every
// seat, on the runtime's own figures (Stats reads them in one go): the
// predicted view never trails the agreed log nor runs more than the window
// past it, no rollback is deeper than the window, PredictedView shows a
// game at the predicted tick, and the agreed logs stay identical (what
// TestMemnetMatch checks; speculation must not disturb it).
func TestSessionPrediction(t *testing.T) {
	const seats, ticks, window = 4, 120, 6
	sessions := memMatch(t, seats, "memnet-prediction", func(c *paxsync.Config) {
		c.Prediction = paxsync.Prediction{Enabled: true, Window: window}
	})
	logs := make([]map[uint64]crypto.Digest, seats)
	var wg sync.WaitGroup
	for i, s := range sessions {
		logs[i] = map[uint64]crypto.Digest{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			timeout := time.After(2 * time.Minute)
			for {
				next := s.InputTick()
				in := arena.EncodeInput(arena.Controls{Thrust: uint8(1 + (next/5+uint64(i))%3), Turn: int8(i - 2)})
				s.SubmitInput(in)
				select {
				case ev := <-s.Events():
					te, ok := ev.(paxsync.TickEvent)
					if !ok {
						continue
					}
					if te.Checkpoint {
						logs[i][te.Tick] = te.Hash
					}
					st := s.Stats()
					if st.PredictedTick < st.DecidedTicks || st.PredictedTick > st.DecidedTicks+window {
						t.Errorf("seat %d: predicted tick %d, decided %d, window %d", i, st.PredictedTick, st.DecidedTicks, window)
						return
					}
					if st.MaxRollback > window {
						t.Errorf("seat %d: rollback of %d ticks, window %d", i, st.MaxRollback, window)
						return
					}
					if te.Tick >= ticks {
						return
					}
				case <-timeout:
					t.Errorf("seat %d: only %d checkpoints", i, len(logs[i]))
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i := 1; i < seats; i++ {
		for tick, h := range logs[0] {
			if got, ok := logs[i][tick]; ok && got != h {
				t.Fatalf("checkpoint %d: seat %d has %s, seat 0 %s", tick, i, got, h)
			}
		}
	}
	var rollbacks uint64
	for i, s := range sessions {
		var tick uint64
		var h crypto.Digest
		s.PredictedView(func(g gamestate.Game, tk uint64) { tick, h = tk, g.Hash() })
		if h == (crypto.Digest{}) || tick == 0 {
			t.Fatalf("seat %d: PredictedView gave no game (tick %d)", i, tick)
		}
		st := s.Stats()
		rollbacks += st.Rollbacks
		t.Logf("seat %d: decided %d, predicted %d, %d rollbacks (%d ticks, deepest %d), %d speculative ticks, commit p50 %s, speculative p50 %s",
			i, st.DecidedTicks, st.PredictedTick, st.Rollbacks, st.RolledBackTicks, st.MaxRollback, st.SpeculativeTicks, st.CommitP50, st.SpeculativeP50)
	}
}

// TestPredictionConfig: prediction's settings are checked like every other
// field, and InputDelay 0 means no delay only with prediction.
func TestPredictionConfig(t *testing.T) {
	base := func() paxsync.Config {
		k, _ := crypto.KeyFromSeed(make([]byte, 32))
		c := paxsync.DefaultConfig()
		c.Key, c.MatchName, c.Roster = k, "cfg", []crypto.PublicKey{k.Public()}
		c.NewGame = func() (gamestate.Game, error) { return arena.FromParams(arena.Params(1, 1)) }
		c.WALDir = paxsync.MemoryWAL
		return c
	}
	for name, mut := range map[string]func(*paxsync.Config){
		"window too large": func(c *paxsync.Config) {
			c.Prediction = paxsync.Prediction{Enabled: true, Window: paxsync.MaxPredictionWindow + 1}
		},
		"window negative":      func(c *paxsync.Config) { c.Prediction = paxsync.Prediction{Enabled: true, Window: -1} },
		"window without it":    func(c *paxsync.Config) { c.Prediction = paxsync.Prediction{Window: 4} },
		"negative input delay": func(c *paxsync.Config) { c.InputDelay = -1 },
	} {
		c := base()
		mut(&c)
		_, err := paxsync.Join(context.Background(), c)
		if !errors.Is(err, paxsync.ErrBadConfig) {
			t.Errorf("%s: Join returned %v, want ErrBadConfig", name, err)
		}
	}
}
