package tests

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// netns is a set of network namespaces made for one test: a bridge
// namespace and one namespace per node, joined by veth pairs. Nothing is
// created in the machine's own namespace, and all of it is deleted at the
// end.
type netns struct {
	t     *testing.T
	names []string
}

func (n *netns) ip(args ...string) {
	n.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (n *netns) add(name string) {
	n.ip("netns", "add", name)
	n.names = append(n.names, name)
}

// TestMDNSDiscoveryBetweenNamespaces: four nodes, each in its own network
// namespace on a shared bridge, with no static peers, find each other with
// mDNS and decide the same log.
func TestMDNSDiscoveryBetweenNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	if os.Geteuid() != 0 {
		t.Skip("mDNS discovery test needs root to create network namespaces (ip netns); skipped")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("mDNS discovery test needs the ip command (iproute2); skipped")
	}
	const n = 4
	ns := &netns{t: t}
	prefix := fmt.Sprintf("pxt%d", os.Getpid())
	br := prefix + "-br"
	t.Cleanup(func() {
		for _, name := range ns.names {
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	})
	ns.add(br)
	ns.ip("-n", br, "link", "add", "br0", "type", "bridge")
	// IGMP snooping would hold back multicast until a querier shows up.
	ns.ip("-n", br, "link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
	ns.ip("-n", br, "link", "set", "br0", "up")

	m := newMatch(t, n)
	m.prefix, m.listen, m.noPeers = map[*player][]string{}, map[*player]string{}, true
	for i, p := range m.players {
		name := fmt.Sprintf("%s-%d", prefix, i)
		ns.add(name)
		port := "b" + strconv.Itoa(i)
		ns.ip("-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", br)
		ns.ip("-n", br, "link", "set", port, "master", "br0")
		ns.ip("-n", br, "link", "set", port, "up")
		addr := fmt.Sprintf("10.77.%d.%d", os.Getpid()%200, i+1)
		ns.ip("-n", name, "addr", "add", addr+"/24", "dev", "eth0")
		ns.ip("-n", name, "link", "set", "lo", "up")
		ns.ip("-n", name, "link", "set", "eth0", "up")
		ns.ip("-n", name, "route", "add", "224.0.0.0/4", "dev", "eth0")
		m.prefix[p] = []string{"ip", "netns", "exec", name}
		m.listen[p] = "/ip4/" + addr + "/tcp/4001"
	}
	const slots = 20
	var cmds []*exec.Cmd
	for _, p := range m.players {
		cmds = append(cmds, m.start(t, p, m.roster, "--mdns", "--propose", strconv.Itoa(slots),
			"--slots", strconv.Itoa(slots), "--linger", lingerUntilStopped))
	}
	stopWhenAllDecided(t, cmds, m.players, 80*time.Second)
	sameOutputs(t, m.players, slots)
	for i, p := range m.players {
		if !strings.Contains(readFile(t, p.logFile), "kind=found") {
			t.Errorf("node %d logged no mDNS discovery", i)
		}
	}
}
