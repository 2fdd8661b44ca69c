package match

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// HTMLName is the page a match run with an output directory writes there
// (`paxsync match --out DIR` → DIR/report.html). It is one self-contained
// file (inline CSS and SVG, no script, nothing fetched), so it opens from
// disk anywhere and can be attached to an issue as it is.
const HTMLName = "report.html"

// writeHTMLFile writes the page to path.
func (rep *Report) writeHTMLFile(path string) error {
	var b bytes.Buffer
	rep.writeHTML(&b, time.Now())
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// htmlEsc escapes text and attribute values. The page is also well-formed
// XML (every element closed, no entities beyond XML's own), so tests and
// tools can read it with encoding/xml.
var htmlEsc = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;").Replace

// Marker colours (Okabe–Ito based, distinguishable with the common colour
// vision deficiencies) and the lane each kind is drawn in.
var markStyles = map[string]struct {
	color, name string
	row         int
}{
	markCheat:   {"#d55e00", "cheat starts", 0},
	markCrash:   {"#111827", "crash (SIGKILL)", 0},
	markRestart: {"#009e73", "restart", 0},
	markCut:     {"#0072b2", "cut (network)", 1},
	markHeal:    {"#56b4e9", "heal (network)", 1},
	markView:    {"#6b7280", "view change", 1},
	markVerdict: {"#7b2d8e", "verdict reached", 2},
	markObs:     {"#e69f00", "observation", 2},
}

// laneNames label the three marker lanes above each latency plot.
var laneNames = [3]string{"match", "network", "verdicts"}

const (
	latColor  = "#334155"
	latBand   = "#cbd5e1"
	clampCol  = "#dc2626"
	downFill  = "#9ca3af"
	cutFill   = "#93c5fd"
	gridColor = "#e5e7eb"
)

// Geometry of one peer's timeline (SVG user units; the SVG scales to the
// page width).
const (
	tlWidth   = 1200
	tlLeft    = 86
	tlRight   = 18
	tlLaneTop = 6
	tlLaneH   = 17
	tlPlotTop = tlLaneTop + 3*tlLaneH + 8
	tlPlotH   = 150
	tlHeight  = tlPlotTop + tlPlotH + 34
	tlPlotW   = tlWidth - tlLeft - tlRight
)

// glyph draws a marker's shape centred at (x, y); small is a repeat of a
// kind already marked (a smaller shape, no label).
func glyph(kind string, x, y float64, small bool) string {
	c := markStyles[kind].color
	s := 5.5
	if small {
		s = 3
	}
	switch kind {
	case markCheat:
		return fmt.Sprintf(`<path d="M%.1f %.1fL%.1f %.1fL%.1f %.1fZ" fill="%s"/>`, x-s-1, y-s, x+s+1, y-s, x, y+s+1, c)
	case markCrash:
		return fmt.Sprintf(`<path d="M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f" stroke="%s" stroke-width="2.6" stroke-linecap="round"/>`,
			x-s, y-s, x+s, y+s, x-s, y+s, x+s, y-s, c)
	case markRestart:
		return fmt.Sprintf(`<path d="M%.1f %.1fL%.1f %.1fL%.1f %.1fZ" fill="%s"/>`, x-s-1, y+s, x+s+1, y+s, x, y-s-1, c)
	case markCut:
		return fmt.Sprintf(`<rect x="%.1f" y="%.1f" width="4" height="%.1f" fill="%s"/>`, x-2, y-s-1, 2*s+2, c)
	case markHeal:
		return fmt.Sprintf(`<circle cx="%.1f" cy="%.1f" r="%.1f" fill="white" stroke="%s" stroke-width="2.4"/>`, x, y, s-0.5, c)
	case markView:
		return fmt.Sprintf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, x-s+0.5, y-s+0.5, 2*s-1, 2*s-1, c)
	case markVerdict:
		if small {
			return fmt.Sprintf(`<rect x="%.1f" y="%.1f" width="1.6" height="9" fill="%s" opacity="0.6"/>`, x-0.8, y-4.5, c)
		}
		return fmt.Sprintf(`<path d="M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ" fill="%s"/>`, x, y-s-1, x+s+1, y, x, y+s+1, x-s-1, y, c)
	case markObs:
		return fmt.Sprintf(`<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s"/>`, x, y, s-0.7, c)
	}
	return ""
}

// writeHTML renders the whole page.
func (rep *Report) writeHTML(b *bytes.Buffer, now time.Time) {
	sc := rep.sc
	if sc == nil {
		sc = &Scenario{Name: rep.Scenario}
	}
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
	w("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n")
	w("<title>paxsync match: %s</title>\n<style>%s</style>\n</head>\n<body>\n", htmlEsc(sc.Name), pageCSS)

	status, statusClass := "expect: OK", "ok"
	if !rep.ExpectOK {
		status, statusClass = fmt.Sprintf("expect: FAILED (%d)", len(rep.Failed)), "fail"
	}
	w("<header><h1>paxsync match <span class=\"name\">%s</span></h1><span class=\"badge %s\">%s</span></header>\n",
		htmlEsc(sc.Name), statusClass, htmlEsc(status))
	w("<p class=\"meta\">%d peers (f = %d) · %d Hz · %d ticks · seed %d%s · ran %.1f s · generated %s</p>\n",
		sc.Peers, sc.F(), sc.TickHz, sc.Ticks, sc.Seed, map[bool]string{true: " · sealed inputs", false: ""}[sc.Sealed],
		rep.DurationS, htmlEsc(now.UTC().Format("2006-01-02 15:04 UTC")))

	if len(rep.Failed) > 0 {
		w("<div class=\"failed\"><strong>Failed expectations</strong><ul>\n")
		for _, f := range rep.Failed {
			w("<li>%s</li>\n", htmlEsc(f))
		}
		w("</ul></div>\n")
	}
	rep.writeScenarioHTML(w, sc)
	rep.writePeersHTML(w)
	rep.writeTimelinesHTML(w, sc)
	rep.writeResultsHTML(w)
	rep.writeNotesHTML(w)
	w("<footer>Written by <code>paxsync match --out DIR</code>; every peer's key, WAL, log, replay and report are beside it in DIR. docs/MATCH.md explains every field and marker.</footer>\n")
	w("</body>\n</html>\n")
}

const pageCSS = `
:root { color-scheme: light; }
body { font-family: "Inter", "Segoe UI", system-ui, -apple-system, "Noto Sans", "DejaVu Sans", sans-serif;
  font-size: 15px; line-height: 1.45; color: #1f2937; background: #f8fafc; margin: 0 auto; padding: 20px 28px 40px; max-width: 1280px; }
header { display: flex; align-items: center; gap: 16px; }
h1 { font-size: 24px; margin: 4px 0; font-weight: 650; }
h1 .name { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-weight: 600; color: #0f172a; }
h2 { font-size: 17px; margin: 26px 0 8px; font-weight: 650; color: #0f172a; }
.badge { padding: 3px 10px; border-radius: 999px; font-weight: 650; font-size: 13px; }
.badge.ok { background: #dcfce7; color: #166534; }
.badge.fail { background: #fee2e2; color: #991b1b; }
.meta { color: #475569; margin: 2px 0 10px; }
.failed { background: #fef2f2; border: 1px solid #fecaca; border-radius: 8px; padding: 8px 14px; color: #7f1d1d; }
.card { background: white; border: 1px solid #e2e8f0; border-radius: 10px; padding: 12px 16px; }
ul.facts { margin: 0; padding-left: 18px; }
ul.facts li { margin: 2px 0; }
code, .mono { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 13px; }
details { margin-top: 6px; }
summary { cursor: pointer; color: #475569; }
pre { background: #f1f5f9; padding: 10px; border-radius: 6px; overflow-x: auto; font-size: 12.5px; }
table { border-collapse: collapse; width: 100%; background: white; border: 1px solid #e2e8f0; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #eef2f7; vertical-align: top; font-size: 14px; }
th { background: #f1f5f9; font-weight: 600; color: #334155; white-space: nowrap; }
td.num { text-align: right; white-space: nowrap; }
tr:nth-child(even) td { background: #fbfdff; }
.chip { display: inline-block; padding: 0 7px; border-radius: 6px; font-size: 13px; margin-right: 4px; white-space: nowrap; }
.chip.honest { background: #e0f2fe; color: #075985; }
.chip.cheater { background: #ffedd5; color: #9a3412; font-weight: 600; }
.chip.fault { background: #e5e7eb; color: #111827; }
.small { color: #64748b; font-size: 13px; }
.nowrap { white-space: nowrap; }
.key { color: #475569; font-size: 13px; margin: 6px 2px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; background: white; border: 1px solid #e2e8f0; border-radius: 10px; padding: 8px 14px; font-size: 13.5px; }
.legend span { display: inline-flex; align-items: center; gap: 6px; white-space: nowrap; }
figure { margin: 14px 0 0; background: white; border: 1px solid #e2e8f0; border-radius: 10px; padding: 8px 10px 2px; }
figcaption { font-size: 14px; margin: 0 4px 2px; }
figcaption strong { font-size: 15px; margin-right: 6px; }
svg.tl { width: 100%; height: auto; display: block; }
svg text { font-family: "Inter", "Segoe UI", system-ui, "Noto Sans", "DejaVu Sans", sans-serif; }
.hit { fill: transparent; }
.hit:hover { fill: rgba(15, 23, 42, 0.07); }
.mk:hover { opacity: 0.7; }
footer { margin-top: 28px; color: #64748b; font-size: 13px; }
`

// writeScenarioHTML is the scenario section: what was scripted and what
// was expected, then the file itself.
func (rep *Report) writeScenarioHTML(w func(string, ...any), sc *Scenario) {
	w("<h2>Scenario</h2>\n<div class=\"card\"><ul class=\"facts\">\n")
	if len(sc.Cheats) == 0 {
		w("<li>no cheats</li>\n")
	}
	for _, c := range sc.Cheats {
		target := ""
		if c.Target != nil {
			target = fmt.Sprintf(" (victim: peer %d)", *c.Target)
		}
		w("<li><span class=\"chip cheater\">cheat</span>peer %d plays <code>%s</code> from tick %d%s</li>\n", c.Peer, htmlEsc(c.Kind), c.FromTick, htmlEsc(target))
	}
	for _, f := range sc.Faults {
		w("<li><span class=\"chip fault\">fault</span>%s</li>\n", htmlEsc(faultText(f)))
	}
	w("<li><span class=\"chip honest\">expect</span>%s</li>\n", htmlEsc(expectText(sc)))
	w("</ul>\n")
	if data, err := json.MarshalIndent(sc, "", "  "); err == nil {
		w("<details><summary>scenario file (as parsed)</summary><pre>%s</pre></details>\n", htmlEsc(string(data)))
	}
	w("</div>\n")
}

func faultText(f FaultSpec) string {
	switch f.Kind {
	case "crash":
		s := fmt.Sprintf("crash: SIGKILL peer %d at its tick %d", *f.Peer, f.AtTick)
		if f.RestartAtTick != 0 {
			s += fmt.Sprintf(", restart (same key and WAL) when the honest peers reach tick %d", f.RestartAtTick)
		}
		return s
	case "disconnect":
		s := fmt.Sprintf("disconnect: peer %d cut from all at tick %d", *f.Peer, f.AtTick)
		if f.HealAtTick != 0 {
			s += fmt.Sprintf(", healed as of tick %d (timed by the clock from each peer's cut)", f.HealAtTick)
		}
		return s
	case "partition":
		var gs []string
		for _, g := range f.Groups {
			gs = append(gs, fmt.Sprint(g))
		}
		return fmt.Sprintf("partition %s at tick %d, healed as of tick %d (timed by the clock from each peer's cut)", strings.Join(gs, " | "), f.AtTick, f.HealAtTick)
	}
	return f.Kind
}

func expectText(sc *Scenario) string {
	var parts []string
	for _, p := range sc.flaggedPeers() {
		parts = append(parts, fmt.Sprintf("every honest peer reaches %s about peer %d", strings.Join(sc.Expect.Flagged[fmt.Sprint(p)], ", "), p))
	}
	if len(sc.Expect.Flagged) == 0 {
		parts = append(parts, "no proof-class verdict against anyone")
	}
	if sc.Expect.HonestAgree {
		parts = append(parts, "honest peers agree at every common checkpoint")
	}
	if sc.Expect.MinDecidedTicks > 0 {
		parts = append(parts, fmt.Sprintf("every honest peer decides at least %d ticks", sc.Expect.MinDecidedTicks))
	}
	if sc.Expect.ResultsVerify {
		parts = append(parts, "every honest peer's match-result certificate verifies")
	}
	return strings.Join(parts, "; ")
}

// writePeersHTML is the per-peer table (the text report's, with the same
// hash column and notation) and the agreement and detection lines.
func (rep *Report) writePeersHTML(w func(string, ...any)) {
	hashCol := "final hash"
	if rep.HashTick != nil {
		hashCol = fmt.Sprintf("hash @ tick %d", *rep.HashTick)
	}
	w("<h2>Peers</h2>\n<table>\n<tr><th>peer</th><th>role</th><th>decided</th><th>%s</th><th>checkpoints</th><th>p50 ms</th><th>p99 ms</th><th>verdicts reached</th><th>observations</th></tr>\n",
		htmlEsc(hashCol))
	for _, p := range rep.Peers {
		chips := "<span class=\"chip honest\">honest</span>"
		if p.Role != "honest" {
			chips = fmt.Sprintf("<span class=\"chip cheater\">cheater: %s</span>", htmlEsc(p.Cheat))
		}
		if p.Crashes > 0 {
			chips += fmt.Sprintf("<span class=\"chip fault\">crashed ×%d, restarted ×%d</span>", p.Crashes, p.Restarts)
		}
		if p.DownAtEnd {
			chips += "<span class=\"chip fault\">down at end</span>"
		}
		hash := p.FinalHash
		if rep.HashTick != nil {
			hash = p.HashAtTick
		}
		if hash == "" {
			hash = "-"
		} else if len(hash) > 16 {
			hash = hash[:16]
		}
		w("<tr><td class=\"num\">%d</td><td>%s</td><td class=\"num\">%d</td><td class=\"mono\">%s</td><td class=\"num\">%d</td><td class=\"num\">%.1f</td><td class=\"num\">%.1f</td><td>%s</td><td>%s</td></tr>\n",
			p.Index, chips, p.DecidedTicks, htmlEsc(hash), p.Checkpoints, p.CommitP50Ms, p.CommitP99Ms,
			groupsHTML(verdictGroups(p.Verdicts), true), groupsHTML(obsGroups(p.Observations), false))
	}
	w("</table>\n")
	w("<p class=\"key\">%s. Verdicts: kind → peer ×count (first about tick); observations: kind → peer observed ×count (local, not provable). p50/p99: commit latency, own input signed → its tick applied here.</p>\n",
		htmlEsc(rep.hashKey()))
	agree := "honest peers agree"
	if !rep.HonestAgree {
		agree = "honest peers DISAGREE"
	}
	w("<div class=\"card\"><ul class=\"facts\">\n<li><strong>honest_agree: %v</strong>: %s (%d checkpoints in common, least over honest pairs)</li>\n",
		rep.HonestAgree, agree, rep.CommonCheckpoints)
	for _, d := range rep.Detection {
		w("<li>detection: peer %d reached <code>%s</code> against peer %d %s</li>\n", d.Observer, htmlEsc(d.Kind), d.Against, htmlEsc(d.when()))
	}
	w("</ul></div>\n")
}

// writeResultsHTML lists each peer's verified match-result certificate:
// what a ladder backend would learn from that peer's file alone.
func (rep *Report) writeResultsHTML(w func(string, ...any)) {
	var b strings.Builder
	rep.printResults(&b)
	if b.Len() == 0 {
		return
	}
	w("<h2>Result certificates</h2>\n<div class=\"card\"><ul class=\"facts small mono\">\n")
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		w("<li>%s</li>\n", htmlEsc(strings.TrimPrefix(l, "result: ")))
	}
	w("</ul><p class=\"small\">Check one with <code>paxsync result verify --roster roster.json peerN.result.cert</code> (both in the run's --out directory).</p></div>\n")
}

// writeNotesHTML lists the runner's notes (crashes, restarts, every cut
// and heal as each peer applied it), below the timelines that show them.
func (rep *Report) writeNotesHTML(w func(string, ...any)) {
	if len(rep.Notes) == 0 {
		return
	}
	w("<h2>Runner notes</h2>\n<div class=\"card\"><ul class=\"facts small\">\n")
	for _, n := range rep.Notes {
		w("<li>%s</li>\n", htmlEsc(n))
	}
	w("</ul></div>\n")
}

func groupsHTML(gs []kindGroup, verdicts bool) string {
	if len(gs) == 0 {
		return "<span class=\"small\">-</span>"
	}
	var out []string
	for _, g := range gs {
		s := fmt.Sprintf("<code>%s</code> → %d ×%d", htmlEsc(g.kind), g.about, g.n)
		if verdicts {
			s += fmt.Sprintf(" <span class=\"small\">(@%d)</span>", g.first)
		}
		out = append(out, "<span class=\"nowrap\">"+s+"</span>")
	}
	return strings.Join(out, "<br/>")
}
