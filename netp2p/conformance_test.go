package netp2p

import (
	"context"
	"fmt"
	"testing"

	"github.com/paxsync/paxsync/transport"
	tt "github.com/paxsync/paxsync/transport/transporttest"
)

// TestConformance runs the transport seam's checks on loopback hosts: the
// same ones memnet passes, so the in-memory transport the rest of the
// tests run on behaves as this one does.
func TestConformance(t *testing.T) {
	tt.Run(t, func(t *testing.T, m *tt.Match) []transport.Transport {
		var (
			out   []transport.Transport
			peers []string
		)
		for i := range m.Roster {
			p := m.Params(i)
			h, err := New(context.Background(), Config{
				Key: m.Keys[i], Roster: p.Roster, Match: p.Match, MatchName: p.MatchName, Verifier: p.Verifier,
				ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
				Peers:       append([]string(nil), peers...),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { h.Close() })
			out = append(out, h)
			peers = append(peers, h.Addrs()...)
		}
		for i, tr := range out {
			waitFor(t, waitLong, fmt.Sprintf("host %d connected to all", i), func() bool {
				return len(tr.(*Host).Connected()) == len(out)-1
			})
		}
		return out // Run waits for Reachable (the topic peers)
	})
}
