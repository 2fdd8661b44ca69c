package paxsync

import (
	"context"
	"io"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/internal/lockstep"
	"github.com/paxsync/paxsync/netp2p"
)

// longMatch is how long TestLongMatchMemoryBounded plays. Pubsub sweeps
// its seen-message caches a minute after it starts and every minute
// after: at 70 s a cache that forgets an ID after netp2p's 5 s holds the
// IDs of the last ~15 s, fewer than at a quarter of the match (17.5 s),
// while one that keeps them 120 s (pubsub's default) holds four times as
// many.
const longMatch = 70 * time.Second

// TestLongMatchMemoryBounded plays a clean 4-seat arena match at 60 Hz
// over loopback libp2p (replay recorded, bots submitting every tick) and
// counts, at a quarter of the match and at its end, every structure a
// peer keeps that could grow with the match: the session's per-tick maps,
// the pool's maps and queues, the engine's lists and pubsub's seen-message
// caches (counted inside go-libp2p-pubsub by reflection). After warm-up
// none may grow with the match's length: each count at the end must be at
// most twice its count at a quarter plus a small slack (a structure that
// grows with the match holds about four times as much by then). The replay
// recorder's buffer must hold no more than its largest record. Counts, not heap bytes, so the test is not
// flaky; the heap is logged for information (docs/BENCHMARKS.md, "Memory
// over a long match", has the real 15-minute figures).
func TestLongMatchMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("plays a 70 s match")
	}
	if raceEnabled {
		// Four peers in one process under the race detector play too few
		// ticks for the counts to warm up; make e2e runs it without -race.
		t.Skip("plays a 70 s match in real time: run without -race (make e2e)")
	}
	const n = 4
	sess, recs, start := playLongMatch(t, n)
	sample := func(at time.Duration) ([]map[string]int, uint64) {
		time.Sleep(time.Until(start.Add(at)))
		out := make([]map[string]int, n)
		for i, s := range sess {
			out[i] = memoryCounts(t, s)
		}
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		tick := sess[0].Stats().DecidedTicks
		t.Logf("t=%v: tick %d, heap in use %.1f MB (4 peers), seat 0: %v", at, tick, float64(ms.HeapInuse)/1e6, out[0])
		return out, tick
	}
	early, earlyTick := sample(longMatch / 4)
	if earlyTick < 2*lockstep.ReplayAge {
		// The pool and the latency ring fill over their first hundreds
		// of ticks: counted before that, they would seem to grow. Four
		// peers in one process under the race detector run this slowly.
		t.Skipf("only %d ticks in %v (race detector or an overloaded machine): too few for the counts to have warmed up", earlyTick, longMatch/4)
	}
	late, lateTick := sample(longMatch)
	if lateTick < 2*earlyTick {
		t.Fatalf("the match did not keep its pace: tick %d at %v, %d at %v", earlyTick, longMatch/4, lateTick, longMatch)
	}
	const slack = 64
	for i := range sess {
		// The replay writer's buffer is as large as the largest record
		// it framed: it cannot grow with the match, but it does jump
		// when a peer that fell behind under load records the
		// checkpoint it caught up from (a snapshot, kilobytes). Its
		// bound is that record, not its size at a quarter.
		if b, most := late[i]["replay.buf"], recs[i].largest.Load(); int64(b) > 2*most+slack {
			t.Errorf("seat %d: the replay buffer holds %d bytes, more than twice the largest record written (%d)", i, b, most)
		}
		for k, e := range early[i] {
			if k == "replay.buf" {
				continue
			}
			if l := late[i][k]; l > 2*e+slack {
				t.Errorf("seat %d: %s grew with the match: %d at tick %d, %d at tick %d", i, k, e, earlyTick, l, lateTick)
			}
		}
		if recs[i].n.Load() == 0 {
			t.Errorf("seat %d recorded no replay", i)
		}
	}
}

// playLongMatch starts a clean n-seat arena match at 60 Hz over loopback
// libp2p, every seat recording its replay and played by a bot, and returns
// the sessions, their replay writers and when play started. Cleanup stops
// the bots and closes the sessions.
func playLongMatch(t *testing.T, n int) ([]*Session, []*countingWriter, time.Time) {
	t.Helper()
	keys, roster := testRoster(t, n)
	params := arena.Params(n, 7)
	recs := make([]*countingWriter, n)
	sess := joinLoopback(t, n, func(i int) Config {
		recs[i] = &countingWriter{}
		return Config{Key: keys[i], MatchName: "long-match", Roster: roster, GameParams: params, TickRate: 60,
			NewGame: func() (gamestate.Game, error) { return arena.FromParams(params) },
			WALDir:  MemoryWAL, Record: recs[i]}
	})
	start := time.Now()
	playBots(t, sess, 7, nil)
	return sess, recs, start
}

// joinLoopback joins n sessions over loopback libp2p, seat i with
// cfg(i) (its ListenAddrs and Peers set here: each later seat dials the
// earlier ones). Cleanup closes them.
func joinLoopback(t *testing.T, n int, cfg func(i int) Config) []*Session {
	t.Helper()
	sess := make([]*Session, n)
	var addrs []string
	for i := range sess {
		c := cfg(i)
		c.Network.ListenAddrs, c.Network.Peers = []string{"/ip4/127.0.0.1/tcp/0"}, addrs
		s, err := Join(context.Background(), c)
		if err != nil {
			t.Fatalf("join %d: %v", i, err)
		}
		t.Cleanup(func() { s.Close() })
		sess[i] = s
		addrs = append(addrs, s.Addrs()...)
	}
	return sess
}

// playBots plays every session with an arena bot of seed until cleanup;
// onTick, if set, sees each seat's TickEvents.
func playBots(t *testing.T, sess []*Session, seed uint64, onTick func(seat int, te TickEvent)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, s := range sess {
		wg.Add(1)
		go func() {
			defer wg.Done()
			playBot(ctx, s, arena.NewBot(i, seed), func(te TickEvent) {
				if onTick != nil {
					onTick(i, te)
				}
			})
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// playBot submits a bot's input every applied tick until ctx ends,
// passing each TickEvent to onTick first.
func playBot(ctx context.Context, s *Session, bot *arena.Bot, onTick func(TickEvent)) {
	events := s.Events()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			te, tick := ev.(TickEvent)
			if !tick {
				continue
			}
			onTick(te)
			at := s.InputTick()
			var in []byte
			s.View(func(g gamestate.Game, _ uint64) { in = bot.Input(g.(*arena.Arena), at) })
			_ = s.SubmitInputAt(at, in)
		}
	}
}

// memoryCounts counts the entries of everything s keeps that could grow
// with the match, each structure under the lock that guards it. (The
// commit-latency ring is left out: a fixed array by construction, it
// fills over its first 1024 own inputs, which may be after N/4.)
func memoryCounts(t *testing.T, s *Session) map[string]int {
	t.Helper()
	var c map[string]int
	s.read(func() { // on the runtime goroutine, which owns the core
		core := reflect.ValueOf(s.core)
		p := unexported(t, core, "pool")
		eng := unexported(t, core, "engine")
		n := func(v reflect.Value, name string) int { return unexported(t, v, name).Len() }
		c = map[string]int{
			"signedAt": n(core, "signedAt"), "obsLast": n(core, "obsLast"),
			"observations": n(core, "observations"), "verdicts": n(core, "verdicts"),
			"pool.inputs": n(p, "inputs"), "pool.seen": n(p, "seen"), "pool.hashes": n(p, "hashes"),
			"pool.evidence": n(p, "evidence"), "pool.evKeys": n(p, "evKeys"), "pool.commits": n(p, "commits"),
			"pool.ordered": n(p, "ordered"), "pool.sent": n(p, "sent"), "pool.own": n(p, "own"), "pool.skips": n(p, "skips"),
			"engine.seen": n(eng, "seen"), "engine.own": n(eng, "own"), "engine.commits": n(eng, "commits"),
		}
		if rec := unexported(t, unexported(t, core, "cfg"), "Record"); !rec.IsNil() {
			c["replay.buf"] = unexported(t, rec, "buf").Cap()
		}
	})
	box := reflect.ValueOf(s.inputs)
	mu := unexported(t, box, "mu").Addr().Interface().(sync.Locker)
	mu.Lock()
	c["pendingIn"] = unexported(t, box, "pending").Len()
	mu.Unlock()
	c["pubsub.seen"] = pubsubSeen(t, s.tr.(*netp2p.Host))
	return c
}

// pubsubSeen is the number of message IDs in the seen and delivered caches
// of h's go-libp2p-pubsub (timecache.FirstSeenCache: a map guarded by a
// lock), read by reflection under the cache's own lock.
func pubsubSeen(t *testing.T, h *netp2p.Host) int {
	t.Helper()
	ps := unexported(t, reflect.ValueOf(h), "ps")
	total := 0
	for _, name := range []string{"seenMessages", "deliveredMessages"} {
		tc := unexported(t, ps, name)
		lk, ok := unexported(t, tc, "lk").Addr().Interface().(sync.Locker)
		if !ok {
			t.Fatalf("pubsub %s: lock is not a sync.Locker (update this probe)", name)
		}
		lk.Lock()
		total += unexported(t, tc, "m").Len()
		lk.Unlock()
	}
	return total
}

// unexported returns field name of the struct v is (or points to, through
// pointers and interfaces), readable even when unexported. A field that is
// gone (a dependency changed) fails the test rather than passing it.
func unexported(t *testing.T, v reflect.Value, name string) reflect.Value {
	t.Helper()
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		t.Fatalf("probe %q: %v is not a struct", name, v.Type())
	}
	f := v.FieldByName(name)
	if !f.IsValid() || !f.CanAddr() {
		t.Fatalf("%v has no field %q any more: update this probe", v.Type(), name)
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
}

// countingWriter is a replay destination that keeps nothing: it counts
// the bytes written and the largest single write (one record).
type countingWriter struct{ n, largest atomic.Int64 }

func (w *countingWriter) Write(b []byte) (int, error) {
	w.n.Add(int64(len(b)))
	for m := w.largest.Load(); int64(len(b)) > m && !w.largest.CompareAndSwap(m, int64(len(b))); m = w.largest.Load() {
	}
	return len(b), nil
}

var _ io.Writer = (*countingWriter)(nil)
