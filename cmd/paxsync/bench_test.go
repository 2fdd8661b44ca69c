package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/internal/bench"
)

// TestBenchFlags: every bad flag exits with status 2 and a message naming
// the flag, before any peer process starts.
func TestBenchFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--peers", "0"}, "--peers 0"},
		{[]string{"--peers", "17"}, "--peers 17"},
		{[]string{"--peers", "x"}, "-peers"},
		{[]string{"--tick-hz", "-1"}, "--tick-hz -1"},
		{[]string{"--tick-hz", "61"}, "--tick-hz 61"},
		{[]string{"--duration", "500ms"}, "--duration 500ms"},
		{[]string{"--duration", "ten"}, "-duration"},
		{[]string{"--duration", "10"}, `invalid value "10" for flag -duration: missing unit: use a unit, e.g. 10s`},
		{[]string{"--warmup", "2"}, "use a unit, e.g. 2s"},
		{[]string{"--mode", "paxos"}, "--mode"},
		{[]string{"--mode", "bft,"}, "--mode"},
		{[]string{"--input-delay", "40"}, "--input-delay 40"},
		{[]string{"--transport", "ws"}, "--transport \"ws\""},
		{[]string{"--sweep", "--peers", "4"}, "--peers cannot be combined with --sweep"},
		{[]string{"--sweep", "--tick-hz", "30"}, "--tick-hz cannot be combined with --sweep"},
		{[]string{"--sweep", "--duration", "0s"}, "--duration"},
		{[]string{"--docs", "x.md"}, "--docs only applies with --sweep"},
		{[]string{"--sweep", "--docs", "/nonexistent/dir/B.md"}, "--docs: directory /nonexistent/dir does not exist"},
		{[]string{"--nope"}, "nope"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		var stderr bytes.Buffer
		code := run(append([]string{"bench"}, c.args...), io.Discard, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("paxsync bench %s: exit %d, stderr %q; want exit 2 naming %q", strings.Join(c.args, " "), code, stderr.String(), c.want)
		}
	}
}

// TestBenchFewPeersWarns: bft with n < 4 tolerates no fault, so such a run
// is announced on stderr; modes without bft, and n >= 4, are not.
func TestBenchFewPeersWarns(t *testing.T) {
	for _, c := range []struct {
		peers int
		modes []bench.Mode
		warn  bool
	}{
		{1, bench.AllModes, true},
		{2, []bench.Mode{paxsync.ConsensusBFT}, true},
		{3, []bench.Mode{paxsync.ConsensusCrash, paxsync.ConsensusBFT}, true},
		{3, []bench.Mode{paxsync.ConsensusBroadcast}, false},
		{4, bench.AllModes, false},
	} {
		var stderr bytes.Buffer
		warnFewPeers(&stderr, c.peers, c.modes)
		got := strings.Contains(stderr.String(), "tolerates no faulty peer (f = 0)")
		if got != c.warn {
			t.Errorf("--peers %d %v: warning %v (%q), want %v", c.peers, c.modes, got, stderr.String(), c.warn)
		}
	}
}
