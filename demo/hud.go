package demo

import (
	"fmt"
	"image/color"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/vector"

	"github.com/paxsync/paxsync/demo/cheats"
	"github.com/paxsync/paxsync/demo/prediction"
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

// drawTopBar draws the title and the tick counter above the arena.
func drawTopBar(dst *ebiten.Image, l *layout, v *view) {
	tick := "tick —"
	if v.cur != nil {
		tick = fmt.Sprintf("tick %d", v.cur.Tick)
	}
	if v.drawn == prediction.Predicted && v.drawCur != nil && v.cur != nil && v.drawCur.Tick > v.cur.Tick {
		tick += fmt.Sprintf(" (drawn: predicted +%d)", v.drawCur.Tick-v.cur.Tick)
	}
	s := tick + "   ·   Tab: network"
	if v.local >= 0 {
		s += "   ·   P: prediction " + onOff(v.mode.Enabled && v.mode.Shown)
	}
	tw := textWidth(s, 14)
	drawText(dst, s, 14, l.ax+l.aw-tw, 12, colDim)
	drawText(dst, truncate(v.title, 20, l.aw-tw-20), 20, l.ax, 8, colText)
}

// drawPanel draws the side panel: the players with their colour, K/D,
// connection state, the cheat a bot was told to play and the CHEATER flag,
// then the keys, then local observations (quieter, since they are
// unproven). Every line is fitted to the panel's width; when the rows do
// not fit its height (many players in a small window), rows get compact:
// the connection state becomes a dot beside the name and, if that is not
// enough, long texts one line each.
func drawPanel(dst *ebiten.Image, l *layout, v *view, keys []CheatKey) {
	vector.FillRect(dst, float32(l.px), float32(l.py), float32(l.pw), float32(l.ph), colPanel, false)
	x, y := l.px+12, l.py+10
	iw := l.pw - 24 // the panel's inner width
	drawText(dst, "PLAYERS", 13, x, y, colDim)
	drawText(dst, "K / D", 13, x+iw-textWidth("K / D", 13), y, colDim)
	y += 24
	compact := rowsFull
	for _, c := range []rowStyle{rowsFull, rowsCompact} {
		if y+playersHeight(v, iw, c)+keysHeight(v, keys, iw) > l.py+l.ph-8 {
			compact = c + 1
		}
	}
	for i, p := range v.players {
		y = drawPlayerRow(dst, v, i, p, x, y, iw, compact)
	}
	y += 2
	vector.StrokeLine(dst, float32(x), float32(y), float32(x+iw), float32(y), 1, colGrid, false)
	y += 10
	y = drawKeys(dst, v, keys, x, y, iw)
	// Observations sit at the bottom of the panel, in the dim colour: they
	// are what this peer saw, not agreed facts. The newest is lowest; older
	// ones give way when there is no room.
	by := l.py + l.ph - 8
	shown := 0
	for i := len(v.notes) - 1; i >= 0; i-- {
		lines := wrap("· "+shortenIDs(v.notes[i].text), 11, iw)
		h := float64(len(lines)) * 15
		if by-h < y+30 {
			break
		}
		by -= h
		for j, s := range lines {
			drawText(dst, s, 11, x, by+float64(j)*15, colDim)
		}
		shown++
	}
	if shown > 0 {
		drawText(dst, "local observations (unproven)", 11, x, by-18, colDim)
	}
}

// rowStyle is how much room a player row takes.
type rowStyle int

const (
	rowsFull    rowStyle = iota // name, then the connection state on a line of its own
	rowsCompact                 // the connection state as a dot beside the name
	rowsTight                   // also: the cheat and flag texts one line each
)

// playersHeight is the height of every player row.
func playersHeight(v *view, iw float64, compact rowStyle) float64 {
	h := 0.0
	for i, p := range v.players {
		h += drawPlayerRow(nil, v, i, p, 0, 0, iw, compact)
	}
	return h + 12
}

// keysHeight is the height of the keys section (drawKeys).
func keysHeight(v *view, keys []CheatKey, iw float64) float64 {
	return drawKeys(nil, v, keys, 0, 0, iw)
}

// drawKeys draws the controls and the cheat keys with their state, and
// returns the next y; dst nil only measures.
func drawKeys(dst *ebiten.Image, v *view, keys []CheatKey, x, y, iw float64) float64 {
	if v.local < 0 {
		return y
	}
	for _, s := range wrap("arrows/WASD steer & thrust · space fire", 12, iw) {
		if dst != nil {
			drawText(dst, s, 12, x, y, colDim)
		}
		y += 16
	}
	for _, s := range wrap("P  "+v.mode.Label(), 12, iw) {
		if dst != nil {
			drawText(dst, s, 12, x, y, colDim)
		}
		y += 16
	}
	y += 2
	for _, k := range keys {
		c, state := colDim, "off"
		if k.Active {
			c, state = colCheater, "ON — you are cheating"
		}
		for i, s := range wrap(fmt.Sprintf("%s  %s: %s", k.Name, k.Label, state), 12, iw) {
			if i > 0 {
				s = "      " + s
			}
			if dst != nil {
				drawText(dst, s, 12, x, y, c)
			}
			y += 16
		}
	}
	return y
}

// drawPlayerRow draws one seat and returns the next row's y; dst nil only
// measures.
func drawPlayerRow(dst *ebiten.Image, v *view, seat int, p Player, x, y, iw float64, style rowStyle) float64 {
	compact := style >= rowsCompact
	text := func(s string, size, x, y float64, c color.Color) {
		if dst != nil {
			drawText(dst, s, size, x, y, c)
		}
	}
	lines := func(s string, size, w float64) []string {
		ls := wrap(s, size, w)
		if style == rowsTight && len(ls) > 1 {
			ls = []string{truncate(s, size, w)}
		}
		return ls
	}
	conn, cc := "connected", colOK
	switch {
	case seat == v.local:
		conn = "this client"
	case v.local < 0:
		conn, cc = "replay", colDim
		if v.watching != "" {
			conn = v.watching
		}
	case !p.Connected:
		conn, cc = "not connected", colWarn
	case seat < len(v.stats.PeerRTT) && v.stats.PeerRTT[seat] > 0:
		conn = "connected · ping " + dur(v.stats.PeerRTT[seat])
	}
	kd := ""
	if v.cur != nil && seat < len(v.cur.Ships) {
		s := v.cur.Ships[seat]
		kd = fmt.Sprintf("%d / %d", s.Score, s.Deaths)
	}
	name := p.Name
	if p.Note != "" {
		name += "  " + p.Note
	}
	nameW := iw - 20 - textWidth(kd, 14) - 10
	if compact {
		nameW -= 14 // the connection dot
	}
	name = truncate(name, 14, nameW)
	if dst != nil {
		vector.FillRect(dst, float32(x), float32(y+3), 12, 12, seatColor(seat), false)
		text(kd, 14, x+iw-textWidth(kd, 14), y, colText)
		text(name, 14, x+20, y, colText)
		if compact {
			vector.FillCircle(dst, float32(x+20+textWidth(name, 14)+9), float32(y+10), 3.5, cc, true)
		}
	}
	y += 19
	if !compact {
		if dst != nil {
			vector.FillCircle(dst, float32(x+26), float32(y+7), 3.5, cc, true)
		}
		text(conn, 12, x+34, y, colDim)
		y += 18
	}
	if s := cheatStatus(v, seat, p); s != "" {
		for _, line := range lines(s, 12, iw-20) {
			text(line, 12, x+20, y, colWarn)
			y += 15
		}
		y += 3
	}
	if seat < len(v.flags) && v.flags[seat] != nil {
		ls := lines(v.flags[seat].Text, 12, iw-16)
		ignored := "its inputs are ignored from now on"
		if seat == v.local {
			ignored = "your inputs are ignored from now on"
		}
		ls = append(ls, lines(ignored, 12, iw-16)...)
		h := 30 + float64(len(ls))*15
		if dst != nil {
			vector.FillRect(dst, float32(x), float32(y), float32(iw), float32(h), colCheaterBg, false)
			vector.StrokeRect(dst, float32(x), float32(y), float32(iw), float32(h), 2, colCheater, false)
			vector.FillRect(dst, float32(x+6), float32(y+5), float32(textWidth("CHEATER", 15)+10), 19, colCheater, false)
			drawText(dst, "CHEATER", 15, x+11, y+4, color.White)
			for i, s := range ls {
				c := colText
				if i == len(ls)-1 {
					c = colDim
				}
				drawText(dst, s, 12, x+8, y+25+float64(i)*15, c)
			}
		}
		y += h + 6
	}
	return y + 4
}

// cheatStatus is the HUD's line about the cheat a bot was told to play:
// what it does, when it starts, and what honest peers get to see; for a
// cheat that only acts while its player leads, whether it leads now.
func cheatStatus(v *view, seat int, p Player) string {
	if p.Cheat == "" {
		return ""
	}
	info, ok := cheats.Lookup(p.Cheat)
	if !ok {
		return "cheats: " + p.Cheat
	}
	if v.cur == nil || v.cur.Tick < p.CheatFrom {
		return fmt.Sprintf("will cheat from tick %d: %s (%s)", p.CheatFrom, info.Kind, info.Does)
	}
	s := "cheats: " + info.Kind + " — " + info.Does
	if info.LeaderOnly {
		switch {
		case !v.stats.Valid:
		case v.stats.Leader == seat:
			s += "; it leads now, so the cheat acts"
		default:
			return fmt.Sprintf("cheats: %s — acts only while it leads; waiting for its turn to lead (%s leads view %d)",
				info.Kind, playerName(v, v.stats.Leader), v.stats.View)
		}
	}
	if info.Proof {
		return s + " → proof: CHEATER flag on every peer"
	}
	return s + " → local observations only, no flag"
}

// drawCheatBanner labels active local cheats across the arena's bottom.
func drawCheatBanner(dst *ebiten.Image, l *layout, v *view) {
	if len(v.cheats) == 0 {
		return
	}
	s := truncate("YOU ARE CHEATING: "+strings.Join(v.cheats, ", "), 14, l.aw-40)
	w := textWidth(s, 14) + 20
	x := l.ax + (l.aw-w)/2
	y := l.ay + l.ah - 30
	vector.FillRect(dst, float32(x), float32(y), float32(w), 22, colCheaterBg, false)
	vector.StrokeRect(dst, float32(x), float32(y), float32(w), 22, 1, colCheater, false)
	drawText(dst, s, 14, x+10, y+2, colText)
}

// drawFlaggedBanner tells the local player, over the arena, that they were
// proven to cheat and that every honest peer now ignores their inputs
// (gamestate's default policy): otherwise their ship just stops obeying.
func drawFlaggedBanner(dst *ebiten.Image, l *layout, v *view) {
	if v.local < 0 || v.local >= len(v.flags) || v.flags[v.local] == nil {
		return
	}
	w := min(l.aw-40, 560)
	lines := wrap("Proven: "+v.flags[v.local].Text+".", 13, w-24)
	lines = append(lines, wrap("Every honest peer now ignores your inputs, so your ship no longer obeys your keys.", 13, w-24)...)
	h := 34 + float64(len(lines))*17 + 8
	x, y := l.ax+(l.aw-w)/2, l.ay+14
	vector.FillRect(dst, float32(x), float32(y), float32(w), float32(h), colCheaterBg, false)
	vector.StrokeRect(dst, float32(x), float32(y), float32(w), float32(h), 2, colCheater, false)
	title := "YOU ARE FLAGGED AS A CHEATER"
	drawText(dst, title, 17, x+(w-textWidth(title, 17))/2, y+7, color.White)
	for i, s := range lines {
		drawText(dst, s, 13, x+12, y+34+float64(i)*17, colText)
	}
}

// drawLobby draws the lobby message over the arena: its first line as a
// heading, lines with tabs as table rows (columns aligned), lines that
// start with two spaces as commands to copy, every line wrapped to the
// arena's width (a multiaddr is one long word, so words are broken too).
func drawLobby(dst *ebiten.Image, l *layout, msg string) {
	vector.FillRect(dst, float32(l.ax), float32(l.ay), float32(l.aw), float32(l.ah), colArena, false)
	vector.StrokeRect(dst, float32(l.ax-1), float32(l.ay-1), float32(l.aw+2), float32(l.ah+2), 2, colBorder, true)
	x, y := l.ax+30, l.ay+40
	w := l.aw - 60
	lines := strings.Split(msg, "\n")
	var cols []float64 // the table's column widths
	for _, line := range lines {
		for i, c := range strings.Split(line, "\t") {
			if strings.Contains(line, "\t") {
				if i == len(cols) {
					cols = append(cols, 0)
				}
				cols[i] = max(cols[i], textWidth(c, 14)+24)
			}
		}
	}
	for i, line := range lines {
		if y > l.ay+l.ah-24 {
			return
		}
		switch {
		case line == "":
			y += 10
		case i == 0:
			for _, s := range wrap(line, 22, w) {
				drawText(dst, s, 22, x, y, colText)
				y += 29
			}
			y += 8
		case strings.Contains(line, "\t"):
			cx := x
			for j, c := range strings.Split(line, "\t") {
				drawText(dst, truncate(c, 14, x+w-cx), 14, cx, y, colText)
				cx += cols[j]
			}
			y += 21
		default:
			size, c := 14.0, colText
			if strings.HasPrefix(line, "  ") {
				size, c = 13, colOK // a command to copy
			}
			for _, s := range wrap(line, size, w) {
				drawText(dst, s, size, x, y, c)
				y += size + 7
			}
		}
	}
}

// drawFooter shows the status line under the network strip (errors, end of
// replay).
func drawFooter(dst *ebiten.Image, l *layout, v *view) {
	s, c := "", colDim
	switch {
	case v.err != nil:
		s, c = "error: "+v.err.Error(), colCheater
	case v.done:
		s = "end of replay"
	}
	drawText(dst, truncate(s, 13, l.aw), 13, l.ax, l.footY, c)
}

// wrap splits s into lines no wider than w pixels at size, at spaces; a
// word wider than a line by itself (a multiaddr, a peer ID) is broken
// before its slashes, and where that is not enough, anywhere.
func wrap(s string, size, w float64) []string {
	var lines []string
	cur := ""
	add := func(piece, sep string) {
		if cur != "" && textWidth(cur+sep+piece, size) <= w {
			cur += sep + piece
			return
		}
		if cur != "" {
			lines = append(lines, cur)
		}
		for textWidth(piece, size) > w {
			n := fitRunes(piece, size, w)
			lines = append(lines, piece[:n])
			piece = piece[n:]
		}
		cur = piece
	}
	for _, word := range strings.Fields(s) {
		if textWidth(word, size) <= w {
			add(word, " ")
			continue
		}
		for i, p := range splitBeforeSlash(word) {
			sep := ""
			if i == 0 {
				sep = " "
			}
			add(p, sep)
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}

// splitBeforeSlash cuts s before every '/' but a leading one:
// "/ip4/1.2.3.4/tcp/1" → "/ip4", "/1.2.3.4", "/tcp", "/1".
func splitBeforeSlash(s string) []string {
	var out []string
	for len(s) > 0 {
		i := strings.IndexByte(s[1:], '/')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

// fitRunes is the byte length of the longest prefix of s (at least one
// rune) no wider than w at size.
func fitRunes(s string, size, w float64) int {
	n := 0
	for i, r := range s {
		end := i + utf8.RuneLen(r)
		if n > 0 && textWidth(s[:end], size) > w {
			break
		}
		n = end
	}
	return n
}

// truncate shortens s with an ellipsis to at most w pixels at size.
func truncate(s string, size, w float64) string {
	if textWidth(s, size) <= w {
		return s
	}
	for n := len(s); n > 0; {
		_, sz := utf8.DecodeLastRuneInString(s[:n])
		n -= sz
		if t := strings.TrimRight(s[:n], " ·—") + "…"; textWidth(t, size) <= w {
			return t
		}
	}
	return "…"
}

// shortenIDs abbreviates the long identifiers in s (libp2p peer IDs, hex
// public keys: 30 or more letters and digits) to their first 8 and last 4
// characters, which is how people compare them anyway.
func shortenIDs(s string) string {
	fields := strings.Fields(s)
	for i, f := range fields {
		fields[i] = ShortID(f)
	}
	return strings.Join(fields, " ")
}

// ShortID abbreviates id if it is a long identifier (30 or more letters and
// digits, like a libp2p peer ID or a hex public key) to "12D3KooW…x9Zq";
// anything else is returned as is.
func ShortID(id string) string {
	n := 0
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return id
		}
		n++
	}
	if n < 30 {
		return id
	}
	return id[:8] + "…" + id[len(id)-4:]
}

func dur(d time.Duration) string {
	return ftoa(float64(d)/float64(time.Millisecond), 1) + " ms"
}

func itoa(i int) string { return strconv.Itoa(i) }

func ftoa(f float64, prec int) string { return strconv.FormatFloat(f, 'f', prec, 64) }
