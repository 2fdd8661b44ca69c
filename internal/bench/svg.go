package bench

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"sort"
	"strings"
)

// series is one line of the plot: a mode's p50 or p99 against n.
type series struct {
	mode   string
	p99    bool
	points [][2]float64 // (n, ms)
}

// modeColor gives each mode a fixed colour, so plots compare at a glance.
func modeColor(mode string) string {
	switch mode {
	case "bft":
		return "#d62728"
	case "broadcast":
		return "#1f77b4"
	case "crash":
		return "#2ca02c"
	}
	return "#7f7f7f"
}

// plotSeries collects p50 and p99 per mode from the paced results (a
// saturating run has no tick rate to compare at), skipping failed runs.
func plotSeries(results []*Result) []series {
	var modes []string
	byMode := map[string]*[2]series{}
	for _, r := range results {
		if r.Saturating {
			continue
		}
		for _, m := range r.Runs {
			if !m.OK || m.Overall.Samples == 0 {
				continue
			}
			s, ok := byMode[m.Mode]
			if !ok {
				s = &[2]series{{mode: m.Mode}, {mode: m.Mode, p99: true}}
				byMode[m.Mode] = s
				modes = append(modes, m.Mode)
			}
			n := float64(r.Peers)
			s[0].points = append(s[0].points, [2]float64{n, m.Overall.P50Ms})
			s[1].points = append(s[1].points, [2]float64{n, m.Overall.P99Ms})
		}
	}
	var out []series
	for _, m := range modes {
		for _, s := range byMode[m] {
			sort.Slice(s.points, func(i, j int) bool { return s.points[i][0] < s.points[j][0] })
			out = append(out, s)
		}
	}
	return out
}

// LatencySVG draws p50 (solid) and p99 (dashed) commit latency against n,
// one colour per mode, on a logarithmic latency axis: the modes differ by
// factors, and p99 by more, so a linear axis would flatten the fast ones.
// It is plain SVG text (no dependencies) that any browser renders.
func LatencySVG(results []*Result) []byte {
	const (
		width, height          = 760, 460
		left, right, top, bott = 80, 180, 50, 70
		pw, ph                 = width - left - right, height - top - bott
	)
	ss := plotSeries(results)
	var ns []float64
	lo, hi := math.Inf(1), math.Inf(-1)
	seenN := map[float64]bool{}
	for _, s := range ss {
		for _, p := range s.points {
			if !seenN[p[0]] {
				seenN[p[0]] = true
				ns = append(ns, p[0])
			}
			if p[1] > 0 {
				lo, hi = math.Min(lo, p[1]), math.Max(hi, p[1])
			}
		}
	}
	sort.Float64s(ns)
	if math.IsInf(lo, 1) {
		lo, hi = 1, 10
	}
	dlo, dhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dhi <= dlo {
		dhi = dlo + 1
	}
	nmax := 17.0
	if len(ns) > 0 {
		nmax = math.Max(nmax, ns[len(ns)-1]+1)
	}
	x := func(n float64) float64 { return left + n/nmax*pw }
	y := func(ms float64) float64 { return top + ph - (math.Log10(ms)-dlo)/(dhi-dlo)*ph }

	var b bytes.Buffer
	esc := func(s string) string {
		var e strings.Builder
		_ = xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", left,
		esc("paxsync commit latency against peers (p50 solid, p99 dashed)"))
	// Latency grid: 1, 2, 5 × 10^k, labelled.
	for d := dlo; d <= dhi; d++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, d)
			if math.Log10(v) > dhi+1e-9 {
				continue
			}
			yy := y(v)
			stroke := "#e0e0e0"
			if m == 1 {
				stroke = "#b0b0b0"
			}
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", left, yy, left+pw, yy, stroke)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-6, yy, esc(fmtMs(v)))
		}
	}
	for _, n := range ns {
		xx := x(n)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e0e0e0"/>`+"\n", xx, top, xx, top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%g</text>`+"\n", xx, top+ph+18, n)
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="black"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", left+pw/2, height-22,
		esc("peers n (60 Hz; n = 16 at 30 Hz), one OS process each on one machine"))
	fmt.Fprintf(&b, `<text x="20" y="%d" text-anchor="middle" transform="rotate(-90 20 %d)">%s</text>`+"\n", top+ph/2, top+ph/2,
		esc("commit latency, ms (log scale)"))
	if len(ss) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">no data</text>`+"\n", left+pw/2, top+ph/2)
	}
	for i, s := range ss {
		col, dash, label := modeColor(s.mode), "", s.mode+" p50"
		if s.p99 {
			dash, label = ` stroke-dasharray="6 4"`, s.mode+" p99"
		}
		var pts []string
		for _, p := range s.points {
			if p[1] > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p[0]), y(p[1])))
			}
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", col, dash, strings.Join(pts, " "))
		for _, p := range s.points {
			if p[1] <= 0 {
				continue
			}
			if s.p99 {
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="7" height="7" fill="%s"><title>%s n=%g: %s</title></rect>`+"\n",
					x(p[0])-3.5, y(p[1])-3.5, col, esc(label), p[0], esc(fmtMs(p[1])))
			} else {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s n=%g: %s</title></circle>`+"\n",
					x(p[0]), y(p[1]), col, esc(label), p[0], esc(fmtMs(p[1])))
			}
		}
		ly := top + 10 + i*22
		lx := left + pw + 20
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", lx, ly, lx+30, ly, col, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", lx+38, ly, esc(label))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// fmtMs labels a latency: "0.5 ms", "2 ms", "100 ms", "2 s".
func fmtMs(v float64) string {
	unit := "ms"
	if v >= 1000 {
		v, unit = v/1000, "s"
	}
	return fmt.Sprintf("%s %s", strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), "."), unit)
}
