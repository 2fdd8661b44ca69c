package netp2p

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type cluster struct {
	keys    []*crypto.PrivateKey
	roster  []crypto.PublicKey
	match   crypto.MatchID
	hosts   []*Host
	signers []*crypto.Signer
}

func testKey(t testing.TB, i int) *crypto.PrivateKey {
	seed := make([]byte, 32)
	copy(seed, fmt.Sprintf("netp2p-test-key-%d", i))
	k, err := crypto.KeyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newCluster starts n roster hosts on loopback, each bootstrapped with the
// addresses of the hosts before it, and waits until all are connected.
func newCluster(t testing.TB, n int, tweak func(i int, c *Config)) *cluster {
	t.Helper()
	c := &cluster{}
	for i := 0; i < n; i++ {
		c.keys = append(c.keys, testKey(t, i))
		c.roster = append(c.roster, c.keys[i].Public())
	}
	c.match = crypto.NewMatchID("test", c.roster)
	var peers []string
	for i := 0; i < n; i++ {
		cfg := Config{
			Key: c.keys[i], Roster: c.roster, Match: c.match, MatchName: "test",
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
			Peers:       append([]string(nil), peers...),
		}
		if tweak != nil {
			tweak(i, &cfg)
		}
		h, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		c.hosts = append(c.hosts, h)
		c.signers = append(c.signers, crypto.NewSigner(c.keys[i], c.match, uint16(i)))
		peers = append(peers, h.Addrs()...)
	}
	for i, h := range c.hosts {
		waitFor(t, waitLong, fmt.Sprintf("host %d connected to all", i), func() bool {
			return len(h.Connected()) == n-1
		})
	}
	// Let pubsub exchange subscriptions so the first publish reaches all.
	waitFor(t, waitLong, "topic peers", func() bool {
		for _, h := range c.hosts {
			if len(h.topic.ListPeers()) != n-1 {
				return false
			}
		}
		return true
	})
	return c
}

// Bounds for waits on something that must happen. They are far above what
// any of it takes (milliseconds on loopback), so that a machine several
// times slower than usual, or the race detector, never fails a test; a
// test that passes waits only as long as the event takes.
const (
	waitLong = 30 * time.Second // connections, deliveries, events
	// waitQuiet is how long a test watches for something that must NOT
	// happen. Too short a watch can only miss a bug, never fail a correct
	// host, so it is kept short.
	waitQuiet = 300 * time.Millisecond
)

// fakeClock is a rate limiter clock (Config.now) that moves only when the
// test advances it: a token bucket then refills by exactly what the test
// says, however long the machine takes to deliver the messages.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func waitFor(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func recv(t testing.TB, h *Host, d time.Duration) (Inbound, bool) {
	t.Helper()
	select {
	case in := <-h.Inbound():
		return in, true
	case <-time.After(d):
		return Inbound{}, false
	}
}

func waitEvent(t testing.TB, h *Host, d time.Duration, match func(Event) bool) Event {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev := <-h.Events():
			if match(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no matching event within %v", d)
		}
	}
}

func TestBroadcastReachesAllButSelf(t *testing.T) {
	c := newCluster(t, 4, nil)
	for i, h := range c.hosts {
		env := c.signers[i].Sign(wire.TypeInput, []byte(fmt.Sprintf("hello from %d", i)))
		if err := h.Broadcast(env); err != nil {
			t.Fatal(err)
		}
	}
	for i, h := range c.hosts {
		got := map[uint16]bool{}
		for len(got) < 3 {
			in, ok := recv(t, h, waitLong)
			if !ok {
				t.Fatalf("host %d got only %v", i, got)
			}
			if int(in.Env.Sender) == i {
				t.Fatalf("host %d received its own broadcast", i)
			}
			if in.Direct || in.From < 0 || in.From == i {
				t.Fatalf("host %d: bad inbound %+v", i, in)
			}
			if string(in.Env.Body) != fmt.Sprintf("hello from %d", in.Env.Sender) {
				t.Fatalf("host %d: body %q", i, in.Env.Body)
			}
			got[in.Env.Sender] = true
		}
		if in, ok := recv(t, h, waitQuiet); ok {
			t.Fatalf("host %d: unexpected extra message from %d", i, in.Env.Sender)
		}
	}
}

func TestNonMemberIsRefusedAndReported(t *testing.T) {
	c := newCluster(t, 2, nil)
	outsider := testKey(t, 99)
	// The outsider believes it is in the roster; the members do not.
	roster := append(append([]crypto.PublicKey(nil), c.roster...), outsider.Public())
	o, err := New(context.Background(), Config{
		Key: outsider, Roster: roster, Match: c.match,
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: c.hosts[0].Addrs(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	oid := o.PeerID()
	waitEvent(t, c.hosts[0], waitLong, func(ev Event) bool {
		return ev.Kind == EventNonMember && ev.Peer == oid
	})
	// Publishing gets nowhere: no member accepts a connection from it.
	env := crypto.NewSigner(outsider, c.match, 2).Sign(wire.TypeInput, []byte("intruder"))
	_ = o.Broadcast(env)
	if in, ok := recv(t, c.hosts[0], waitQuiet); ok {
		t.Fatalf("member received %+v from a non-member", in)
	}
	// The outsider may see each refused attempt as a connection for a
	// moment (its handshake completes before the member's gater closes
	// it), so the refusal is checked on the members, where it is made.
	for i, h := range c.hosts {
		if conns := h.h.Network().ConnsToPeer(o.h.ID()); len(conns) != 0 {
			t.Fatalf("member %d holds %d connections to the outsider", i, len(conns))
		}
	}
	for _, h := range c.hosts {
		if len(h.Connected()) != 1 {
			t.Fatalf("member connections changed: %v", h.Connected())
		}
	}
}

func TestInvalidMessagesRejectedAndBlamed(t *testing.T) {
	var ignored = []byte("stale")
	c := newCluster(t, 3, func(i int, cfg *Config) {
		cfg.noValidate = i == 0 // seat 0 plays a faulty member
		cfg.Validate = func(from int, env *crypto.Envelope) Validation {
			switch string(env.Body) {
			case "stale":
				return Ignore
			case "nonsense":
				return Reject
			}
			return Accept
		}
	})
	bad := c.hosts[0]
	good := c.signers[0].Sign(wire.TypeInput, []byte("good"))
	forged := good
	forged.Body = []byte("forged")
	outsiderSeat := crypto.NewSigner(c.keys[0], c.match, 7).Sign(wire.TypeInput, []byte("seat 7"))
	cases := []struct {
		data   []byte
		reason string
	}{
		{forged.Encode(nil), ReasonBadSignature},
		{[]byte{1, 2, 3}, ReasonMalformed},
		{nil, ReasonMalformed},
		{outsiderSeat.Encode(nil), ReasonNotMember},
		{func() []byte { e := c.signers[0].Sign(wire.TypeInput, []byte("nonsense")); return e.Encode(nil) }(), ReasonRejected},
	}
	for _, tc := range cases {
		if err := bad.topic.Publish(context.Background(), append(make([]byte, nonceSize), tc.data...)); err != nil {
			t.Fatal(err)
		}
		for _, h := range c.hosts[1:] {
			ev := waitEvent(t, h, waitLong, func(ev Event) bool { return ev.Kind == EventInvalid })
			if ev.Seat != 0 || ev.Reason != tc.reason {
				t.Fatalf("event %v, want seat 0 reason %s", ev, tc.reason)
			}
		}
	}
	// Ignored messages are neither delivered nor blamed; a valid one after
	// them is delivered, and nothing invalid got through before it.
	if err := bad.Broadcast(c.signers[0].Sign(wire.TypeInput, ignored)); err != nil {
		t.Fatal(err)
	}
	if err := bad.Broadcast(good); err != nil {
		t.Fatal(err)
	}
	for _, h := range c.hosts[1:] {
		in, ok := recv(t, h, waitLong)
		if !ok || string(in.Env.Body) != "good" {
			t.Fatalf("got %+v, %v; want the good message", in, ok)
		}
		select {
		case ev := <-h.Events():
			t.Fatalf("unexpected event %v", ev)
		default:
		}
	}
}

// TestFloodingIsLimitedAndReported: with the limiter's clock stopped, a
// peer gets exactly its burst through, whatever the machine's speed; when
// the clock moves on it gets exactly the refill.
func TestFloodingIsLimitedAndReported(t *testing.T) {
	const rate, burst = 5, 10
	clk := newFakeClock()
	c := newCluster(t, 2, func(i int, cfg *Config) {
		cfg.RateLimit = RateLimit{PerSecond: rate, Burst: burst}
		cfg.now = clk.now
	})
	rcv := c.hosts[1]
	seq := 0
	// flood publishes k messages, waits until each is either delivered or
	// counted as limited, and returns how many were delivered.
	flood := func(k int) int {
		t.Helper()
		f0 := rcv.Traffic().Flooding
		for range k {
			if err := c.hosts[0].Broadcast(c.signers[0].Sign(wire.TypeInput, []byte(fmt.Sprint(seq)))); err != nil {
				t.Fatal(err)
			}
			seq++
		}
		got := 0
		deadline := time.Now().Add(waitLong)
		for got+int(rcv.Traffic().Flooding-f0) < k {
			select {
			case <-rcv.Inbound():
				got++
			case <-time.After(10 * time.Millisecond):
				if time.Now().After(deadline) {
					t.Fatalf("%d delivered and %d limited of %d; receiver %+v", got, rcv.Traffic().Flooding-f0, k, rcv.Traffic())
				}
			}
		}
		if in, ok := recv(t, rcv, waitQuiet); ok {
			t.Fatalf("delivered beyond the accounting: %+v", in)
		}
		return got
	}
	if got := flood(60); got != burst {
		t.Fatalf("delivered %d of 60 with burst %d and the clock stopped", got, burst)
	}
	waitEvent(t, rcv, waitLong, func(ev Event) bool {
		return ev.Kind == EventInvalid && ev.Reason == ReasonFlooding && ev.Seat == 0
	})
	clk.advance(time.Second)
	if got := flood(20); got != rate {
		t.Fatalf("delivered %d of 20 one second later at %d/s", got, rate)
	}
}

func TestSendAndSync(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.hosts[2].HandleSync(func(from int, req []byte) ([]byte, error) {
		if string(req) == "fail" {
			return nil, fmt.Errorf("no state")
		}
		return append([]byte(fmt.Sprintf("seat %d asked: ", from)), req...), nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLong)
	defer cancel()
	for k := 0; k < 100; k++ {
		env := c.signers[0].Sign(wire.TypePromise, []byte(fmt.Sprint(k)))
		if err := c.hosts[0].Send(ctx, 1, env); err != nil {
			t.Fatal(err)
		}
	}
	// One long-lived stream keeps frames in order.
	for k := 0; k < 100; k++ {
		in, ok := recv(t, c.hosts[1], waitLong)
		if !ok || !in.Direct || in.From != 0 || string(in.Env.Body) != fmt.Sprint(k) {
			t.Fatalf("message %d: got %+v %v", k, in, ok)
		}
	}
	if _, ok := recv(t, c.hosts[2], waitQuiet); ok {
		t.Fatal("seat 2 received a message sent to seat 1")
	}
	if err := c.hosts[0].Send(ctx, 0, crypto.Envelope{}); err != ErrBadSeat {
		t.Fatalf("send to self: %v", err)
	}

	resp, err := c.hosts[0].RequestSync(ctx, 2, []byte("from 5"))
	if err != nil || string(resp) != "seat 0 asked: from 5" {
		t.Fatalf("sync: %q %v", resp, err)
	}
	if _, err := c.hosts[0].RequestSync(ctx, 2, []byte("fail")); err == nil {
		t.Fatal("remote handler error not returned")
	}
	if _, err := c.hosts[0].RequestSync(ctx, 1, []byte("x")); err == nil {
		t.Fatal("peer without handler answered")
	}
	if _, err := c.hosts[0].RequestSync(ctx, 2, make([]byte, MaxSyncRequest+1)); err == nil {
		t.Fatal("oversize request accepted")
	}
	// A handler that never answers (until the test ends): the request must
	// fail at its context's deadline, not wait for the answer.
	release := make(chan struct{})
	defer close(release) // before the cluster closes (t.Cleanup)
	c.hosts[2].HandleSync(func(int, []byte) ([]byte, error) { <-release; return nil, nil })
	short, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	done := make(chan error, 1)
	go func() { _, err := c.hosts[0].RequestSync(short, 2, []byte("slow")); done <- err }()
	select {
	case err := <-done:
		if dl, _ := short.Deadline(); err == nil || time.Now().Before(dl) {
			t.Fatalf("request to a handler that never answers returned %v before its deadline", err)
		}
	case <-time.After(waitLong):
		t.Fatal("deadline not honoured: the request is still waiting for the handler")
	}
}

func TestCutAndHeal(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.hosts[0].Cut(1)
	waitFor(t, waitLong, "cut", func() bool {
		for _, s := range c.hosts[1].Connected() {
			if s == 0 {
				return false
			}
		}
		return true
	})
	// The gater keeps it cut even though host 1 keeps redialing (once per
	// dialer round): wait for three refused attempts, not for some time.
	refused := c.hosts[0].gater.cutRefused.Load()
	waitFor(t, waitLong, "host 1 to redial and be refused", func() bool {
		return c.hosts[0].gater.cutRefused.Load() >= refused+3
	})
	// Host 1 may see each refused attempt as a connection for a moment
	// (its handshake completes before host 0's gater closes it), so the
	// cut is checked where it is enforced.
	if conns := c.hosts[0].h.Network().ConnsToPeer(c.hosts[0].ids[1]); len(conns) != 0 {
		t.Fatalf("host 0 holds %d connections to the seat it cut", len(conns))
	}
	if err := c.hosts[0].Send(context.Background(), 1, c.signers[0].Sign(wire.TypeInput, []byte("x"))); err != ErrCut {
		t.Fatalf("send across a cut: %v", err)
	}
	// Broadcasts are not relayed around the cut (every player is directly
	// connected to every other, so the topic has no mesh: see peerx.go and
	// pubsubParams): 2 gets it, 1 does not. bft relays proposals itself.
	if err := c.hosts[0].Broadcast(c.signers[0].Sign(wire.TypeInput, []byte("around"))); err != nil {
		t.Fatal(err)
	}
	if in, ok := recv(t, c.hosts[2], waitLong); !ok || string(in.Env.Body) != "around" {
		t.Fatalf("broadcast to the uncut peer: %+v %v", in, ok)
	}
	if in, ok := recv(t, c.hosts[1], waitQuiet); ok {
		t.Fatalf("broadcast crossed the cut: %+v", in)
	}
	c.hosts[0].Heal(1)
	waitFor(t, waitLong, "heal", func() bool { return len(c.hosts[0].Connected()) == 2 })
	if err := c.hosts[0].Send(context.Background(), 1, c.signers[0].Sign(wire.TypeInput, []byte("back"))); err != nil {
		t.Fatal(err)
	}
	in, ok := recv(t, c.hosts[1], waitLong)
	if !ok || in.From != 0 || string(in.Env.Body) != "back" {
		t.Fatalf("after heal: %+v %v", in, ok)
	}
}

func TestPeerIDMatchesKey(t *testing.T) {
	c := newCluster(t, 1, nil)
	id, err := PeerIDOf(c.roster[0])
	if err != nil || id != c.hosts[0].PeerID() {
		t.Fatalf("PeerIDOf = %s, host = %s (%v)", id, c.hosts[0].PeerID(), err)
	}
	if _, err := New(context.Background(), Config{Key: testKey(t, 50), Roster: c.roster, Match: c.match}); err == nil {
		t.Fatal("host with a key outside the roster started")
	}
}

// A protocol's deliberate re-send of the very same envelope (Ed25519 is
// deterministic, so a re-signed message is byte-identical) must not be
// swallowed by pubsub's seen cache; one publication is still delivered once.
func TestRebroadcastIsDeliveredAgain(t *testing.T) {
	c := newCluster(t, 2, nil)
	env := c.signers[0].Sign(wire.TypeVerify, []byte("same bytes"))
	for k := 0; k < 3; k++ {
		if err := c.hosts[0].Broadcast(env); err != nil {
			t.Fatal(err)
		}
		in, ok := recv(t, c.hosts[1], waitLong)
		if !ok || string(in.Env.Body) != "same bytes" {
			t.Fatalf("re-send %d not delivered", k)
		}
	}
	if in, ok := recv(t, c.hosts[1], waitQuiet); ok {
		t.Fatalf("extra delivery %+v", in)
	}
}

// TestTCPPreferred: hosts that listen on TCP and QUIC connect over TCP
// (Noise, yamux), which costs bft 9-13% less CPU per tick and 10% less
// latency than QUIC on the same machine (docs/BENCHMARKS.md); libp2p's
// own ranker would pick QUIC.
func TestTCPPreferred(t *testing.T) {
	c := newCluster(t, 3, nil)
	for i, h := range c.hosts {
		for _, conn := range h.h.Network().Conns() {
			if _, err := conn.RemoteMultiaddr().ValueForProtocol(ma.P_TCP); err != nil {
				t.Errorf("host %d: connected to %s over %s", i, conn.RemotePeer(), conn.RemoteMultiaddr())
			}
		}
	}
}

func TestQUICOnly(t *testing.T) {
	c := newCluster(t, 3, func(i int, cfg *Config) { cfg.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1"} })
	if err := c.hosts[1].Broadcast(c.signers[1].Sign(wire.TypeInput, []byte("over quic"))); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2} {
		if in, ok := recv(t, c.hosts[i], waitLong); !ok || string(in.Env.Body) != "over quic" {
			t.Fatalf("host %d: %+v %v", i, in, ok)
		}
	}
	if err := c.hosts[2].Send(context.Background(), 0, c.signers[2].Sign(wire.TypePromise, []byte("direct"))); err != nil {
		t.Fatal(err)
	}
	if in, ok := recv(t, c.hosts[0], waitLong); !ok || !in.Direct || in.From != 2 {
		t.Fatalf("direct over quic: %+v %v", in, ok)
	}
}

// TestPeerExchangeConnectsEveryone: hosts 1..3 are given only host 0's
// address; the roster address exchange lets them find and connect to each
// other (newCluster waits for every host to be connected to all), and a
// broadcast between two of them arrives directly, not through host 0.
func TestPeerExchangeConnectsEveryone(t *testing.T) {
	id0, err := PeerIDOf(testKey(t, 0).Public())
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 4, func(i int, cfg *Config) {
		var only0 []string
		for _, a := range cfg.Peers {
			if strings.HasSuffix(a, "/p2p/"+id0) {
				only0 = append(only0, a)
			}
		}
		cfg.Peers = only0
	})
	if err := c.hosts[1].Broadcast(c.signers[1].Sign(wire.TypeInput, []byte("star"))); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*Host{c.hosts[2], c.hosts[3]} {
		in, ok := recv(t, h, waitLong)
		if !ok || in.From != 1 || string(in.Env.Body) != "star" {
			t.Fatalf("host %d: %+v %v, want seat 1's broadcast delivered by seat 1", h.Seat(), in, ok)
		}
	}
}

// TestLearnPeersIgnoresStrangers: an exchange naming our own seat, a seat
// outside the roster or carrying a malformed address list teaches nothing.
func TestLearnPeersIgnoresStrangers(t *testing.T) {
	c := newCluster(t, 2, nil)
	h := c.hosts[0]
	a, _ := ma.NewMultiaddr("/ip4/127.0.0.1/tcp/1")
	enc := func(seat uint16) []byte {
		w := wire.NewWriter(nil)
		w.Uvarint(1)
		w.U16(seat)
		w.Uvarint(1)
		w.Blob(a.Bytes())
		return w.Bytes()
	}
	if n := h.learnPeers(enc(0)); n != 0 {
		t.Errorf("learned %d addresses for its own seat", n)
	}
	if n := h.learnPeers(enc(9)); n != 0 {
		t.Errorf("learned %d addresses for a seat outside the roster", n)
	}
	if n := h.learnPeers(append(enc(1), 0)); n != 0 {
		t.Errorf("learned %d addresses from a message with trailing bytes", n)
	}
	if n := h.learnPeers(enc(1)); n != 1 {
		t.Errorf("learned %d addresses for seat 1, want 1", n)
	}
}

// TestTCPFirstStaggersManyAddresses: a peer advertising many TCP
// addresses gets them dialled tcpBurst at a time, QUIC after the first
// group, and one with only QUIC gets it at once.
func TestTCPFirstStaggersManyAddresses(t *testing.T) {
	var addrs []ma.Multiaddr
	for i := range 10 {
		addrs = append(addrs, ma.StringCast(fmt.Sprintf("/ip4/10.0.0.%d/tcp/4001", i+1)))
	}
	quic := ma.StringCast("/ip4/10.0.0.1/udp/4001/quic-v1")
	ranked := tcpFirst(append(addrs, quic))
	atOnce := 0
	for i, r := range ranked[:10] {
		if want := time.Duration(i/tcpBurst) * tcpStagger; r.Delay != want {
			t.Errorf("TCP address %d: delay %v, want %v", i, r.Delay, want)
		}
		if r.Delay == 0 {
			atOnce++
		}
	}
	if atOnce != tcpBurst {
		t.Errorf("%d TCP dials at once, want %d", atOnce, tcpBurst)
	}
	if d := ranked[10].Delay; d != quicFallback {
		t.Errorf("QUIC delay %v, want %v", d, quicFallback)
	}
	if only := tcpFirst([]ma.Multiaddr{quic}); only[0].Delay != 0 {
		t.Errorf("QUIC-only peer waits %v", only[0].Delay)
	}
}
