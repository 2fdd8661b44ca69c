package transporttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/transport"
	"github.com/paxsync/paxsync/wire"
)

// Seats is the size of the match each check opens.
const Seats = 3

// Opener opens one endpoint per seat of m, in seat order, each with
// m.Params(seat) (and whatever else the transport needs, such as
// m.Keys[seat] and the other endpoints' addresses), and closes them when t
// ends (Close must be idempotent: some checks close endpoints themselves).
// Run waits, bounded, until every endpoint reaches every other.
type Opener func(t *testing.T, m *Match) []transport.Transport

// Run runs every check as a subtest of t, each on a match of its own
// (named after t and the check) opened by open.
func Run(t *testing.T, open Opener) {
	checks := []struct {
		name string
		fn   func(t *testing.T, m *Match, eps []transport.Transport)
	}{
		{"Broadcast", checkBroadcast},
		{"Send", checkSend},
		{"Forged", checkForged},
		{"Sync", checkSync},
		{"SendLast", checkSendLast},
		{"Events", checkEvents},
		{"Partition", checkPartition},
		{"Meter", checkMeter},
		{"Addresser", checkAddresser},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			m := NewMatch(t, t.Name(), Seats)
			eps := open(t, m)
			if len(eps) != Seats {
				t.Fatalf("opener returned %d endpoints for %d seats", len(eps), Seats)
			}
			for i, ep := range eps {
				Eventually(t, fmt.Sprintf("seat %d to reach every other seat", i), func() bool {
					return slices.Equal(sorted(ep.Reachable()), Others(Seats, i))
				})
			}
			c.fn(t, m, eps)
		})
	}
}

func sorted(s []int) []int { s = slices.Clone(s); slices.Sort(s); return s }

func ctxWait(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	t.Cleanup(cancel)
	return ctx
}

// checkBroadcast: every seat's broadcast reaches every other seat, once,
// and not its sender.
func checkBroadcast(t *testing.T, m *Match, eps []transport.Transport) {
	for i, ep := range eps {
		if err := ep.Broadcast(m.Signer(i).Sign(wire.TypeInput, fmt.Appendf(nil, "hello from %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i, ep := range eps {
		got := map[uint16]bool{}
		for len(got) < Seats-1 {
			in := Recv(t, ep, fmt.Sprintf("seat %d: broadcasts (got %v)", i, got))
			switch {
			case int(in.Env.Sender) == i:
				t.Fatalf("seat %d received its own broadcast", i)
			case got[in.Env.Sender]:
				t.Fatalf("seat %d received seat %d's broadcast twice", i, in.Env.Sender)
			case in.Direct || in.From < 0 || in.From >= Seats || in.From == i:
				t.Fatalf("seat %d: bad inbound %+v", i, in)
			case string(in.Env.Body) != fmt.Sprintf("hello from %d", in.Env.Sender):
				t.Fatalf("seat %d: body %q", i, in.Env.Body)
			}
			got[in.Env.Sender] = true
		}
		NoRecv(t, ep, fmt.Sprintf("seat %d after every broadcast", i))
	}
}

// checkSend: direct messages reach only their seat, in order, marked
// Direct; a bad seat is refused.
func checkSend(t *testing.T, m *Match, eps []transport.Transport) {
	ctx := ctxWait(t)
	s0 := m.Signer(0)
	const k = 50
	for j := range k {
		if err := eps[0].Send(ctx, 1, s0.Sign(wire.TypePromise, fmt.Append(nil, j))); err != nil {
			t.Fatal(err)
		}
	}
	// A fence on seat 2's own direct path: were any of the messages for
	// seat 1 delivered to it, they would come before the fence.
	if err := eps[0].Send(ctx, 2, s0.Sign(wire.TypePromise, []byte("fence"))); err != nil {
		t.Fatal(err)
	}
	for j := range k {
		in := Recv(t, eps[1], fmt.Sprintf("direct message %d", j))
		if !in.Direct || in.From != 0 || string(in.Env.Body) != fmt.Sprint(j) {
			t.Fatalf("direct message %d: got %+v", j, in)
		}
	}
	if in := Recv(t, eps[2], "the fence"); string(in.Env.Body) != "fence" || !in.Direct {
		t.Fatalf("seat 2 got %q (direct %v) before its own message", in.Env.Body, in.Direct)
	}
	for _, seat := range []int{0, -1, Seats} {
		if err := eps[0].Send(ctx, seat, s0.Sign(wire.TypeInput, nil)); !errors.Is(err, transport.ErrBadSeat) {
			t.Fatalf("send to seat %d: %v, want ErrBadSeat", seat, err)
		}
	}
}

// checkForged: envelopes that do not verify are neither delivered nor
// passed on, and the receiver reports the seat that delivered them.
func checkForged(t *testing.T, m *Match, eps []transport.Transport) {
	ctx := ctxWait(t)
	good := m.Signer(0).Sign(wire.TypeInput, []byte("good"))
	forged := good
	forged.Body = []byte("forged")
	asSeat1 := crypto.NewSigner(m.Keys[0], m.ID, 1).Sign(wire.TypeInput, []byte("seat 0 signing as 1"))
	outsider := crypto.NewSigner(m.Keys[0], m.ID, 7).Sign(wire.TypeInput, []byte("seat 7"))
	unknownType := m.Signer(0).Sign(wire.Type(250), []byte("no such type"))
	otherMatch := crypto.NewSigner(m.Keys[0], crypto.NewMatchID("other", m.Roster), 0).Sign(wire.TypeInput, []byte("other match"))
	cases := []struct {
		name   string
		env    crypto.Envelope
		reason string
	}{
		{"forged body", forged, transport.ReasonBadSignature},
		{"another seat's signature", asSeat1, transport.ReasonBadSignature},
		{"another match", otherMatch, transport.ReasonBadSignature},
		{"seat outside the roster", outsider, transport.ReasonNotMember},
		{"unknown type", unknownType, transport.ReasonMalformed},
	}
	for _, tc := range cases {
		if err := eps[0].Send(ctx, 1, tc.env); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		ev := WaitEvent(t, eps[1], tc.name+" reported", func(ev transport.Event) bool { return ev.Kind == transport.EventInvalid })
		if ev.Seat != 0 || ev.Reason != tc.reason {
			t.Fatalf("%s: event %v, want seat 0 reason %s", tc.name, ev, tc.reason)
		}
	}
	// The direct path keeps order: had anything refused been delivered,
	// it would come before this.
	if err := eps[0].Send(ctx, 1, good); err != nil {
		t.Fatal(err)
	}
	if in := Recv(t, eps[1], "the good message"); string(in.Env.Body) != "good" {
		t.Fatalf("delivered %q before the good message", in.Env.Body)
	}
	// The same over broadcast, which need not keep order: nothing but the
	// good message may arrive.
	if err := eps[0].Broadcast(forged); err != nil {
		t.Fatal(err)
	}
	for _, ep := range eps[1:] {
		ev := WaitEvent(t, ep, "forged broadcast reported", func(ev transport.Event) bool { return ev.Kind == transport.EventInvalid })
		if ev.Seat != 0 || ev.Reason != transport.ReasonBadSignature {
			t.Fatalf("forged broadcast: event %v", ev)
		}
	}
	good2 := m.Signer(0).Sign(wire.TypeInput, []byte("good 2"))
	if err := eps[0].Broadcast(good2); err != nil {
		t.Fatal(err)
	}
	for i, ep := range eps[1:] {
		if in := Recv(t, ep, "the good broadcast"); string(in.Env.Body) != "good 2" {
			t.Fatalf("seat %d: delivered %q", i+1, in.Env.Body)
		}
		NoRecv(t, ep, "after the good broadcast")
	}
}

// checkSync: a request reaches the seat's handler with the requester's
// seat and its answer comes back; errors come back as errors, and a
// request to a handler that never answers ends with its context.
func checkSync(t *testing.T, m *Match, eps []transport.Transport) {
	ctx := ctxWait(t)
	eps[2].HandleSync(func(from int, req []byte) ([]byte, error) {
		if string(req) == "fail" {
			return nil, errors.New("no state")
		}
		return append(fmt.Appendf(nil, "seat %d asked: ", from), req...), nil
	})
	if resp, err := eps[0].RequestSync(ctx, 2, []byte("from 5")); err != nil || string(resp) != "seat 0 asked: from 5" {
		t.Fatalf("sync: %q %v", resp, err)
	}
	if resp, err := eps[1].RequestSync(ctx, 2, []byte("x")); err != nil || string(resp) != "seat 1 asked: x" {
		t.Fatalf("sync from seat 1: %q %v", resp, err)
	}
	if _, err := eps[0].RequestSync(ctx, 2, []byte("fail")); err == nil {
		t.Fatal("the handler's error was not returned")
	}
	if _, err := eps[0].RequestSync(ctx, 1, []byte("x")); err == nil {
		t.Fatal("a seat without a handler answered")
	}
	if _, err := eps[0].RequestSync(ctx, 0, []byte("x")); !errors.Is(err, transport.ErrBadSeat) {
		t.Fatalf("sync with own seat: %v, want ErrBadSeat", err)
	}
	release := make(chan struct{})
	defer close(release) // before the endpoints close (t.Cleanup)
	entered := make(chan struct{}, 1)
	eps[2].HandleSync(func(int, []byte) ([]byte, error) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		return nil, nil
	})
	short, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := eps[0].RequestSync(short, 2, []byte("slow")); done <- err }()
	select {
	case <-entered: // the request is being served: now its context ends
	case <-ctx.Done():
		t.Fatal("the slow handler was never called")
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a request whose context ended succeeded")
		}
	case <-ctx.Done():
		t.Fatal("a request to a handler that never answers outlived its context")
	}
}

// checkSendLast: messages sent before SendLast, and SendLast's own, are all
// delivered in order even though the sender closes right after.
func checkSendLast(t *testing.T, m *Match, eps []transport.Transport) {
	ctx := ctxWait(t)
	s0 := m.Signer(0)
	const k = 20
	for j := range k {
		if err := eps[0].Send(ctx, 1, s0.Sign(wire.TypePromise, fmt.Append(nil, j))); err != nil {
			t.Fatal(err)
		}
	}
	if err := eps[0].SendLast(ctx, 1, s0.Sign(wire.TypeLeave, []byte("last"))); err != nil {
		t.Fatal(err)
	}
	if err := eps[0].Close(); err != nil {
		t.Fatal(err)
	}
	for j := range k {
		if in := Recv(t, eps[1], fmt.Sprintf("message %d", j)); string(in.Env.Body) != fmt.Sprint(j) {
			t.Fatalf("message %d: got %q", j, in.Env.Body)
		}
	}
	if in := Recv(t, eps[1], "the last message"); string(in.Env.Body) != "last" || !in.Direct || in.From != 0 {
		t.Fatalf("last message: got %+v", in)
	}
	if err := eps[0].Broadcast(s0.Sign(wire.TypeInput, []byte("after close"))); err == nil {
		t.Fatal("a closed endpoint broadcast")
	}
}

// checkEvents: every seat reports every other as connected, and a closed
// seat as disconnected, with Missing naming it.
func checkEvents(t *testing.T, _ *Match, eps []transport.Transport) {
	for i, ep := range eps {
		seen := map[int]bool{}
		for len(seen) < Seats-1 {
			ev := WaitEvent(t, ep, fmt.Sprintf("seat %d: connections (saw %v)", i, seen), func(ev transport.Event) bool {
				return ev.Kind == transport.EventConnected
			})
			if ev.Seat < 0 || ev.Seat >= Seats || ev.Seat == i || ev.Peer == "" {
				t.Fatalf("seat %d: %v", i, ev)
			}
			seen[ev.Seat] = true
		}
	}
	if err := eps[2].Close(); err != nil {
		t.Fatal(err)
	}
	if err := eps[2].Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for i, ep := range eps[:2] {
		ev := WaitEvent(t, ep, fmt.Sprintf("seat %d: seat 2 disconnected", i), func(ev transport.Event) bool {
			return ev.Kind == transport.EventDisconnected && ev.Seat == 2
		})
		if !slices.Contains(ev.Missing, 2) || slices.Contains(ev.Missing, i) {
			t.Fatalf("seat %d: %v", i, ev)
		}
		Eventually(t, "seat 2 unreachable", func() bool { return !slices.Contains(ep.Reachable(), 2) })
	}
}
