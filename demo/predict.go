package demo

import (
	"context"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/demo/prediction"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
)

// predictPolls is how many times per tick the local session's predicted
// view is read: often enough that a new predicted tick is drawn within a
// quarter of a tick of its being signed.
const predictPolls = 4

// startPrediction tells the World whether the local session speculates
// and, if it does, starts the goroutine that feeds the predicted frames.
func (l *Live) startPrediction(ctx context.Context) {
	l.World.SetPrediction(l.prediction)
	if !l.prediction {
		return
	}
	every := max(l.World.tickDur/predictPolls, time.Millisecond)
	l.wg.Add(1)
	go l.predict(ctx, l.local, every)
}

// predict polls the local session's predicted view (Session.PredictedView)
// and pushes every new predicted state to the World: a further tick, or a
// rollback's correction. It also submits the local input on the clock:
// with no input delay the input for a tick must be in before that tick is
// signed, and waiting for agreed ticks (run) would miss ticks whenever
// they arrive in bursts.
func (l *Live) predict(ctx context.Context, p *peer, every time.Duration) {
	defer l.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	var last Frame
	have := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.submitNow(p, true)
		var f Frame
		ok := false
		p.sess.PredictedView(func(g gamestate.Game, _ uint64) {
			if a, isArena := g.(*arena.Arena); isArena {
				f, ok = Capture(a), true
			}
		})
		if ok && !(have && f.Equal(last)) {
			l.World.PushPredicted(f)
			last, have = f, true
		}
	}
}

// predictionFigures are the network panel's prediction figures from the
// local session's statistics (on its run goroutine, which owns rollRate).
func (l *Live) predictionFigures(st paxsync.Stats) prediction.Figures {
	if !l.prediction {
		return prediction.Figures{}
	}
	return prediction.FiguresOf(st, &l.rollRate, time.Now())
}
