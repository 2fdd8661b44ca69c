package demo

import (
	"bytes"
	"image/color"
	"math"
	"sync"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/examples/resources/fonts"
	"github.com/hajimehoshi/ebiten/v2/text/v2"
	"github.com/hajimehoshi/ebiten/v2/vector"

	"github.com/paxsync/paxsync/gamestate/arena"
)

// Screen layout in logical pixels. The logical screen is the window's size
// (Game.Layout), so the HUD stays legible in a small window: the side
// panel keeps at least minPanelW, the strip under the arena keeps its
// lines, and the arena (arena.Width/arena.Unit by arena.Height/arena.Unit
// arena pixels) is scaled to the space left. At the ideal window size
// (IdealWidth × IdealHeight) the arena is drawn 1:1.
const (
	margin    = 16
	topBarH   = 40
	minPanelW = 280
	maxPanelW = 420
	bottomH   = 18*stripLines + 28 // the network strip and the status line
	// stripLines is how many lines of items the network strip has.
	stripLines = 3
	arenaPxW   = arena.Width / arena.Unit
	arenaPxH   = arena.Height / arena.Unit
	// IdealWidth and IdealHeight are the window size at which the arena is
	// drawn 1:1 beside a side panel of 300 pixels.
	IdealWidth  = 3*margin + arenaPxW + 300
	IdealHeight = topBarH + arenaPxH + bottomH
	// MinWidth and MinHeight are the smallest logical screen laid out;
	// a smaller window shows it scaled down.
	MinWidth  = 3*margin + minPanelW + 400
	MinHeight = topBarH + 300 + bottomH + margin
)

// layout is where everything goes on a w×h logical screen.
type layout struct {
	w, h       float64
	ax, ay, as float64 // the arena's top-left corner and scale (screen px per arena px)
	aw, ah     float64 // the arena's size on screen
	px, py     float64 // the side panel's top-left corner
	pw, ph     float64
	stripY     float64 // the network strip, under the arena
	footY      float64 // the status line
}

// newLayout lays out a w×h screen (at least MinWidth × MinHeight).
func newLayout(w, h int) layout {
	w, h = max(w, MinWidth), max(h, MinHeight)
	l := layout{w: float64(w), h: float64(h), ax: margin, ay: topBarH}
	l.as = min(float64(w-3*margin-minPanelW)/arenaPxW, float64(h-topBarH-bottomH)/arenaPxH, 2)
	l.aw, l.ah = arenaPxW*l.as, arenaPxH*l.as
	l.px, l.py = l.ax+l.aw+margin, l.ay
	l.pw = min(l.w-l.px-margin, maxPanelW)
	l.ph = l.h - l.py - margin
	l.stripY = l.ay + l.ah + 8
	l.footY = l.stripY + stripLines*18 + 4
	return l
}

// at maps arena pixels to screen pixels.
func (l *layout) at(x, y float64) (float32, float32) {
	return float32(l.ax + x*l.as), float32(l.ay + y*l.as)
}

// WindowSize is the window size to open on a monitor of mw×mh pixels
// (0×0: unknown): the ideal size, or, where it does not fit, the largest
// one of the same shape that leaves room for the desktop's panels.
func WindowSize(mw, mh int) (int, int) {
	if mw <= 0 || mh <= 0 {
		return IdealWidth, IdealHeight
	}
	fw, fh := float64(mw)*0.96, float64(mh)*0.90
	s := min(1, (fw-3*margin-minPanelW)/arenaPxW, (fh-topBarH-bottomH)/arenaPxH)
	if s >= 1 {
		return IdealWidth, IdealHeight
	}
	s = max(s, 0.4)
	return int(3*margin + minPanelW + arenaPxW*s), int(topBarH + bottomH + arenaPxH*s)
}

// Palette. Red is reserved for cheater flags so it is never confused with a
// player's colour.
var (
	colBackground = color.RGBA{0x0b, 0x0f, 0x1a, 0xff}
	colArena      = color.RGBA{0x10, 0x16, 0x26, 0xff}
	colGrid       = color.RGBA{0x1a, 0x22, 0x36, 0xff}
	colBorder     = color.RGBA{0x8a, 0x9b, 0xc4, 0xff}
	colText       = color.RGBA{0xe6, 0xea, 0xf2, 0xff}
	colDim        = color.RGBA{0x7d, 0x87, 0x9c, 0xff}
	colPanel      = color.RGBA{0x14, 0x1b, 0x2c, 0xff}
	colCheater    = color.RGBA{0xff, 0x1a, 0x1a, 0xff}
	colCheaterBg  = color.RGBA{0x5a, 0x08, 0x0c, 0xff}
	colOK         = color.RGBA{0x3d, 0xdc, 0x84, 0xff}
	colWarn       = color.RGBA{0xf5, 0xb7, 0x31, 0xff}
)

// PlayerColors are the seats' colours: bright, distinct, none of them red.
var PlayerColors = [arena.MaxSeats]color.RGBA{
	{0x4c, 0xc9, 0xf0, 0xff}, // sky
	{0xff, 0xa6, 0x2b, 0xff}, // orange
	{0x80, 0xed, 0x99, 0xff}, // mint
	{0xc7, 0x7d, 0xff, 0xff}, // violet
	{0xff, 0xe0, 0x66, 0xff}, // yellow
	{0xf7, 0x8f, 0xd0, 0xff}, // pink
	{0x5e, 0x8b, 0xff, 0xff}, // blue
	{0xb8, 0xf2, 0xe6, 0xff}, // ice
}

var (
	fontOnce   sync.Once
	fontSource *text.GoTextFaceSource
)

// face returns the UI font at size px. The font ships inside the Ebiten
// module, so the demo needs no font files at run time.
func face(size float64) *text.GoTextFace {
	fontOnce.Do(func() {
		s, err := text.NewGoTextFaceSource(bytes.NewReader(fonts.MPlus1pRegular_ttf))
		if err != nil {
			panic("demo: embedded font: " + err.Error())
		}
		fontSource = s
	})
	return &text.GoTextFace{Source: fontSource, Size: size}
}

// drawText draws s with its top-left corner at (x, y).
func drawText(dst *ebiten.Image, s string, size, x, y float64, c color.Color) {
	op := &text.DrawOptions{}
	op.GeoM.Translate(x, y)
	op.ColorScale.ScaleWithColor(c)
	text.Draw(dst, s, face(size), op)
}

// textWidth is the advance of s at size.
func textWidth(s string, size float64) float64 { return text.Advance(s, face(size)) }

// drawArena draws the playing field, bullets and ships of v.
func drawArena(dst *ebiten.Image, l *layout, v *view) {
	vector.FillRect(dst, float32(l.ax), float32(l.ay), float32(l.aw), float32(l.ah), colArena, false)
	for x := 50; x < arenaPxW; x += 50 {
		x0, y0 := l.at(float64(x), 0)
		x1, y1 := l.at(float64(x), arenaPxH)
		vector.StrokeLine(dst, x0, y0, x1, y1, 1, colGrid, false)
	}
	for y := 50; y < arenaPxH; y += 50 {
		x0, y0 := l.at(0, float64(y))
		x1, y1 := l.at(arenaPxW, float64(y))
		vector.StrokeLine(dst, x0, y0, x1, y1, 1, colGrid, false)
	}
	vector.StrokeRect(dst, float32(l.ax-1), float32(l.ay-1), float32(l.aw+2), float32(l.ah+2), 2, colBorder, true)
	if v.drawCur == nil {
		msg := "waiting for the first agreed tick…"
		drawText(dst, msg, 18, l.ax+l.aw/2-textWidth(msg, 18)/2, l.ay+l.ah/2-10, colDim)
		return
	}
	for _, b := range lerpBullets(v.drawCur, v.drawAlpha) {
		c := seatColor(b.Owner)
		x, y := l.at(b.X, b.Y)
		vector.FillCircle(dst, x, y, float32(4*max(l.as, 0.75)), withAlpha(c, 0x50), true)
		vector.FillCircle(dst, x, y, float32(2*max(l.as, 0.75)), c, true)
	}
	poses := lerpShips(v.drawPrev, v.drawCur, v.drawAlpha)
	for i, p := range poses {
		drawShip(dst, l, i, p, v)
	}
}

// drawShip draws one ship as a triangle in its seat colour, with its label;
// a proven cheater gets a red ring and a CHEATER tag in the arena too, so
// the flag is visible where the player is looking. Labels keep their size
// whatever the arena's scale.
func drawShip(dst *ebiten.Image, l *layout, seat int, p shipPose, v *view) {
	fx, fy := l.at(p.X, p.Y)
	x, y := float64(fx), float64(fy)
	c := seatColor(seat)
	cheater := seat < len(v.flags) && v.flags[seat] != nil
	if !p.Alive {
		secs := float64(p.Respawn) / max(v.tickRate, 1)
		s := "respawn " + ftoa(secs, 1) + "s"
		drawText(dst, s, 12, x-textWidth(s, 12)/2, y-8, withAlpha(c, 0xa0))
		return
	}
	r := 13.0 * max(l.as, 0.75)
	pt := func(angle, radius float64) (float32, float32) {
		return float32(x + math.Cos(angle)*radius), float32(y + math.Sin(angle)*radius)
	}
	var path vector.Path
	path.MoveTo(pt(p.Angle, r*1.3))
	path.LineTo(pt(p.Angle+2.45, r))
	path.LineTo(pt(p.Angle+math.Pi, r*0.45))
	path.LineTo(pt(p.Angle-2.45, r))
	path.Close()
	op := &vector.DrawPathOptions{AntiAlias: true}
	op.ColorScale.ScaleWithColor(c)
	vector.FillPath(dst, &path, nil, op)
	if seat == v.local {
		vector.StrokeCircle(dst, float32(x), float32(y), float32(r+6), 1.5, withAlpha(c, 0x90), true)
	}
	label := playerName(v, seat)
	lc := withAlpha(c, 0xd0)
	if cheater {
		vector.StrokeCircle(dst, float32(x), float32(y), float32(r+9), 3, colCheater, true)
		tag := "CHEATER"
		tw := textWidth(tag, 12)
		vector.FillRect(dst, float32(x-tw/2-4), float32(y-r-34), float32(tw+8), 17, colCheater, false)
		drawText(dst, tag, 12, x-tw/2, y-r-34, color.White)
	}
	drawText(dst, label, 12, x-textWidth(label, 12)/2, y+r+6, lc)
}

func playerName(v *view, seat int) string {
	if seat < len(v.players) {
		return v.players[seat].Name
	}
	return "P" + itoa(seat)
}

func seatColor(seat int) color.RGBA {
	if seat >= 0 && seat < len(PlayerColors) {
		return PlayerColors[seat]
	}
	return colText
}

func withAlpha(c color.RGBA, a uint8) color.RGBA {
	// Premultiplied: scale the channels with alpha.
	return color.RGBA{uint8(uint16(c.R) * uint16(a) / 255), uint8(uint16(c.G) * uint16(a) / 255),
		uint8(uint16(c.B) * uint16(a) / 255), a}
}
