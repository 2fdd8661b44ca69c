package demo

import (
	"fmt"
	"strings"
	"time"

	"github.com/hajimehoshi/ebiten/v2"

	"github.com/paxsync/paxsync/demo/prediction"
)

// drawNetStrip draws the network statistics under the arena, where they
// hide nothing: up to stripLines lines of items. The prediction items come
// right after the latency, so a narrow window cuts the ping list first.
func drawNetStrip(dst *ebiten.Image, l *layout, v *view) {
	st := v.stats
	items := []string{"no statistics (replay, or not started)"}
	if st.Valid {
		items = append([]string{prediction.LatencyItem(st.CommitP50, st.CommitP99, st.Prediction)},
			prediction.Items(st.Prediction, v.mode)...)
		items = append(items,
			fmt.Sprintf("view %d, leader %s", st.View, playerName(v, st.Leader)),
			fmt.Sprintf("ticks behind %d", st.TicksBehind),
			fmt.Sprintf("%.0f messages/s", st.MsgsPerSec),
			fmt.Sprintf("%d peers connected", st.Peers))
		if p := pingItem(v); p != "" {
			items = append(items, p)
		}
	}
	const sep = "   ·   "
	x0 := l.ax + textWidth("NETWORK", 12) + 12
	drawText(dst, "NETWORK", 12, l.ax, l.stripY+1, colDim)
	x, y := x0, l.stripY
	for i, it := range items {
		it = truncate(it, 13, l.ax+l.aw-x0) // a long ping list must not run off the strip
		w := textWidth(it, 13)
		if i > 0 {
			if x+textWidth(sep, 13)+w > l.ax+l.aw && x > x0 {
				x, y = x0, y+18
				if y > l.stripY+18*(stripLines-1) {
					break // stripLines lines at most
				}
			} else {
				drawText(dst, sep, 13, x, y, colDim)
				x += textWidth(sep, 13)
			}
		}
		drawText(dst, it, 13, x, y, colText)
		x += w
	}
}

// pingItem is the network strip's ping per peer ("ping P1 2.1, P2 3.4
// ms"): the round trip to each connected peer, as GGPO-style HUDs show;
// "" until some peer's ping is known.
func pingItem(v *view) string {
	var parts []string
	for seat, d := range v.stats.PeerRTT {
		if d > 0 && seat != v.local {
			parts = append(parts, playerName(v, seat)+" "+ftoa(float64(d)/float64(time.Millisecond), 1))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "ping " + strings.Join(parts, ", ") + " ms"
}

// onOff is "on" or "off".
func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
