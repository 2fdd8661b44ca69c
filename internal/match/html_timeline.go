package match

// The per-peer timeline panels of report.html: latency scale, markers,
// bands and the SVG of each panel.

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// tlMark is a marker placed on one peer's panel.
type tlMark struct {
	timelineMarker
	small bool // a repeat of a kind already marked
	label string
}

// yScale maps latencies to the plot: logarithmic (latencies differ by
// factors: a tick waiting for a crashed peer's deadline is 100× a normal
// one), shared by every peer so panels compare at a glance, from a 1-2-5
// step at or below the fastest sample to one at or above the 99.5th
// percentile of all samples; anything above is drawn at the top edge in
// red and counted as clamped. dlo and dhi are log10 of the ends.
type yScale struct{ dlo, dhi float64 }

// steps125 are the 1-2-5 values from 10^from to 10^to decades.
func steps125(from, to int) []float64 {
	var out []float64
	for d := from; d <= to; d++ {
		for _, m := range []float64{1, 2, 5} {
			out = append(out, m*math.Pow(10, float64(d)))
		}
	}
	return out
}

func newYScale(tls []*peerTimeline) yScale {
	// No samples: 1 ms to 100 ms, so the empty panels still have an axis.
	var all []float64
	for _, tl := range tls {
		if tl == nil {
			continue
		}
		for _, ms := range tl.lat {
			if ms > 0 {
				all = append(all, ms)
			}
		}
	}
	if len(all) == 0 {
		return yScale{0, 2}
	}
	sort.Float64s(all)
	lo, top := all[0], all[min(len(all)-1, len(all)*995/1000)]
	steps := steps125(int(math.Floor(math.Log10(lo)))-1, int(math.Ceil(math.Log10(top)))+1)
	ylo, yhi := steps[0], steps[len(steps)-1]
	for _, v := range steps {
		if v <= lo*1.0001 {
			ylo = v
		}
	}
	for j := len(steps) - 1; j >= 0; j-- {
		if steps[j] >= top*0.9999 {
			yhi = steps[j]
		}
	}
	// At least one decade, so even a very steady match has a readable axis.
	for yhi/ylo < 9.99 {
		yhi = nextStep(yhi)
	}
	return yScale{math.Log10(ylo), math.Log10(yhi)}
}

// nextStep is the 1-2-5 value after v.
func nextStep(v float64) float64 {
	d := math.Pow(10, math.Floor(math.Log10(v)+1e-9))
	switch m := math.Round(v / d); {
	case m < 2:
		return 2 * d
	case m < 5:
		return 5 * d
	}
	return 10 * d
}

// gridlines are the 1-2-5 values within the scale, and whether each gets
// a label (all of them on a short axis, powers of ten and the ends on a
// long one).
func (s yScale) gridlines() (vals []float64, labelled []bool) {
	for _, v := range steps125(int(math.Floor(s.dlo)), int(math.Ceil(s.dhi))) {
		l := math.Log10(v)
		if l < s.dlo-1e-9 || l > s.dhi+1e-9 {
			continue
		}
		vals = append(vals, v)
	}
	for _, v := range vals {
		l := math.Log10(v)
		decade := math.Abs(l-math.Round(l)) < 1e-9
		end := math.Abs(l-s.dlo) < 1e-9 || math.Abs(l-s.dhi) < 1e-9
		labelled = append(labelled, len(vals) <= 8 || decade || end)
	}
	return vals, labelled
}

func (s yScale) max() float64 { return math.Pow(10, s.dhi) }

// y is the plot coordinate of ms, and whether ms was clamped at the top.
func (s yScale) y(ms float64) (float64, bool) {
	v := math.Log10(math.Max(ms, math.Pow(10, s.dlo)))
	clamped := v > s.dhi+1e-9
	v = math.Min(v, s.dhi)
	return tlPlotTop + tlPlotH - (v-s.dlo)/(s.dhi-s.dlo)*tlPlotH, clamped
}

// fmtLat formats a latency for labels and hover text.
func fmtLat(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%.2f s", ms/1000)
	case ms >= 100:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.2f ms", ms)
}

// tickStep picks the x grid: a round number of ticks, 6 to 12 lines.
func tickStep(span uint64) uint64 {
	for _, s := range []uint64{10, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 6000, 12000} {
		if span/s <= 12 {
			return s
		}
	}
	return 36000
}

// writeTimelinesHTML is the legend and one SVG timeline per peer.
func (rep *Report) writeTimelinesHTML(w func(string, ...any), sc *Scenario) {
	w("<h2>Timeline</h2>\n")
	w("<p class=\"key\">One panel per peer. The line is that peer's commit latency for each tick it applied with its own input in it (signed and sent → applied here), on a log scale shared by all panels; a gap is a tick it did not apply with its own input in it (it was down or cut off, or its input was not in by the deadline). Above it three lanes: the match's script (cheats, crashes and restarts, on every panel), this peer's network cuts and view changes, and the verdicts and observations it reached. Hover over any marker or the plot for details.</p>\n")
	w("<div class=\"legend\">\n")
	w("<span><svg width=\"26\" height=\"14\"><path d=\"M1 10L8 4L15 8L25 2\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\"/></svg>commit latency</span>\n", latColor)
	w("<span><svg width=\"14\" height=\"14\"><path d=\"M7 1L12 8L2 8Z\" fill=\"%s\"/><rect x=\"1\" y=\"10\" width=\"12\" height=\"2\" fill=\"%s\"/></svg>above the scale (clamped)</span>\n", clampCol, clampCol)
	for _, k := range []string{markCheat, markCrash, markRestart, markCut, markHeal, markView, markVerdict, markObs} {
		w("<span><svg width=\"16\" height=\"16\">%s</svg>%s</span>\n", glyph(k, 8, 8, false), htmlEsc(markStyles[k].name))
	}
	w("<span><svg width=\"16\" height=\"16\">%s</svg>repeat of a verdict</span>\n", glyph(markVerdict, 8, 8, true))
	w("<span><svg width=\"22\" height=\"14\"><rect x=\"1\" y=\"1\" width=\"20\" height=\"12\" fill=\"%s\" opacity=\"0.35\"/></svg>peer down</span>\n", downFill)
	w("<span><svg width=\"22\" height=\"14\"><rect x=\"1\" y=\"1\" width=\"20\" height=\"12\" fill=\"%s\" opacity=\"0.35\"/></svg>cut off</span>\n", cutFill)
	w("</div>\n")

	ys := newYScale(rep.timelines)
	xmax := sc.Ticks
	for _, tl := range rep.timelines {
		if tl == nil {
			continue
		}
		for t := range tl.lat {
			xmax = max(xmax, t+1)
		}
		for _, m := range tl.marks {
			xmax = max(xmax, m.tick+1)
		}
	}
	xmax = max(xmax, 1)
	for i, p := range rep.Peers {
		var tl *peerTimeline
		if i < len(rep.timelines) {
			tl = rep.timelines[i]
		}
		if tl == nil {
			tl = &peerTimeline{lat: map[uint64]float64{}}
		}
		rep.writePanel(w, sc, i, &p, tl, ys, xmax)
	}
}

// panelMarks collects what peer i's panel shows: the script's cheat starts
// and every crash and restart (so a latency spike while another peer is
// down can be read off any panel), then this peer's own markers; repeats of
// a verdict or observation kind are drawn small, one per pixel column.
func (rep *Report) panelMarks(sc *Scenario, tl *peerTimeline, xmax uint64) []tlMark {
	var out []tlMark
	for _, c := range sc.Cheats {
		t := fmt.Sprintf("peer %d starts cheating: %s from tick %d", c.Peer, c.Kind, c.FromTick)
		if c.Target != nil {
			t += fmt.Sprintf(" (victim: peer %d)", *c.Target)
		}
		out = append(out, tlMark{timelineMarker: timelineMarker{kind: markCheat, tick: c.FromTick, about: c.Peer, what: c.Kind, title: t},
			label: fmt.Sprintf("%d: %s", c.Peer, c.Kind)})
	}
	for j, other := range rep.timelines {
		if other == nil {
			continue
		}
		for _, m := range other.marks {
			if m.kind != markCrash && m.kind != markRestart {
				continue
			}
			m.about = j
			out = append(out, tlMark{timelineMarker: m, label: fmt.Sprintf("%d %s", j, m.kind)})
		}
	}
	own := append([]timelineMarker(nil), tl.marks...)
	sort.SliceStable(own, func(a, b int) bool { return own[a].tick < own[b].tick })
	type gk struct {
		kind, what string
		about      int
	}
	count, last := map[gk]int{}, map[gk]uint64{}
	for _, m := range own {
		k := gk{m.kind, m.what, m.about}
		count[k]++
		last[k] = m.tick
	}
	seen := map[gk]bool{}
	cols := map[[2]any]bool{}
	for _, m := range own {
		switch m.kind {
		case markCrash, markRestart:
			continue // drawn above, on every panel
		case markVerdict, markObs:
			k := gk{m.kind, m.what, m.about}
			if seen[k] {
				col := [2]any{k, int(float64(m.tick) / float64(xmax) * tlPlotW / 4)}
				if cols[col] {
					continue
				}
				cols[col] = true
				m.title = fmt.Sprintf("%s about peer %d again, with tick %d applied", m.what, m.about, m.tick)
				out = append(out, tlMark{timelineMarker: m, small: true})
				continue
			}
			seen[k] = true
			if n := count[k]; n > 1 {
				m.title += fmt.Sprintf(" (first of %d, the last with tick %d applied)", n, last[k])
			}
			label := fmt.Sprintf("%s→%d", m.what, m.about)
			if n := count[k]; n > 1 {
				label += fmt.Sprintf(" ×%d", n)
			}
			out = append(out, tlMark{timelineMarker: m, label: label})
		case markView:
			out = append(out, tlMark{timelineMarker: m, label: "view " + m.what})
		case markCut:
			out = append(out, tlMark{timelineMarker: m, label: "cut " + m.what})
		default:
			out = append(out, tlMark{timelineMarker: m})
		}
	}
	return out
}

// bands pairs each start marker of a kind with the next end marker: the
// stretches a peer was down or cut off (open stretches run to xmax).
func bands(marks []timelineMarker, start, end string, xmax uint64) [][2]uint64 {
	var out [][2]uint64
	open := false
	var from uint64
	ms := append([]timelineMarker(nil), marks...)
	sort.SliceStable(ms, func(a, b int) bool { return ms[a].tick < ms[b].tick })
	for _, m := range ms {
		switch {
		case m.kind == start && !open:
			open, from = true, m.tick
		case m.kind == end && open:
			open = false
			out = append(out, [2]uint64{from, m.tick})
		}
	}
	if open {
		out = append(out, [2]uint64{from, xmax})
	}
	return out
}

// writePanel draws one peer's caption and timeline SVG.
func (rep *Report) writePanel(w func(string, ...any), sc *Scenario, i int, p *PeerResult, tl *peerTimeline, ys yScale, xmax uint64) {
	x := func(t uint64) float64 { return tlLeft + float64(t)/float64(xmax)*tlPlotW }
	samples := tl.samples()

	role := "<span class=\"chip honest\">honest</span>"
	if p.Role != "honest" {
		role = fmt.Sprintf("<span class=\"chip cheater\">cheater: %s</span>", htmlEsc(p.Cheat))
	}
	if p.Crashes > 0 {
		role += fmt.Sprintf("<span class=\"chip fault\">crashed ×%d, restarted ×%d</span>", p.Crashes, p.Restarts)
	}
	w("<figure id=\"peer-%d\"><figcaption><strong>peer %d</strong>%s <span class=\"small\">decided %d ticks · p50 %s · p99 %s · %d latency samples</span></figcaption>\n",
		i, i, role, p.DecidedTicks, fmtLat(p.CommitP50Ms), fmtLat(p.CommitP99Ms), len(samples))
	w("<svg class=\"tl\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" data-peer=\"%d\" role=\"img\" font-size=\"12\">\n", tlWidth, tlHeight, i)
	w("<title>peer %d: commit latency per tick and events</title>\n", i)

	// Lanes.
	for r, name := range laneNames {
		y := tlLaneTop + float64(r)*tlLaneH
		w("<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"%s\"/>\n", tlLeft, y, tlPlotW, tlLaneH-2, map[bool]string{true: "#f8fafc", false: "#f1f5f9"}[r%2 == 0])
		w("<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"middle\" fill=\"#64748b\" font-size=\"11\">%s</text>\n", tlLeft-8, y+tlLaneH/2-1, name)
	}

	// Down and cut-off stretches, under everything else.
	for j, other := range rep.timelines {
		if other == nil {
			continue
		}
		op, label := "0.16", fmt.Sprintf("peer %d down", j)
		if j == i {
			op, label = "0.4", "down"
		}
		for _, bd := range bands(other.marks, markCrash, markRestart, xmax) {
			w("<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\" opacity=\"%s\"><title>%s: ticks %d–%d</title></rect>\n",
				x(bd[0]), tlPlotTop, x(bd[1])-x(bd[0]), tlPlotH, downFill, op, htmlEsc(label), bd[0], bd[1])
			w("<text x=\"%.1f\" y=\"%d\" fill=\"#374151\" font-size=\"11\">%s</text>\n", x(bd[0])+4, tlPlotTop+13, htmlEsc(label))
		}
	}
	for _, bd := range bands(tl.marks, markCut, markHeal, xmax) {
		w("<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\" opacity=\"0.35\"><title>cut off: ticks %d–%d</title></rect>\n",
			x(bd[0]), tlPlotTop, x(bd[1])-x(bd[0]), tlPlotH, cutFill, bd[0], bd[1])
		w("<text x=\"%.1f\" y=\"%d\" fill=\"#1e3a8a\" font-size=\"11\">cut off</text>\n", x(bd[0])+4, tlPlotTop+26)
	}

	// Grid and axes.
	vals, labelled := ys.gridlines()
	for j, v := range vals {
		yy, _ := ys.y(v)
		stroke := gridColor
		if l := math.Log10(v); math.Abs(l-math.Round(l)) < 1e-9 {
			stroke = "#cbd5e1"
		}
		w("<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\"/>\n", tlLeft, yy, tlLeft+tlPlotW, yy, stroke)
		if labelled[j] {
			w("<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"middle\" fill=\"#475569\">%s</text>\n", tlLeft-6, yy, axisMs(v))
		}
	}
	step := tickStep(xmax)
	for t := uint64(0); t <= xmax; t += step {
		xx := x(t)
		w("<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\"/>\n", xx, tlPlotTop, xx, tlPlotTop+tlPlotH, gridColor)
		w("<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#475569\">%d</text>\n", xx, tlPlotTop+tlPlotH+15, t)
	}
	w("<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#94a3b8\"/>\n", tlLeft, tlPlotTop, tlPlotW, tlPlotH)
	secs := ""
	if sc.TickHz > 0 {
		secs = fmt.Sprintf(" (%d per second)", sc.TickHz)
	}
	w("<text x=\"%d\" y=\"%d\" text-anchor=\"end\" fill=\"#475569\">tick%s</text>\n", tlLeft+tlPlotW, tlPlotTop+tlPlotH+30, secs)
	w("<text x=\"16\" y=\"%d\" text-anchor=\"middle\" fill=\"#475569\" transform=\"rotate(-90 16 %d)\">commit latency (log)</text>\n", tlPlotTop+tlPlotH/2, tlPlotTop+tlPlotH/2)

	marks := rep.panelMarks(sc, tl, xmax)
	// Guide lines through the plot for the markers that explain the line.
	for _, m := range marks {
		if m.small || m.kind == markObs {
			continue
		}
		dash := "4 3"
		if m.kind == markCrash || m.kind == markRestart {
			dash = "2 2"
		}
		w("<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" stroke-dasharray=\"%s\" opacity=\"0.75\"/>\n",
			x(m.tick), tlPlotTop, x(m.tick), tlPlotTop+tlPlotH, markStyles[m.kind].color, dash)
	}

	rep.writeLatency(w, samples, ys, x, xmax)

	// Markers, then their labels on top, lane by lane; a label that would
	// run into the previous one in its lane is left out (the hover title
	// has it). Labels let the pointer through to the markers under them.
	sort.SliceStable(marks, func(a, b int) bool { return marks[a].tick < marks[b].tick })
	laneY := func(m tlMark) float64 { return tlLaneTop + float64(markStyles[m.kind].row)*tlLaneH + tlLaneH/2 - 1 }
	for _, m := range marks {
		w("<g class=\"mk\" data-kind=\"%s\" data-tick=\"%d\" data-peer=\"%d\" data-about=\"%d\" data-first=\"%v\"><title>%s</title>%s</g>\n",
			m.kind, m.tick, i, m.about, !m.small, htmlEsc(m.title), glyph(m.kind, x(m.tick), laneY(m), m.small))
	}
	labelEnd := [3]float64{-1, -1, -1}
	for _, m := range marks {
		if m.label == "" || m.small {
			continue
		}
		st := markStyles[m.kind]
		lx := x(m.tick) + 9
		width := 6.3 * float64(len([]rune(m.label)))
		if lx < labelEnd[st.row]+4 || lx+width > tlLeft+tlPlotW {
			continue
		}
		labelEnd[st.row] = lx + width
		// A backing keeps the label legible over the repeats it covers.
		w("<g pointer-events=\"none\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"13\" rx=\"2\" fill=\"white\" opacity=\"0.92\"/><text x=\"%.1f\" y=\"%.1f\" dominant-baseline=\"middle\" font-size=\"11\" fill=\"%s\">%s</text></g>\n",
			lx-2, laneY(m)-6.5, width+4, lx, laneY(m), st.color, htmlEsc(m.label))
	}
	if len(samples) == 0 {
		w("<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#64748b\">no commit latency recorded: this peer applied no tick with its own input in it</text>\n",
			tlLeft+tlPlotW/2, tlPlotTop+tlPlotH/2)
	}
	w("</svg></figure>\n")
}

// axisMs labels a latency gridline: "0.1 ms", "10 ms", "1 s".
func axisMs(v float64) string {
	// %.4g drops the float error of 10^log10(v).
	if v >= 999.5 {
		return fmt.Sprintf("%.4g s", v/1000)
	}
	return fmt.Sprintf("%.4g ms", v)
}

// latBucket is the latency of one stretch of ticks (one tick when the
// match fits the plot's width, else as many as share a pixel column).
type latBucket struct {
	from, to      uint64
	min, med, max float64
	n             int
}

// writeLatency draws the latency line (median per bucket, with a min–max
// band when buckets hold more than one tick), clamped points in red, and
// one hover rectangle per bucket.
func (rep *Report) writeLatency(w func(string, ...any), samples []latSample, ys yScale, x func(uint64) float64, xmax uint64) {
	if len(samples) == 0 {
		return
	}
	per := max(uint64(1), (xmax+tlPlotW-1)/tlPlotW)
	var bs []latBucket
	for k := 0; k < len(samples); {
		from := samples[k].tick / per * per
		var vs []float64
		for k < len(samples) && samples[k].tick/per*per == from {
			vs = append(vs, samples[k].ms)
			k++
		}
		sort.Float64s(vs)
		bs = append(bs, latBucket{from: from, to: from + per - 1, min: vs[0], med: vs[len(vs)/2], max: vs[len(vs)-1], n: len(vs)})
	}
	// Consecutive buckets form one run of the line; a missing bucket
	// breaks it.
	var runs [][]latBucket
	for j, bk := range bs {
		if j == 0 || bk.from != bs[j-1].from+per {
			runs = append(runs, nil)
		}
		runs[len(runs)-1] = append(runs[len(runs)-1], bk)
	}
	mid := func(bk latBucket) float64 { return x(bk.from) + (x(bk.to+1)-x(bk.from))/2 }
	for _, run := range runs {
		if per > 1 {
			var up, down []string
			for _, bk := range run {
				yMax, _ := ys.y(bk.max)
				yMin, _ := ys.y(bk.min)
				up = append(up, fmt.Sprintf("%.1f,%.1f", mid(bk), yMax))
				down = append([]string{fmt.Sprintf("%.1f,%.1f", mid(bk), yMin)}, down...)
			}
			w("<polygon points=\"%s %s\" fill=\"%s\" opacity=\"0.6\"/>\n", strings.Join(up, " "), strings.Join(down, " "), latBand)
		}
		if len(run) == 1 {
			yy, _ := ys.y(run[0].med)
			w("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.2\" fill=\"%s\"/>\n", mid(run[0]), yy, latColor)
			continue
		}
		var pts []string
		for _, bk := range run {
			yy, _ := ys.y(bk.med)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", mid(bk), yy))
		}
		w("<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" stroke-linejoin=\"round\"/>\n", strings.Join(pts, " "), latColor)
	}
	// Off-scale samples: a red tick on the top edge.
	clamped := 0
	for _, bk := range bs {
		if _, c := ys.y(bk.max); c {
			clamped++
			w("<path d=\"M%.1f %dL%.1f %dL%.1f %dZ\" fill=\"%s\"><title>ticks %d–%d: up to %s, above the scale (%s)</title></path>\n",
				mid(bk)-3.5, tlPlotTop+6, mid(bk)+3.5, tlPlotTop+6, mid(bk), tlPlotTop, clampCol, bk.from, bk.to, fmtLat(bk.max), axisMs(ys.max()))
		}
	}
	if clamped > 0 {
		w("<text x=\"%d\" y=\"%d\" text-anchor=\"end\" fill=\"%s\" font-size=\"11\">%d off the scale (&gt; %s), clamped</text>\n",
			tlLeft+tlPlotW-4, tlPlotTop+12, clampCol, clamped, axisMs(ys.max()))
	}
	for _, bk := range bs {
		t := fmt.Sprintf("tick %d: %s", bk.from, fmtLat(bk.med))
		if per > 1 {
			t = fmt.Sprintf("ticks %d–%d: median %s, min %s, max %s (%d ticks with own input)", bk.from, bk.to, fmtLat(bk.med), fmtLat(bk.min), fmtLat(bk.max), bk.n)
		}
		w("<rect class=\"hit\" x=\"%.1f\" y=\"%d\" width=\"%.2f\" height=\"%d\"><title>%s</title></rect>\n",
			x(bk.from), tlPlotTop, math.Max(x(bk.to+1)-x(bk.from), 1), tlPlotH, htmlEsc(t))
	}
}
