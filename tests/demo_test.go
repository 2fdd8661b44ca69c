package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemo builds cmd/paxsync-demo once and runs it as a user would:
// without a display (--help, bad flags, the "no display" message), and
// under a private Xvfb (headless screenshots at two screen sizes, with
// prediction on as by default, a leader-only cheat, a match without
// prediction, stopping by signal). The subtests that need a
// display skip when Xvfb is missing outside CI and fail in CI (which
// installs it: scripts/deps.sh test). No subtest depends on the machine's
// speed: waits are bounded generously and only properties are checked.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the Ebiten demo; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "paxsync-demo")
	build := exec.Command("go", "build", "-o", bin, "../cmd/paxsync-demo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/paxsync-demo: %v\n%s", err, out)
	}
	t.Run("help-without-display", func(t *testing.T) { demoHelpWithoutDisplay(t, bin) })
	t.Run("bad-flags-without-display", func(t *testing.T) { demoBadFlags(t, bin) })
	t.Run("no-display", func(t *testing.T) { demoNoDisplay(t, bin) })
	t.Run("screenshot-1280x800", func(t *testing.T) { demoScreenshot(t, bin, 1280, 800) })
	t.Run("screenshot-1024x768", func(t *testing.T) { demoScreenshot(t, bin, 1024, 768) })
	t.Run("leader-only-cheat", func(t *testing.T) { demoLeaderOnlyCheat(t, bin) })
	t.Run("prediction-off", func(t *testing.T) { demoPredictionOff(t, bin) })
	t.Run("signals", func(t *testing.T) { demoSignals(t, bin) })
}

// noDisplayEnv is the environment without any display variable.
func noDisplayEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DISPLAY=") && !strings.HasPrefix(kv, "WAYLAND_DISPLAY=") {
			env = append(env, kv)
		}
	}
	return env
}

// displayEnv is the environment with DISPLAY set to display.
func displayEnv(display string) []string { return append(noDisplayEnv(), "DISPLAY="+display) }

// startXvfb starts a private X server with a w×h screen and returns its
// display, or skips or fails the test when Xvfb is not installed.
func startXvfb(t *testing.T, w, h int) string {
	t.Helper()
	path, err := exec.LookPath("Xvfb")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("Xvfb is not installed; CI must install xvfb (scripts/deps.sh test)")
		}
		t.Skip("Xvfb is not installed (apt-get install xvfb); skipping the headless demo test")
	}
	for n := 90 + os.Getpid()%100; n < 300; n++ {
		display := fmt.Sprintf(":%d", n)
		socket, lock := fmt.Sprintf("/tmp/.X11-unix/X%d", n), fmt.Sprintf("/tmp/.X%d-lock", n)
		if exists(socket) || exists(lock) {
			continue
		}
		cmd := exec.Command(path, display, "-screen", "0", fmt.Sprintf("%dx%dx24", w, h), "-nolisten", "tcp")
		if err := cmd.Start(); err != nil {
			t.Fatalf("Xvfb: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		deadline := time.After(20 * time.Second)
	wait:
		for !exists(socket) {
			select {
			case <-exited:
				break wait // display taken meanwhile: try the next one
			case <-deadline:
				cmd.Process.Kill()
				<-exited
				t.Fatalf("Xvfb %s: no socket after 20 s", display)
			case <-time.After(50 * time.Millisecond):
			}
		}
		select {
		case <-exited:
			continue
		default:
		}
		t.Cleanup(func() {
			// SIGTERM lets Xvfb remove its socket and lock file; a killed
			// one leaves them, and the display number looks taken.
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
				os.Remove(socket)
				os.Remove(lock)
			}
		})
		return display
	}
	t.Fatal("could not start Xvfb on any display")
	return ""
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
