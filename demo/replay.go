package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
)

// Replay is a recorded match being watched: the file's decided batches are
// re-simulated with a fresh arena and gamestate.Engine, one tick at a time
// at the recorded tick rate, so the verdicts on screen are the ones this
// client derives itself from the log, not ones stored in the file.
type Replay struct {
	World *World
	rr    *gamestate.ReplayReader
	f     *os.File
	eng   *gamestate.Engine
	game  *arena.Arena
	speed float64
}

// OpenReplay reads a replay's header and prepares the engine. speed scales
// the playback rate (1 = the recorded tick rate).
func OpenReplay(path string, speed float64) (*Replay, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	rr, err := gamestate.NewReplayReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	g, err := arena.NewGame(rr.Header)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: not an arena replay: %w", path, err)
	}
	cfg := rr.Header.Config()
	eng, err := gamestate.NewEngine(g, cfg)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	players := make([]Player, len(rr.Header.Roster))
	for i, k := range rr.Header.Roster {
		players[i] = Player{Name: "P" + itoa(i), Note: k.String()}
	}
	if speed <= 0 {
		speed = 1
	}
	rate := int(float64(cfg.TickRate) * speed)
	title := fmt.Sprintf("paxsync replay — %q, %d players", rr.Header.Name, len(players))
	w := NewWorld(title, players, -1, max(rate, 1), cfg.Verifier)
	return &Replay{World: w, rr: rr, f: f, eng: eng, game: g.(*arena.Arena), speed: speed}, nil
}

// Play feeds the world until the file ends or ctx is done; it is meant to
// run in its own goroutine, and reports the outcome through World.Finish.
func (r *Replay) Play(ctx context.Context) {
	defer r.f.Close()
	cfg := r.eng.Config()
	period := time.Duration(float64(time.Second) / (float64(cfg.TickRate) * r.speed))
	tk := time.NewTicker(period)
	defer tk.Stop()
	r.World.PushFrame(Capture(r.game))
	for {
		rec, err := r.rr.Next()
		if errors.Is(err, io.EOF) {
			r.World.Finish(nil)
			return
		}
		if err != nil {
			r.World.Finish(err)
			return
		}
		switch rec.Kind {
		case "consensus":
			v := rec.Consensus
			if vd, fresh, err := r.eng.RecordConsensus(v.Kind, v.Offender, v.Evidence, v.Detail); err == nil && fresh {
				r.World.AddVerdict(vd)
			}
		case "checkpoint":
			// The recorder caught up here: playback jumps with it.
			if err := r.eng.Restore(rec.Snapshot); err != nil {
				r.World.Finish(err)
				return
			}
		case "batch", "entry":
			if rec.Batch == nil {
				continue // a decided value that is no batch
			}
			for _, sub := range splitBatch(rec.Batch) {
				if sub.First < r.eng.Next() {
					continue // already shown (a stale duplicate, or slots again after the recorder restarted)
				}
				select {
				case <-ctx.Done():
					r.World.Finish(ctx.Err())
					return
				case <-tk.C:
				}
				res, err := r.eng.Apply(sub)
				if err != nil {
					r.World.Finish(err)
					return
				}
				for _, v := range res.Verdicts {
					r.World.AddVerdict(v)
				}
				r.World.PushFrame(Capture(r.game))
			}
		}
	}
}

// splitBatch cuts a decided batch into one batch per tick so playback can
// show every tick. Engine.Apply handles a batch as evidence, then ticks,
// then hashes, then commits; keeping evidence on the first piece and hashes
// and commits on the last preserves that order exactly.
func splitBatch(b *gamestate.Batch) []*gamestate.Batch {
	if len(b.Ticks) <= 1 {
		return []*gamestate.Batch{b}
	}
	out := make([]*gamestate.Batch, len(b.Ticks))
	for i := range b.Ticks {
		out[i] = &gamestate.Batch{First: b.First + uint64(i), Ticks: b.Ticks[i : i+1]}
	}
	out[0].Evidence = b.Evidence
	last := out[len(out)-1]
	last.Hashes, last.Commits = b.Hashes, b.Commits
	return out
}
