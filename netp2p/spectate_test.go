package netp2p

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/paxsync/paxsync/crypto"
)

// TestSpectatorServiceAnswers: a spectator reaches a roster player's
// service by the player's peer ID and gets what Serve answers (an error as
// a remote error); an address of a key outside the roster is refused
// before anything is dialled.
func TestSpectatorServiceAnswers(t *testing.T) {
	var keys []*crypto.PrivateKey
	var roster []crypto.PublicKey
	for i := range 4 {
		keys = append(keys, testKey(t, i))
		roster = append(roster, keys[i].Public())
	}
	svc, err := ServeSpectators(SpectatorConfig{Key: keys[2], ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		Serve: func(_ context.Context, req []byte) ([]byte, error) {
			if string(req) == "fail" {
				return nil, errors.New("no")
			}
			return append([]byte("log after "), req...), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	me, err := crypto.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := DialSpectator(me, roster, svc.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Known(2) || c.Known(1) {
		t.Fatalf("known: seat 2 %v, seat 1 %v", c.Known(2), c.Known(1))
	}
	got, err := c.RequestSync(context.Background(), 2, []byte("7"))
	if err != nil || string(got) != "log after 7" {
		t.Fatalf("answer %q, %v", got, err)
	}
	if _, err := c.RequestSync(context.Background(), 2, []byte("fail")); err == nil || !strings.Contains(err.Error(), "remote error: no") {
		t.Fatalf("a failed answer: %v", err)
	}
	if _, err := c.RequestSync(context.Background(), 9, nil); !errors.Is(err, ErrBadSeat) {
		t.Fatalf("seat 9: %v", err)
	}
	// A key outside the roster is a relay, numbered after the seats.
	relay, err := ServeSpectators(SpectatorConfig{Key: me, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		Serve: func(_ context.Context, req []byte) ([]byte, error) {
			return append([]byte("relayed after "), req...), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	viewer, _ := crypto.GenerateKey(nil)
	c2, err := DialSpectator(viewer, roster, append(relay.Addrs(), svc.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.Relays() != 1 || !c2.Known(4) || !c2.Known(2) || c2.Known(5) {
		t.Fatalf("%d relays; known: relay 0 %v, seat 2 %v", c2.Relays(), c2.Known(4), c2.Known(2))
	}
	if got, err := c2.RequestSync(context.Background(), 4, []byte("9")); err != nil || string(got) != "relayed after 9" {
		t.Fatalf("relay's answer %q, %v", got, err)
	}
	if _, err := c2.RequestSync(context.Background(), 5, nil); !errors.Is(err, ErrBadSeat) {
		t.Fatalf("source 5: %v", err)
	}
	if _, err := DialSpectator(me, roster, relay.Addrs()); err == nil {
		t.Fatal("a spectator was given its own address to watch from")
	}
	if _, err := DialSpectator(me, roster, nil); err == nil {
		t.Fatal("no address was accepted")
	}
}

// TestSpectatorServicePace: one spectator gets at most one answer per
// MinInterval, and all spectators together Max per MinInterval (an
// interval of an hour makes the arithmetic exact whatever the machine).
func TestSpectatorServicePace(t *testing.T) {
	svc := &SpectatorService{cfg: SpectatorConfig{Max: 4, MinInterval: time.Hour}, sem: make(chan struct{}, 4), last: map[peer.ID]time.Time{}}
	if w := svc.pace("a"); w != 0 {
		t.Fatalf("the first answer waits %v", w)
	}
	if w := svc.pace("a"); w < 59*time.Minute {
		t.Fatalf("the same spectator again waits %v, want an hour", w)
	}
	// Any other identity waits a quarter hour (Max per MinInterval in
	// all), however many ask: waiting takes no turn, so the ones that
	// give up cost the others nothing.
	for i := range 3 {
		if w := svc.pace(peer.ID(fmt.Sprint("c", i))); w < 14*time.Minute || w > 15*time.Minute {
			t.Fatalf("fresh identity %d waits %v, want a quarter hour", i, w)
		}
	}
	// Once the quarter hour is past, one of them is answered and the
	// next waits another quarter hour.
	svc.lastAny = svc.lastAny.Add(-15 * time.Minute)
	if w := svc.pace("c0"); w != 0 {
		t.Fatalf("after a quarter hour c0 still waits %v", w)
	}
	if w := svc.pace("c1"); w < 14*time.Minute {
		t.Fatalf("right after c0's turn c1 waits %v, want a quarter hour", w)
	}
}

// TestSpectatorServiceConnections: one address holds at most two
// connections (a third spectator from it is refused), and a connection
// that asks nothing is closed by the reaper, freeing its place.
func TestSpectatorServiceConnections(t *testing.T) {
	var roster []crypto.PublicKey
	for i := range 4 {
		roster = append(roster, testKey(t, i).Public())
	}
	svc, err := ServeSpectators(SpectatorConfig{Key: testKey(t, 1), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		Serve: func(_ context.Context, req []byte) ([]byte, error) { return req, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ask := func() (*SpectatorClient, error) {
		k, _ := crypto.GenerateKey(nil)
		c, err := DialSpectator(k, roster, svc.Addrs())
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.RequestSync(context.Background(), 1, []byte("x"))
		return c, err
	}
	var clients []*SpectatorClient
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for i := range 2 {
		c, err := ask()
		clients = append(clients, c)
		if err != nil {
			t.Fatalf("spectator %d from 127.0.0.1: %v", i, err)
		}
	}
	c, err := ask()
	clients = append(clients, c)
	if err == nil {
		t.Fatal("a third connection from one address was admitted")
	}
	// The first two ask nothing more: the reaper closes them (5 s idle),
	// and a new spectator gets in.
	waitFor(t, time.Minute, "idle spectator connections closed", func() bool { return len(svc.h.Network().Conns()) == 0 })
	c, err = ask()
	clients = append(clients, c)
	if err != nil {
		t.Fatalf("after the reaper: %v", err)
	}
}

// TestAbandonedSpectatorRequestsCostNothing: fresh identities, one after
// another, open a spectate stream, send a request and hang up before
// their turn. Their turns must be given back and their goroutines end:
// on the old code 150 of them (within the two connections per address)
// left 118 goroutines asleep and made an honest spectator's one request
// wait 3 s. The bound asserted (a second, ten answers' worth of
// MinInterval) is far above an idle service's answer and far below what
// 150 abandoned turns cost.
func TestAbandonedSpectatorRequestsCostNothing(t *testing.T) {
	var roster []crypto.PublicKey
	for i := range 4 {
		roster = append(roster, testKey(t, i).Public())
	}
	const minInterval = 100 * time.Millisecond // Max 4: 25 ms per fresh identity
	svc, err := ServeSpectators(SpectatorConfig{Key: testKey(t, 1), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		MinInterval: minInterval,
		Serve:       func(_ context.Context, req []byte) ([]byte, error) { return req, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ai, err := peer.AddrInfoFromString(svc.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	g0 := runtime.NumGoroutine()
	for range 150 {
		k, _ := crypto.GenerateKey(nil)
		h, err := newPlainHost(k, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		h.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Minute)
		if s, err := h.NewStream(context.Background(), ai.ID, spectateProto); err == nil {
			_, _ = s.Write([]byte{0}) // an empty request, then gone
			time.Sleep(2 * time.Millisecond)
		}
		h.Close()
	}
	waitFor(t, waitLong, "the abandoned requests' goroutines end", func() bool {
		return len(svc.h.Network().Conns()) == 0 && runtime.NumGoroutine() <= g0+20
	})
	k, _ := crypto.GenerateKey(nil)
	c, err := DialSpectator(k, roster, svc.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.RequestSync(context.Background(), 1, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if wait := time.Since(start); wait > 10*minInterval {
		t.Errorf("the honest spectator's request took %v after 150 abandoned ones", wait)
	}
}
