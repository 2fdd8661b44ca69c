package netp2p

import (
	"context"
	"errors"
	"fmt"
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
	if w := svc.pace("a"); w > time.Minute {
		t.Fatalf("the first answer waits %v", w)
	}
	if w := svc.pace("a"); w < 59*time.Minute {
		t.Fatalf("the same spectator again waits %v, want an hour", w)
	}
	// Every further fresh identity queues a quarter hour behind the last.
	prev := svc.pace("b")
	for i := range 3 {
		w := svc.pace(peer.ID(fmt.Sprint("c", i)))
		if w-prev < 14*time.Minute {
			t.Fatalf("fresh identity %d waits %v after %v: want a quarter hour more", i, w, prev)
		}
		prev = w
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
