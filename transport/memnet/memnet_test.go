package memnet_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/transport"
	"github.com/paxsync/paxsync/transport/memnet"
	tt "github.com/paxsync/paxsync/transport/transporttest"
	"github.com/paxsync/paxsync/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// open opens every seat of m on nw and closes them when t ends.
func open(t *testing.T, nw *memnet.Network, m *tt.Match) []*memnet.Endpoint {
	t.Helper()
	var eps []*memnet.Endpoint
	for i := range m.Roster {
		ep, err := nw.OpenEndpoint(context.Background(), m.Params(i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ep.Close() })
		eps = append(eps, ep)
	}
	return eps
}

func newMatch(t *testing.T, n int, opts ...memnet.Option) (*tt.Match, []*memnet.Endpoint) {
	t.Helper()
	m := tt.NewMatch(t, t.Name(), n)
	return m, open(t, memnet.New(opts...), m)
}

func TestConformance(t *testing.T) {
	tt.Run(t, func(t *testing.T, m *tt.Match) []transport.Transport {
		var out []transport.Transport
		for _, ep := range open(t, memnet.New(), m) {
			out = append(out, ep)
		}
		return out
	})
}

func TestFIFOPerPair(t *testing.T) {
	const k = 1000 // two senders' worth fits the default queue: no drops
	m, eps := newMatch(t, 3)
	var wg sync.WaitGroup
	for s := range 2 {
		wg.Go(func() {
			sg := m.Signer(s)
			for j := range k {
				env := sg.Sign(wire.TypeInput, fmt.Append(nil, j))
				var err error
				if j%3 == 0 {
					err = eps[s].Broadcast(env)
				} else {
					err = eps[s].Send(context.Background(), 2, env)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	next := [2]int{}
	for range 2 * k {
		in := tt.Recv(t, eps[2], "messages from seats 0 and 1")
		if got := string(in.Env.Body); got != fmt.Sprint(next[in.From]) {
			t.Fatalf("from seat %d: got %s, want %d", in.From, got, next[in.From])
		}
		next[in.From]++
	}
	wg.Wait()
	for s := range 2 {
		if d := eps[s].Traffic().DroppedOutbound; d != 0 {
			t.Fatalf("seat %d dropped %d", s, d)
		}
	}
}

func TestDeliveryIsACopy(t *testing.T) {
	m, eps := newMatch(t, 3)
	body := []byte("original")
	env := m.Signer(0).Sign(wire.TypeInput, body)
	if err := eps[0].Broadcast(env); err != nil {
		t.Fatal(err)
	}
	copy(body, "mutated!") // the sender reuses its buffer at once
	a := tt.Recv(t, eps[1], "seat 1's copy")
	b := tt.Recv(t, eps[2], "seat 2's copy")
	if string(a.Env.Body) != "original" || string(b.Env.Body) != "original" {
		t.Fatalf("bodies %q %q", a.Env.Body, b.Env.Body)
	}
	a.Env.Body[0] = 'X'
	if string(b.Env.Body) != "original" {
		t.Fatal("two receivers share a body")
	}
}

func TestQueueFullDropsAndCounts(t *testing.T) {
	const queue, k = 16, 200
	m, eps := newMatch(t, 2, memnet.QueueSize(queue))
	sg := m.Signer(0)
	// Nobody reads seat 1: its queue fills and Broadcast must go on
	// returning (a blocked sender would hang the test here).
	for j := range k {
		if err := eps[0].Broadcast(sg.Sign(wire.TypeInput, fmt.Append(nil, j))); err != nil {
			t.Fatal(err)
		}
	}
	err := eps[0].Send(context.Background(), 1, sg.Sign(wire.TypeInput, []byte("direct")))
	if !errors.Is(err, memnet.ErrQueueFull) {
		t.Fatalf("send to a full queue: %v", err)
	}
	dropped := int(eps[0].Traffic().DroppedOutbound)
	// The queue plus the one envelope the pump holds is all that fits.
	if dropped < k+1-(queue+1) {
		t.Fatalf("dropped %d of %d with a queue of %d", dropped, k+1, queue)
	}
	last := -1
	for got := 0; got+dropped < k+1; got++ {
		in := tt.Recv(t, eps[1], fmt.Sprintf("the %d queued messages (got %d)", k+1-dropped, got))
		var j int
		if _, err := fmt.Sscan(string(in.Env.Body), &j); err != nil || j <= last {
			t.Fatalf("got %q after %d", in.Env.Body, last)
		}
		last = j
	}
	tt.NoRecv(t, eps[1], "beyond what was queued")
	if tr := eps[1].Traffic(); int(tr.MsgsIn) != k+1-dropped {
		t.Fatalf("MsgsIn %d, want %d", tr.MsgsIn, k+1-dropped)
	}
	if tr := eps[0].Traffic(); tr.MsgsOut != k {
		t.Fatalf("MsgsOut %d, want %d (the dropped Send is not counted)", tr.MsgsOut, k)
	}
}

func TestSendLastWaitsForRoom(t *testing.T) {
	const queue = 4
	m, eps := newMatch(t, 2, memnet.QueueSize(queue))
	sg := m.Signer(0)
	// One envelope taken by the pump, which then waits for a reader, so
	// that the queue stays full once filled.
	if err := eps[0].Send(context.Background(), 1, sg.Sign(wire.TypeInput, []byte("0"))); err != nil {
		t.Fatal(err)
	}
	tt.Eventually(t, "the pump to take the first envelope", func() bool { return eps[1].Traffic().BytesIn > 0 })
	sent := 1
	for ; ; sent++ {
		err := eps[0].Send(context.Background(), 1, sg.Sign(wire.TypeInput, fmt.Append(nil, sent)))
		if errors.Is(err, memnet.ErrQueueFull) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if sent > 10*queue {
			t.Fatal("the queue never filled")
		}
	}
	// Full and nobody reading: SendLast waits for room until its context
	// ends, and then gives up.
	ctx, cancel := context.WithTimeout(context.Background(), tt.Quiet)
	defer cancel()
	if err := eps[0].SendLast(ctx, 1, sg.Sign(wire.TypeLeave, []byte("never"))); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SendLast to a full queue: %v, want the context's deadline", err)
	}
	done := make(chan error, 1)
	go func() { done <- eps[0].SendLast(context.Background(), 1, sg.Sign(wire.TypeLeave, []byte("last"))) }()
	for j := range sent {
		if in := tt.Recv(t, eps[1], "queued messages"); string(in.Env.Body) != fmt.Sprint(j) {
			t.Fatalf("message %d: %q", j, in.Env.Body)
		}
	}
	if in := tt.Recv(t, eps[1], "the last message"); string(in.Env.Body) != "last" {
		t.Fatalf("last: %q", in.Env.Body)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	eps[0].Cut(1)
	if err := eps[0].SendLast(context.Background(), 1, sg.Sign(wire.TypeLeave, nil)); !errors.Is(err, transport.ErrCut) {
		t.Fatalf("SendLast across a cut: %v", err)
	}
	eps[0].Heal(1)
	eps[1].Close()
	if err := eps[0].SendLast(context.Background(), 1, sg.Sign(wire.TypeLeave, nil)); !errors.Is(err, memnet.ErrNotOpen) {
		t.Fatalf("SendLast to a closed seat: %v", err)
	}
}

func TestCutAndHeal(t *testing.T) {
	m, eps := newMatch(t, 3)
	drainEvents(eps...)
	eps[0].Cut(1, 0, 7, -1) // own and invalid seats are ignored
	for _, pair := range [][2]int{{0, 1}, {1, 0}} {
		ev := tt.WaitEvent(t, eps[pair[0]], "disconnected", func(ev transport.Event) bool { return true })
		if ev.Kind != transport.EventDisconnected || ev.Seat != pair[1] || !slices.Equal(ev.Missing, []int{pair[1]}) {
			t.Fatalf("seat %d: %v", pair[0], ev)
		}
	}
	if r := eps[0].Reachable(); !slices.Equal(r, []int{2}) {
		t.Fatalf("seat 0 reaches %v", r)
	}
	// Both directions are cut, not only the one Cut was called on.
	for _, pair := range [][2]int{{0, 1}, {1, 0}} {
		env := m.Signer(pair[0]).Sign(wire.TypeInput, []byte("x"))
		if err := eps[pair[0]].Send(context.Background(), pair[1], env); !errors.Is(err, transport.ErrCut) {
			t.Fatalf("send %d→%d: %v", pair[0], pair[1], err)
		}
		if _, err := eps[pair[0]].RequestSync(context.Background(), pair[1], nil); !errors.Is(err, transport.ErrCut) {
			t.Fatalf("sync %d→%d: %v", pair[0], pair[1], err)
		}
	}
	if err := eps[1].Broadcast(m.Signer(1).Sign(wire.TypeInput, []byte("from 1"))); err != nil {
		t.Fatal(err)
	}
	if in := tt.Recv(t, eps[2], "seat 1's broadcast"); in.From != 1 {
		t.Fatalf("seat 2 got %+v", in)
	}
	eps[1].Cut(0) // both sides cut: one heal is not enough
	eps[0].Heal(1)
	if r := eps[0].Reachable(); !slices.Equal(r, []int{2}) {
		t.Fatalf("healed on one side only, seat 0 reaches %v", r)
	}
	eps[1].Heal(0)
	for _, pair := range [][2]int{{0, 1}, {1, 0}} {
		ev := tt.WaitEvent(t, eps[pair[0]], "connected", func(ev transport.Event) bool { return true })
		if ev.Kind != transport.EventConnected || ev.Seat != pair[1] || len(ev.Missing) != 0 {
			t.Fatalf("seat %d: %v", pair[0], ev)
		}
	}
	if err := eps[1].Send(context.Background(), 0, m.Signer(1).Sign(wire.TypeInput, []byte("back"))); err != nil {
		t.Fatal(err)
	}
	if in := tt.Recv(t, eps[0], "after the heal"); string(in.Env.Body) != "back" {
		t.Fatalf("seat 0 got %q (the broadcast crossed the cut?)", in.Env.Body)
	}
}

func drainEvents(eps ...*memnet.Endpoint) {
	for _, ep := range eps {
		for len(ep.Events()) > 0 {
			<-ep.Events()
		}
	}
}

func TestSyncCopiesAndErrors(t *testing.T) {
	_, eps := newMatch(t, 3)
	var kept []byte
	eps[1].HandleSync(func(from int, req []byte) ([]byte, error) {
		req[0] = 'X' // the handler's copy, not the caller's
		kept = fmt.Appendf(nil, "%d:%s", from, req)
		return kept, nil
	})
	req := []byte("abc")
	resp, err := eps[2].RequestSync(context.Background(), 1, req)
	if err != nil || string(resp) != "2:Xbc" || string(req) != "abc" {
		t.Fatalf("resp %q err %v req %q", resp, err, req)
	}
	kept[0] = '9'
	if string(resp) != "2:Xbc" {
		t.Fatal("the response shares memory with the handler's")
	}
	if _, err := eps[2].RequestSync(context.Background(), 1, make([]byte, memnet.MaxSyncRequest+1)); err == nil {
		t.Fatal("oversize request accepted")
	}
	eps[1].HandleSync(func(int, []byte) ([]byte, error) { return make([]byte, memnet.MaxSyncResponse+1), nil })
	if _, err := eps[2].RequestSync(context.Background(), 1, nil); err == nil {
		t.Fatal("oversize response accepted")
	}
	eps[1].HandleSync(nil)
	if _, err := eps[2].RequestSync(context.Background(), 1, nil); !errors.Is(err, transport.ErrNoHandler) {
		t.Fatalf("removed handler: %v", err)
	}
	eps[1].Close()
	if _, err := eps[2].RequestSync(context.Background(), 1, nil); !errors.Is(err, memnet.ErrNotOpen) {
		t.Fatalf("closed seat: %v", err)
	}
}

func TestReopen(t *testing.T) {
	m := tt.NewMatch(t, t.Name(), 3)
	nw := memnet.New()
	eps := open(t, nw, m)
	if _, err := nw.Open(context.Background(), m.Params(1)); !errors.Is(err, memnet.ErrSeatOpen) {
		t.Fatalf("second open of seat 1: %v", err)
	}
	drainEvents(eps...)
	old := eps[1]
	old.HandleSync(func(int, []byte) ([]byte, error) { return []byte("old"), nil })
	old.Close()
	ev := tt.WaitEvent(t, eps[0], "seat 1 gone", func(ev transport.Event) bool { return true })
	if ev.Kind != transport.EventDisconnected || ev.Seat != 1 || !slices.Equal(ev.Missing, []int{1}) {
		t.Fatalf("%v", ev)
	}
	if err := eps[0].Send(context.Background(), 1, m.Signer(0).Sign(wire.TypeInput, nil)); !errors.Is(err, memnet.ErrNotOpen) {
		t.Fatalf("send to a closed seat: %v", err)
	}
	if err := old.Broadcast(m.Signer(1).Sign(wire.TypeInput, nil)); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("broadcast from a closed endpoint: %v", err)
	}
	if r := old.Reachable(); len(r) != 0 {
		t.Fatalf("closed endpoint reaches %v", r)
	}
	again, err := nw.OpenEndpoint(context.Background(), m.Params(1))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	// The new endpoint hears of both peers, Missing shrinking; they hear
	// of it.
	for _, want := range []struct{ seat, missing int }{{0, 1}, {2, 0}} {
		ev := tt.WaitEvent(t, again, "connected", func(ev transport.Event) bool { return true })
		if ev.Kind != transport.EventConnected || ev.Seat != want.seat || len(ev.Missing) != want.missing {
			t.Fatalf("reopened: %v", ev)
		}
	}
	for _, ep := range []*memnet.Endpoint{eps[0], eps[2]} {
		tt.WaitEvent(t, ep, "seat 1 back", func(ev transport.Event) bool {
			return ev.Kind == transport.EventConnected && ev.Seat == 1 && len(ev.Missing) == 0
		})
	}
	if _, err := eps[0].RequestSync(context.Background(), 1, nil); !errors.Is(err, transport.ErrNoHandler) {
		t.Fatalf("the reopened seat kept the old handler: %v", err)
	}
	if err := eps[0].Broadcast(m.Signer(0).Sign(wire.TypeInput, []byte("welcome back"))); err != nil {
		t.Fatal(err)
	}
	if in := tt.Recv(t, again, "a broadcast"); string(in.Env.Body) != "welcome back" {
		t.Fatalf("got %q", in.Env.Body)
	}
}

func TestOpenErrors(t *testing.T) {
	m := tt.NewMatch(t, t.Name(), 2)
	nw := memnet.New()
	bad := []transport.Params{
		{Seat: 2, Roster: m.Roster, Match: m.ID},
		{Seat: -1, Roster: m.Roster, Match: m.ID},
		{Seat: 0, Match: m.ID},
		{Seat: 0, Roster: m.Roster, Match: m.ID, Verifier: crypto.NewVerifier(crypto.NewMatchID("x", m.Roster), m.Roster)},
	}
	for i, p := range bad {
		if _, err := nw.Open(context.Background(), p); err == nil {
			t.Fatalf("case %d opened", i)
		}
	}
	ep, err := nw.Open(context.Background(), transport.Params{Seat: 0, Roster: m.Roster, Match: m.ID}) // own verifier
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	other := tt.NewMatch(t, "other", 2)
	if _, err := nw.Open(context.Background(), transport.Params{Seat: 1, Roster: other.Roster, Match: m.ID}); err == nil {
		t.Fatal("opened a match ID with another roster")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := nw.Open(ctx, m.Params(1)); err == nil {
		t.Fatal("opened with a cancelled context")
	}
}

func TestContextEndCloses(t *testing.T) {
	m := tt.NewMatch(t, t.Name(), 2)
	nw := memnet.New()
	ep0, err := nw.Open(context.Background(), m.Params(0))
	if err != nil {
		t.Fatal(err)
	}
	defer ep0.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ep1, err := nw.Open(ctx, m.Params(1))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	tt.WaitEvent(t, ep0, "seat 1 closed by its context", func(ev transport.Event) bool {
		return ev.Kind == transport.EventDisconnected && ev.Seat == 1
	})
	if err := ep1.Broadcast(m.Signer(1).Sign(wire.TypeInput, nil)); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("broadcast after the context ended: %v", err)
	}
}
