package tests

import (
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDemoScreenshot is the demo's "done when": the headless run of the
// one-machine demo with a speed-hacking bot exits 0, writes a PNG that
// shows the arena (many colours, not blank) with the red CHEATER flag, and
// reports the invalid-move verdict against player 2. It needs an X server:
// it starts Xvfb itself when DISPLAY is unset, skips when Xvfb is missing
// outside CI, and fails in CI (which installs Xvfb itself).
func TestDemoScreenshot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the Ebiten demo; skipped with -short")
	}
	display := os.Getenv("DISPLAY")
	if display == "" {
		display = startXvfb(t)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "paxsync-demo")
	build := exec.Command("go", "build", "-o", bin, "../cmd/paxsync-demo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/paxsync-demo: %v\n%s", err, out)
	}
	shot := filepath.Join(dir, "out.png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--bots", "3", "--cheater", "2", "--cheat", "invalid-move",
		"--ticks", "900", "--tick-hz", "60", "--screenshot", shot)
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("paxsync-demo: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("demo ran 900 ticks in %v; stdout:\n%s", time.Since(start).Round(time.Millisecond), stdout.String())

	if !strings.Contains(stdout.String(), "verdict: invalid-move player 2 ") {
		t.Errorf("stdout does not report the invalid-move verdict against player 2:\n%s", stdout.String())
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	colours, red := map[uint32]bool{}, 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			colours[r<<16|g<<8|bl] = true
			// The CHEATER flag's saturated red (0xff1a1a); no player colour
			// is red, so these pixels come from the flag. Count only the
			// side panel (right of the arena), where the HUD flag lives.
			if x > 830 && r > 0xe0 && g < 0x40 && bl < 0x40 {
				red++
			}
		}
	}
	if len(colours) < 20 {
		t.Errorf("screenshot looks blank: %d distinct colours", len(colours))
	}
	if red < 200 {
		t.Errorf("no red CHEATER flag in the HUD: %d saturated red pixels", red)
	}
	t.Logf("%dx%d, %d colours, %d red HUD pixels", b.Dx(), b.Dy(), len(colours), red)
}

// startXvfb starts a private X server and returns its display, or skips or
// fails the test when Xvfb is not installed.
func startXvfb(t *testing.T) string {
	path, err := exec.LookPath("Xvfb")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("Xvfb is not installed; CI must install xvfb (scripts/deps.sh test)")
		}
		t.Skip("no DISPLAY and Xvfb is not installed (apt-get install xvfb); skipping the demo screenshot test")
	}
	for n := 90 + os.Getpid()%100; n < 300; n++ {
		display := fmt.Sprintf(":%d", n)
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
			continue
		}
		cmd := exec.Command(path, display, "-screen", "0", "1280x800x24", "-nolisten", "tcp")
		if err := cmd.Start(); err != nil {
			t.Fatalf("Xvfb: %v", err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
		for i := 0; i < 50; i++ {
			if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
				return display
			}
			time.Sleep(100 * time.Millisecond)
		}
		cmd.Process.Kill()
		cmd.Wait()
	}
	t.Fatal("could not start Xvfb on any display")
	return ""
}
