package demo

import (
	"fmt"
	"image/color"
	"strconv"
	"strings"
	"time"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/vector"
)

// CheatKey is one cheat the local player can toggle, shown in the HUD so a
// demonstration never hides that it is cheating.
type CheatKey struct {
	Key    ebiten.Key
	Name   string // e.g. "F1"
	Label  string // e.g. "speed hack"
	Active bool
	// Exclusive keys are alternatives: at most one of them is on at a
	// time (the session plays one cheat), so turning one on turns the
	// others off.
	Exclusive bool
}

// drawTopBar draws the title, tick counter and key hints above the arena.
func drawTopBar(dst *ebiten.Image, v *view) {
	drawText(dst, v.title, 20, arenaX, 8, colText)
	tick := "tick —"
	if v.cur != nil {
		tick = fmt.Sprintf("tick %d", v.cur.Tick)
	}
	s := tick + "   ·   Tab: network"
	drawText(dst, s, 14, arenaX+arenaW-textWidth(s, 14), 12, colDim)
}

// drawPanel draws the side panel: the score board with each player's
// colour, connection state and cheater flag, then the keys, then local
// observations (quieter, since they are unproven).
func drawPanel(dst *ebiten.Image, v *view, keys []CheatKey) {
	x, y := float64(panelX), float64(arenaY)
	vector.FillRect(dst, float32(x), float32(y), panelW, arenaH, colPanel, false)
	x += 12
	y += 10
	drawText(dst, "PLAYERS", 13, x, y, colDim)
	drawText(dst, "score", 13, x+panelW-74, y, colDim)
	y += 24
	for i, p := range v.players {
		y = drawPlayerRow(dst, v, i, p, x, y)
	}
	y += 6
	vector.StrokeLine(dst, float32(x), float32(y), float32(x+panelW-24), float32(y), 1, colGrid, false)
	y += 10
	if v.local >= 0 {
		drawText(dst, "arrows/WASD steer & thrust · space fire", 12, x, y, colDim)
		y += 18
		for _, k := range keys {
			c, state := colDim, "off"
			if k.Active {
				c, state = colCheater, "ON — you are cheating"
			}
			drawText(dst, fmt.Sprintf("%s  %s: %s", k.Name, k.Label, state), 12, x, y, c)
			y += 17
		}
	}
	// Observations sit at the bottom of the panel, in the dim colour: they
	// are what this peer saw, not agreed facts.
	by := float64(arenaY + arenaH - 12)
	for i := len(v.notes) - 1; i >= 0; i-- {
		lines := wrap("· "+v.notes[i].text, 11, panelW-24)
		by -= float64(len(lines)) * 15
		if by < y+30 {
			break
		}
		for j, l := range lines {
			drawText(dst, l, 11, x, by+float64(j)*15, colDim)
		}
	}
	if len(v.notes) > 0 && by >= y+30 {
		drawText(dst, "local observations (unproven)", 11, x, by-18, colDim)
	}
}

// drawPlayerRow draws one seat and returns the next row's y.
func drawPlayerRow(dst *ebiten.Image, v *view, seat int, p Player, x, y float64) float64 {
	c := seatColor(seat)
	vector.FillRect(dst, float32(x), float32(y+3), 12, 12, c, false)
	name := p.Name
	if p.Note != "" {
		name += "  " + p.Note
	}
	drawText(dst, name, 14, x+20, y, colText)
	if v.cur != nil && seat < len(v.cur.Ships) {
		s := v.cur.Ships[seat]
		sc := fmt.Sprintf("%d / %d", s.Score, s.Deaths)
		drawText(dst, sc, 14, x+panelW-50-textWidth(sc, 14)/2, y, colText)
	}
	y += 19
	conn, cc := "connected", colOK
	switch {
	case seat == v.local:
		conn = "this client"
	case v.local < 0:
		conn, cc = "replay", colDim
	case !p.Connected:
		conn, cc = "not connected", colWarn
	}
	vector.FillCircle(dst, float32(x+26), float32(y+7), 3.5, cc, true)
	drawText(dst, conn, 12, x+34, y, colDim)
	y += 18
	if seat < len(v.flags) && v.flags[seat] != nil {
		lines := wrap(v.flags[seat].Text, 12, panelW-40)
		h := 26 + float64(len(lines))*15
		vector.FillRect(dst, float32(x), float32(y), panelW-24, float32(h), colCheaterBg, false)
		vector.StrokeRect(dst, float32(x), float32(y), panelW-24, float32(h), 2, colCheater, false)
		vector.FillRect(dst, float32(x+6), float32(y+5), float32(textWidth("CHEATER", 15)+10), 19, colCheater, false)
		drawText(dst, "CHEATER", 15, x+11, y+4, color.White)
		for i, l := range lines {
			drawText(dst, l, 12, x+8, y+25+float64(i)*15, colText)
		}
		y += h + 6
	}
	return y + 4
}

// drawNetPanel draws the network statistics over the arena's top-left.
func drawNetPanel(dst *ebiten.Image, v *view) {
	x, y := float64(arenaX+12), float64(arenaY+12)
	lines := []string{"NETWORK"}
	st := v.stats
	if !st.Valid {
		lines = append(lines, "no statistics (replay or not started)")
	} else {
		lines = append(lines,
			fmt.Sprintf("commit latency  p50 %s   p99 %s", dur(st.CommitP50), dur(st.CommitP99)),
			fmt.Sprintf("view %d   leader %s", st.View, playerName(v, st.Leader)),
			fmt.Sprintf("ticks behind    %d", st.TicksBehind),
			fmt.Sprintf("messages/s      %.0f", st.MsgsPerSec),
			fmt.Sprintf("peers connected %d", st.Peers),
		)
	}
	w := 0.0
	for _, l := range lines {
		w = max(w, textWidth(l, 13))
	}
	vector.FillRect(dst, float32(x), float32(y), float32(w+20), float32(len(lines)*18+12), color.RGBA{0x05, 0x08, 0x10, 0xe0}, false)
	vector.StrokeRect(dst, float32(x), float32(y), float32(w+20), float32(len(lines)*18+12), 1, colBorder, false)
	for i, l := range lines {
		c := colText
		if i == 0 {
			c = colDim
		}
		drawText(dst, l, 13, x+10, y+6+float64(i)*18, c)
	}
}

// drawCheatBanner labels active local cheats across the arena's bottom.
func drawCheatBanner(dst *ebiten.Image, v *view) {
	if len(v.cheats) == 0 {
		return
	}
	s := "YOU ARE CHEATING: " + strings.Join(v.cheats, ", ")
	w := textWidth(s, 14) + 20
	x := float64(arenaX) + (arenaW-w)/2
	y := float64(arenaY + arenaH - 30)
	vector.FillRect(dst, float32(x), float32(y), float32(w), 22, colCheaterBg, false)
	vector.StrokeRect(dst, float32(x), float32(y), float32(w), 22, 1, colCheater, false)
	drawText(dst, s, 14, x+10, y+2, colText)
}

// drawLobby draws the lobby message over the arena.
func drawLobby(dst *ebiten.Image, msg string) {
	lines := strings.Split(msg, "\n")
	y := float64(arenaY + 120)
	for i, l := range lines {
		size := 15.0
		if i == 0 {
			size = 22
		}
		drawText(dst, l, size, arenaX+60, y, colText)
		y += size + 10
	}
}

// drawFooter shows the status line under the arena (errors, end of replay).
func drawFooter(dst *ebiten.Image, v *view) {
	s, c := "", colDim
	switch {
	case v.err != nil:
		s, c = "error: "+v.err.Error(), colCheater
	case v.done:
		s = "end of replay"
	}
	drawText(dst, s, 13, arenaX, arenaY+arenaH+10, c)
}

// wrap splits s into lines no wider than w pixels at size.
func wrap(s string, size, w float64) []string {
	var lines []string
	cur := ""
	for _, word := range strings.Fields(s) {
		if cur != "" && textWidth(cur+" "+word, size) > w {
			lines = append(lines, cur)
			cur = word
			continue
		}
		if cur != "" {
			cur += " "
		}
		cur += word
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}

func dur(d time.Duration) string {
	return ftoa(float64(d)/float64(time.Millisecond), 1) + " ms"
}

func itoa(i int) string { return strconv.Itoa(i) }

func ftoa(f float64, prec int) string { return strconv.FormatFloat(f, 'f', prec, 64) }
