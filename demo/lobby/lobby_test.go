package lobby

import (
	"strings"
	"testing"
)

func TestJoinAddr(t *testing.T) {
	id := "/p2p/12D3KooWCUSd9kidqkYMnjSMUp3vCFgvvhsUgpvjdwrSmT9wxpY3"
	for _, tc := range []struct {
		addrs []string
		want  string
	}{
		{nil, ""},
		{[]string{"/ip4/127.0.0.1/tcp/4001" + id}, "/ip4/127.0.0.1/tcp/4001" + id},
		{[]string{"/ip4/127.0.0.1/tcp/4001" + id, "/ip4/192.168.1.7/udp/4001/quic-v1" + id, "/ip4/192.168.1.7/tcp/4001" + id},
			"/ip4/192.168.1.7/tcp/4001" + id},
		{[]string{"/ip6/::1/tcp/4001" + id, "/ip6/fe80::1/tcp/4001" + id, "/ip4/10.0.0.2/udp/4001/quic-v1" + id},
			"/ip6/fe80::1/tcp/4001" + id},
		{[]string{"/ip4/127.0.0.1/tcp/4001" + id, "/ip4/10.0.0.2/udp/4001/quic-v1" + id},
			"/ip4/10.0.0.2/udp/4001/quic-v1" + id}, // off the machine beats TCP
	} {
		if got := JoinAddr(tc.addrs); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.addrs, got, tc.want)
		}
	}
}

func TestMessage(t *testing.T) {
	addr := "/ip4/192.168.1.7/tcp/40123/p2p/12D3KooWCUSd9kidqkYMnjSMUp3vCFgvvhsUgpvjdwrSmT9wxpY3"
	seats := []Seat{
		{Name: "P0", You: true, Connected: true},
		{Name: "P1", Key: "2695ce3f46ac", Connected: true},
		{Name: "P2", Key: "d62a0496adee"},
		{Name: "P3", Key: "1e05bfa9214a"},
	}
	if n := Missing(seats); n != 2 {
		t.Errorf("Missing = %d", n)
	}
	msg := Message("friday", seats, addr)
	for _, want := range []string{
		"waiting for 2 of 4 players",
		"P0\tyou\tthis client\n",
		"P1\t2695ce3f46ac\tconnected\n",
		"P2\td62a0496adee\twaiting…\n",
		"\n  --peer " + addr + "\n", // the whole address, on a line of its own
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("lobby lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(Message("friday", seats, ""), "--peer") {
		t.Error("no address, but a --peer line")
	}
}

func TestJoinCommand(t *testing.T) {
	got := JoinCommand("friday night", "match.json", "/ip4/1.2.3.4/tcp/1/p2p/X")
	want := "paxsync-demo --match 'friday night' --key YOUR.key --roster match.json --peer /ip4/1.2.3.4/tcp/1/p2p/X"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if got := JoinCommand("", "m.json", "A"); got != "paxsync-demo --key YOUR.key --roster m.json --peer A" {
		t.Errorf("no match name: %q", got)
	}
}
