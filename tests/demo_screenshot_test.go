package tests

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// demoScreenshot is the demo's "done when", on a w×h screen: the headless
// run of the one-machine demo with a speed-hacking bot exits 0, writes a
// PNG that shows the arena (many colours, not blank) with the red CHEATER
// flag in the side panel, fits the screen (the window is sized to the
// monitor and the HUD laid out for it), and reports the invalid-move
// verdict against player 2 once, then the summary once.
func demoScreenshot(t *testing.T, bin string, w, h int) {
	display := startXvfb(t, w, h)
	shot := filepath.Join(t.TempDir(), "out.png")
	code, stdout, stderr := runDemo(t, bin, displayEnv(display), "--bots", "3", "--cheater", "2", "--cheat", "invalid-move",
		"--ticks", "900", "--tick-hz", "60", "--net", "--screenshot", shot)
	if code != 0 {
		t.Fatalf("paxsync-demo: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	t.Logf("stdout:\n%s", stdout)
	if n := strings.Count(stdout, "verdict: invalid-move player 2 "); n != 1 {
		t.Errorf("stdout reports the invalid-move verdict against player 2 %d times, want once:\n%s", n, stdout)
	}
	if n := strings.Count(stdout, "verdict summary: "); n != 1 || !strings.Contains(stdout, "  seat 2 invalid-move: ") {
		t.Errorf("want one summary with seat 2's invalid-move row:\n%s", stdout)
	}
	img := readPNG(t, shot)
	b := img.Bounds()
	if b.Dx() > w || b.Dy() > h {
		t.Errorf("screenshot %dx%d does not fit the %dx%d screen", b.Dx(), b.Dy(), w, h)
	}
	colours, red := map[uint32]bool{}, 0
	panelX := b.Max.X - 300 // the side panel is at least 280 px wide, at the right
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			colours[r<<16|g<<8|bl] = true
			// The CHEATER flag's saturated red (0xff1a1a); no player colour
			// is red, so these pixels come from the flag. Count only the
			// side panel, where the HUD flag lives.
			if x > panelX && r > 0xe0 && g < 0x40 && bl < 0x40 {
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

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	return img
}

// demoLeaderOnlyCheat: a cheat that acts only while its player leads
// takes effect in the one-machine demo: the cheating bot is given seat 0,
// the first leader (and the terminal says so), and its equivocating
// proposal is proven.
func demoLeaderOnlyCheat(t *testing.T, bin string) {
	display := startXvfb(t, 1280, 800)
	code, stdout, stderr := runDemo(t, bin, displayEnv(display), "--bots", "3", "--cheater", "2", "--cheat", "equivocate-proposal",
		"--ticks", "300", "--tick-hz", "60")
	if code != 0 {
		t.Fatalf("paxsync-demo: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	t.Logf("stdout:\n%s", stdout)
	if !strings.Contains(stdout, "the cheating bot plays P0 and you play P2") {
		t.Errorf("stdout does not say the leader-only cheater plays seat 0:\n%s", stdout)
	}
	if !strings.Contains(stdout, "verdict: proposal-equivocation player 0 ") {
		t.Errorf("no proposal-equivocation verdict against the cheater (seat 0):\n%s", stdout)
	}
}

// demoPredictionOff: with --prediction=false (lockstep with the default
// input delay, the agreed state drawn) the headless demo still plays to the
// end, writes its screenshot and proves a speed-hacking bot; the default
// run, with prediction, is demoScreenshot.
func demoPredictionOff(t *testing.T, bin string) {
	display := startXvfb(t, 1280, 800)
	shot := filepath.Join(t.TempDir(), "off.png")
	code, stdout, stderr := runDemo(t, bin, displayEnv(display), "--prediction=false", "--bots", "2", "--cheater", "1",
		"--cheat", "invalid-move", "--ticks", "600", "--tick-hz", "60", "--net", "--screenshot", shot)
	if code != 0 {
		t.Fatalf("paxsync-demo --prediction=false: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "verdict: invalid-move player 1 ") {
		t.Errorf("no invalid-move verdict against player 1 without prediction:\n%s", stdout)
	}
	if b := readPNG(t, shot).Bounds(); b.Dx() == 0 || b.Dy() == 0 {
		t.Errorf("empty screenshot %v", b)
	}
}
