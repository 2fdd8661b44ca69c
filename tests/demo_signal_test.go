package tests

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
)

// demoSignals: SIGTERM, SIGINT and SIGQUIT each end a running demo
// cleanly: exit status 0, the verdict summary printed exactly once (the
// verdict itself having been printed while the match ran, before the
// signal), and the replay file finished: it verifies and is not cut
// inside a record. The bound on the exit is generous; the test checks
// that the demo exits, not how fast.
func demoSignals(t *testing.T, bin string) {
	display := startXvfb(t, 1280, 800)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			replay := filepath.Join(t.TempDir(), "m.replay")
			cmd := exec.Command(bin, "--bots", "3", "--cheater", "1", "--cheat", "forge-input", "--record", replay)
			cmd.Env = displayEnv(display)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			pipe, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			var mu sync.Mutex
			var stdout strings.Builder
			firstVerdict := make(chan struct{})
			go func() {
				sc := bufio.NewScanner(pipe)
				seen := false
				for sc.Scan() {
					mu.Lock()
					stdout.WriteString(sc.Text() + "\n")
					mu.Unlock()
					if !seen && strings.HasPrefix(sc.Text(), "verdict: forged-input player 1 ") {
						seen = true
						close(firstVerdict)
					}
				}
				exited <- cmd.Wait()
			}()
			out := func() string { mu.Lock(); defer mu.Unlock(); return stdout.String() }
			select {
			case <-firstVerdict: // the match runs and verdicts are printed as they happen
			case err := <-exited:
				t.Fatalf("the demo exited before any verdict: %v\nstdout:\n%s\nstderr:\n%s", err, out(), stderr.String())
			case <-time.After(2 * time.Minute):
				cmd.Process.Kill()
				t.Fatalf("no forged-input verdict within 2 minutes\nstdout:\n%s\nstderr:\n%s", out(), stderr.String())
			}
			if strings.Contains(out(), "verdict summary") {
				t.Fatalf("summary before the signal:\n%s", out())
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			sent := time.Now()
			select {
			case err := <-exited:
				t.Logf("%v: exited %v after %v", sig, err, time.Since(sent).Round(time.Millisecond))
				if err != nil {
					t.Errorf("exit after %v: %v (want status 0)\nstderr:\n%s", sig, err, stderr.String())
				}
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-exited
				t.Fatalf("still running 20 s after %v\nstdout:\n%s\nstderr:\n%s", sig, out(), stderr.String())
			}
			s := out()
			if n := strings.Count(s, "verdict summary: "); n != 1 || !strings.Contains(s, "  seat 1 forged-input: ") {
				t.Errorf("want the summary once, with seat 1's forged-input row:\n%s", s)
			}
			if n := strings.Count(s, "verdict: forged-input player 1 "); n != 1 {
				t.Errorf("the forged-input verdict is printed %d times, want once (the rest go to the summary):\n%s", n, s)
			}
			f, err := os.Open(replay)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rep, err := gamestate.VerifyReplay(f, arena.NewGame)
			if err != nil {
				t.Fatalf("replay: %v", err)
			}
			if err := rep.Incomplete(); err != nil {
				t.Errorf("replay not finished: %v", err)
			}
			t.Logf("replay: %d ticks, %d verdicts", rep.Ticks, len(rep.Verdicts))
		})
	}
}
