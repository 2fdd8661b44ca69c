package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// reportScenario has a cheater that is also the faulty peer of every
// fault (so n = 4 tolerates it): peer 2 forges peer 0's inputs from tick
// 60, is cut off from everyone at tick 100 (healed 30 ticks later) and is
// SIGKILLed at tick 180, then restarted at tick 250. Its page must show
// every kind of marker that does not need a second scenario.
const reportScenario = `{"name": "report-html", "peers": 4, "tick_hz": 60, "ticks": 360, "seed": 31,
 "cheats": [{"peer": 2, "kind": "forge-input", "from_tick": 60, "target": 0}],
 "faults": [{"peer": 2, "kind": "disconnect", "at_tick": 100, "heal_at_tick": 130},
            {"peer": 2, "kind": "crash", "at_tick": 180, "restart_at_tick": 250}],
 "expect": {"flagged": {"2": ["forged-input"]}, "honest_agree": true, "min_decided_ticks": 360}}`

// htmlReport is the part of `paxsync match --json` the page is checked
// against.
type htmlReport struct {
	ExpectOK bool     `json:"expect_ok"`
	Failed   []string `json:"failed"`
	Notes    []string `json:"notes"`
	HashTick *uint64  `json:"hash_tick"`
	Peers    []struct {
		Role       string `json:"role"`
		Crashes    int    `json:"crashes"`
		HashAtTick string `json:"hash_at_tick"`
		Verdicts   []struct {
			Kind      string `json:"kind"`
			Against   int    `json:"against"`
			DecidedAt uint64 `json:"decided_at"`
		} `json:"verdicts"`
	} `json:"peers"`
}

// pageMarker is one <g class="mk"> of report.html.
type pageMarker struct {
	kind        string
	tick        uint64
	peer, about int
	first       bool
	title       string
}

// TestMatchReportHTML runs a real match with a cheater and faults with
// --out and checks DIR/report.html: it is one well-formed, self-contained
// page whose timelines hold the cheat start, every verdict's first marker,
// the crash, the restart and every cut and heal at exactly the ticks the
// run's own JSON report names; then headless Chromium renders it (a
// screenshot that decodes and shows the marker colours). The Chromium part
// skips only when Chromium is missing outside CI.
func TestMatchReportHTML(t *testing.T) {
	if testing.Short() || sessionRace {
		t.Skip("multi-process network test; run without -short and -race")
	}
	exe := buildPaxsync(t)
	dir := t.TempDir()
	scenario := filepath.Join(dir, "report-html.json")
	writeFile(t, scenario, reportScenario)
	out := filepath.Join(dir, "out")
	cmd := exec.Command(exe, "match", "--scenario", scenario, "--json", "--out", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("paxsync match: %v\n%s", err, stderr.String())
	}
	var rep htmlReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout.String())
	}
	if !rep.ExpectOK {
		t.Fatalf("expectations failed: %q\n%s", rep.Failed, stderr.String())
	}
	page, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("markers", func(t *testing.T) {
		marks, panels := parsePage(t, page)
		if panels != 4 {
			t.Errorf("%d timeline panels, want 4", panels)
		}
		has := func(kind string, peer, about int, tick uint64, first bool) {
			t.Helper()
			for _, m := range marks {
				if m.kind == kind && m.peer == peer && m.about == about && m.tick == tick && m.first == first {
					if m.title == "" {
						t.Errorf("%s marker on peer %d at tick %d has no hover title", kind, peer, tick)
					}
					return
				}
			}
			t.Errorf("no %s marker (first=%v) on peer %d's timeline about peer %d at tick %d", kind, first, peer, about, tick)
		}
		crash := noteTicks(t, rep.Notes, `SIGKILL peer 2 at tick (\d+)$`)
		restart := noteTicks(t, rep.Notes, `restarted peer 2 \(same key and WAL\) at tick (\d+)$`)
		if len(crash) != 1 || len(restart) != 1 || crash[0] < 180 || restart[0] < 250 {
			t.Fatalf("notes do not name one crash at tick >= 180 and one restart at tick >= 250: %q", rep.Notes)
		}
		for peer := 0; peer < 4; peer++ {
			// The script's events are on every panel.
			has("cheat-start", peer, 2, 60, true)
			has("crash", peer, 2, crash[0], true)
			has("restart", peer, 2, restart[0], true)
			// Each peer's own cut and heal, at the tick it printed.
			for _, tick := range noteTicks(t, rep.Notes, fmt.Sprintf(`^peer %d: net cut \[[0-9 ]+\] at tick (\d+)$`, peer)) {
				has("cut", peer, -1, tick, true)
			}
			heals := noteTicks(t, rep.Notes, fmt.Sprintf(`^peer %d: net heal \[[0-9 ]+\] at tick (\d+)$`, peer))
			for _, tick := range heals {
				has("heal", peer, -1, tick, true)
			}
			if len(heals) == 0 {
				t.Errorf("peer %d printed no heal", peer)
			}
		}
		// Every honest peer's first verdict of each kind, at the tick it had
		// applied when the verdict arrived (decided_at of its report).
		for peer, p := range rep.Peers {
			if p.Role != "honest" {
				continue
			}
			firsts := map[string]uint64{}
			for _, v := range p.Verdicts {
				k := fmt.Sprintf("%s/%d", v.Kind, v.Against)
				if at, ok := firsts[k]; !ok || v.DecidedAt < at {
					firsts[k] = v.DecidedAt
				}
			}
			if len(firsts) == 0 {
				t.Errorf("honest peer %d reached no verdict", peer)
			}
			for k, at := range firsts {
				against, _ := strconv.Atoi(k[strings.IndexByte(k, '/')+1:])
				has("verdict", peer, against, at, true)
			}
		}
		// The table shows the hash at the common checkpoint, identical for
		// the honest peers, and says which tick it is.
		if rep.HashTick == nil {
			t.Fatal("report has no hash_tick")
		}
		if !bytes.Contains(page, []byte(fmt.Sprintf("hash @ tick %d", *rep.HashTick))) {
			t.Errorf("the table does not name the hash tick %d", *rep.HashTick)
		}
		for peer, p := range rep.Peers {
			if p.Role == "honest" && (p.HashAtTick == "" || p.HashAtTick != rep.Peers[0].HashAtTick) {
				t.Errorf("honest peer %d: hash at tick %d is %q, peer 0's %q", peer, *rep.HashTick, p.HashAtTick, rep.Peers[0].HashAtTick)
			}
		}
		// Self-contained: nothing is fetched.
		for _, bad := range []string{"<script", "<link", "src=", "https://", "url("} {
			if bytes.Contains(page, []byte(bad)) {
				t.Errorf("page contains %q: it must not load anything", bad)
			}
		}
		if n := bytes.Count(page, []byte("http://")); n != bytes.Count(page, []byte(`xmlns="http://www.w3.org/2000/svg"`)) {
			t.Errorf("page names an http:// address other than the SVG namespace")
		}
	})

	t.Run("chromium", func(t *testing.T) {
		bin, err := exec.LookPath("chromium")
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("chromium is not installed; CI must install it (scripts/deps.sh test)")
			}
			t.Skip("chromium is not installed (apt-get install chromium); skipping the screenshot")
		}
		shot := filepath.Join(dir, "report.png")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
			"--user-data-dir="+filepath.Join(dir, "chromium-profile"), "--screenshot="+shot, "--window-size=1280,1600",
			"file://"+filepath.Join(out, "report.html"))
		if msg, err := c.CombinedOutput(); err != nil {
			t.Fatalf("chromium: %v\n%s", err, msg)
		}
		f, err := os.Open(shot)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatalf("screenshot is not a PNG: %v", err)
		}
		b := img.Bounds()
		if b.Dx() != 1280 || b.Dy() != 1600 {
			t.Errorf("screenshot is %dx%d, want 1280x1600", b.Dx(), b.Dy())
		}
		colours := map[uint32]bool{}
		// Pixels of the cheat-start (#d55e00), verdict (#7b2d8e) and
		// latency line (#334155) colours: the SVG really rendered.
		want := map[string][3]int{"cheat start": {0xd5, 0x5e, 0x00}, "verdict": {0x7b, 0x2d, 0x8e}, "latency line": {0x33, 0x41, 0x55}}
		found := map[string]int{}
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				r, g, bl = r>>8, g>>8, bl>>8
				colours[r<<16|g<<8|bl] = true
				for name, c := range want {
					if near(int(r), c[0]) && near(int(g), c[1]) && near(int(bl), c[2]) {
						found[name]++
					}
				}
			}
		}
		if len(colours) < 50 {
			t.Errorf("screenshot looks blank: %d distinct colours", len(colours))
		}
		for name := range want {
			if found[name] < 20 {
				t.Errorf("screenshot has %d pixels of the %s colour; the timeline did not render", found[name], name)
			}
		}
		t.Logf("%dx%d, %d colours, marker pixels %v", b.Dx(), b.Dy(), len(colours), found)
	})
}

func near(a, b int) bool { return a-b <= 8 && b-a <= 8 }

// parsePage reads the page as XML (it is written to be well-formed) and
// returns its timeline markers and the number of timeline panels.
func parsePage(t *testing.T, page []byte) ([]pageMarker, int) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(page))
	dec.Strict = true
	var marks []pageMarker
	panels := 0
	var cur *pageMarker
	inTitle := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("report.html is not well-formed: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			attr := map[string]string{}
			for _, a := range e.Attr {
				attr[a.Name.Local] = a.Value
			}
			switch {
			case e.Name.Local == "svg" && attr["class"] == "tl":
				panels++
			case e.Name.Local == "g" && attr["class"] == "mk":
				m := pageMarker{kind: attr["data-kind"], first: attr["data-first"] == "true"}
				var err1, err2, err3 error
				m.tick, err1 = strconv.ParseUint(attr["data-tick"], 10, 64)
				m.peer, err2 = strconv.Atoi(attr["data-peer"])
				m.about, err3 = strconv.Atoi(attr["data-about"])
				if err := errors.Join(err1, err2, err3); err != nil {
					t.Fatalf("marker %v: %v", e.Attr, err)
				}
				marks = append(marks, m)
				cur = &marks[len(marks)-1]
			case e.Name.Local == "title" && cur != nil:
				inTitle = true
			}
		case xml.CharData:
			if inTitle {
				cur.title += string(e)
			}
		case xml.EndElement:
			switch e.Name.Local {
			case "title":
				inTitle = false
			case "g":
				cur = nil
			}
		}
	}
	return marks, panels
}

// noteTicks returns the tick captured by re in every note it matches.
func noteTicks(t *testing.T, notes []string, re string) []uint64 {
	t.Helper()
	rx := regexp.MustCompile(re)
	var out []uint64
	for _, n := range notes {
		if m := rx.FindStringSubmatch(n); m != nil {
			v, err := strconv.ParseUint(m[1], 10, 64)
			if err != nil {
				t.Fatalf("note %q: %v", n, err)
			}
			out = append(out, v)
		}
	}
	return out
}
