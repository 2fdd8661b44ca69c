package main

import (
	"bytes"
	"strings"
	"testing"
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
		{[]string{"--mode", "paxos"}, "--mode"},
		{[]string{"--mode", "bft,"}, "--mode"},
		{[]string{"--input-delay", "40"}, "--input-delay 40"},
		{[]string{"--sweep", "--peers", "4"}, "--peers cannot be combined with --sweep"},
		{[]string{"--sweep", "--tick-hz", "30"}, "--tick-hz cannot be combined with --sweep"},
		{[]string{"--sweep", "--duration", "0s"}, "--duration"},
		{[]string{"--docs", "x.md"}, "--docs only applies with --sweep"},
		{[]string{"--sweep", "--docs", "/nonexistent/dir/B.md"}, "--docs: directory /nonexistent/dir does not exist"},
		{[]string{"--nope"}, "nope"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		var stderr bytes.Buffer
		code := run(append([]string{"bench"}, c.args...), &stderr)
		if code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("paxsync bench %s: exit %d, stderr %q; want exit 2 naming %q", strings.Join(c.args, " "), code, stderr.String(), c.want)
		}
	}
}
