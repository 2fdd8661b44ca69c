package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// TestRun plays a short match (ticks 0..120) and checks that the four
// seats agree on the decided ticks and the state hash at the last one, and
// that the bots really played: most ticks carry every seat's input. It
// counts ticks, not time: run's timeout is minutes.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	err := run(120, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "agree: yes") {
		t.Fatal("no agreement line")
	}
	rows := 0
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) != 6 {
			continue
		}
		if _, err := strconv.Atoi(f[0]); err != nil {
			continue
		}
		rows++
		if f[1] != "121" {
			t.Errorf("seat %s decided %s ticks, want 121 (0..120)", f[0], f[1])
		}
		applied, total, ok := strings.Cut(f[3], "/")
		a, _ := strconv.Atoi(applied)
		n, _ := strconv.Atoi(total)
		if !ok || n == 0 || 2*a < n {
			t.Errorf("seat %s: only %s seat inputs applied", f[0], f[3])
		}
		if f[4] != "0" {
			t.Errorf("seat %s: %s verdicts in an honest match", f[0], f[4])
		}
	}
	if rows != seats {
		t.Fatalf("%d seat rows, want %d", rows, seats)
	}
}
