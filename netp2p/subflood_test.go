package netp2p

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"testing"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"
)

// TestSubscriptionFloodIsIgnored: a roster peer (seat 1 as a bare libp2p
// host speaking pubsub by hand) announces 36,000 made-up topics of 1 KB
// each, then the match topic. The honest host must keep none of the
// made-up ones (on the old code its heap grew 46 MB: pubsub keeps an entry
// per announced topic while the stream lives) and still take the real
// subscription.
func TestSubscriptionFloodIsIgnored(t *testing.T) {
	c := newCluster(t, 2, nil)
	victim := c.hosts[0]
	c.hosts[1].Close()
	att, err := newPlainHost(c.keys[1], []string{"/ip4/127.0.0.1/tcp/0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	att.SetStreamHandler(pubsub.GossipSubID_v12, func(s network.Stream) { _, _ = io.Copy(io.Discard, s) })
	ai, err := peer.AddrInfoFromString(victim.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := att.Connect(context.Background(), *ai); err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitLong, "the victim's pubsub knows the attacker", func() bool { return len(victim.ps.ListPeers("")) == 1 })
	before := heapAlloc()
	s, err := att.NewStream(context.Background(), victim.h.ID(), pubsub.GossipSubID_v11)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	send := func(rpc *pb.RPC) {
		b, err := proto.Marshal(rpc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write(append(binary.AppendUvarint(nil, uint64(len(b))), b...)); err != nil {
			t.Fatal(err)
		}
	}
	sub := func(topic string) *pb.RPC_SubOpts {
		yes := true
		return &pb.RPC_SubOpts{Subscribe: &yes, Topicid: &topic}
	}
	pad := strings.Repeat("x", 1000)
	const rpcs, perRPC = 80, 450
	for r := range rpcs {
		rpc := &pb.RPC{}
		for i := range perRPC {
			rpc.Subscriptions = append(rpc.Subscriptions, sub(fmt.Sprintf("junk-%d-%d-%s", r, i, pad)))
		}
		send(rpc)
	}
	for i := range 3 { // a few one by one: the allowlist, not only the count, must refuse them
		send(&pb.RPC{Subscriptions: []*pb.RPC_SubOpts{sub(fmt.Sprintf("junk-single-%d", i))}})
	}
	send(&pb.RPC{Subscriptions: []*pb.RPC_SubOpts{sub(victim.topicStr)}}) // after the flood on the same stream
	waitFor(t, waitLong, "the victim takes the match subscription", func() bool {
		return len(victim.ps.ListPeers(victim.topicStr)) == 1
	})
	after := heapAlloc()
	for _, topic := range []string{fmt.Sprintf("junk-%d-%d-%s", rpcs-1, perRPC-1, pad), "junk-single-2"} {
		if n := len(victim.ps.ListPeers(topic)); n != 0 {
			t.Errorf("the victim keeps the made-up topic %.20s... (%d peers)", topic, n)
		}
	}
	grown := int64(after) - int64(before)
	t.Logf("36,000 topics announced (34 MB); the victim's heap grew %d KB", grown>>10)
	if grown > 16<<20 {
		t.Errorf("the victim's heap grew %d MB", grown>>20)
	}
}
