package driver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// logApp is a test application: its state is the decided log itself, as
// "slot digest" lines, so a snapshot restores the whole log.
type logApp struct {
	mu    sync.Mutex
	lines []string
	bad   string
}

func (a *logApp) apply(e bft.Entry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if int(e.Slot) != len(a.lines)+1 && a.bad == "" {
		a.bad = fmt.Sprintf("slot %d delivered after %d", e.Slot, len(a.lines))
	}
	a.lines = append(a.lines, fmt.Sprintf("%d %s", e.Slot, crypto.Sum(e.Payload).Hex()))
}

func (a *logApp) snapshot(slot uint64) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return []byte(strings.Join(a.lines[:slot], "\n"))
}

func (a *logApp) restore(s *bft.Snapshot) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lines = nil
	if len(s.Data) > 0 {
		a.lines = strings.Split(string(s.Data), "\n")
	}
}

func (a *logApp) get() ([]string, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.lines), a.bad
}

type rig struct {
	t      *testing.T
	net    *MemNetwork
	keys   []*crypto.PrivateKey
	roster []crypto.PublicKey
	match  crypto.MatchID
	apps   []*logApp
	wals   []*MemWAL
	drv    []*Driver
	// Optional per-seat overrides, read by start: the WAL (and the records
	// to restore from), the transport, the idle sync poll.
	walOf       func(i int) (WAL, []bft.Record)
	transportOf func(i int) Transport
	syncPoll    time.Duration
	cancel      []context.CancelFunc
	done        []chan error
}

func newRig(t *testing.T, n int, opts ...func(r *rig)) *rig {
	r := &rig{t: t, net: NewMemNetwork(n)}
	for _, o := range opts {
		o(r)
	}
	for i := 0; i < n; i++ {
		seed := make([]byte, 32)
		seed[0] = byte(i + 1)
		k, _ := crypto.KeyFromSeed(seed)
		r.keys = append(r.keys, k)
		r.roster = append(r.roster, k.Public())
	}
	r.match = crypto.NewMatchID("driver-test", r.roster)
	r.apps = make([]*logApp, n)
	r.wals = make([]*MemWAL, n)
	r.drv = make([]*Driver, n)
	r.cancel = make([]context.CancelFunc, n)
	r.done = make([]chan error, n)
	for i := 0; i < n; i++ {
		r.wals[i] = &MemWAL{}
		r.start(i, false)
	}
	t.Cleanup(func() {
		for i := range r.drv {
			r.stop(i)
		}
		r.net.Close()
	})
	return r
}

func (r *rig) start(i int, restart bool) {
	n := len(r.keys)
	var w WAL = r.wals[i]
	restored := r.wals[i].Records()
	if r.walOf != nil {
		w, restored = r.walOf(i)
	}
	var tr Transport = r.net.Endpoint(i)
	if r.transportOf != nil {
		tr = r.transportOf(i)
	}
	node, err := bft.NewNode(bft.Config{
		Seat: uint16(i), N: n, F: (n - 1) / 3,
		Signer:             crypto.NewSigner(r.keys[i], r.match, uint16(i)),
		Verifier:           crypto.NewVerifier(r.match, r.roster),
		CheckpointInterval: 16, Window: 8,
		// A generous view timeout (1 s at 10 ms ticks): these tests are
		// about the driver, and a view change caused by a slow -race run
		// on a busy machine would only make them wait.
		ViewTimeoutTicks: 100,
	}, restored)
	if err != nil {
		r.t.Fatal(err)
	}
	app := &logApp{}
	r.apps[i] = app
	d, err := New(Config{
		Node: node, Seat: i, N: n, Transport: tr, WAL: w,
		TickInterval: 10 * time.Millisecond, Apply: app.apply, Snapshot: app.snapshot, Restore: app.restore,
		SyncOnStart: restart, SyncPoll: r.syncPoll,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.drv[i], r.cancel[i], r.done[i] = d, cancel, make(chan error, 1)
	go func() { r.done[i] <- d.Run(ctx) }()
}

func (r *rig) stop(i int) {
	if r.cancel[i] == nil {
		return
	}
	r.cancel[i]()
	if err := <-r.done[i]; err != nil {
		r.t.Errorf("driver %d: %v", i, err)
	}
	r.cancel[i] = nil
}

func (r *rig) propose(from, to int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leader := 0
	for k := from; k < to; k++ {
		err := r.drv[leader].Propose(ctx, []byte(fmt.Sprintf("value-%d", k)))
		if errors.Is(err, bft.ErrNotLeader) {
			// The view changed anyway: follow the new leader.
			st, serr := r.drv[leader].Status(ctx)
			if serr != nil {
				r.t.Fatalf("status: %v", serr)
			}
			leader = int(st.Leader)
			time.Sleep(10 * time.Millisecond) // a view change may still be in progress
			k--
			continue
		}
		if err != nil {
			r.t.Fatalf("propose %d: %v", k, err)
		}
	}
}

func (r *rig) waitLogs(seats []int, n int) [][]string {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var logs [][]string
		ok := true
		for _, i := range seats {
			l, bad := r.apps[i].get()
			if bad != "" {
				r.t.Fatalf("seat %d: %s", i, bad)
			}
			logs = append(logs, l)
			ok = ok && len(l) >= n
		}
		if ok {
			return logs
		}
		if time.Now().After(deadline) {
			for k, i := range seats {
				r.t.Logf("seat %d has %d entries", i, len(logs[k]))
			}
			r.t.Fatalf("timed out waiting for %d entries", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sameLogs(t *testing.T, logs [][]string, n int) {
	t.Helper()
	for i := range logs {
		if !slices.Equal(logs[i][:n], logs[0][:n]) {
			t.Fatalf("log %d differs from log 0:\n%v\n%v", i, logs[i][:n], logs[0][:n])
		}
	}
	for k := 0; k < n; k++ {
		if !strings.HasPrefix(logs[0][k], fmt.Sprintf("%d ", k+1)) {
			t.Fatalf("entry %d is %q", k, logs[0][k])
		}
	}
}

func TestFourNodesAgree(t *testing.T) {
	r := newRig(t, 4)
	r.propose(0, 60) // more than the window: exercises the proposal queue
	logs := r.waitLogs([]int{0, 1, 2, 3}, 60)
	sameLogs(t, logs, 60)
	want := crypto.Sum([]byte("value-59")).Hex()
	if !strings.HasSuffix(logs[0][59], want) {
		t.Fatalf("last entry %q, want value-59", logs[0][59])
	}
	if err := r.drv[1].Propose(context.Background(), []byte("x")); err == nil {
		t.Fatal("a follower accepted a proposal")
	}
}

func TestRestartCatchesUp(t *testing.T) {
	r := newRig(t, 4)
	r.propose(0, 20)
	r.waitLogs([]int{0, 1, 2, 3}, 20)
	// Seat 3 crashes: its process (driver, inbound queue) is gone, its WAL
	// survives. The other three keep deciding without it.
	r.stop(3)
	r.net.Isolate(3, true)
	r.propose(20, 70)
	r.waitLogs([]int{0, 1, 2}, 70)
	r.net.Reset(3)
	r.net.Isolate(3, false)
	r.start(3, true)
	logs := r.waitLogs([]int{0, 1, 2, 3}, 70)
	sameLogs(t, logs, 70)
	if st := r.drv[3].Stats(); st.SyncsApplied == 0 {
		t.Fatalf("seat 3 caught up without a sync: %+v", st)
	}
}

func TestStatusAndStop(t *testing.T) {
	r := newRig(t, 4)
	r.propose(0, 3)
	r.waitLogs([]int{0}, 3)
	st, err := r.drv[0].Status(context.Background())
	if err != nil || !st.IsLeader || st.Committed < 3 {
		t.Fatalf("status %+v %v", st, err)
	}
	r.stop(0)
	if err := r.drv[0].Propose(context.Background(), []byte("late")); err != ErrStopped {
		t.Fatalf("propose after stop: %v", err)
	}
}

// A node that misses the last decisions while nothing later is decided
// (so bft sees no gap) still catches up, through the driver's idle poll.
func TestIdlePollRecoversMissedDecision(t *testing.T) {
	r := newRig(t, 4)
	r.propose(0, 5)
	r.waitLogs([]int{0, 1, 2, 3}, 5)
	r.net.Isolate(3, true)
	r.propose(5, 6)
	r.waitLogs([]int{0, 1, 2}, 6)
	time.Sleep(300 * time.Millisecond) // let the others stop re-sending
	r.net.Isolate(3, false)
	logs := r.waitLogs([]int{0, 1, 2, 3}, 6)
	sameLogs(t, logs, 6)
	if st := r.drv[3].Stats(); st.SyncsApplied == 0 {
		t.Fatalf("seat 3 recovered without a sync: %+v", st)
	}
}

// badSyncPeer is seat's transport with one Byzantine or broken sync
// responder: requests to bad are answered according to mode. It records
// the order in which peers were asked.
type badSyncPeer struct {
	Transport
	bad  int
	mode string

	mu    sync.Mutex
	asked []int
}

func (b *badSyncPeer) RequestSync(ctx context.Context, seat int, req []byte) ([]byte, error) {
	b.mu.Lock()
	b.asked = append(b.asked, seat)
	b.mu.Unlock()
	if seat != b.bad {
		return b.Transport.RequestSync(ctx, seat, req)
	}
	switch b.mode {
	case "error":
		return nil, errors.New("sync stream reset")
	case "garbage":
		return []byte("\x03\xffthis is not a sync state"), nil
	}
	// "forged": the responder's real state with its content altered, so it
	// decodes but its proofs fail.
	resp, err := b.Transport.RequestSync(ctx, seat, req)
	if err != nil || len(resp) == 0 {
		return resp, err
	}
	st, err := bft.DecodeSyncState(resp)
	if err != nil {
		return nil, err
	}
	if st.Snapshot != nil {
		st.Snapshot = append(st.Snapshot, " tampered"...)
	} else {
		st.Entries[0].Value = append(st.Entries[0].Value, 'x')
	}
	return bft.EncodeSyncState(st), nil
}

func (b *badSyncPeer) order() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.asked)
}

// A restarted node whose first sync peer fails, serves garbage or serves a
// forged state asks the next peer in the same attempt, not at the next idle
// poll (disabled here, and the cluster is idle, so nothing else would
// start another attempt).
func TestSyncSkipsBadResponder(t *testing.T) {
	for _, mode := range []string{"forged", "garbage", "error"} {
		t.Run(mode, func(t *testing.T) {
			var bad *badSyncPeer
			r := newRig(t, 4, func(r *rig) {
				r.syncPoll = -1
				r.transportOf = func(i int) Transport {
					if i != 3 {
						return r.net.Endpoint(i)
					}
					// Seat 3's first sync peer is seat 0 (the next seat).
					bad = &badSyncPeer{Transport: r.net.Endpoint(3), bad: 0, mode: mode}
					return bad
				}
			})
			r.propose(0, 20)
			r.waitLogs([]int{0, 1, 2, 3}, 20)
			r.stop(3)
			r.net.Isolate(3, true)
			r.propose(20, 70)
			r.waitLogs([]int{0, 1, 2}, 70)
			r.net.Reset(3)
			r.net.Isolate(3, false)
			r.start(3, true)
			logs := r.waitLogs([]int{0, 1, 2, 3}, 70)
			sameLogs(t, logs, 70)
			asked := bad.order()
			if len(asked) < 2 || asked[0] != 0 || asked[1] != 1 {
				t.Fatalf("sync requests went to %v, want seat 0 then at once seat 1", asked)
			}
			st := r.drv[3].Stats()
			wantErrs := uint64(1)
			if mode == "error" {
				wantErrs = 0 // a failed request has no answer to reject
			}
			if st.SyncsApplied == 0 || st.SyncErrs < wantErrs || st.SyncShunned < wantErrs {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// A seat whose sync answer did not verify is passed over by later
// attempts until its back-off ends (1 s, doubling per bad answer, at most a
// minute), even when the node names it as the one ahead: a liar that
// claims slots nobody else has would otherwise be asked first by every
// attempt. An answer that applies ends the back-off; so does time.
func TestSyncBacksOffBadResponder(t *testing.T) {
	now := time.Unix(1000, 0)
	d := &Driver{cfg: Config{N: 4, Seat: 3}, syncPeer: 0, now: func() time.Time { return now }, shun: map[int]shunned{}}
	liar := &bft.SyncNeed{From: 50, Peers: []uint16{2}}
	if got := d.syncOrder(liar); !slices.Equal(got, []int{2, 0, 1}) {
		t.Fatalf("order %v, want the seat ahead first", got)
	}
	d.penalize(2)
	if got := d.syncOrder(liar); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("order %v right after a bad answer from seat 2", got)
	}
	now = now.Add(syncShunFirst)
	if got := d.syncOrder(liar); !slices.Equal(got, []int{2, 0, 1}) {
		t.Fatalf("order %v after the first back-off ended", got)
	}
	waits := []time.Duration{}
	for k := 0; k < 10; k++ {
		d.penalize(2)
		waits = append(waits, d.shun[2].wait)
	}
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second,
		time.Minute, time.Minute, time.Minute, time.Minute, time.Minute}
	if !slices.Equal(waits, want) {
		t.Fatalf("back-offs %v, want %v", waits, want)
	}
	now = now.Add(59 * time.Second)
	if got := d.syncOrder(liar); slices.Contains(got, 2) {
		t.Fatalf("order %v asks seat 2 inside its one-minute back-off", got)
	}
	d.forgive(2)
	if got := d.syncOrder(liar); !slices.Equal(got, []int{2, 0, 1}) {
		t.Fatalf("order %v after seat 2's answer applied", got)
	}
}
