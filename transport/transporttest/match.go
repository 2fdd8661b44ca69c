// Package transporttest checks that a transport.Transport behaves as a
// paxsync session relies on: Run opens a small match through the
// transport under test and checks broadcast and direct delivery, that
// forged envelopes are refused and reported, catch-up requests, SendLast,
// events, and, when the transport implements them, Partitioner, Meter and
// Addresser. netp2p and memnet run it, so the in-memory transport the
// tests use cannot drift from the real one.
package transporttest

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/transport"
)

// Bounds for waits. Wait is far above what anything takes, so that a slow
// machine or the race detector never fails a correct transport; a passing
// check waits only as long as the event takes. Quiet is how long a check
// watches for something that must NOT happen: too short a watch can only
// miss a bug, never fail a correct transport.
const (
	Wait  = 30 * time.Second
	Quiet = 300 * time.Millisecond
)

// Match is a test match: reproducible keys, the roster and the match ID.
type Match struct {
	Name   string
	Keys   []*crypto.PrivateKey
	Roster []crypto.PublicKey
	ID     crypto.MatchID
}

// NewMatch makes a match of n seats whose keys derive from name (hashed,
// so a long name cannot make two seats' keys equal), so two matches with
// different names share no key.
func NewMatch(t testing.TB, name string, n int) *Match {
	t.Helper()
	m := &Match{Name: name}
	for i := range n {
		seed := sha256.Sum256(fmt.Appendf(nil, "transporttest/%s/%d", name, i))
		k, err := crypto.KeyFromSeed(seed[:])
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(m.Roster, k.Public()) {
			t.Fatalf("transporttest: seat %d's key repeats an earlier seat's", i)
		}
		m.Keys = append(m.Keys, k)
		m.Roster = append(m.Roster, k.Public())
	}
	m.ID = crypto.NewMatchID(name, m.Roster)
	return m
}

// Params is what a session would pass a Factory for seat, with a verifier
// of the seat's own.
func (m *Match) Params(seat int) transport.Params {
	return transport.Params{
		Seat: seat, Roster: m.Roster, Match: m.ID, MatchName: m.Name,
		Verifier: crypto.NewVerifier(m.ID, m.Roster),
	}
}

// Signer signs as seat.
func (m *Match) Signer(seat int) *crypto.Signer {
	return crypto.NewSigner(m.Keys[seat], m.ID, uint16(seat))
}

// Recv waits (up to Wait) for the next envelope on tr and fails the test
// when none comes.
func Recv(t testing.TB, tr transport.Transport, what string) transport.Inbound {
	t.Helper()
	select {
	case in := <-tr.Inbound():
		return in
	case <-time.After(Wait):
		t.Fatalf("timed out waiting for %s", what)
		return transport.Inbound{}
	}
}

// NoRecv fails the test if tr delivers anything within Quiet.
func NoRecv(t testing.TB, tr transport.Transport, what string) {
	t.Helper()
	select {
	case in := <-tr.Inbound():
		t.Fatalf("%s: unexpected %s from seat %d (signer %d): %q", what, in.Env.Type, in.From, in.Env.Sender, in.Env.Body)
	case <-time.After(Quiet):
	}
}

// WaitEvent waits (up to Wait) for an event on tr that ok accepts,
// skipping the others, and returns it.
func WaitEvent(t testing.TB, tr transport.Transport, what string, ok func(transport.Event) bool) transport.Event {
	t.Helper()
	timeout := time.After(Wait)
	for {
		select {
		case ev := <-tr.Events():
			if ok(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("timed out waiting for event: %s", what)
			return transport.Event{}
		}
	}
}

// Eventually polls cond until it holds, failing the test after Wait.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Others is every seat of an n-seat match but self, in order.
func Others(n, self int) []int {
	var out []int
	for s := range n {
		if s != self {
			out = append(out, s)
		}
	}
	return out
}
