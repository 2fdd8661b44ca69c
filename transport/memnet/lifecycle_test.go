package memnet_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/transport/memnet"
	tt "github.com/paxsync/paxsync/transport/transporttest"
	"github.com/paxsync/paxsync/wire"
)

func TestEnvelopeSizeIsEncodedSize(t *testing.T) {
	m, eps := newMatch(t, 2)
	for _, n := range []int{0, 1, 127, 128, 300, 20000} {
		env := m.Signer(0).Sign(wire.TypeInput, make([]byte, n))
		out0, in1 := eps[0].Traffic(), eps[1].Traffic()
		if err := eps[0].Send(context.Background(), 1, env); err != nil {
			t.Fatal(err)
		}
		tt.Recv(t, eps[1], "the message")
		want := uint64(len(env.Encode(nil)))
		if got := eps[0].Traffic().Sub(out0).BytesOut; got != want {
			t.Fatalf("body %d: BytesOut %d, want %d", n, got, want)
		}
		if got := eps[1].Traffic().Sub(in1).BytesIn; got != want {
			t.Fatalf("body %d: BytesIn %d, want %d", n, got, want)
		}
	}
}

// TestCloseStopsEverything closes endpoints in every state a goroutine can
// be in (a pump waiting for a reader that never comes, a sync handler
// running, a SendLast waiting for room) and checks that none is left.
func TestCloseStopsEverything(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	m := tt.NewMatch(t, t.Name(), 3)
	nw := memnet.New(memnet.QueueSize(2))
	var eps []*memnet.Endpoint
	for i := range 3 {
		ep, err := nw.OpenEndpoint(context.Background(), m.Params(i))
		if err != nil {
			t.Fatal(err)
		}
		eps = append(eps, ep)
	}
	for j := range 10 { // nobody reads: the pumps block, the queues fill
		_ = eps[0].Broadcast(m.Signer(0).Sign(wire.TypeInput, fmt.Append(nil, j)))
	}
	release := make(chan struct{})
	entered := make(chan struct{})
	eps[2].HandleSync(func(int, []byte) ([]byte, error) { close(entered); <-release; return nil, nil })
	syncDone := make(chan error, 1)
	go func() {
		_, err := eps[1].RequestSync(context.Background(), 2, nil)
		syncDone <- err
	}()
	<-entered
	lastDone := make(chan error, 1)
	go func() { lastDone <- eps[0].SendLast(context.Background(), 1, m.Signer(0).Sign(wire.TypeLeave, nil)) }()
	eps[1].Close() // ends the SendLast waiting for its queue
	if err := <-lastDone; err == nil {
		t.Fatal("SendLast to an endpoint that closed succeeded")
	}
	close(release) // eps[2].Close waits for its running handler
	if err := <-syncDone; err != nil {
		t.Fatal(err)
	}
	for _, ep := range eps {
		ep.Close()
	}
}

// TestConcurrentUse is for the race detector: every method at once.
func TestConcurrentUse(t *testing.T) {
	const n, k = 4, 300
	m := tt.NewMatch(t, t.Name(), n)
	nw := memnet.New()
	eps := open(t, nw, m)
	ctx, cancel := context.WithCancel(context.Background())
	var readers, writers sync.WaitGroup
	for i, ep := range eps {
		ep.HandleSync(func(from int, req []byte) ([]byte, error) { return append(req, byte(from)), nil })
		readers.Go(func() {
			for {
				select {
				case <-ep.Inbound():
				case <-ep.Events():
				case <-ctx.Done():
					return
				}
			}
		})
		writers.Go(func() {
			sg := crypto.NewSigner(m.Keys[i], m.ID, uint16(i))
			for j := range k {
				env := sg.Sign(wire.TypeInput, fmt.Append(nil, j))
				_ = ep.Broadcast(env)
				_ = ep.Send(ctx, (i+1)%n, env)
				_, _ = ep.RequestSync(ctx, (i+2)%n, []byte{byte(j)})
				if j%50 == 0 {
					ep.Cut((i + 1) % n)
					_ = ep.Reachable()
					_ = ep.Traffic()
					ep.Heal((i + 1) % n)
				}
			}
		})
	}
	writers.Wait()
	cancel()
	readers.Wait()
}
