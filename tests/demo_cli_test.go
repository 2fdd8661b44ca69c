package tests

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runDemo runs the demo binary with env and args, bounded by a generous
// timeout, and returns its exit status, stdout and stderr.
func runDemo(t *testing.T, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode(), stdout.String(), stderr.String()
	default:
		t.Fatalf("paxsync-demo %q: %v\nstdout:\n%s\nstderr:\n%s", args, err, stdout.String(), stderr.String())
		return 0, "", ""
	}
}

// demoHelpWithoutDisplay: --help works where Ebiten cannot open a display
// (its package init would panic before main): exit 0, the usage on stdout.
func demoHelpWithoutDisplay(t *testing.T, bin string) {
	for _, arg := range []string{"--help", "-h"} {
		code, stdout, stderr := runDemo(t, bin, noDisplayEnv(), arg)
		if code != 0 || !strings.HasPrefix(stdout, "usage: paxsync-demo") || !strings.Contains(stdout, "-cheater") ||
			!strings.Contains(stdout, "-prediction") {
			t.Errorf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", arg, code, stdout, stderr)
		}
		if strings.Contains(stderr, "panic") || strings.Contains(stderr, "glfw") {
			t.Errorf("%s: stderr:\n%s", arg, stderr)
		}
	}
}

// demoBadFlags: a bad flag is exit status 2 and one line naming it, with
// or without a display.
func demoBadFlags(t *testing.T, bin string) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--no-such-flag"}, "-no-such-flag"},
		{[]string{"--bots", "9"}, "--bots 9"},
		{[]string{"--cheat", "teleport"}, "teleport"},
		{[]string{"--screenshot", "x.png"}, "--ticks"},
		{[]string{"--input-delay", "0"}, "--input-delay 0: want 1..30"},
	} {
		code, stdout, stderr := runDemo(t, bin, noDisplayEnv(), tc.args...)
		lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
		if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], tc.want) || stdout != "" {
			t.Errorf("%q: exit %d (want 2)\nstdout:\n%s\nstderr (want one line with %q):\n%s", tc.args, code, stdout, tc.want, stderr)
		}
	}
}

// demoNoDisplay: no display (DISPLAY unset, or naming a display nothing
// serves) is a non-zero exit and one line that says how to run headless.
func demoNoDisplay(t *testing.T, bin string) {
	for _, env := range [][]string{noDisplayEnv(), displayEnv(":987")} {
		if exists("/tmp/.X11-unix/X987") {
			continue
		}
		code, stdout, stderr := runDemo(t, bin, env, "--bots", "2")
		lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
		if code == 0 || len(lines) != 1 || !strings.Contains(lines[0], "xvfb-run -a") || strings.Contains(stderr, "panic") {
			t.Errorf("exit %d (want non-zero)\nstdout:\n%s\nstderr (want one line naming xvfb-run):\n%s", code, stdout, stderr)
		}
	}
}
